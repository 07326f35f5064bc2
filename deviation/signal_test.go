package deviation

import (
	"math"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// tripFor returns a dispatched trip for T1 from start to end on the
// straight test route.
func tripFor(start, end time.Time) *model.Trip {
	trip := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
	trip.PlannedStart, trip.PlannedEnd = start, end
	return trip
}

func TestSignalLossRevealedByGap(t *testing.T) {
	cases := []struct {
		name     string
		gap      time.Duration
		withTrip bool
		wantLoss bool
	}{
		{"eight minutes on a trip", 8 * time.Minute, true, true},
		{"four minutes on a trip", 4 * time.Minute, true, false},
		{"eight minutes without a trip", 8 * time.Minute, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			if tc.withTrip {
				if _, err := e.SetTrip("T1", tripFor(t0.Add(-time.Hour), t0.Add(5*time.Hour)), t0); err != nil {
					t.Fatal(err)
				}
			}
			before := parked("T1", t0, 10*time.Second, 6, ykLat, ykLon, speed(5))
			resume := before[5].Time.Add(tc.gap)
			after := parked("T1", resume, 10*time.Second, 3, ykLat, ykLon, speed(5))
			losses := ofKind(processAll(e, append(before, after...)), model.KindSignalLoss)
			if !tc.wantLoss {
				if len(losses) != 0 {
					t.Errorf("got %+v, want none", losses)
				}
				return
			}
			if len(losses) != 2 || losses[0].State != model.StateOpen || losses[1].State != model.StateClosed {
				t.Fatalf("got %+v, want an open and a close", losses)
			}
			for _, d := range losses {
				if !d.Late {
					t.Errorf("%v deviation not flagged late", d.State)
				}
				if !d.StartedAt.Equal(before[5].Time) {
					t.Errorf("StartedAt = %v, want the last fix before the gap %v", d.StartedAt, before[5].Time)
				}
				if !d.ReceivedAt.Equal(after[0].ReceivedAt) {
					t.Errorf("ReceivedAt = %v, want the revealing fix's %v", d.ReceivedAt, after[0].ReceivedAt)
				}
			}
			if !losses[1].EndedAt.Equal(resume) {
				t.Errorf("EndedAt = %v, want %v", losses[1].EndedAt, resume)
			}
			if losses[1].Peak != tc.gap.Seconds() {
				t.Errorf("Peak = %v s, want %v", losses[1].Peak, tc.gap.Seconds())
			}
		})
	}
}

func TestB25ConnectionFlapsNoSignalLoss(t *testing.T) {
	// One hour, a fix every 10 s. The connection drops every 210 s for
	// 30 s; the unit buffers and uploads at reconnect. Tick runs every
	// 10 s of wall clock.
	e := New(DefaultConfig(), nil)
	if _, err := e.SetTrip("T1", tripFor(t0.Add(-time.Hour), t0.Add(5*time.Hour)), t0); err != nil {
		t.Fatal(err)
	}
	var fixes []*model.Fix
	for i := range 360 {
		at := t0.Add(time.Duration(i) * 10 * time.Second)
		received := at.Add(time.Second)
		if phase := at.Sub(t0) % (240 * time.Second); phase >= 210*time.Second {
			received = at.Add(240*time.Second - phase + 2*time.Second)
		}
		lat, lon := offsetM(ykLat, ykLon, 0, float64(i%60)*0.5)
		fixes = append(fixes, newFix("T1", at, lat, lon, speed(0), receivedAt(received)))
	}

	var devs []model.Deviation
	next := 0
	for now := t0; now.Before(t0.Add(time.Hour + time.Minute)); now = now.Add(10 * time.Second) {
		for next < len(fixes) && !fixes[next].ReceivedAt.After(now) {
			devs = append(devs, e.Process(fixes[next])...)
			next++
		}
		devs = append(devs, e.Tick(now)...)
	}
	if next != len(fixes) {
		t.Fatalf("processed %d of %d fixes", next, len(fixes))
	}
	if losses := ofKind(devs, model.KindSignalLoss); len(losses) != 0 {
		t.Errorf("got %d signal_loss deviations, want none: %+v", len(losses), losses)
	}
}

func TestB26BacklogOneEpisode(t *testing.T) {
	// Live fixes until 08:00:00, then an outage until 10:00:05, when 720
	// buffered fixes (08:00:10-10:00:00) are uploaded over 10 minutes;
	// the first fresh fix is 10:10:00. Tick runs every 30 s.
	day := func(h, m, s int) time.Time { return time.Date(2026, 12, 4, h, m, s, 0, cst) }
	e := New(DefaultConfig(), nil)
	if _, err := e.SetTrip("T1", tripFor(day(7, 0, 0), day(12, 0, 0)), day(7, 50, 0)); err != nil {
		t.Fatal(err)
	}
	var fixes []*model.Fix
	for at := day(7, 50, 0); !at.After(day(8, 0, 0)); at = at.Add(10 * time.Second) {
		fixes = append(fixes, newFix("T1", at, ykLat, ykLon, speed(0)))
	}
	for i := 1; i <= 720; i++ {
		at := day(8, 0, 0).Add(time.Duration(i) * 10 * time.Second)
		received := day(10, 0, 5).Add(time.Duration(i-1) * 10 * time.Minute / 720)
		fixes = append(fixes, newFix("T1", at, ykLat, ykLon, speed(0), source(model.SourceBlind), receivedAt(received)))
	}
	for at := day(10, 10, 0); at.Before(day(10, 20, 0)); at = at.Add(10 * time.Second) {
		fixes = append(fixes, newFix("T1", at, ykLat, ykLon, speed(0)))
	}

	var losses []model.Deviation
	next := 0
	for now := day(7, 50, 0); now.Before(day(10, 20, 0)); now = now.Add(30 * time.Second) {
		for next < len(fixes) && !fixes[next].ReceivedAt.After(now) {
			losses = append(losses, ofKind(e.Process(fixes[next]), model.KindSignalLoss)...)
			next++
		}
		losses = append(losses, ofKind(e.Tick(now), model.KindSignalLoss)...)
	}
	if len(losses) != 2 {
		t.Fatalf("got %d signal_loss deviations, want one open and one close: %+v", len(losses), losses)
	}
	open, closed := losses[0], losses[1]
	if open.State != model.StateOpen || !open.StartedAt.Equal(day(8, 0, 0)) {
		t.Errorf("open = %v from %v, want open from 08:00:00", open.State, open.StartedAt)
	}
	if open.Late {
		t.Error("live opening flagged late")
	}
	if closed.State != model.StateClosed || closed.ID != open.ID {
		t.Errorf("close = %v id %s, want closed with id %s", closed.State, closed.ID, open.ID)
	}
	if !closed.EndedAt.Equal(day(10, 0, 5)) {
		t.Errorf("EndedAt = %v, want 10:00:05 when fixes resumed", closed.EndedAt)
	}
	if closed.Late {
		t.Error("live close flagged late, want live: the arrival itself ends the loss")
	}
}

func TestTickSignalLossNeedsActiveTrip(t *testing.T) {
	cases := []struct {
		name string
		trip *model.Trip
	}{
		{"no trip", nil},
		{"trip not started", tripFor(t0.Add(time.Hour), t0.Add(5*time.Hour))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			if _, err := e.SetTrip("T1", tc.trip, t0); err != nil {
				t.Fatal(err)
			}
			e.Process(newFix("T1", t0, ykLat, ykLon))
			if devs := e.Tick(t0.Add(30 * time.Minute)); len(devs) != 0 {
				t.Errorf("got %+v, want none", devs)
			}
		})
	}
}

func TestTripOvertime(t *testing.T) {
	end := t0
	grace := DefaultConfig().TripOvertimeGrace
	cases := []struct {
		name string
		next func() *model.Trip
	}{
		{"completed", func() *model.Trip {
			tr := tripFor(t0.Add(-time.Hour), end)
			tr.State, tr.CompletedAt = model.TripCompleted, end.Add(40*time.Minute)
			return tr
		}},
		{"cleared", func() *model.Trip { return nil }},
		{"planned end moved later", func() *model.Trip { return tripFor(t0.Add(-time.Hour), end.Add(time.Hour)) }},
		{"replaced by another trip", func() *model.Trip {
			tr := tripFor(t0.Add(-time.Hour), end.Add(3*time.Hour))
			tr.ID = "trip-2"
			return tr
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			if _, err := e.SetTrip("T1", tripFor(t0.Add(-time.Hour), end), t0.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			e.Process(newFix("T1", end.Add(10*time.Minute), ykLat, ykLon))
			// The vehicle is also silent for more than 5 minutes here, so
			// Tick raises signal_loss too; only trip_overtime is checked.
			if devs := ofKind(e.Tick(end.Add(grace-time.Second)), model.KindTripOvertime); len(devs) != 0 {
				t.Fatalf("Tick before the grace ran out: %+v, want none", devs)
			}
			opened := ofKind(e.Tick(end.Add(grace+20*time.Second)), model.KindTripOvertime)
			if len(opened) != 1 || opened[0].Kind != model.KindTripOvertime || opened[0].State != model.StateOpen {
				t.Fatalf("Tick after the grace: %+v, want one trip_overtime opening", opened)
			}
			if !opened[0].StartedAt.Equal(end.Add(grace)) || opened[0].TripID != "trip-1" {
				t.Errorf("opening = %v trip %q, want from %v on trip-1", opened[0].StartedAt, opened[0].TripID, end.Add(grace))
			}
			if opened[0].TextZH != "运输超时：已超过计划结束时间 12-04 10:00" {
				t.Errorf("TextZH = %q", opened[0].TextZH)
			}
			if devs := e.Process(newFix("T1", end.Add(grace+time.Minute), ykLat, ykLon)); len(ofKind(devs, model.KindTripOvertime)) != 0 {
				t.Errorf("a fix reopened the episode: %+v", devs)
			}
			at := end.Add(40 * time.Minute)
			closed, err := e.SetTrip("T1", tc.next(), at)
			if err != nil {
				t.Fatal(err)
			}
			closed = ofKind(closed, model.KindTripOvertime)
			if len(closed) != 1 || closed[0].State != model.StateClosed || closed[0].ID != opened[0].ID {
				t.Fatalf("SetTrip returned %+v, want the overtime episode closed", closed)
			}
			if !closed[0].EndedAt.Equal(at) {
				t.Errorf("EndedAt = %v, want %v", closed[0].EndedAt, at)
			}
		})
	}
}

func TestTripOvertimeFromFix(t *testing.T) {
	// Without Tick, the first fix past the grace opens the episode.
	e := New(DefaultConfig(), nil)
	if _, err := e.SetTrip("T1", tripFor(t0.Add(-time.Hour), t0), t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	devs := ofKind(processAll(e, parked("T1", t0.Add(14*time.Minute), 30*time.Second, 4, ykLat, ykLon, speed(20))), model.KindTripOvertime)
	if len(devs) != 1 || !devs[0].StartedAt.Equal(t0.Add(15*time.Minute)) {
		t.Errorf("got %+v, want one opening from 10:15", devs)
	}
}

func TestSignalLossIgnitionOffThreshold(t *testing.T) {
	// Parked with the ignition off, the unit reports every 30 minutes;
	// then it drives with a fix every 10 s and goes silent for 8 minutes.
	e := New(DefaultConfig(), nil)
	if _, err := e.SetTrip("T1", tripFor(t0.Add(-time.Hour), t0.Add(8*time.Hour)), t0); err != nil {
		t.Fatal(err)
	}
	asleep := parked("T1", t0, 30*time.Minute, 5, ykLat, ykLon, ignition(false))
	if losses := ofKind(processAll(e, asleep), model.KindSignalLoss); len(losses) != 0 {
		t.Errorf("sleep reports raised %+v, want none", losses)
	}

	wake := asleep[len(asleep)-1].Time.Add(10 * time.Second)
	driving := drive("T1", wake, 10*time.Second, ykLat, ykLon, []float64{40, 40, 40, 40, 40, 40}, ignition(true))
	last := driving[len(driving)-1]
	resumeLat, resumeLon := offsetM(last.Lat, last.Lon, 0, 200)
	resumed := newFix("T1", last.Time.Add(8*time.Minute), resumeLat, resumeLon, speed(40), ignition(true))
	losses := ofKind(processAll(e, append(driving, resumed)), model.KindSignalLoss)
	if len(losses) != 2 || !losses[0].StartedAt.Equal(last.Time) {
		t.Errorf("got %+v, want one loss from %v while driving", losses, last.Time)
	}
}

// TestSignalLossWithoutAnyFix gives a vehicle a trip and never hears from
// it: an unplugged unit must raise signal_loss, counted from when the trip
// was assigned, at the route's start.
func TestSignalLossWithoutAnyFix(t *testing.T) {
	e := New(DefaultConfig(), nil)
	assigned := t0
	trip := straightTrip("trip-1", "T1", ykLat, ykLon, 5000, 200)
	trip.PlannedStart = t0.Add(-time.Hour)
	if _, err := e.SetTrip("T1", trip, assigned); err != nil {
		t.Fatal(err)
	}
	if got := ofKind(e.Tick(assigned.Add(4*time.Minute)), model.KindSignalLoss); len(got) != 0 {
		t.Fatalf("got %+v 4 minutes after assignment, want nothing yet", got)
	}
	got := ofKind(e.Tick(assigned.Add(6*time.Minute)), model.KindSignalLoss)
	if len(got) != 1 || got[0].State != model.StateOpen {
		t.Fatalf("got %+v 6 minutes after assignment, want one opening", got)
	}
	if !got[0].StartedAt.Equal(assigned) || math.Abs(got[0].Lat-ykLat) > 1e-6 || math.Abs(got[0].Lon-ykLon) > 1e-6 {
		t.Errorf("opened at %v (%f, %f), want the assignment %v at the route's start", got[0].StartedAt, got[0].Lat, got[0].Lon, assigned)
	}
}
