package simulator

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/hwtrack/hwtrack/deviation"
	"github.com/hwtrack/hwtrack/model"
)

// syntheticTrack is a 50-minute drive at 36 km/h with a fix every 5 s,
// turning gently, without reported speeds, like a GeoLife file.
func syntheticTrack(t *testing.T, th Thresholds) QualityTrack {
	t.Helper()
	d := newDriver(orb.Point{116.30, 39.98}, time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC), 45)
	for k := range 600 {
		d.fix(36).Has &^= model.HasSpeed
		d.bearing += 0.3
		if k%200 == 199 {
			d.bearing -= 120
		}
		d.advance(36, 5*time.Second)
	}
	fixes := d.fixes
	route := PlannedRoute(fixes)
	return QualityTrack{Path: "synthetic.plt", Fixes: fixes, Route: route, Excuses: NativeExcuses(fixes, th)}
}

// maxImpliedKmh returns the highest speed implied by consecutive valid
// fixes, and fails when fix times do not increase.
func maxImpliedKmh(t *testing.T, fixes []model.Fix) float64 {
	t.Helper()
	best := 0.0
	for k := 1; k < len(fixes); k++ {
		dt := fixes[k].Time.Sub(fixes[k-1].Time)
		if dt <= 0 {
			t.Fatalf("fix %d at %s is not after fix %d at %s", k, fixes[k].Time, k-1, fixes[k-1].Time)
		}
		best = max(best, geo.Distance(fixPoint(fixes[k-1]), fixPoint(fixes[k]))/dt.Seconds()*3.6)
	}
	return best
}

func within(f model.Fix, l Label) bool { return !f.Time.Before(l.Start) && !f.Time.After(l.End) }

func TestInjectedScenario(t *testing.T) {
	th := ThresholdsFrom(deviation.DefaultConfig())
	track := syntheticTrack(t, th)
	if len(track.Excuses) != 0 {
		t.Fatalf("synthetic drive has excuses %+v, want none", track.Excuses)
	}
	tests := []struct {
		kind  model.DeviationKind
		check func(t *testing.T, s *Scenario, l Label)
	}{
		{model.KindRouteDeviation, func(t *testing.T, s *Scenario, l Label) {
			for _, f := range s.Fixes {
				if within(f, l) && DistanceToRouteM(fixPoint(f), s.Route) <= s.CorridorM/2+th.MarginM {
					t.Errorf("fix at %s inside the label lies within the corridor", f.Time)
				}
			}
		}},
		{model.KindRestrictedZone, func(t *testing.T, s *Scenario, l Label) {
			if len(s.Zones) != 1 {
				t.Fatalf("%d zones, want 1", len(s.Zones))
			}
			z := s.Zones[0]
			for _, f := range s.Fixes {
				d := geo.Distance(z.Center, fixPoint(f))
				if within(f, l) && d >= z.RadiusM {
					t.Errorf("fix at %s inside the label is %.0f m from the centre, outside the zone", f.Time, d)
				}
				if !within(f, l) && d < z.RadiusM-th.MarginM {
					t.Errorf("fix at %s outside the label is %.0f m inside the edge", f.Time, z.RadiusM-d)
				}
			}
		}},
		{model.KindOverspeed, func(t *testing.T, s *Scenario, l Label) {
			if l.End.Sub(l.Start) < 30*time.Second {
				t.Errorf("speeding lasts %s, want at least 30s", l.End.Sub(l.Start))
			}
			prev := model.Fix{}
			peak := 0.0
			for _, f := range s.Fixes {
				if within(f, l) {
					peak = max(peak, f.SpeedKmh)
					if f.SpeedKmh <= th.DefaultLimitKmh {
						t.Errorf("reported speed %.1f km/h at %s inside the label, want over the %.0f km/h limit", f.SpeedKmh, f.Time, th.DefaultLimitKmh)
					}
					// Between fixes the implied speed is the mean of a
					// changing speed, so allow a ramp's worth of difference.
					implied := geo.Distance(fixPoint(prev), fixPoint(f)) / f.Time.Sub(prev.Time).Seconds() * 3.6
					if math.Abs(implied-f.SpeedKmh) > 15 {
						t.Errorf("implied speed %.1f km/h at %s, reported %.1f", implied, f.Time, f.SpeedKmh)
					}
				}
				prev = f
			}
			if peak < 90 || peak > 100 {
				t.Errorf("peak speed %.1f km/h, want 90-100", peak)
			}
		}},
		{model.KindLongStop, func(t *testing.T, s *Scenario, l Label) {
			if got := l.End.Sub(l.Start); got < 15*time.Minute {
				t.Errorf("stop lasts %s, want 15m", got)
			}
			var first *model.Fix
			for k, f := range s.Fixes {
				if !within(f, l) {
					continue
				}
				if first == nil {
					first = &s.Fixes[k]
				}
				if d := geo.Distance(fixPoint(*first), fixPoint(f)); d > th.StopRadiusM {
					t.Errorf("stop fix at %s is %.0f m from the first, want within %.0f", f.Time, d, th.StopRadiusM)
				}
				if f.Time.After(l.Start) && f.SpeedKmh > 5 {
					t.Errorf("stop fix at %s reports %.1f km/h, want a few", f.Time, f.SpeedKmh)
				}
			}
		}},
		{model.KindSignalLoss, func(t *testing.T, s *Scenario, l Label) {
			if got := l.End.Sub(l.Start); got < 10*time.Minute {
				t.Errorf("gap %s, want at least 10m", got)
			}
			for _, f := range s.Fixes {
				if f.Time.After(l.Start) && f.Time.Before(l.End) {
					t.Errorf("fix at %s inside the gap", f.Time)
				}
			}
			if !s.LiveFrom.Equal(l.Start) {
				t.Errorf("played in real time from %s, want from the gap's start %s", s.LiveFrom, l.Start)
			}
			if tail := s.Fixes[len(s.Fixes)-1].Time.Sub(l.End); tail > time.Minute {
				t.Errorf("%s of fixes after the gap, want at most a minute", tail)
			}
		}},
		{model.KindTripOvertime, func(t *testing.T, s *Scenario, l Label) {
			if !s.PlannedEnd.Add(th.TripOvertimeGrace).Equal(l.Start) {
				t.Errorf("label starts %s, want planned end plus grace %s", l.Start, s.PlannedEnd.Add(th.TripOvertimeGrace))
			}
			if !l.Start.Before(s.Fixes[len(s.Fixes)-1].Time) {
				t.Error("the track ends before the grace runs out")
			}
			if s.LiveFrom.IsZero() || !s.LiveFrom.Before(l.Start) {
				t.Errorf("played in real time from %s, want from before the grace runs out at %s", s.LiveFrom, l.Start)
			}
		}},
		{model.KindDeviceAlarm, func(t *testing.T, s *Scenario, l Label) {
			for _, f := range s.Fixes {
				if f.Has&model.HasAlarm == 0 {
					t.Fatalf("fix at %s has no alarm word", f.Time)
				}
				if (f.Alarm&1 != 0) != within(f, l) {
					t.Errorf("fix at %s: bit 0 %v, inside the label %v", f.Time, f.Alarm&1 != 0, within(f, l))
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.kind.String(), func(t *testing.T) {
			s, err := track.InjectedScenario(tc.kind, th)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Labels) != 1 || s.Labels[0].Kind != tc.kind {
				t.Fatalf("labels %+v, want one %s", s.Labels, tc.kind)
			}
			l := s.Labels[0]
			if !l.Start.Before(l.End) {
				t.Errorf("label from %s to %s is empty", l.Start, l.End)
			}
			if v := maxImpliedKmh(t, s.Fixes); v > 105 {
				t.Errorf("highest implied speed %.0f km/h, want at most 105", v)
			}
			if s.PlannedStart.After(s.Fixes[0].Time) {
				t.Errorf("trip starts %s, after the first fix %s", s.PlannedStart, s.Fixes[0].Time)
			}
			for k, f := range s.Fixes {
				if f.Seq != uint64(k+1) {
					t.Fatalf("fix %d has seq %d, want %d", k, f.Seq, k+1)
				}
			}
			tc.check(t, s, l)
		})
	}
}

func TestInjectedScenarioShortTrack(t *testing.T) {
	th := ThresholdsFrom(deviation.DefaultConfig())
	d := newDriver(orb.Point{116.30, 39.98}, time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC), 0)
	d.drive(30, 10*time.Second, 12)
	track := QualityTrack{Path: "short.gpx", Fixes: d.fixes, Route: PlannedRoute(d.fixes)}
	for _, kind := range []model.DeviationKind{model.KindSignalLoss, model.KindTripOvertime, model.KindLongStop} {
		t.Run(kind.String(), func(t *testing.T) {
			if _, err := track.InjectedScenario(kind, th); err == nil {
				t.Errorf("injecting %s into a 2-minute track succeeded, want an error", kind)
			}
		})
	}
}

func TestNativeExcuses(t *testing.T) {
	th := ThresholdsFrom(deviation.DefaultConfig())
	d := newDriver(orb.Point{116.30, 39.98}, time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC), 90)
	d.drive(40, 5*time.Second, 60)
	d.drive(75, 5*time.Second, 12) // real speeding
	d.drive(40, 5*time.Second, 60)
	d.drive(0, 30*time.Second, 26) // 12.5-minute stop
	d.drive(40, 5*time.Second, 60)
	d.advance(40, 7*time.Minute) // 7-minute gap
	d.drive(40, 5*time.Second, 20)
	for _, v := range []float64{45, 180, 44} { // a spike excuses nothing
		d.fix(v)
		d.advance(45, 5*time.Second)
	}
	d.drive(40, 5*time.Second, 20)

	counts := map[model.DeviationKind]int{}
	for _, e := range NativeExcuses(d.fixes, th) {
		counts[e.Kind]++
	}
	want := map[model.DeviationKind]int{model.KindOverspeed: 1, model.KindLongStop: 1, model.KindSignalLoss: 1}
	for kind, n := range want {
		if counts[kind] != n {
			t.Errorf("%d %s excuses, want %d (all: %v)", counts[kind], kind, n, counts)
		}
	}
}

func TestSeparateZoneScenarios(t *testing.T) {
	th := ThresholdsFrom(deviation.DefaultConfig())
	track := syntheticTrack(t, th)
	noise := track.NoiseScenario()
	zoned, err := track.InjectedScenario(model.KindRestrictedZone, th)
	if err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(zoned.Fixes)
	centreBefore := zoned.Zones[0].Center
	if err := separateZoneScenarios([]*Scenario{noise, zoned}); err != nil {
		t.Fatal(err)
	}
	nb, _ := noise.bound()
	zb, _ := zoned.bound()
	if zb.Max.Lon()+laneGapDeg > nb.Min.Lon() && zb.Min.Lon()-laneGapDeg < nb.Max.Lon() {
		t.Errorf("zoned scenario %v still within %g° of longitude of %v", zb, laneGapDeg, nb)
	}
	for k := 1; k < len(before); k++ {
		was := geo.Distance(fixPoint(before[k-1]), fixPoint(before[k]))
		now := geo.Distance(fixPoint(zoned.Fixes[k-1]), fixPoint(zoned.Fixes[k]))
		if diff := was - now; diff > 1e-6 || diff < -1e-6 {
			t.Fatalf("distance between fixes %d and %d changed from %f to %f m", k-1, k, was, now)
		}
	}
	if d := geo.Distance(fixPoint(zoned.Fixes[0]), zoned.Zones[0].Center) - geo.Distance(fixPoint(before[0]), centreBefore); d > 1e-6 || d < -1e-6 {
		t.Errorf("distance from the first fix to the zone centre changed by %g m", d)
	}
}

func TestFieldScenarios(t *testing.T) {
	th := ThresholdsFrom(deviation.DefaultConfig())
	wantLabels := map[string][]model.DeviationKind{
		"B01-jitter-at-zone-edge": {model.KindRestrictedZone, model.KindLongStop},
		"B06-batch-newest-first":  {model.KindRestrictedZone},
		"B11-late-fix":            nil,
		"B15-duplicates":          {model.KindOverspeed},
		"B17-no-fix-at-0-0":       nil,
		"B20-teleport":            nil,
		"B22-parked-speed-noise":  {model.KindLongStop},
		"B23-overspeed-at-limit":  {model.KindOverspeed},
		"B24-speed-spike":         nil,
		"B25-flapping-connection": nil,
		"R01-stop-at-site":        {model.KindLongStop},
		"R02-jurisdiction-exit":   {model.KindRouteDeviation},
		"R03-segment-limit":       {model.KindOverspeed},
	}
	scenarios := FieldScenarios(th)
	if len(scenarios) != len(wantLabels) {
		t.Fatalf("%d field scenarios, want %d", len(scenarios), len(wantLabels))
	}
	for _, s := range scenarios {
		t.Run(s.Source, func(t *testing.T) {
			want, ok := wantLabels[s.Source]
			if !ok {
				t.Fatalf("unexpected case %s", s.Source)
			}
			var got []model.DeviationKind
			for _, l := range s.Labels {
				got = append(got, l.Kind)
			}
			if !slices.Equal(got, want) {
				t.Errorf("labels %v, want %v", got, want)
			}
			if len(s.Route) < 2 {
				t.Errorf("route has %d vertices", len(s.Route))
			}
			if s.Segments != nil && len(s.Segments) != len(s.Route)-1 {
				t.Errorf("%d segment entries for a route of %d vertices", len(s.Segments), len(s.Route))
			}
			sent := 0
			for _, m := range s.messages() {
				sent += len(m.Fixes)
				if len(m.Fixes) > 1 && !m.Batch {
					t.Errorf("message of %d fixes not marked as a batch", len(m.Fixes))
				}
			}
			if sent < len(s.Fixes) {
				t.Errorf("%d fixes sent, fewer than the %d of the track", sent, len(s.Fixes))
			}
		})
	}

	byName := map[string]*Scenario{}
	for _, s := range scenarios {
		byName[s.Source] = s
	}
	t.Run("B23 label", func(t *testing.T) {
		l := byName["B23-overspeed-at-limit"].Labels[0]
		if got := l.End.Sub(l.Start); got != 40*time.Second {
			t.Errorf("episode lasts %s, want 40s", got)
		}
	})
	t.Run("B06 newest first", func(t *testing.T) {
		m := byName["B06-batch-newest-first"].Messages[0]
		if !m.Fixes[0].Time.After(m.Fixes[1].Time) {
			t.Error("first batch is not newest first")
		}
	})
	t.Run("B25 reconnects with blind batches", func(t *testing.T) {
		reconnects := 0
		for _, m := range byName["B25-flapping-connection"].Messages {
			if m.Reconnect {
				reconnects++
				if m.Fixes[0].Source != model.SourceBlind {
					t.Errorf("buffered fix has source %s, want blind", m.Fixes[0].Source)
				}
			}
		}
		if reconnects < 12 {
			t.Errorf("%d reconnects in an hour, want at least 12", reconnects)
		}
	})
}
