package deviation

import (
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

func TestB11LateFixKeepsLiveState(t *testing.T) {
	// 11:00:00 fix A arrives, then 10:00:00 fix B 23 km away. The live
	// lane must stay at A: the next fix near A is no jump.
	at := func(h, m, s int) time.Time { return time.Date(2026, 12, 4, h, m, s, 0, cst) }
	e := New(DefaultConfig(), nil)
	e.Process(newFix("T1", at(9, 0, 0), 31.2400, 121.4800))
	if res := e.ProcessFix(newFix("T1", at(11, 0, 0), 31.2400, 121.4800)); res.Verdict != VerdictAccepted {
		t.Fatalf("fix A: Verdict = %v", res.Verdict)
	}
	if res := e.ProcessFix(newFix("T1", at(10, 0, 0), 31.1000, 121.3000)); res.Verdict != VerdictLate {
		t.Errorf("fix B: Verdict = %v, want late", res.Verdict)
	}
	res := e.ProcessFix(newFix("T1", at(11, 0, 10), 31.2401, 121.4801))
	if res.Verdict != VerdictAccepted {
		t.Errorf("next live fix: Verdict = %v, want accepted against A", res.Verdict)
	}
	if st := e.Stats(); st.Jump != 0 || st.Late != 1 {
		t.Errorf("Stats = %+v, want Jump 0 and Late 1", st)
	}
}

func TestLateLaneRaisesEpisodes(t *testing.T) {
	// Live fixes at 10:00 and 10:30 outside the zone leave a gap. A
	// blind-area batch for 10:10-10:15 arrives at 10:31; it went through
	// a restricted zone at 70 km/h.
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "z1", "水源保护区", ykLat, ykLon+0.01, 3000, "")})
	farLat, farLon := offsetM(ykLat, ykLon, 20000, 0)
	if devs := processAll(e, []*model.Fix{
		newFix("T1", t0, farLat, farLon, speed(0)),
		newFix("T1", t0.Add(30*time.Minute), farLat, farLon, speed(0)),
	}); len(devs) != 0 {
		t.Fatalf("live fixes raised %+v", devs)
	}

	arrival := t0.Add(31 * time.Minute)
	speeds := make([]float64, 31)
	for i := range speeds {
		speeds[i] = 70
	}
	batch := drive("T1", t0.Add(10*time.Minute), 10*time.Second, ykLat, ykLon, speeds, source(model.SourceBlind), receivedAt(arrival))
	var late []model.Deviation
	for _, f := range batch {
		res := e.ProcessFix(f)
		if res.Verdict != VerdictLate {
			t.Fatalf("batch fix %v: Verdict = %v, want late", f.Time, res.Verdict)
		}
		late = append(late, res.Deviations...)
	}
	for _, kind := range []model.DeviationKind{model.KindRestrictedZone, model.KindOverspeed} {
		opened := ofKind(late, kind)
		if len(opened) == 0 || opened[0].State != model.StateOpen || !opened[0].Late {
			t.Errorf("%v: got %+v, want a late opening first", kind, opened)
			continue
		}
		if !opened[0].StartedAt.Equal(batch[0].Time) {
			t.Errorf("%v: StartedAt = %v, want %v", kind, opened[0].StartedAt, batch[0].Time)
		}
		if !opened[0].ReceivedAt.Equal(arrival) {
			t.Errorf("%v: ReceivedAt = %v, want %v", kind, opened[0].ReceivedAt, arrival)
		}
	}
	// The truck leaves the 3 km zone within the batch, but is still
	// speeding at its last fix.
	if zone := ofKind(late, model.KindRestrictedZone); len(zone) != 2 || zone[1].State != model.StateClosed || !zone[1].Late {
		t.Errorf("restricted_zone: got %+v, want a late open and close", zone)
	}
	if len(ofKind(late, model.KindOverspeed)) != 1 {
		t.Errorf("overspeed: got %+v, want only the opening", ofKind(late, model.KindOverspeed))
	}

	// The next live fix, a minute after the batch arrived, closes the
	// batch's open episode at its last fix; the live lane raises nothing.
	flushed := e.Process(newFix("T1", t0.Add(32*time.Minute), farLat, farLon, speed(0), receivedAt(t0.Add(32*time.Minute))))
	if len(flushed) != 1 || flushed[0].Kind != model.KindOverspeed {
		t.Fatalf("got %+v, want the late overspeed episode closed", flushed)
	}
	last := batch[len(batch)-1]
	if d := flushed[0]; d.State != model.StateClosed || !d.Late || !d.EndedAt.Equal(last.Time) {
		t.Errorf("got %v late=%v ended %v, want closed, late, at %v", d.State, d.Late, d.EndedAt, last.Time)
	}
	if devs := e.Process(newFix("T1", t0.Add(33*time.Minute), farLat, farLon, speed(0))); len(devs) != 0 {
		t.Errorf("live lane raised %+v after the late batch, want nothing", devs)
	}
}

func TestB13OutlierInLateBatch(t *testing.T) {
	// Current fix 11:00; a backlog for 10:00-10:05, 10 s apart, has one
	// point at 10:02:30 80 km from its neighbours, inside a restricted
	// zone.
	at := func(h, m, s int) time.Time { return time.Date(2026, 12, 4, h, m, s, 0, cst) }
	outLat, outLon := offsetM(ykLat, ykLon, 80000, 0)
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", outLat, outLon, 5000, "")})
	e.Process(newFix("T1", at(9, 50, 0), ykLat, ykLon))
	e.Process(newFix("T1", at(11, 0, 0), ykLat, ykLon))

	outlierAt := at(10, 2, 30)
	var devs []model.Deviation
	for fixTime := at(10, 0, 0); !fixTime.After(at(10, 5, 0)); fixTime = fixTime.Add(10 * time.Second) {
		lat, lon := ykLat, ykLon
		wantVerdict := VerdictLate
		if fixTime.Equal(outlierAt) {
			lat, lon = outLat, outLon
			wantVerdict = VerdictJump
		}
		res := e.ProcessFix(newFix("T1", fixTime, lat, lon, speed(0), source(model.SourceBlind)))
		if res.Verdict != wantVerdict {
			t.Errorf("fix %v: Verdict = %v, want %v", fixTime.Format("15:04:05"), res.Verdict, wantVerdict)
		}
		devs = append(devs, res.Deviations...)
	}
	if len(devs) != 0 {
		t.Errorf("got %+v, want none", devs)
	}
	if got := e.Stats().Jump; got != 1 {
		t.Errorf("Stats.Jump = %d, want 1", got)
	}
}

func TestB15ResentFixesChangeNothing(t *testing.T) {
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", shLat, shLon, 200, "")})
	fixes := parked("T1", t0, 10*time.Second, 8, shLat, shLon, speed(10))
	if opened := processAll(e, fixes); countState(opened, model.StateOpen) != 1 {
		t.Fatalf("setup: got %+v, want one open", opened)
	}
	before := e.Stats()

	// The unit re-sends the last fix, then re-uploads the whole batch.
	resent := append([]*model.Fix{fixes[len(fixes)-1]}, fixes...)
	for i, f := range resent {
		res := e.ProcessFix(f)
		wantVerdict := VerdictStale
		if f.Time.Equal(fixes[len(fixes)-1].Time) {
			wantVerdict = VerdictDuplicate
		}
		if res.Verdict != wantVerdict || len(res.Deviations) != 0 {
			t.Errorf("resent fix %d: Verdict %v, deviations %+v; want %v and none", i, res.Verdict, res.Deviations, wantVerdict)
		}
	}
	after := e.Stats()
	if after.Stale-before.Stale != 7 || after.Duplicate-before.Duplicate != 2 {
		t.Errorf("stale +%d, duplicate +%d; want +7 and +2", after.Stale-before.Stale, after.Duplicate-before.Duplicate)
	}
}

func TestB10BacklogOverspeedLate(t *testing.T) {
	// An overspeed stretch at 10:15 is part of a backlog received at
	// 15:15, in fix-time order.
	start := time.Date(2026, 12, 4, 10, 15, 0, 0, cst)
	arrival := start.Add(5 * time.Hour)
	e := New(DefaultConfig(), nil)
	devs := processAll(e, drive("T1", start, 5*time.Second, ykLat, ykLon, []float64{70, 70, 70, 70, 50, 50, 50}, receivedAt(arrival)))
	if len(devs) != 2 {
		t.Fatalf("got %+v, want one overspeed episode", devs)
	}
	for _, d := range devs {
		if !d.Late || !d.StartedAt.Equal(start) || !d.ReceivedAt.Equal(arrival) {
			t.Errorf("%v: late=%v started %v received %v; want late, %v, %v", d.State, d.Late, d.StartedAt, d.ReceivedAt, start, arrival)
		}
	}
}

func TestB05TimedEpisodesSurviveRestart(t *testing.T) {
	// T1 is speeding, T2 has a live signal loss and T3 is five minutes
	// into a stop when the server restarts.
	trip := func(terminal string) *model.Trip {
		tr := tripFor(t0.Add(-time.Hour), t0.Add(5*time.Hour))
		tr.ID, tr.Terminal = "trip-"+terminal, terminal
		return tr
	}
	speeding := drive("T1", t0, 5*time.Second, ykLat, ykLon, []float64{70, 70, 70, 70, 70, 50, 50, 50, 50})
	stopLat, stopLon := offsetM(ykLat, ykLon, 5000, 0)
	stop := parked("T3", t0, 30*time.Second, 30, stopLat, stopLon)

	before := New(DefaultConfig(), nil)
	for _, term := range []string{"T1", "T2", "T3"} {
		if _, err := before.SetTrip(term, trip(term), t0); err != nil {
			t.Fatal(err)
		}
	}
	before.Process(newFix("T2", t0.Add(-10*time.Minute), ykLat, ykLon))
	opened := processAll(before, speeding[:5])
	opened = append(opened, before.Tick(t0.Add(time.Minute))...)
	processAll(before, stop[:10])
	if len(opened) != 2 {
		t.Fatalf("setup: got %+v, want overspeed and signal_loss openings", opened)
	}

	after := New(DefaultConfig(), nil)
	for _, term := range []string{"T1", "T2", "T3"} {
		image, err := before.MarshalState(term)
		if err != nil {
			t.Fatal(err)
		}
		if err := after.RestoreState(term, image); err != nil {
			t.Fatal(err)
		}
		closed, err := after.SetTrip(term, trip(term), t0)
		if err != nil {
			t.Fatal(err)
		}
		if len(closed) != 0 {
			t.Errorf("%s: setting the same trip after restore closed %+v", term, closed)
		}
	}

	t.Run("overspeed continues", func(t *testing.T) {
		rest := processAll(after, speeding[5:])
		if len(rest) != 1 || rest[0].State != model.StateClosed || rest[0].ID != opened[0].ID {
			t.Errorf("got %+v, want the open overspeed episode closed", rest)
		}
	})
	t.Run("signal loss continues", func(t *testing.T) {
		if devs := after.Tick(t0.Add(2 * time.Minute)); len(devs) != 0 {
			t.Errorf("Tick after restart raised %+v, want nothing", devs)
		}
		devs := ofKind(after.Process(newFix("T2", t0.Add(3*time.Minute), ykLat, ykLon, receivedAt(t0.Add(3*time.Minute)))), model.KindSignalLoss)
		if len(devs) != 1 || devs[0].State != model.StateClosed || devs[0].ID != opened[1].ID {
			t.Errorf("got %+v, want the live signal loss closed", devs)
		}
	})
	t.Run("stop timer continues", func(t *testing.T) {
		devs := processAll(after, stop[10:])
		if len(devs) != 1 || devs[0].Kind != model.KindLongStop || !devs[0].StartedAt.Equal(t0) {
			t.Errorf("got %+v, want one stop from %v", devs, t0)
		}
	})
}

func TestTickClosesIdleLateBatch(t *testing.T) {
	e := New(DefaultConfig(), nil)
	farLat, farLon := offsetM(ykLat, ykLon, 20000, 0)
	processAll(e, []*model.Fix{
		newFix("T1", t0, farLat, farLon, speed(0)),
		newFix("T1", t0.Add(30*time.Minute), farLat, farLon, speed(0)),
	})
	arrival := t0.Add(31 * time.Minute)
	batch := drive("T1", t0.Add(10*time.Minute), 5*time.Second, ykLat, ykLon, []float64{75, 75, 75, 75}, source(model.SourceBlind), receivedAt(arrival))
	if opened := processAll(e, batch); len(opened) != 1 || opened[0].Kind != model.KindOverspeed {
		t.Fatalf("batch raised %+v, want a late overspeed opening", opened)
	}
	if devs := e.Tick(arrival.Add(30 * time.Second)); len(devs) != 0 {
		t.Errorf("Tick before the batch went idle: %+v, want nothing", devs)
	}
	closed := e.Tick(arrival.Add(time.Minute))
	if len(closed) != 1 || closed[0].State != model.StateClosed || !closed[0].Late || !closed[0].EndedAt.Equal(batch[3].Time) {
		t.Errorf("Tick after the batch went idle: %+v, want the late episode closed at %v", closed, batch[3].Time)
	}
}

func TestConfigDefaultsFillZeroFields(t *testing.T) {
	got := New(Config{MarginM: 35}, nil).cfg
	want := DefaultConfig()
	want.MarginM = 35
	if got != want {
		t.Errorf("config = %+v, want %+v", got, want)
	}
	if d := DefaultConfig(); d.DeviceAlarmMask != namedAlarmBits || d.DefaultLimitKmh != 60 || d.ExpresswayLimitKmh != 80 {
		t.Errorf("DefaultConfig = %+v, want every named alarm bit and limits 60/80 km/h", d)
	}
}

func TestRestoreVersionOneImage(t *testing.T) {
	// An image from before the timed kinds restores with empty rule state
	// and keeps its last fix, so a re-sent fix is still a duplicate.
	image := `{"version":1,"terminal":"T1","last_fix":"2026-12-04T10:00:00+08:00","last_lat":28.8908,"last_lon":120.0425,"trackers":[]}`
	e := New(DefaultConfig(), nil)
	if err := e.RestoreState("T1", []byte(image)); err != nil {
		t.Fatalf("RestoreState: %v", err)
	}
	if res := e.ProcessFix(newFix("T1", t0, ykLat, ykLon)); res.Verdict != VerdictDuplicate {
		t.Errorf("Verdict = %v, want duplicate of the restored last fix", res.Verdict)
	}
	if res := e.ProcessFix(newFix("T1", t0.Add(10*time.Second), ykLat, ykLon)); res.Verdict != VerdictAccepted {
		t.Errorf("Verdict = %v, want accepted", res.Verdict)
	}
}

// TestLateFixesAfterTripCompleted completes a trip, then receives a
// blind-area batch taken during it that leaves the route for 2.5
// minutes: the detour is raised late, on the completed trip.
func TestLateFixesAfterTripCompleted(t *testing.T) {
	e := New(DefaultConfig(), nil)
	trip := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
	if _, err := e.SetTrip("T1", trip, t0); err != nil {
		t.Fatal(err)
	}
	live := drive("T1", t0, 10*time.Second, ykLat, ykLon, []float64{36, 36, 36, 36, 36, 36})
	processAll(e, live)

	completedAt := t0.Add(20 * time.Minute)
	done := *trip
	done.State, done.CompletedAt = model.TripCompleted, completedAt
	if _, err := e.SetTrip("T1", &done, completedAt); err != nil {
		t.Fatal(err)
	}

	// Taken from minute 5 to 10 of the trip, 400 m north of the route
	// from minute 6 for 2.5 minutes; uploaded after the completion.
	var batch []*model.Fix
	for i := range 30 {
		at := t0.Add(5*time.Minute + time.Duration(i)*10*time.Second)
		north := 0.0
		if i >= 6 && i < 21 {
			north = 400
		}
		lat, lon := offsetM(ykLat, ykLon, north, 600+float64(i)*100)
		batch = append(batch, newFix("T1", at, lat, lon, speed(36), source(model.SourceBlind), receivedAt(completedAt.Add(time.Minute))))
	}
	devs := ofKind(processAll(e, batch), model.KindRouteDeviation)
	devs = append(devs, ofKind(e.Tick(completedAt.Add(5*time.Minute)), model.KindRouteDeviation)...)
	if len(devs) != 2 || devs[0].State != model.StateOpen || devs[1].State != model.StateClosed {
		t.Fatalf("got %+v, want one late route_deviation opened and closed", devs)
	}
	if devs[0].TripID != "trip-1" || !devs[0].Late {
		t.Errorf("opened on trip %q late=%v, want trip-1 and late", devs[0].TripID, devs[0].Late)
	}
}
