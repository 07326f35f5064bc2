package geofence

import (
	"math"
	"time"

	"github.com/paulmach/orb"
)

// Zone is a compiled geofence in WGS-84. Build one with ParseFeature or
// FromModel; a Zone is immutable afterwards and safe for concurrent use.
type Zone struct {
	ID   string
	Name string
	Kind Kind
	// Level is the protection level of a restricted zone: 1 is the
	// strictest (e.g. a first-level drinking-water protection zone). It is
	// 0 for other kinds.
	Level         int
	SpeedLimitKmh float64 // 0 when the zone sets no limit
	// Expressway marks a zone that covers an expressway (property
	// "road":"expressway"). Rules apply the expressway speed limit for
	// dangerous goods inside it when the zone sets no limit of its own.
	Expressway bool
	Window     Window
	Shape      Shape
	// SourceCRS is the datum the shape was drawn in before conversion.
	SourceCRS CRS

	bound orb.Bound
	plane localPlane

	// polygons holds the rings of polygon, multipolygon and rectangle
	// zones; rings[0] of each polygon is the outer ring, the rest holes.
	polygons []orb.Polygon
	// ringBounds mirrors polygons with each ring's bound, so the exact
	// test skips rings the point cannot be in.
	ringBounds [][]orb.Bound

	center  orb.Point // circle centre [lon, lat]
	radiusM float64   // circle radius; 0 for other shapes
}

// Bound returns the zone's bounding box in degrees ([lon, lat] corners).
func (z *Zone) Bound() orb.Bound { return z.bound }

// RadiusM returns the radius of a circle zone in metres, 0 for other shapes.
func (z *Zone) RadiusM() float64 { return z.radiusM }

// Geometry returns the zone's WGS-84 geometry: an orb.Point (the centre)
// for a circle, an orb.Polygon or an orb.MultiPolygon otherwise. The
// returned value shares memory with the zone and must not be modified.
func (z *Zone) Geometry() orb.Geometry {
	switch {
	case z.Shape == ShapeCircle:
		return z.center
	case len(z.polygons) == 1 && z.Shape != ShapeMultiPolygon:
		return z.polygons[0]
	default:
		return orb.MultiPolygon(z.polygons)
	}
}

// ActiveAt reports whether the zone's daily window includes t.
func (z *Zone) ActiveAt(t time.Time) bool { return z.Window.Contains(t) }

// Contains reports whether the point (lat, lon) in WGS-84 degrees lies in
// the zone. Circles measure the haversine distance to the centre, with the
// rim counted as inside. Polygons use the even-odd crossing test, so a
// point inside a hole is outside. A point exactly on an edge may fall on
// either side, and callers absorb that with a margin from DistanceToEdgeM.
func (z *Zone) Contains(lat, lon float64) bool {
	if !z.bound.Contains(orb.Point{lon, lat}) {
		return false
	}
	if z.Shape == ShapeCircle {
		return HaversineM(lat, lon, z.center[1], z.center[0]) <= z.radiusM
	}
	for i, poly := range z.polygons {
		if z.polygonContains(i, poly, lat, lon) {
			return true
		}
	}
	return false
}

func (z *Zone) polygonContains(i int, poly orb.Polygon, lat, lon float64) bool {
	bounds := z.ringBounds[i]
	if !bounds[0].Contains(orb.Point{lon, lat}) || !ringContains(poly[0], lat, lon) {
		return false
	}
	for h := 1; h < len(poly); h++ {
		if bounds[h].Contains(orb.Point{lon, lat}) && ringContains(poly[h], lat, lon) {
			return false
		}
	}
	return true
}

// ringContains is the even-odd crossing test on a closed ring: it counts
// the edges a ray from the point towards +lon crosses.
func ringContains(r orb.Ring, lat, lon float64) bool {
	inside := false
	for i := 1; i < len(r); i++ {
		a, b := r[i-1], r[i]
		if (a[1] > lat) == (b[1] > lat) {
			continue
		}
		crossLon := a[0] + (lat-a[1])*(b[0]-a[0])/(b[1]-a[1])
		if lon < crossLon {
			inside = !inside
		}
	}
	return inside
}

// DistanceToEdgeM returns the distance in metres from the point (lat, lon)
// to the zone's boundary, whether the point is inside or outside. Holes
// count as boundary. Polygon distances are measured in an equirectangular
// plane centred on the zone.
func (z *Zone) DistanceToEdgeM(lat, lon float64) float64 {
	if z.Shape == ShapeCircle {
		return math.Abs(HaversineM(lat, lon, z.center[1], z.center[0]) - z.radiusM)
	}
	px, py := z.plane.project(lat, lon)
	best := math.Inf(1)
	for _, poly := range z.polygons {
		for _, r := range poly {
			ax, ay := z.plane.project(r[0][1], r[0][0])
			for i := 1; i < len(r); i++ {
				bx, by := z.plane.project(r[i][1], r[i][0])
				if d := segmentDistance(px, py, ax, ay, bx, by); d < best {
					best = d
				}
				ax, ay = bx, by
			}
		}
	}
	return best
}

// finish computes the derived fields after the geometry is set.
func (z *Zone) finish() {
	if z.Shape == ShapeCircle {
		lat, lon := z.center[1], z.center[0]
		dLat := z.radiusM / metresPerDegLat
		dLon := z.radiusM / (metresPerDegLat * math.Max(math.Cos(lat*degToRad), 1e-9))
		z.bound = orb.Bound{Min: orb.Point{lon - dLon, lat - dLat}, Max: orb.Point{lon + dLon, lat + dLat}}
		z.plane = newLocalPlane(lat, lon)
		return
	}
	z.ringBounds = make([][]orb.Bound, len(z.polygons))
	z.bound = orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for i, poly := range z.polygons {
		z.ringBounds[i] = make([]orb.Bound, len(poly))
		for j, r := range poly {
			z.ringBounds[i][j] = r.Bound()
		}
		z.bound = z.bound.Union(z.ringBounds[i][0])
	}
	c := z.bound.Center()
	z.plane = newLocalPlane(c[1], c[0])
}
