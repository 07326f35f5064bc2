package geofence

import (
	"fmt"
	"math"
)

// The planar math of polygons, circles and corridors assumes longitudes
// that do not wrap, so shapes that cross the ±180° meridian are rejected
// rather than measured the long way round the globe.

// LongitudeSpanReason returns why an edge from longitude fromLon to toLon
// is rejected, or "" when the edge spans at most 180° of longitude.
// edgeKind names the edge in the message, such as "edge" or "segment".
func LongitudeSpanReason(edgeKind string, fromLon, toLon float64) string {
	if math.Abs(toLon-fromLon) <= 180 {
		return ""
	}
	return fmt.Sprintf("%s from longitude %g to %g spans more than 180° of longitude; split the shape at the antimeridian",
		edgeKind, fromLon, toLon)
}

// circleLonExtentDeg returns how far in longitude, in degrees, a circle of
// radiusM metres around latitude latDeg reaches east and west of its
// centre on the sphere, and false when the circle contains a pole.
func circleLonExtentDeg(latDeg, radiusM float64) (float64, bool) {
	angular := radiusM / earthRadiusM
	cosLat := math.Cos(latDeg * math.Pi / 180)
	ratio := math.Sin(angular) / cosLat
	if !(ratio < 1) {
		return 0, false
	}
	return math.Asin(ratio) * 180 / math.Pi, true
}

// circleAntimeridianReason returns why a circle around (lat, lon) with
// radiusM is rejected because it reaches across ±180° longitude or over a
// pole, or "" when it does neither.
func circleAntimeridianReason(lat, lon, radiusM float64) string {
	extent, ok := circleLonExtentDeg(lat, radiusM)
	if !ok {
		return fmt.Sprintf("circle of radius %g m around latitude %g contains a pole; draw it as a polygon", radiusM, lat)
	}
	if lon-extent < -180 || lon+extent > 180 {
		return fmt.Sprintf("circle of radius %g m around longitude %g reaches %.4f° east and west, across the antimeridian; split the shape at the antimeridian and draw it as polygons",
			radiusM, lon, extent)
	}
	return ""
}
