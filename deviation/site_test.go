package deviation

import (
	"math"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

const (
	siteLat, siteLon = 28.90, 120.00
	siteTerminal     = "T-SITE"
)

// siteTrack returns one fix every 10 s at the given offsets, in metres
// east of the site centre, with the reported speed matching the
// displacement from the previous fix.
func siteTrack(start time.Time, eastM ...float64) []*model.Fix {
	const interval = 10 * time.Second
	fixes := make([]*model.Fix, len(eastM))
	for i, east := range eastM {
		kmh := 0.0
		if i > 0 {
			kmh = math.Abs(east-eastM[i-1]) / interval.Seconds() * 3.6
		}
		lat, lon := offsetM(siteLat, siteLon, 0, east)
		fixes[i] = newFix(siteTerminal, start.Add(time.Duration(i)*interval), lat, lon, speed(kmh))
	}
	return fixes
}

// newSiteEngine returns an engine with a 150 m site around the site centre
// and, when withTrip is set, a trip whose route passes through it.
func newSiteEngine(t *testing.T, withTrip bool) *Engine {
	t.Helper()
	e := New(Config{}, nil)
	e.SetZones([]*geofence.Zone{kindZone(t, "site-1", "site", siteLat, siteLon, 150, "")})
	if withTrip {
		startLat, startLon := offsetM(siteLat, siteLon, 0, -5000)
		if _, err := e.SetTrip(siteTerminal, straightTrip("trip-1", siteTerminal, startLat, startLon, 10000, 400), t0); err != nil {
			t.Fatalf("SetTrip: %v", err)
		}
	}
	return e
}

type wantEvent struct {
	kind    TripEventKind
	atIndex int // index of the fix whose time the event carries
}

func TestSiteArrivalAndDeparture(t *testing.T) {
	parkedAt := func(n int) []float64 { return make([]float64, n) }
	join := func(parts ...[]float64) []float64 {
		var out []float64
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name     string
		withTrip bool
		eastM    []float64
		want     []wantEvent
	}{
		{
			name:     "dwell then leave",
			withTrip: true,
			eastM:    join([]float64{-400, -300, -200, -100}, parkedAt(8), []float64{100, 200, 300, 400, 500}),
			want:     []wantEvent{{TripEventArrived, 3}, {TripEventDeparted, 13}},
		},
		{
			name:     "drive through without dwell",
			withTrip: true,
			eastM:    []float64{-400, -300, -200, -100, 0, 100, 200, 300, 400},
		},
		{
			name:     "short stop under dwell",
			withTrip: true,
			eastM:    join([]float64{-300, -200, -100}, parkedAt(4), []float64{100, 200, 300, 400, 500}),
		},
		{
			name:     "edge jitter after arrival",
			withTrip: true,
			eastM:    join([]float64{-300, -200, -100}, parkedAt(8), []float64{170, 180}, parkedAt(6)),
			want:     []wantEvent{{TripEventArrived, 2}},
		},
		{
			name:  "no trip",
			eastM: join([]float64{-300, -200, -100}, parkedAt(8), []float64{100, 200, 300, 400, 500}),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newSiteEngine(t, tc.withTrip)
			fixes := siteTrack(t0, tc.eastM...)
			devs := processAll(e, fixes)
			for _, d := range devs {
				if d.Kind == model.KindRouteDeviation {
					t.Errorf("unexpected route deviation at %v", d.StartedAt)
				}
			}

			got := e.DrainTripEvents(siteTerminal)
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				ev := got[i]
				if ev.Event != w.kind {
					t.Errorf("event %d is %s, want %s", i, ev.Event, w.kind)
				}
				if !ev.At.Equal(fixes[w.atIndex].Time) {
					t.Errorf("event %d at %v, want %v", i, ev.At, fixes[w.atIndex].Time)
				}
				if ev.ZoneID != "site-1" || ev.ZoneName != "site-1" || ev.TripID != "trip-1" || ev.Terminal != siteTerminal {
					t.Errorf("event %d names zone %q %q, trip %q, terminal %q", i, ev.ZoneID, ev.ZoneName, ev.TripID, ev.Terminal)
				}
			}
			if again := e.DrainTripEvents(siteTerminal); len(again) != 0 {
				t.Errorf("second drain returned %d events, want none", len(again))
			}
		})
	}
}

func TestSiteDwellSurvivesRestart(t *testing.T) {
	eastM := []float64{-300, -200, -100, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	fixes := siteTrack(t0, eastM...)
	tests := []struct {
		name    string
		splitAt int // fixes before the restart
	}{
		{name: "mid dwell", splitAt: 5},
		{name: "after arrival before drain", splitAt: len(eastM)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := newSiteEngine(t, true)
			processAll(before, fixes[:tc.splitAt])
			image, err := before.MarshalState(siteTerminal)
			if err != nil {
				t.Fatalf("MarshalState: %v", err)
			}

			after := newSiteEngine(t, true)
			if err := after.RestoreState(siteTerminal, image); err != nil {
				t.Fatalf("RestoreState: %v", err)
			}
			processAll(after, fixes[tc.splitAt:])
			got := after.DrainTripEvents(siteTerminal)
			if len(got) != 1 {
				t.Fatalf("got %d events %+v, want one arrival", len(got), got)
			}
			if got[0].Event != TripEventArrived {
				t.Errorf("event is %s, want arrived", got[0].Event)
			}
			if !got[0].At.Equal(fixes[2].Time) {
				t.Errorf("arrival at %v, want the first fix inside at %v", got[0].At, fixes[2].Time)
			}
		})
	}
}

func TestSiteNewTripForgetsVisits(t *testing.T) {
	e := newSiteEngine(t, true)
	processAll(e, siteTrack(t0, -300, -200, -100, 0, 0, 0, 0, 0, 0, 0, 0))
	if got := e.DrainTripEvents(siteTerminal); len(got) != 1 {
		t.Fatalf("got %d events before the new trip, want one arrival", len(got))
	}

	startLat, startLon := offsetM(siteLat, siteLon, 0, -5000)
	next := straightTrip("trip-2", siteTerminal, startLat, startLon, 10000, 400)
	if _, err := e.SetTrip(siteTerminal, next, t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("SetTrip: %v", err)
	}
	processAll(e, siteTrack(t0.Add(2*time.Minute), 0, 0, 0, 0, 0, 0, 0, 0))
	got := e.DrainTripEvents(siteTerminal)
	if len(got) != 1 {
		t.Fatalf("got %d events on the new trip %+v, want one arrival", len(got), got)
	}
	if got[0].TripID != "trip-2" || got[0].Event != TripEventArrived {
		t.Errorf("got %s for trip %q, want arrived for trip-2", got[0].Event, got[0].TripID)
	}
}

func TestTripEventKindText(t *testing.T) {
	for _, k := range []TripEventKind{TripEventArrived, TripEventDeparted} {
		t.Run(k.String(), func(t *testing.T) {
			b, err := k.MarshalText()
			if err != nil {
				t.Fatalf("MarshalText: %v", err)
			}
			var back TripEventKind
			if err := back.UnmarshalText(b); err != nil {
				t.Fatalf("UnmarshalText: %v", err)
			}
			if back != k {
				t.Errorf("round trip of %s gave %s", k, back)
			}
		})
	}
}
