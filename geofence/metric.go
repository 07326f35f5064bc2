package geofence

import "math"

// earthRadiusM is the mean Earth radius used for haversine distances and
// local projections, the same value orb/geo uses.
const earthRadiusM = 6371008.8

const degToRad = math.Pi / 180

// metresPerDegLat is the length of one degree of latitude on the sphere.
const metresPerDegLat = earthRadiusM * degToRad

// HaversineM returns the great-circle distance in metres between two
// (lat, lon) points in degrees.
func HaversineM(lat1, lon1, lat2, lon2 float64) float64 {
	dLat := (lat2 - lat1) * degToRad
	dLon := (lon2 - lon1) * degToRad
	s1 := math.Sin(dLat / 2)
	s2 := math.Sin(dLon / 2)
	h := s1*s1 + math.Cos(lat1*degToRad)*math.Cos(lat2*degToRad)*s2*s2
	return 2 * earthRadiusM * math.Asin(math.Min(1, math.Sqrt(h)))
}

// localPlane is an equirectangular projection around a reference latitude:
// x metres east and y metres north of (lat0, lon0). Over a city or a route
// of a few hundred kilometres its scale error stays under about 1.5 %,
// which is well inside GNSS and corridor tolerances.
type localPlane struct {
	lat0, lon0 float64
	kx, ky     float64 // metres per degree of longitude and latitude
}

func newLocalPlane(lat0, lon0 float64) localPlane {
	return localPlane{
		lat0: lat0,
		lon0: lon0,
		kx:   metresPerDegLat * math.Cos(lat0*degToRad),
		ky:   metresPerDegLat,
	}
}

func (p localPlane) project(lat, lon float64) (x, y float64) {
	return (lon - p.lon0) * p.kx, (lat - p.lat0) * p.ky
}

// segmentDistance returns the distance from (px, py) to the segment from
// (ax, ay) to (bx, by), all in the same planar unit.
func segmentDistance(px, py, ax, ay, bx, by float64) float64 {
	return math.Sqrt(segmentDistanceSquared(px, py, ax, ay, bx, by))
}

// segmentDistanceSquared is segmentDistance squared, for comparisons that
// need no square root per segment.
func segmentDistanceSquared(px, py, ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	l2 := dx*dx + dy*dy
	t := 0.0
	if l2 > 0 {
		t = ((px-ax)*dx + (py-ay)*dy) / l2
		t = math.Max(0, math.Min(1, t))
	}
	ex, ey := ax+t*dx-px, ay+t*dy-py
	return ex*ex + ey*ey
}
