package deviation

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// stopEngine returns an engine with an active trip for T1 around ykLat,
// ykLon from an hour before start to five hours after.
func stopEngine(t *testing.T, start time.Time) *Engine {
	t.Helper()
	e := New(DefaultConfig(), nil)
	trip := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
	trip.PlannedStart, trip.PlannedEnd = start.Add(-time.Hour), start.Add(5*time.Hour)
	if _, err := e.SetTrip("T1", trip, start); err != nil {
		t.Fatal(err)
	}
	return e
}

// jittered returns n fixes interval apart around (lat, lon), each up to
// 15 m off in a repeating pattern, with a noisy speed.
func jittered(start time.Time, interval time.Duration, n int, lat, lon float64) []*model.Fix {
	fixes := make([]*model.Fix, n)
	for i := range n {
		pLat, pLon := offsetM(lat, lon, 15*math.Sin(float64(i)), 15*math.Cos(float64(i)*1.7))
		fixes[i] = newFix("T1", start.Add(time.Duration(i)*interval), pLat, pLon, speed(float64(i%4)*2))
	}
	return fixes
}

func TestLongStopEpisode(t *testing.T) {
	// Drive 1 km east, stop 15 minutes with GNSS jitter, drive on.
	approach := drive("T1", t0, 10*time.Second, ykLat, ykLon, []float64{36, 36, 36, 36, 36, 36, 36, 36, 36, 36, 36})
	last := approach[len(approach)-1]
	stop := jittered(last.Time.Add(30*time.Second), 30*time.Second, 31, last.Lat, last.Lon)
	after := stop[len(stop)-1]
	leave := drive("T1", after.Time.Add(10*time.Second), 10*time.Second, last.Lat, last.Lon+0.002, []float64{36, 36, 36, 36})
	fixes := append(append(approach, stop...), leave...)

	cases := []struct {
		name     string
		zones    func(t *testing.T) []*geofence.Zone
		noTrip   bool
		wantStop bool
	}{
		{"outside any site", func(*testing.T) []*geofence.Zone { return nil }, false, true},
		{"at a site", func(t *testing.T) []*geofence.Zone {
			return []*geofence.Zone{kindZone(t, "site-1", "site", last.Lat, last.Lon, 300, "")}
		}, false, false},
		{"no trip", func(*testing.T) []*geofence.Zone { return nil }, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := stopEngine(t, t0)
			if tc.noTrip {
				e = New(DefaultConfig(), nil)
			}
			e.SetZones(tc.zones(t))
			devs := ofKind(processAll(e, fixes), model.KindLongStop)
			if !tc.wantStop {
				if len(devs) != 0 {
					t.Errorf("got %+v, want no stop", devs)
				}
				return
			}
			if len(devs) != 2 {
				t.Fatalf("got %+v, want one open and one close", devs)
			}
			open, closed := devs[0], devs[1]
			// The last approach fix is already at the stop.
			if !open.StartedAt.Equal(last.Time) {
				t.Errorf("StartedAt = %v, want the arrival %v", open.StartedAt, last.Time)
			}
			if !open.ReceivedAt.Equal(stop[19].ReceivedAt) {
				t.Errorf("opened by the fix received %v, want %v (10 minutes in)", open.ReceivedAt, stop[19].ReceivedAt)
			}
			if !closed.EndedAt.Equal(leave[0].Time) {
				t.Errorf("EndedAt = %v, want the first fix away %v", closed.EndedAt, leave[0].Time)
			}
			if want := leave[0].Time.Sub(last.Time).Seconds(); closed.Peak != want {
				t.Errorf("Peak = %v s, want %v", closed.Peak, want)
			}
			if open.TextZH != "异常停车：在站点外已停留 10 分 0 秒" {
				t.Errorf("open TextZH = %q", open.TextZH)
			}
			if !strings.HasPrefix(closed.TextEN, "Unplanned stop ended after 15 min") {
				t.Errorf("closed TextEN = %q", closed.TextEN)
			}
		})
	}
}

func TestLongStopAcrossDataGap(t *testing.T) {
	cases := []struct {
		name      string
		firstOdo  float64
		secondOdo float64
		wantStop  bool
	}{
		{"same place, odometer unchanged", 1200, 1200.1, true},
		{"same place, odometer advanced", 1200, 1215, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := stopEngine(t, t0)
			fixes := []*model.Fix{
				newFix("T1", t0, ykLat, ykLon, speed(0), odometer(tc.firstOdo)),
				newFix("T1", t0.Add(12*time.Minute), ykLat, ykLon, speed(0), odometer(tc.secondOdo)),
			}
			stops := ofKind(processAll(e, fixes), model.KindLongStop)
			if !tc.wantStop {
				if len(stops) != 0 {
					t.Errorf("got %+v, want none", stops)
				}
				return
			}
			if len(stops) != 1 || !stops[0].StartedAt.Equal(t0) {
				t.Fatalf("got %+v, want one stop opened from %v", stops, t0)
			}
			if stops[0].Peak != 720 {
				t.Errorf("Peak = %v s, want 720", stops[0].Peak)
			}
		})
	}
}

func TestLongStopStrayFixKeepsStart(t *testing.T) {
	e := stopEngine(t, t0)
	fixes := parked("T1", t0, 30*time.Second, 25, ykLat, ykLon)
	strayLat, strayLon := offsetM(ykLat, ykLon, 90, 0)
	fixes[8] = newFix("T1", fixes[8].Time, strayLat, strayLon, speed(0))
	stops := ofKind(processAll(e, fixes), model.KindLongStop)
	if len(stops) != 1 || stops[0].State != model.StateOpen {
		t.Fatalf("got %+v, want one opening", stops)
	}
	if !stops[0].StartedAt.Equal(t0) {
		t.Errorf("StartedAt = %v, want %v despite the stray fix", stops[0].StartedAt, t0)
	}
}

func TestB07StopTimedByFixTime(t *testing.T) {
	// The truck stops at 11:00:00; fixes 11:00:00-11:12:00 every 30 s all
	// arrive at 11:20:00.
	stopAt := time.Date(2026, 12, 4, 11, 0, 0, 0, cst)
	arrival := time.Date(2026, 12, 4, 11, 20, 0, 0, cst)
	e := stopEngine(t, stopAt)
	approach := drive("T1", stopAt.Add(-time.Minute), 30*time.Second, ykLat, ykLon, []float64{30, 30})
	stopLat, stopLon := offsetM(ykLat, ykLon, 0, 500)
	backlog := parked("T1", stopAt, 30*time.Second, 25, stopLat, stopLon, receivedAt(arrival))
	devs := processAll(e, append(approach, backlog...))
	stops := ofKind(devs, model.KindLongStop)
	if len(stops) != 1 {
		t.Fatalf("got %+v, want one stop", devs)
	}
	d := stops[0]
	if !d.StartedAt.Equal(stopAt) {
		t.Errorf("StartedAt = %v, want 11:00:00", d.StartedAt)
	}
	if !d.Late {
		t.Error("Late = false, want true for an alarm decided 10 minutes after its fix time")
	}
	if !d.ReceivedAt.Equal(arrival) {
		t.Errorf("ReceivedAt = %v, want 11:20:00", d.ReceivedAt)
	}
	if d.Peak != 600 {
		t.Errorf("Peak = %v s, want 600 (decided by the 11:10:00 fix)", d.Peak)
	}
}

// TestLongStopDriftingCluster is the B01 field case: a truck creeps in at
// 10 km/h, parks, and its fixes then settle 28–39 m further on. The stop
// must be timed from the parking, not restarted when the cluster drifts
// away from the fix where the creep was first seen.
func TestLongStopDriftingCluster(t *testing.T) {
	e := stopEngine(t, t0)
	speeds := make([]float64, 34)
	for i := range speeds {
		speeds[i] = 10
	}
	approach := drive("T1", t0, 5*time.Second, ykLat, ykLon, speeds)
	last := approach[len(approach)-1]
	parkLat, parkLon := offsetM(last.Lat, last.Lon, 0, 12)
	parkedFrom := last.Time.Add(5 * time.Second)
	fixes := append(approach, parked("T1", parkedFrom, 10*time.Second, 12, parkLat, parkLon)...)
	at := parkedFrom.Add(12 * 10 * time.Second)
	for k := range 181 {
		east := 28.0
		if k%2 == 1 {
			east = 39
		}
		lat, lon := offsetM(parkLat, parkLon, 0, east)
		fixes = append(fixes, newFix("T1", at, lat, lon, speed(0)))
		at = at.Add(10 * time.Second)
	}

	stops := ofKind(processAll(e, fixes), model.KindLongStop)
	if len(stops) != 1 || stops[0].State != model.StateOpen {
		t.Fatalf("got %+v, want one opening", stops)
	}
	if lag := stops[0].StartedAt.Sub(parkedFrom); lag > 0 || lag < -time.Minute {
		t.Errorf("StartedAt = %v, want within the minute before parking at %v", stops[0].StartedAt, parkedFrom)
	}
	if late := stops[0].ReceivedAt.Sub(parkedFrom.Add(10 * time.Minute)); late > 11*time.Second {
		t.Errorf("opened by the fix received %v, %v after the 10 minutes were up", stops[0].ReceivedAt, late)
	}
}

// TestLongStopNotForCrawl keeps a truck crawling at 8 km/h in a queue for
// 15 minutes from counting as stopped.
func TestLongStopNotForCrawl(t *testing.T) {
	e := stopEngine(t, t0)
	speeds := make([]float64, 180)
	for i := range speeds {
		speeds[i] = 8
	}
	if stops := ofKind(processAll(e, drive("T1", t0, 5*time.Second, ykLat, ykLon, speeds)), model.KindLongStop); len(stops) != 0 {
		t.Errorf("got %+v, want no stop while crawling", stops)
	}
}
