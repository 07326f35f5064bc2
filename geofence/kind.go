package geofence

// Kind is the role of a zone for the rules engine.
type Kind uint8

const (
	KindUnknown Kind = iota
	// KindRestricted is an area trucks must not enter, such as a
	// drinking-water protection zone.
	KindRestricted
	// KindSite is an enterprise, the collection centre or a disposal unit.
	KindSite
	// KindSpeedLimit is an area with its own speed limit.
	KindSpeedLimit
	// KindJurisdiction is the regulator's administrative boundary.
	KindJurisdiction
)

var kindNames = [...]string{
	KindUnknown:      "unknown",
	KindRestricted:   "restricted",
	KindSite:         "site",
	KindSpeedLimit:   "speed_limit",
	KindJurisdiction: "jurisdiction",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// ParseKind maps a zone kind name to its Kind.
func ParseKind(s string) (Kind, bool) {
	for i, name := range kindNames {
		if i != 0 && name == s {
			return Kind(i), true
		}
	}
	return KindUnknown, false
}

// Shape is the geometry type of a zone.
type Shape uint8

const (
	ShapeUnknown Shape = iota
	ShapePolygon
	ShapeMultiPolygon
	// ShapeCircle is a GeoJSON Point with the property radius_m.
	ShapeCircle
	// ShapeRectangle is an axis-aligned Polygon marked shape:"rectangle".
	ShapeRectangle
)

func (s Shape) String() string {
	switch s {
	case ShapePolygon:
		return "polygon"
	case ShapeMultiPolygon:
		return "multipolygon"
	case ShapeCircle:
		return "circle"
	case ShapeRectangle:
		return "rectangle"
	default:
		return "unknown"
	}
}
