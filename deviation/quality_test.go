package deviation

import (
	"math"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

func TestB20TeleportRejected(t *testing.T) {
	// 10:00:00 at C; 10:00:05 99.5 km away, inside a restricted zone
	// (about 71,600 km/h implied); 10:00:10 back at C.
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "far", "far zone", 31.98, 120.9, 2000, "")})
	steps := []struct {
		at          time.Duration
		lat, lon    float64
		wantVerdict Verdict
	}{
		{0, 31.2304, 121.4737, VerdictAccepted},
		{5 * time.Second, 31.98, 120.9, VerdictJump},
		{10 * time.Second, 31.2305, 121.4738, VerdictAccepted},
		{15 * time.Second, 31.98, 120.9, VerdictJump},
		{20 * time.Second, 31.98, 120.9, VerdictJump},
		{25 * time.Second, 31.2306, 121.4739, VerdictAccepted},
	}
	for i, s := range steps {
		res := e.ProcessFix(newFix("T1", t0.Add(s.at), s.lat, s.lon, speed(20)))
		if res.Verdict != s.wantVerdict {
			t.Errorf("fix %d: Verdict = %v, want %v", i, res.Verdict, s.wantVerdict)
		}
		if len(res.Deviations) != 0 {
			t.Errorf("fix %d: got %+v, want no deviations", i, res.Deviations)
		}
	}
	if st := e.Stats(); st.Jump != 3 || st.Reanchored != 0 {
		t.Errorf("Stats = %+v, want Jump 3 and Reanchored 0", st)
	}
}

func TestJumpReanchorsOnConfirmation(t *testing.T) {
	// The first fix is 50 km off. The truck is really at a restricted
	// zone's centre, where every later fix puts it: the engine must follow
	// it, not stay frozen on the bad first point.
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", shLat, shLon, 200, "")})
	badLat, badLon := offsetM(shLat, shLon, 50000, 0)
	fixes := append([]*model.Fix{newFix("T1", t0, badLat, badLon)}, parked("T1", t0.Add(10*time.Second), 10*time.Second, 6, shLat, shLon, speed(5))...)

	var devs []model.Deviation
	verdicts := make([]Verdict, len(fixes))
	reanchored := make([]bool, len(fixes))
	for i, f := range fixes {
		res := e.ProcessFix(f)
		verdicts[i], reanchored[i] = res.Verdict, res.Reanchored
		devs = append(devs, res.Deviations...)
	}
	for i := 1; i <= 2; i++ {
		if verdicts[i] != VerdictJump {
			t.Errorf("true fix %d: Verdict = %v, want jump until confirmed", i, verdicts[i])
		}
	}
	if verdicts[3] != VerdictAccepted || !reanchored[3] {
		t.Errorf("third true fix: Verdict = %v Reanchored = %v, want accepted and reanchored", verdicts[3], reanchored[3])
	}
	for i := 4; i < len(fixes); i++ {
		if verdicts[i] != VerdictAccepted || reanchored[i] {
			t.Errorf("fix %d: Verdict = %v Reanchored = %v, want plainly accepted", i, verdicts[i], reanchored[i])
		}
	}
	if len(devs) != 1 || devs[0].Kind != model.KindRestrictedZone {
		t.Fatalf("got %+v, want one restricted_zone opening", devs)
	}
	if !devs[0].StartedAt.Equal(fixes[1].Time) {
		t.Errorf("StartedAt = %v, want the held-back fix's time %v", devs[0].StartedAt, fixes[1].Time)
	}
}

func TestB17NoFixPacketsChangeNothing(t *testing.T) {
	// Inside a restricted zone with an open episode; three no-fix packets
	// at (0, 0) and one flagged invalid, then a valid fix at C again.
	cases := []struct {
		name        string
		opts        []fixOption
		wantVerdict Verdict
	}{
		{"zero position flagged invalid", []fixOption{invalid(), speed(0)}, VerdictInvalid},
		{"zero position flagged valid", []fixOption{speed(0)}, VerdictZero},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			e.SetZones([]*geofence.Zone{circleZone(t, "z1", "SITE-A", shLat, shLon, 200, "")})
			before := processAll(e, parked("T1", t0, 10*time.Second, 6, shLat, shLon, speed(10)))
			if countState(before, model.StateOpen) != 1 {
				t.Fatalf("setup: got %+v, want one open", before)
			}
			for i := 1; i <= 3; i++ {
				res := e.ProcessFix(newFix("T1", t0.Add(time.Duration(i)*time.Minute), 0, 0, tc.opts...))
				if res.Verdict != tc.wantVerdict || len(res.Deviations) != 0 {
					t.Errorf("packet %d: Verdict %v, deviations %+v; want %v and none", i, res.Verdict, res.Deviations, tc.wantVerdict)
				}
			}
			if devs := e.Process(newFix("T1", t0.Add(4*time.Minute), shLat, shLon, speed(0))); len(devs) != 0 {
				t.Errorf("valid fix after the outage raised %+v, want nothing", devs)
			}
		})
	}
}

func TestB22ParkedSpeedNoise(t *testing.T) {
	// 13:00-13:30, identical coordinates every 30 s with a noisy speed,
	// on an active trip outside any site: a stop, never overspeed.
	start := time.Date(2026, 12, 4, 13, 0, 0, 0, cst)
	cases := []struct {
		name string
		opts []fixOption
	}{
		{"ignition off, 8 km/h", []fixOption{speed(8), ignition(false)}},
		{"ignition off, 75 km/h", []fixOption{speed(75), ignition(false)}},
		{"ignition unreported, 8 km/h", []fixOption{speed(8)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			trip := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
			trip.PlannedStart, trip.PlannedEnd = start.Add(-time.Hour), start.Add(3*time.Hour)
			if _, err := e.SetTrip("T1", trip, start); err != nil {
				t.Fatal(err)
			}
			fixes := parked("T1", start, 30*time.Second, 61, ykLat, ykLon, tc.opts...)
			devs := processAll(e, fixes)
			if got := ofKind(devs, model.KindOverspeed); len(got) != 0 {
				t.Errorf("got overspeed %+v, want none", got)
			}
			stops := ofKind(devs, model.KindLongStop)
			if len(stops) != 1 || stops[0].State != model.StateOpen {
				t.Fatalf("got stops %+v, want one opening", stops)
			}
			if !stops[0].StartedAt.Equal(start) {
				t.Errorf("stop StartedAt = %v, want %v", stops[0].StartedAt, start)
			}
			if !stops[0].ReceivedAt.Equal(fixes[20].ReceivedAt) {
				t.Errorf("stop decided at %v, want by the 13:10 fix", stops[0].ReceivedAt)
			}
			if len(devs) != 1 {
				t.Errorf("got %+v, want only the stop", devs)
			}
		})
	}
}

func TestVerdictStrings(t *testing.T) {
	cases := map[Verdict]string{
		VerdictUnknown: "unknown", VerdictAccepted: "accepted", VerdictInvalid: "invalid", VerdictZero: "zero_position",
		VerdictDuplicate: "duplicate", VerdictJump: "jump", VerdictLate: "late", VerdictStale: "stale", Verdict(200): "unknown",
	}
	for v, want := range cases {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", v, got, want)
		}
	}
}

func TestDistanceMatchesHaversine(t *testing.T) {
	cases := []struct {
		name            string
		lat, lon        float64
		dNorthM, dEastM float64
	}{
		{"10 m east at Yongkang", ykLat, ykLon, 0, 10},
		{"1 km diagonal at Shanghai", shLat, shLon, 700, 700},
		{"100 km north-east at Harbin", 45.8, 126.6, 70000, 70000},
		{"100 km south at Sanya", 18.25, 109.5, -100000, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lat2, lon2 := offsetM(tc.lat, tc.lon, tc.dNorthM, tc.dEastM)
			want := geofence.HaversineM(tc.lat, tc.lon, lat2, lon2)
			got := distanceM(tc.lat, tc.lon, lat2, lon2)
			if rel := math.Abs(got-want) / want; rel > 0.001 {
				t.Errorf("distanceM = %.3f m, haversine %.3f m: relative error %.5f, want under 0.001", got, want, rel)
			}
		})
	}
}
