package geofence

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"github.com/paulmach/orb"

	"github.com/hwtrack/hwtrack/model"
)

// Accepted circle radii, in metres. Below 10 m a circle is smaller than
// GNSS error; above 50 km it is a region that should be drawn as a polygon.
const (
	MinRadiusM = 10.0
	MaxRadiusM = 50_000.0
)

// MaxPositions caps the positions of one zone. A detailed county boundary
// has a few thousand. The self-intersection sweep is near linear on real
// boundaries but quadratic on a contrived serpentine ring, so the cap
// bounds that worst case to a few seconds of CPU.
const MaxPositions = 50_000

// MaxSpeedLimitKmh is the highest speed limit a zone may set.
const MaxSpeedLimitKmh = 200.0

// DefaultRestrictedLevel is the level of a restricted zone whose feature
// has no level property. It is the strictest, so a missing property never
// weakens an alarm.
const DefaultRestrictedLevel = 1

type featureDoc struct {
	Type       string                     `json:"type"`
	ID         json.RawMessage            `json:"id"`
	Geometry   *geometryDoc               `json:"geometry"`
	Properties map[string]json.RawMessage `json:"properties"`
}

type geometryDoc struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// ParseFeature compiles one GeoJSON Feature, as posted to the zones API,
// into a Zone in WGS-84. The properties name and kind are required. These
// are optional: radius_m (circle radius in metres, with a Point geometry),
// speed_limit_kmh, level (restricted zones, 1 or 2), window ("HH:MM-HH:MM",
// Asia/Shanghai), crs (wgs84, gcj02 or bd09), shape ("rectangle") and road
// ("expressway" or "ordinary"). A speed_limit zone marked as an expressway
// may omit speed_limit_kmh, and the rules then apply their expressway
// default. The zone ID is the feature's id when it has one.
//
// Every problem found is returned at once in a *model.ValidationError whose
// field names are JSON paths such as "geometry.coordinates[0][3]".
func ParseFeature(raw []byte) (*Zone, error) {
	return parseFeature(raw, CRSWGS84)
}

// parseFeature is ParseFeature with the datum that applies when the
// feature has no crs property of its own.
func parseFeature(raw []byte, defaultCRS CRS) (*Zone, error) {
	var doc featureDoc
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		return nil, &model.ValidationError{Fields: []model.FieldError{{
			Field: "", Reason: fmt.Sprintf("invalid JSON: %v", err),
		}}}
	}

	verr := &model.ValidationError{}
	switch doc.Type {
	case "Feature":
	case "Polygon", "MultiPolygon", "Point":
		verr.Add("type", fmt.Sprintf("expected a GeoJSON Feature with properties name and kind; got a bare %s geometry", doc.Type))
		return nil, verr
	default:
		verr.Add("type", fmt.Sprintf("expected \"Feature\"; got %q", doc.Type))
		return nil, verr
	}

	z := &Zone{ID: parseFeatureID(doc.ID, verr)}
	props := propertyReader{raw: doc.Properties, verr: verr, defaultCRS: defaultCRS}
	z.Name = props.requiredString("name")
	z.Kind = props.kind()
	z.SourceCRS = props.crs()
	z.Window = props.window()
	z.Expressway = props.expressway()
	z.SpeedLimitKmh = props.speedLimit(z.Kind, z.Expressway)
	z.Level = props.level(z.Kind)
	radiusM, hasRadius := props.radius()
	rectangle := props.rectangle()

	if doc.Geometry == nil {
		verr.Add("geometry", "missing: expected a Polygon, MultiPolygon or Point (with radius_m)")
		return nil, verr
	}
	geomType := doc.Geometry.Type
	if hasRadius && geomType != "Point" {
		verr.Add("properties.radius_m", fmt.Sprintf("applies only to a Point geometry (a circle); this feature is a %s", geomType))
	}
	if rectangle && geomType != "Polygon" {
		verr.Add("properties.shape", fmt.Sprintf("a rectangle must be a Polygon geometry; got %s", geomType))
	}

	switch geomType {
	case "Point":
		z.Shape = ShapeCircle
		center, centerOK := parseCircle(doc.Geometry.Coordinates, z.SourceCRS, verr)
		z.center = center
		if !hasRadius {
			verr.Add("properties.radius_m", "missing: a Point zone is a circle and needs its radius in metres")
		}
		if centerOK && hasRadius && radiusM >= MinRadiusM && radiusM <= MaxRadiusM {
			if reason := circleAntimeridianReason(center[1], center[0], radiusM); reason != "" {
				verr.Add("geometry.coordinates", reason)
			}
		}
		z.radiusM = radiusM
	case "Polygon":
		z.Shape = ShapePolygon
		if rectangle {
			z.Shape = ShapeRectangle
		}
		var rings [][][]float64
		if err := json.Unmarshal(doc.Geometry.Coordinates, &rings); err != nil {
			verr.Add("geometry.coordinates", "a Polygon needs an array of rings, each an array of [lon, lat] positions")
			break
		}
		if !checkPositionCount([][][][]float64{rings}, verr) {
			break
		}
		if rectangle {
			checkRectangle(rings, verr)
		}
		if poly, ok := buildPolygon("geometry.coordinates", rings, z.SourceCRS, verr); ok {
			z.polygons = []orb.Polygon{poly}
		}
	case "MultiPolygon":
		z.Shape = ShapeMultiPolygon
		var polys [][][][]float64
		if err := json.Unmarshal(doc.Geometry.Coordinates, &polys); err != nil {
			verr.Add("geometry.coordinates", "a MultiPolygon needs an array of polygons, each an array of rings of [lon, lat] positions")
			break
		}
		if len(polys) == 0 {
			verr.Add("geometry.coordinates", "a MultiPolygon needs at least one polygon")
		}
		if !checkPositionCount(polys, verr) {
			break
		}
		for i, rings := range polys {
			if poly, ok := buildPolygon(fmt.Sprintf("geometry.coordinates[%d]", i), rings, z.SourceCRS, verr); ok {
				z.polygons = append(z.polygons, poly)
			}
		}
	default:
		verr.Add("geometry.type", fmt.Sprintf("unsupported geometry %q: expected Polygon, MultiPolygon or Point (with radius_m)", geomType))
	}

	if err := verr.Err(); err != nil {
		return nil, err
	}
	if z.Shape == ShapeRectangle && z.SourceCRS != CRSWGS84 {
		// The datum shift is not uniform, so a rectangle drawn in GCJ-02 or
		// BD-09 is a slightly skewed quadrilateral in WGS-84.
		z.Shape = ShapePolygon
	}
	z.finish()
	return z, nil
}

// FromModel compiles a stored zone. The stored feature is in WGS-84 unless
// its crs property names another datum. The stored ID replaces the
// feature's own id.
func FromModel(mz *model.Zone) (*Zone, error) {
	z, err := ParseFeature(mz.Feature)
	if err != nil {
		return nil, fmt.Errorf("compile zone %q: %w", mz.ID, err)
	}
	z.ID = mz.ID
	return z, nil
}

// MarshalFeature encodes the zone as a GeoJSON Feature in WGS-84 with the
// properties ParseFeature reads, so the result parses back to an equal zone.
func (z *Zone) MarshalFeature() ([]byte, error) {
	// orb/geojson is not used because it pulls in a BSON driver; orb's
	// geometry types already encode as GeoJSON coordinate arrays.
	props := map[string]any{
		"name": z.Name,
		"kind": z.Kind.String(),
		"crs":  CRSWGS84.String(),
	}
	if z.Shape == ShapeCircle {
		props["radius_m"] = z.radiusM
	}
	if z.Shape == ShapeRectangle {
		props["shape"] = "rectangle"
	}
	if z.SpeedLimitKmh > 0 {
		props["speed_limit_kmh"] = z.SpeedLimitKmh
	}
	if z.Level > 0 {
		props["level"] = z.Level
	}
	if z.Expressway {
		props["road"] = "expressway"
	}
	if z.Window.IsSet() {
		props["window"] = z.Window.String()
	}

	geometry := map[string]any{"coordinates": z.Geometry()}
	switch z.Geometry().(type) {
	case orb.Point:
		geometry["type"] = "Point"
	case orb.Polygon:
		geometry["type"] = "Polygon"
	default:
		geometry["type"] = "MultiPolygon"
	}

	feature := map[string]any{"type": "Feature", "geometry": geometry, "properties": props}
	if z.ID != "" {
		feature["id"] = z.ID
	}
	b, err := json.Marshal(feature)
	if err != nil {
		return nil, fmt.Errorf("encode zone %q as GeoJSON: %w", z.ID, err)
	}
	return b, nil
}

func parseFeatureID(raw json.RawMessage, verr *model.ValidationError) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String()
	}
	verr.Add("id", "must be a string or a number")
	return ""
}

// propertyReader decodes feature properties one by one, so each problem
// is reported against its own field.
type propertyReader struct {
	raw  map[string]json.RawMessage
	verr *model.ValidationError
	// defaultCRS applies when the feature has no crs property.
	defaultCRS CRS
}

func (p propertyReader) has(key string) bool {
	v, ok := p.raw[key]
	return ok && string(v) != "null"
}

func (p propertyReader) str(key string) (string, bool) {
	if !p.has(key) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(p.raw[key], &s); err != nil {
		p.verr.Add("properties."+key, "must be a string")
		return "", false
	}
	return s, true
}

func (p propertyReader) number(key, unitHint string) (float64, bool) {
	if !p.has(key) {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(p.raw[key], &f); err != nil {
		p.verr.Add("properties."+key, "must be a number ("+unitHint+")")
		return 0, false
	}
	return f, true
}

func (p propertyReader) requiredString(key string) string {
	s, ok := p.str(key)
	if !ok && !p.has(key) {
		p.verr.Add("properties."+key, "missing")
	}
	if ok && s == "" {
		p.verr.Add("properties."+key, "must not be empty")
	}
	return s
}

func (p propertyReader) kind() Kind {
	s, ok := p.str("kind")
	if !ok {
		if !p.has("kind") {
			p.verr.Add("properties.kind", "missing: expected restricted, site, speed_limit or jurisdiction")
		}
		return KindUnknown
	}
	k, known := ParseKind(s)
	if !known {
		p.verr.Add("properties.kind", fmt.Sprintf("unknown kind %q: expected restricted, site, speed_limit or jurisdiction", s))
	}
	return k
}

func (p propertyReader) crs() CRS {
	s, ok := p.str("crs")
	if !ok {
		return p.defaultCRS
	}
	c, err := ParseCRS(s)
	if err != nil {
		p.verr.Add("properties.crs", err.Error())
		return CRSWGS84
	}
	return c
}

func (p propertyReader) window() Window {
	s, ok := p.str("window")
	if !ok {
		return Window{}
	}
	w, err := ParseWindow(s)
	if err != nil {
		p.verr.Add("properties.window", err.Error())
	}
	return w
}

func (p propertyReader) speedLimit(kind Kind, expressway bool) float64 {
	v, ok := p.number("speed_limit_kmh", "km/h")
	if !ok {
		if kind == KindSpeedLimit && !expressway && !p.has("speed_limit_kmh") {
			p.verr.Add("properties.speed_limit_kmh", `missing: a speed_limit zone needs its limit in km/h, or "road":"expressway" to use the expressway default`)
		}
		return 0
	}
	if !(v > 0 && v <= MaxSpeedLimitKmh) {
		p.verr.Add("properties.speed_limit_kmh", fmt.Sprintf("must be in km/h between 0 and %g (exclusive of 0); got %g", MaxSpeedLimitKmh, v))
		return 0
	}
	return v
}

// expressway reads the road property: "expressway" or "ordinary".
func (p propertyReader) expressway() bool {
	s, ok := p.str("road")
	if !ok {
		return false
	}
	switch s {
	case "expressway":
		return true
	case "ordinary":
		return false
	}
	p.verr.Add("properties.road", fmt.Sprintf("unknown road class %q: expected expressway or ordinary", s))
	return false
}

func (p propertyReader) level(kind Kind) int {
	v, ok := p.number("level", "1 or 2")
	if !ok {
		if kind == KindRestricted {
			return DefaultRestrictedLevel
		}
		return 0
	}
	if kind != KindRestricted && kind != KindUnknown {
		p.verr.Add("properties.level", fmt.Sprintf("applies only to restricted zones; this zone is %s", kind))
		return 0
	}
	if v != 1 && v != 2 {
		p.verr.Add("properties.level", fmt.Sprintf("must be 1 or 2; got %s", strconv.FormatFloat(v, 'g', -1, 64)))
		return DefaultRestrictedLevel
	}
	return int(v)
}

func (p propertyReader) radius() (float64, bool) {
	v, ok := p.number("radius_m", "metres")
	if !ok {
		return 0, p.has("radius_m")
	}
	if !(v >= MinRadiusM && v <= MaxRadiusM) {
		p.verr.Add("properties.radius_m", fmt.Sprintf("must be a radius in metres between %g and %g; got %g (metres are expected, not kilometres or degrees)", MinRadiusM, MaxRadiusM, v))
	}
	return v, true
}

func (p propertyReader) rectangle() bool {
	s, ok := p.str("shape")
	if !ok {
		return false
	}
	if s != "rectangle" {
		p.verr.Add("properties.shape", fmt.Sprintf("unknown shape %q: the only shape property is \"rectangle\"; other shapes follow from the geometry", s))
		return false
	}
	return true
}

// parseCircle decodes a circle's centre and converts it to WGS-84. It
// returns false after recording a problem.
func parseCircle(raw json.RawMessage, crs CRS, verr *model.ValidationError) (orb.Point, bool) {
	var pos []float64
	if err := json.Unmarshal(raw, &pos); err != nil {
		verr.Add("geometry.coordinates", "a Point needs one [lon, lat] position")
		return orb.Point{}, false
	}
	if !checkPosition("geometry.coordinates", pos, verr) {
		return orb.Point{}, false
	}
	lat, lon := toWGS84(crs, pos[1], pos[0])
	return orb.Point{lon, lat}, true
}

// checkPosition validates one [lon, lat] position. GeoJSON puts longitude
// first, and swapped pairs are the most common mistake, so the message for a
// latitude out of range names the [lon, lat] order.
func checkPosition(path string, pos []float64, verr *model.ValidationError) bool {
	if len(pos) < 2 {
		verr.Add(path, fmt.Sprintf("a position needs [lon, lat]; got %d number(s)", len(pos)))
		return false
	}
	lon, lat := pos[0], pos[1]
	if math.IsNaN(lon) || math.IsInf(lon, 0) || math.IsNaN(lat) || math.IsInf(lat, 0) {
		verr.Add(path, "coordinates must be finite numbers")
		return false
	}
	ok := true
	if lat < -90 || lat > 90 {
		verr.Add(path, fmt.Sprintf("coordinates are [lon, lat]; latitude %g is out of range [-90, 90]", lat))
		ok = false
	}
	if lon < -180 || lon > 180 {
		verr.Add(path, fmt.Sprintf("coordinates are [lon, lat]; longitude %g is out of range [-180, 180]", lon))
		ok = false
	}
	return ok
}

func checkPositionCount(polys [][][][]float64, verr *model.ValidationError) bool {
	n := 0
	for _, rings := range polys {
		for _, ring := range rings {
			n += len(ring)
		}
	}
	if n > MaxPositions {
		verr.Add("geometry.coordinates", fmt.Sprintf("has %d positions, more than the limit of %d; simplify the shape", n, MaxPositions))
		return false
	}
	return true
}

func checkRectangle(rings [][][]float64, verr *model.ValidationError) {
	const reason = "a rectangle needs exactly one ring of 5 positions (4 corners, the first repeated) with edges parallel to the lon and lat axes"
	if len(rings) != 1 || len(rings[0]) != 5 {
		verr.Add("geometry.coordinates", reason)
		return
	}
	r := rings[0]
	for i := 1; i < len(r); i++ {
		if len(r[i]) < 2 || len(r[i-1]) < 2 {
			return // reported by the position checks
		}
		sameLon := r[i][0] == r[i-1][0]
		sameLat := r[i][1] == r[i-1][1]
		if sameLon == sameLat {
			verr.Add(fmt.Sprintf("geometry.coordinates[0][%d]", i), reason)
			return
		}
	}
}
