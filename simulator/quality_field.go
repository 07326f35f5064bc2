package simulator

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/hwtrack/hwtrack/model"
)

// fieldCentre is the reference point of the field-failure cases, in
// Shanghai. fieldStart is the fix time of a case's first fix before the
// case is shifted to end at the run's start.
var (
	fieldCentre = orb.Point{121.473700, 31.230400}
	fieldStart  = time.Date(2026, 1, 5, 2, 0, 0, 0, time.UTC) // 10:00 in China
)

// driver builds a physically consistent drive: each fix is placed where
// the previous one's speed and heading lead.
type driver struct {
	pos     orb.Point
	at      time.Time
	bearing float64 // degrees clockwise from north
	fixes   []model.Fix
}

func newDriver(start orb.Point, at time.Time, bearing float64) *driver {
	return &driver{pos: start, at: at, bearing: bearing}
}

// fix records a valid fix at the current place and time.
func (d *driver) fix(speedKmh float64) *model.Fix {
	d.fixes = append(d.fixes, model.Fix{
		Time: d.at, Lat: d.pos.Lat(), Lon: d.pos.Lon(), Valid: true,
		SpeedKmh: speedKmh, HeadingDeg: d.bearing, Has: model.HasSpeed | model.HasHeading,
	})
	return &d.fixes[len(d.fixes)-1]
}

// advance moves on for dt at speedKmh without recording a fix.
func (d *driver) advance(speedKmh float64, dt time.Duration) {
	d.pos = geo.PointAtBearingAndDistance(d.pos, d.bearing, speedKmh/3.6*dt.Seconds())
	d.at = d.at.Add(dt)
}

// drive records n fixes interval apart at speedKmh, the first at the
// current place, and ends one interval after the last.
func (d *driver) drive(speedKmh float64, interval time.Duration, n int) {
	for range n {
		d.fix(speedKmh)
		d.advance(speedKmh, interval)
	}
}

// fieldScenario completes a case: route along the valid fixes of route,
// a trip from a minute before the first fix to 30 minutes after the last.
func fieldScenario(name, description string, fixes []model.Fix, route []model.Fix) *Scenario {
	numberFixes(fixes)
	s := &Scenario{
		Name: "field/" + name, Suite: SuiteField, Source: name, Description: description,
		Fixes: fixes, Route: PlannedRoute(route), CorridorM: qualityCorridorM,
	}
	s.PlannedStart = fixes[0].Time.Add(-time.Minute)
	s.PlannedEnd = fixes[len(fixes)-1].Time.Add(30 * time.Minute)
	return s
}

// FieldScenarios returns the field-failure cases that can be expressed as
// fix sequences, each with the episodes it must raise and nothing else.
func FieldScenarios(th Thresholds) []*Scenario {
	return []*Scenario{
		fieldJitterAtEdge(), fieldBatchOrder(), fieldLateFix(), fieldDuplicates(th),
		fieldNoFix(), fieldTeleport(), fieldParkedSpeedNoise(), fieldOverspeedAtLimit(),
		fieldSpeedSpike(), fieldFlapping(),
		fieldSiteStop(), fieldJurisdictionExit(th), fieldSegmentLimit(),
	}
}

// fieldJitterAtEdge is a truck that drives into a restricted circle of
// 200 m, parks 33 m inside its edge and then reports fixes alternating
// 5 m inside and 6 m outside the edge for 30 minutes. It must raise one
// restricted_zone episode and one long_stop, never an exit and re-entry.
func fieldJitterAtEdge() *Scenario {
	zone := CircleZone{Name: "quality B01 jitter", Kind: "restricted", Center: fieldCentre, RadiusM: 200}
	parked := orb.Point{fieldCentre.Lon(), 31.231900} // 167 m north of the centre
	d := newDriver(geo.PointAtBearingAndDistance(fieldCentre, 180, 300), fieldStart, 0)
	for geo.Distance(d.pos, parked) > 15 {
		d.drive(10, 5*time.Second, 1)
	}

	d.pos = parked
	parkedFrom := d.at
	withAccuracy := func(f *model.Fix) {
		f.AccuracyM = 10
		f.Has |= model.HasAccuracy
	}
	for range 12 {
		withAccuracy(d.fix(0))
		d.advance(0, 10*time.Second)
	}
	for k := range 181 {
		lat := 31.232150
		if k%2 == 1 {
			lat = 31.232250
		}
		d.pos = orb.Point{fieldCentre.Lon(), lat}
		withAccuracy(d.fix(0))
		d.advance(0, 10*time.Second)
	}

	route := []model.Fix{
		{Lat: 31.2250, Lon: fieldCentre.Lon(), Valid: true},
		{Lat: 31.2340, Lon: fieldCentre.Lon(), Valid: true},
	}
	s := fieldScenario("B01-jitter-at-zone-edge", "drives into a restricted circle and parks; fixes then alternate 5 m inside and 6 m outside its edge for 30 min", d.fixes, route)
	first := slices.IndexFunc(s.Fixes, func(f model.Fix) bool { return geo.Distance(zone.Center, fixPoint(f)) < zone.RadiusM })
	last := d.fixes[len(d.fixes)-1].Time
	s.Zones = []CircleZone{zone}
	s.Labels = []Label{
		{Kind: model.KindRestrictedZone, Start: s.Fixes[first].Time, End: last, Note: "inside from the drive in to the end"},
		{Kind: model.KindLongStop, Start: parkedFrom, End: last, Note: "parked 32 minutes outside any site"},
	}
	return s
}

// fieldBatchOrder drives through a restricted circle with its fixes sent
// in batches of six, each batch newest first. It must raise exactly one
// restricted_zone episode.
func fieldBatchOrder() *Scenario {
	zone := CircleZone{Name: "quality B06 batch order", Kind: "restricted", Center: geo.PointAtBearingAndDistance(fieldCentre, 0, 1000), RadiusM: 300}
	d := newDriver(fieldCentre, fieldStart, 0)
	d.drive(25, 10*time.Second, 30)
	s := fieldScenario("B06-batch-newest-first", "drive through a restricted circle; batches of 6 fixes sent newest first", d.fixes, d.fixes)
	s.Zones = []CircleZone{zone}
	for k := 0; k < len(s.Fixes); k += 6 {
		group := slices.Clone(s.Fixes[k:min(k+6, len(s.Fixes))])
		slices.Reverse(group)
		s.Messages = append(s.Messages, Message{Fixes: group, Batch: true})
	}
	first, last, _ := singleCrossing(s.Fixes, zone, Thresholds{})
	s.Labels = []Label{{Kind: model.KindRestrictedZone, Start: s.Fixes[first].Time, End: s.Fixes[last].Time, Note: "one crossing"}}
	return s
}

// fieldLateFix sends, in the middle of a drive, a fix from 50 minutes
// earlier and 23 km away. It must raise nothing.
func fieldLateFix() *Scenario {
	d := newDriver(fieldCentre, fieldStart.Add(50*time.Minute), 90)
	d.drive(40, 10*time.Second, 60)
	s := fieldScenario("B11-late-fix", "a fix 50 min old and 23 km off the route arrives during a drive", d.fixes, d.fixes)
	late := model.Fix{Time: fieldStart, Lat: 31.1000, Lon: 121.3000, Valid: true, Seq: uint64(len(d.fixes) + 1), Has: model.HasSeq}
	s.PlannedStart = fieldStart.Add(-time.Minute)
	for k := range s.Fixes {
		s.Messages = append(s.Messages, Message{Fixes: s.Fixes[k : k+1]})
		if k == 30 {
			s.Messages = append(s.Messages, Message{Fixes: []model.Fix{late}})
		}
	}
	return s
}

// fieldDuplicates speeds for a minute; every fix of the stretch is sent
// twice, and the stretch is re-sent as a batch after the drive. It must
// raise exactly one overspeed episode.
func fieldDuplicates(th Thresholds) *Scenario {
	fast := th.DefaultLimitKmh + 15
	d := newDriver(fieldCentre, fieldStart, 90)
	d.drive(50, 5*time.Second, 24)
	from := len(d.fixes)
	d.drive(fast, 5*time.Second, 13)
	to := len(d.fixes)
	d.drive(50, 5*time.Second, 24)
	s := fieldScenario("B15-duplicates", "a speeding minute whose fixes are each sent twice, then re-sent as a batch", d.fixes, d.fixes)
	for k := range s.Fixes {
		s.Messages = append(s.Messages, Message{Fixes: s.Fixes[k : k+1]})
		if k >= from && k < to {
			s.Messages = append(s.Messages, Message{Fixes: s.Fixes[k : k+1]})
		}
	}
	s.Messages = append(s.Messages, Message{Fixes: slices.Clone(s.Fixes[from:to]), Batch: true})
	s.Labels = []Label{{Kind: model.KindOverspeed, Start: s.Fixes[from].Time, End: s.Fixes[to-1].Time, Note: "one speeding minute"}}
	return s
}

// fieldNoFix interrupts a drive with three no-fix reports at (0, 0),
// flagged invalid, a minute apart. It must raise nothing.
func fieldNoFix() *Scenario {
	d := newDriver(fieldCentre, fieldStart, 90)
	d.drive(20, 10*time.Second, 30)
	for range 3 {
		d.advance(20, time.Minute-10*time.Second)
		d.fixes = append(d.fixes, model.Fix{Time: d.at, Has: model.HasSpeed})
		d.advance(20, 10*time.Second)
	}
	d.advance(20, time.Minute-10*time.Second)
	d.drive(20, 10*time.Second, 30)
	var route []model.Fix
	for _, f := range d.fixes {
		if f.Valid {
			route = append(route, f)
		}
	}
	return fieldScenario("B17-no-fix-at-0-0", "three invalid reports at (0, 0) a minute apart during a drive", d.fixes, route)
}

// fieldTeleport has one fix 99.5 km away, 5 s after a fix on the route.
// It must raise nothing.
func fieldTeleport() *Scenario {
	d := newDriver(fieldCentre, fieldStart, 90)
	d.drive(40, 5*time.Second, 40)
	k := len(d.fixes)
	d.fix(40)
	d.fixes[k].Lat, d.fixes[k].Lon = 31.980000, 120.900000
	d.advance(40, 5*time.Second)
	d.drive(40, 5*time.Second, 40)
	route := slices.Concat(d.fixes[:k], d.fixes[k+1:])
	return fieldScenario("B20-teleport", "one fix 99.5 km away between two fixes 10 s apart on the route", d.fixes, route)
}

// fieldParkedSpeedNoise parks for 30 minutes at one position reporting
// 8 km/h with the ignition off. It must raise one long_stop and no
// overspeed.
func fieldParkedSpeedNoise() *Scenario {
	d := newDriver(fieldCentre, fieldStart, 90)
	d.drive(30, 10*time.Second, 30)
	parkedFrom := d.at
	for range 61 {
		f := d.fix(8)
		f.ACC = false
		f.Has |= model.HasACC
		d.advance(0, 30*time.Second)
	}
	parkedTo := d.fixes[len(d.fixes)-1].Time
	d.drive(30, 10*time.Second, 30)
	s := fieldScenario("B22-parked-speed-noise", "parked 30 min, identical coordinates, 8 km/h reported, ignition off", d.fixes, d.fixes)
	s.Labels = []Label{{Kind: model.KindLongStop, Start: parkedFrom, End: parkedTo, Note: "parked 30 minutes"}}
	return s
}

// fieldOverspeedAtLimit reports speeds around a 60 km/h limit every 5 s.
// It must raise one overspeed episode from 10:00:05 to 10:00:45.
func fieldOverspeedAtLimit() *Scenario {
	d := newDriver(fieldCentre, fieldStart.Add(-time.Minute), 90)
	d.drive(50, 5*time.Second, 12)
	speeds := []float64{58, 62, 61, 59, 63, 64, 62, 56, 55, 55, 63, 55, 55}
	for _, v := range speeds {
		d.fix(v)
		d.advance(v, 5*time.Second)
	}
	d.drive(50, 5*time.Second, 12)
	s := fieldScenario("B23-overspeed-at-limit", "speeds 58, 62, 61, 59, 63, 64, 62, 56, 55, 55, 63, 55, 55 km/h every 5 s", d.fixes, d.fixes)
	s.Labels = []Label{{Kind: model.KindOverspeed, Start: fieldStart.Add(5 * time.Second), End: fieldStart.Add(45 * time.Second), Note: "one episode, 40 s"}}
	return s
}

// fieldSpeedSpike reports one 180 km/h sample between fixes 76 m apart.
// It must raise nothing.
func fieldSpeedSpike() *Scenario {
	d := newDriver(fieldCentre, fieldStart, 90)
	d.drive(55, 5*time.Second, 24)
	for _, v := range []float64{52, 55, 180, 54} {
		d.fix(v)
		d.advance(55, 5*time.Second) // 76 m
	}
	d.drive(55, 5*time.Second, 24)
	return fieldScenario("B24-speed-spike", "speeds 52, 55, 180, 54 km/h with fixes 76 m apart", d.fixes, d.fixes)
}

// fieldFlapping drives for an hour while the connection drops every 3 to
// 4 minutes for 20 to 40 s. The fixes taken while offline are uploaded as
// one blind-area batch after each reconnect. It must raise nothing.
func fieldFlapping() *Scenario {
	rng := rand.New(rand.NewPCG(25, 25))
	d := newDriver(fieldCentre, fieldStart, 90)
	d.drive(30, 10*time.Second, 360)
	s := fieldScenario("B25-flapping-connection", "hour-long drive; connection lost every 3-4 min for 20-40 s, buffered fixes uploaded after reconnect", d.fixes, d.fixes)
	next := fieldStart.Add(3*time.Minute + time.Duration(rng.IntN(60))*time.Second)
	for k := 0; k < len(s.Fixes); {
		f := s.Fixes[k]
		if f.Time.Before(next) {
			s.Messages = append(s.Messages, Message{Fixes: s.Fixes[k : k+1]})
			k++
			continue
		}
		offline := 20*time.Second + time.Duration(rng.IntN(21))*time.Second
		var buffered []model.Fix
		for k < len(s.Fixes) && s.Fixes[k].Time.Before(next.Add(offline)) {
			b := s.Fixes[k]
			b.Source = model.SourceBlind
			buffered = append(buffered, b)
			k++
		}
		s.Messages = append(s.Messages, Message{Fixes: buffered, Batch: true, Reconnect: true})
		next = next.Add(offline + 3*time.Minute + time.Duration(rng.IntN(60))*time.Second)
	}
	return s
}
