package geofence

import (
	"math"

	"github.com/paulmach/orb"
)

// RouteWithin reports whether every point of route ([lon, lat] in WGS-84)
// lies inside at least one of zones, ignoring their daily windows. Each
// segment is sampled every stepM metres along its length, ends included,
// so a route that cuts across a concave boundary between two vertices is
// caught once the excursion is longer than stepM. It returns false for an
// empty route or no zones.
func RouteWithin(route orb.LineString, zones []*Zone, stepM float64) bool {
	if len(route) == 0 || len(zones) == 0 || !(stepM > 0) {
		return false
	}
	inside := func(p orb.Point) bool {
		for _, z := range zones {
			if z.Contains(p[1], p[0]) {
				return true
			}
		}
		return false
	}

	if !inside(route[0]) {
		return false
	}
	for i := 1; i < len(route); i++ {
		a, b := route[i-1], route[i]
		lengthM := HaversineM(a[1], a[0], b[1], b[0])
		steps := max(int(math.Ceil(lengthM/stepM)), 1)
		for k := 1; k <= steps; k++ {
			t := float64(k) / float64(steps)
			p := orb.Point{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])}
			if !inside(p) {
				return false
			}
		}
	}
	return true
}
