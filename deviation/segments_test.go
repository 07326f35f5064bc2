package deviation

import (
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

const segmentTerminal = "T-SEG"

// segmentTrip returns a 4 km trip due east of (28.9, 120.0) with a vertex
// every 1 km: segment 0 is 100 m wide, segment 1 is 1000 m wide with a
// 40 km/h limit, and the rest use the trip's 200 m corridor and the usual
// limits.
func segmentTrip() *model.Trip {
	trip := straightTrip("trip-seg", segmentTerminal, 28.9, 120.0, 4000, 200)
	trip.Segments = []model.RouteSegment{{WidthM: 100}, {WidthM: 1000, LimitKmh: 40}, {}, {}}
	return trip
}

func TestRouteSegmentAttributes(t *testing.T) {
	tests := []struct {
		name           string
		northM, eastM  float64 // where the drive starts, relative to the route start
		speedKmh       float64
		wantRoute      bool
		wantOverspeed  bool
		wantOverspeedT string // text fragment of the overspeed episode
	}{
		{"narrow segment raises route deviation", 300, 100, 30, true, false, ""},
		{"wide segment tolerates the same offset", 300, 1200, 30, false, false, ""},
		{"segment limit raises overspeed", 0, 1050, 50, false, true, "路线第 2 段"},
		{"other segment keeps the default limit", 0, 2050, 50, false, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Config{}, nil)
			if _, err := e.SetTrip(segmentTerminal, segmentTrip(), t0); err != nil {
				t.Fatalf("SetTrip: %v", err)
			}
			lat, lon := offsetM(28.9, 120.0, tc.northM, tc.eastM)
			speeds := []float64{tc.speedKmh, tc.speedKmh, tc.speedKmh, tc.speedKmh, tc.speedKmh, tc.speedKmh}
			devs := processAll(e, drive(segmentTerminal, t0, 10*time.Second, lat, lon, speeds))

			if got := len(ofKind(devs, model.KindRouteDeviation)) > 0; got != tc.wantRoute {
				t.Errorf("route deviation raised = %v, want %v", got, tc.wantRoute)
			}
			overspeed := ofKind(devs, model.KindOverspeed)
			if got := len(overspeed) > 0; got != tc.wantOverspeed {
				t.Fatalf("overspeed raised = %v, want %v", got, tc.wantOverspeed)
			}
			if !tc.wantOverspeed {
				return
			}
			if !strings.Contains(overspeed[0].TextZH, tc.wantOverspeedT) || !strings.Contains(overspeed[0].TextEN, "route segment 2") {
				t.Errorf("overspeed texts %q / %q do not name segment 2", overspeed[0].TextZH, overspeed[0].TextEN)
			}
			if !strings.Contains(overspeed[0].TextEN, "limit 40 km/h") {
				t.Errorf("overspeed text %q does not give the segment's 40 km/h limit", overspeed[0].TextEN)
			}
		})
	}
}

func TestSetTripRejectsSegmentCountMismatch(t *testing.T) {
	trip := segmentTrip()
	trip.Segments = trip.Segments[:2]
	if _, err := New(Config{}, nil).SetTrip(segmentTerminal, trip, t0); err == nil {
		t.Error("SetTrip accepted 2 segment entries for a route of 4 segments")
	}
}

func TestRouteSegmentTravelTime(t *testing.T) {
	repeat := func(kmh float64, n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = kmh
		}
		return out
	}
	tests := []struct {
		name     string
		startM   float64 // east of the route start
		speeds   []float64
		wantKind model.DeviationKind
		wantText string // English text fragment of the opening; "" for no episode
	}{
		{"too fast on segment 2", 0, repeat(90, 12), model.KindOverspeed, "Route segment 2 driven too fast"},
		{"normal speed on segment 2", 0, repeat(50, 20), model.KindOverspeed, ""},
		{"entered mid segment not judged", 1500, repeat(90, 6), model.KindOverspeed, ""},
		{"too slow on segment 3", 1900, repeat(20, 25), model.KindTripOvertime, "Route segment 3 overdue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			trip := straightTrip("trip-seg", segmentTerminal, 28.9, 120.0, 4000, 200)
			trip.Segments = []model.RouteSegment{{}, {MinTravelS: 60}, {MaxTravelS: 120}, {}}
			e := New(Config{}, nil)
			if _, err := e.SetTrip(segmentTerminal, trip, t0); err != nil {
				t.Fatalf("SetTrip: %v", err)
			}
			lat, lon := offsetM(28.9, 120.0, 0, tc.startM)
			devs := processAll(e, drive(segmentTerminal, t0, 10*time.Second, lat, lon, tc.speeds))

			var segmentDevs []model.Deviation
			for _, d := range ofKind(devs, tc.wantKind) {
				if strings.Contains(d.TextEN, "Route segment") {
					segmentDevs = append(segmentDevs, d)
				}
			}
			if tc.wantText == "" {
				if len(segmentDevs) != 0 {
					t.Fatalf("got %+v, want no segment travel episode", segmentDevs)
				}
				return
			}
			if len(segmentDevs) != 2 {
				t.Fatalf("got %d segment travel transitions %+v, want an open and a close", len(segmentDevs), segmentDevs)
			}
			opened, closed := segmentDevs[0], segmentDevs[1]
			if opened.State != model.StateOpen || !strings.Contains(opened.TextEN, tc.wantText) {
				t.Errorf("first transition %s %q, want open with %q", opened.State, opened.TextEN, tc.wantText)
			}
			if closed.State != model.StateClosed || closed.ID != opened.ID {
				t.Errorf("second transition %s of %s, want the close of %s", closed.State, closed.ID, opened.ID)
			}
			if opened.TripID != "trip-seg" {
				t.Errorf("trip %q, want trip-seg", opened.TripID)
			}
		})
	}
}
