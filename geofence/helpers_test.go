package geofence

import "math"

// offsetM returns the point dNorthM metres north and dEastM metres east of
// (lat, lon) on the sphere.
func offsetM(lat, lon, dNorthM, dEastM float64) (float64, float64) {
	return lat + dNorthM/metresPerDegLat, lon + dEastM/(metresPerDegLat*math.Cos(lat*degToRad))
}

func mustParse(t interface {
	Helper()
	Fatalf(string, ...any)
}, raw string) *Zone {
	t.Helper()
	z, err := ParseFeature([]byte(raw))
	if err != nil {
		t.Fatalf("ParseFeature: %v", err)
	}
	return z
}
