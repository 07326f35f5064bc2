package deviation

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

func TestB23OverspeedOneEpisode(t *testing.T) {
	// Limit 60 km/h, samples every 5 s from 10:00:00. Per-sample alerting
	// would raise 7 alarms.
	speeds := []float64{58, 62, 61, 59, 63, 64, 62, 56, 55, 55, 63, 55, 55}
	e := New(DefaultConfig(), nil)
	fixes := drive("T1", t0, 5*time.Second, ykLat, ykLon, speeds)
	devs := processAll(e, fixes)
	if len(devs) != 2 {
		t.Fatalf("got %d deviations, want one open and one close: %+v", len(devs), devs)
	}
	open, closed := devs[0], devs[1]

	if open.Kind != model.KindOverspeed || open.State != model.StateOpen {
		t.Errorf("first = %v %v, want open overspeed", open.Kind, open.State)
	}
	if !open.StartedAt.Equal(fixes[1].Time) {
		t.Errorf("StartedAt = %v, want 10:00:05", open.StartedAt)
	}
	if !open.ReceivedAt.Equal(fixes[3].ReceivedAt) {
		t.Errorf("opening ReceivedAt = %v, want the 10:00:15 fix's %v", open.ReceivedAt, fixes[3].ReceivedAt)
	}
	if closed.State != model.StateClosed || closed.ID != open.ID {
		t.Errorf("second = %v id %s, want closed with id %s", closed.State, closed.ID, open.ID)
	}
	if !closed.EndedAt.Equal(fixes[9].Time) {
		t.Errorf("EndedAt = %v, want 10:00:45", closed.EndedAt)
	}
	if got := closed.EndedAt.Sub(closed.StartedAt); got != 40*time.Second {
		t.Errorf("duration = %v, want 40s", got)
	}
	if closed.Peak != 64 {
		t.Errorf("Peak = %v km/h, want 64", closed.Peak)
	}
	if closed.TextZH != "超速结束：持续 40 秒，最高 64 km/h，限速 60 km/h" {
		t.Errorf("closed TextZH = %q", closed.TextZH)
	}
	if closed.TextEN != "Speeding ended after 40 s: up to 64 km/h, limit 60 km/h" {
		t.Errorf("closed TextEN = %q", closed.TextEN)
	}
	if open.Late || closed.Late {
		t.Error("episode flagged late, want live")
	}
}

func TestB24SpeedSpikeIgnored(t *testing.T) {
	// Positions 76 m apart every 5 s (about 55 km/h); three reported
	// samples in a row near 180 km/h would span the minimum duration.
	reported := []float64{52, 55, 180, 175, 178, 54, 53}
	e := New(DefaultConfig(), nil)
	var devs []model.Deviation
	for i, kmh := range reported {
		lat, lon := offsetM(ykLat, ykLon, 0, float64(i)*76)
		res := e.ProcessFix(newFix("T1", t0.Add(time.Duration(i)*5*time.Second), lat, lon, speed(kmh)))
		wantRejected := kmh > 100
		if res.SpeedRejected != wantRejected {
			t.Errorf("fix %d at %v km/h: SpeedRejected = %v, want %v", i, kmh, res.SpeedRejected, wantRejected)
		}
		if res.Verdict != VerdictAccepted {
			t.Errorf("fix %d: Verdict = %v, want accepted (the position is good)", i, res.Verdict)
		}
		devs = append(devs, res.Deviations...)
	}
	if len(devs) != 0 {
		t.Errorf("got %+v, want no deviations", devs)
	}
	if got := e.Stats().SpeedRejected; got != 3 {
		t.Errorf("Stats.SpeedRejected = %d, want 3", got)
	}
}

func TestOverspeedLimitSources(t *testing.T) {
	// The truck drives at 70 km/h for a minute through whichever zones
	// the case sets around its path.
	path := func(t *testing.T, kind, extra string) *geofence.Zone {
		lat, lon := offsetM(ykLat, ykLon, 0, 500)
		return kindZone(t, "z-"+kind, kind, lat, lon, 2000, extra)
	}
	cases := []struct {
		name      string
		zones     func(t *testing.T) []*geofence.Zone
		wantOpen  bool
		wantLimit float64
		wantZone  string
	}{
		{"default 60 on an ordinary road", func(*testing.T) []*geofence.Zone { return nil }, true, 60, ""},
		{"expressway default 80", func(t *testing.T) []*geofence.Zone {
			return []*geofence.Zone{path(t, "speed_limit", `,"road":"expressway"`)}
		}, false, 0, ""},
		{"zone limit 50", func(t *testing.T) []*geofence.Zone {
			return []*geofence.Zone{path(t, "speed_limit", `,"speed_limit_kmh":50`)}
		}, true, 50, "z-speed_limit"},
		{"zone limit above the default", func(t *testing.T) []*geofence.Zone {
			return []*geofence.Zone{path(t, "speed_limit", `,"speed_limit_kmh":90`)}
		}, false, 0, ""},
		{"lowest of two limits", func(t *testing.T) []*geofence.Zone {
			return []*geofence.Zone{path(t, "speed_limit", `,"speed_limit_kmh":65`), path(t, "site", `,"speed_limit_kmh":40`)}
		}, true, 40, "z-site"},
		{"limit outside its window", func(t *testing.T) []*geofence.Zone {
			return []*geofence.Zone{path(t, "speed_limit", `,"speed_limit_kmh":90,"window":"20:00-06:00"`)}
		}, true, 60, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			e.SetZones(tc.zones(t))
			speeds := make([]float64, 13)
			for i := range speeds {
				speeds[i] = 70
			}
			devs := processAll(e, drive("T1", t0, 5*time.Second, ykLat, ykLon, speeds))
			if !tc.wantOpen {
				if len(devs) != 0 {
					t.Errorf("got %+v, want none", devs)
				}
				return
			}
			if len(devs) != 1 || devs[0].Kind != model.KindOverspeed {
				t.Fatalf("got %+v, want one overspeed opening", devs)
			}
			if want := fmt.Sprintf("limit %.0f km/h", tc.wantLimit); !strings.Contains(devs[0].TextEN, want) {
				t.Errorf("TextEN = %q, want limit %v", devs[0].TextEN, tc.wantLimit)
			}
			if devs[0].ZoneID != tc.wantZone {
				t.Errorf("ZoneID = %q, want %q", devs[0].ZoneID, tc.wantZone)
			}
		})
	}
}

func TestOverspeedShortBurstNoEpisode(t *testing.T) {
	cases := []struct {
		name   string
		speeds []float64
	}{
		{"one sample over", []float64{50, 70, 50, 50}},
		{"five seconds over", []float64{50, 70, 72, 50, 50}},
		{"in band then drops", []float64{50, 62, 58, 56, 62, 50}},
		{"over across a gap", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			fixes := drive("T1", t0, 5*time.Second, ykLat, ykLon, tc.speeds)
			if tc.speeds == nil {
				// Two samples over the limit five minutes apart tell nothing
				// about the speed in between.
				first := drive("T1", t0, 5*time.Second, ykLat, ykLon, []float64{70})
				lat, lon := offsetM(ykLat, ykLon, 0, 5000)
				fixes = append(first, newFix("T1", t0.Add(5*time.Minute), lat, lon, speed(70)))
			}
			if devs := processAll(e, fixes); len(devs) != 0 {
				t.Errorf("got %+v, want none", devs)
			}
		})
	}
}
