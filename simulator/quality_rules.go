package simulator

import (
	"math"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/hwtrack/hwtrack/model"
)

// Field cases for the rules that depend on zone kinds and route segments:
// sites, the jurisdiction and per-segment corridors and limits. Each lays
// its route out along a straight line north of fieldCentre, so segment
// boundaries fall at known distances.

// northOf returns the point m metres north of fieldCentre.
func northOf(m float64) orb.Point {
	return geo.PointAtBearingAndDistance(fieldCentre, 0, m)
}

// straightRoute returns a route north from fieldCentre with a vertex
// every segmentM metres, n segments long.
func straightRoute(n int, segmentM float64) orb.LineString {
	route := make(orb.LineString, n+1)
	for i := range route {
		route[i] = northOf(float64(i) * segmentM)
	}
	return route
}

// park records fixes every interval at the current place for span,
// ignition off.
func (d *driver) park(interval, span time.Duration) {
	end := d.at.Add(span)
	for !d.at.After(end) {
		f := d.fix(0)
		f.ACC = false
		f.Has |= model.HasACC
		d.advance(0, interval)
	}
}

// driveTo records fixes interval apart at speedKmh towards target until
// the next step would pass it.
func (d *driver) driveTo(target orb.Point, speedKmh float64, interval time.Duration) {
	d.bearing = math.Mod(geo.Bearing(d.pos, target)+360, 360)
	step := speedKmh / 3.6 * interval.Seconds()
	for geo.Distance(d.pos, target) > step {
		d.fix(speedKmh)
		d.advance(speedKmh, interval)
	}
}

// fieldSiteStop parks 20 minutes inside a site (an enterprise's yard),
// where a stop is the plan, then 15 minutes on the roadside 1 km further
// on. Only the roadside stop is a long_stop.
func fieldSiteStop() *Scenario {
	site := CircleZone{Name: "quality site stop", Kind: "site", Center: northOf(1000), RadiusM: 150}
	d := newDriver(fieldCentre, fieldStart, 0)
	d.driveTo(site.Center, 40, 10*time.Second)
	d.pos = site.Center
	d.park(30*time.Second, 20*time.Minute)
	d.driveTo(northOf(2000), 40, 10*time.Second)
	d.pos = northOf(2000)
	roadsideFrom := d.at
	d.park(30*time.Second, 15*time.Minute)
	roadsideTo := d.fixes[len(d.fixes)-1].Time
	d.driveTo(northOf(3000), 40, 10*time.Second)

	s := fieldScenario("R01-stop-at-site", "parks 20 min inside a site of 150 m, then 15 min on the roadside 1 km further on", d.fixes, d.fixes)
	s.Route = straightRoute(3, 1000)
	s.Zones = []CircleZone{site}
	s.Labels = []Label{{Kind: model.KindLongStop, Start: roadsideFrom, End: roadsideTo, Note: "the roadside stop only; the site stop is planned"}}
	return s
}

// fieldJurisdictionExit drives a route that stays inside a jurisdiction
// circle of 1,600 m, whose second segment has a corridor 5 km wide, and
// turns off 2 km east inside that corridor. Leaving the jurisdiction is a
// route_deviation although the truck never leaves its corridor.
func fieldJurisdictionExit(th Thresholds) *Scenario {
	const radiusM = 1600
	area := CircleZone{Name: "quality jurisdiction", Kind: "jurisdiction", Center: northOf(1000), RadiusM: radiusM}
	d := newDriver(fieldCentre, fieldStart, 0)
	d.driveTo(northOf(1200), 40, 10*time.Second)
	turn := d.pos
	east := geo.PointAtBearingAndDistance(turn, 90, 2000)
	d.driveTo(east, 40, 10*time.Second)
	d.pos = east
	d.drive(0, 30*time.Second, 5)
	d.driveTo(turn, 40, 10*time.Second)
	d.pos = turn
	d.driveTo(northOf(2000), 40, 10*time.Second)

	s := fieldScenario("R02-jurisdiction-exit", "turns 2 km east out of a jurisdiction circle of 1.6 km while inside a 5 km wide corridor segment", d.fixes, d.fixes)
	s.Route = straightRoute(2, 1000)
	s.Segments = []model.RouteSegment{{}, {WidthM: 5000}}
	s.Zones = []CircleZone{area}
	first, last := -1, -1
	for k, f := range s.Fixes {
		if geo.Distance(area.Center, fixPoint(f)) > radiusM+marginOf(f, th) {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	s.Labels = []Label{{Kind: model.KindRouteDeviation, Start: s.Fixes[first].Time, End: s.Fixes[last].Time, Note: "outside the jurisdiction, inside the corridor"}}
	return s
}

// fieldSegmentLimit drives a three-segment route at 50 km/h, fixes every
// 5 s; the middle segment has a limit of 40 km/h, the others the usual
// 60. Only the middle kilometre is an overspeed.
func fieldSegmentLimit() *Scenario {
	d := newDriver(fieldCentre, fieldStart, 0)
	d.driveTo(northOf(3000), 50, 5*time.Second)

	s := fieldScenario("R03-segment-limit", "50 km/h along three 1 km segments, the middle one limited to 40 km/h", d.fixes, d.fixes)
	s.Route = straightRoute(3, 1000)
	s.Segments = []model.RouteSegment{{}, {LimitKmh: 40}, {}}
	first, last := -1, -1
	for k, f := range s.Fixes {
		if m := geo.Distance(fieldCentre, fixPoint(f)); m > 1000 && m < 2000 {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	s.Labels = []Label{{Kind: model.KindOverspeed, Start: s.Fixes[first].Time, End: s.Fixes[last].Time, Note: "the 40 km/h segment"}}
	return s
}
