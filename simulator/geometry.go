package simulator

import (
	"math"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// metresPerDegreeLat is the length of one degree of latitude on the
// sphere orb's geo package uses (orb.EarthRadius).
const metresPerDegreeLat = orb.EarthRadius * math.Pi / 180

// localXY projects p to metres east and north of origin with an
// equirectangular projection. The error stays below 0.1 % within a few
// kilometres of origin; callers only compare such short distances.
func localXY(origin, p orb.Point) (x, y float64) {
	cosLat := math.Cos(origin.Lat() * math.Pi / 180)
	return (p.Lon() - origin.Lon()) * metresPerDegreeLat * cosLat, (p.Lat() - origin.Lat()) * metresPerDegreeLat
}

// offsetPoint moves p by east and north metres.
func offsetPoint(p orb.Point, eastM, northM float64) orb.Point {
	cosLat := math.Cos(p.Lat() * math.Pi / 180)
	return orb.Point{p.Lon() + eastM/(metresPerDegreeLat*cosLat), p.Lat() + northM/metresPerDegreeLat}
}

// DistanceToRouteM returns the shortest distance in metres from p to any
// segment of route. Each segment is measured in a plane centred on p, so
// the result is accurate for nearby segments. Far segments come out
// approximate but still far. A route of one point is a point.
func DistanceToRouteM(p orb.Point, route orb.LineString) float64 {
	switch len(route) {
	case 0:
		return math.Inf(1)
	case 1:
		return geo.Distance(p, route[0])
	}
	best := math.Inf(1)
	for i := 0; i+1 < len(route); i++ {
		ax, ay := localXY(p, route[i])
		bx, by := localXY(p, route[i+1])
		best = min(best, pointSegmentDistance(ax, ay, bx, by))
	}
	return best
}

// routeIndex speeds up distance queries against a long route by skipping
// segments whose bounding box is farther than capM from the point.
type routeIndex struct {
	route orb.LineString
	boxes []orb.Bound
	capM  float64
}

func newRouteIndex(route orb.LineString, capM float64) *routeIndex {
	idx := &routeIndex{route: route, capM: capM}
	for i := 0; i+1 < len(route); i++ {
		idx.boxes = append(idx.boxes, orb.MultiPoint{route[i], route[i+1]}.Bound())
	}
	return idx
}

// distanceM returns min(DistanceToRouteM(p, route), capM).
func (idx *routeIndex) distanceM(p orb.Point) float64 {
	if len(idx.route) < 2 {
		return min(DistanceToRouteM(p, idx.route), idx.capM)
	}
	capLat := idx.capM / metresPerDegreeLat
	capLon := capLat / math.Max(math.Cos(p.Lat()*math.Pi/180), 0.01)
	best := idx.capM
	for i, box := range idx.boxes {
		if p.Lat() < box.Min.Lat()-capLat || p.Lat() > box.Max.Lat()+capLat ||
			p.Lon() < box.Min.Lon()-capLon || p.Lon() > box.Max.Lon()+capLon {
			continue
		}
		ax, ay := localXY(p, idx.route[i])
		bx, by := localXY(p, idx.route[i+1])
		best = min(best, pointSegmentDistance(ax, ay, bx, by))
	}
	return best
}

// pointSegmentDistance returns the distance from the origin to segment AB.
func pointSegmentDistance(ax, ay, bx, by float64) float64 {
	dx, dy := bx-ax, by-ay
	lenSq := dx*dx + dy*dy
	t := 0.0
	if lenSq > 0 {
		t = math.Max(0, math.Min(1, -(ax*dx+ay*dy)/lenSq))
	}
	return math.Hypot(ax+t*dx, ay+t*dy)
}
