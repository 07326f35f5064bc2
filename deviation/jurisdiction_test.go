package deviation

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

const (
	countyLat, countyLon = 28.90, 120.00
	countyTerminal       = "T-COUNTY"
)

// countyZone is a 10 km square jurisdiction centred on the county point.
func countyZone(t *testing.T) *geofence.Zone {
	t.Helper()
	corner := func(north, east float64) string {
		lat, lon := offsetM(countyLat, countyLon, north, east)
		return fmt.Sprintf("[%.8f,%.8f]", lon, lat)
	}
	ring := corner(-5000, -5000) + "," + corner(-5000, 5000) + "," + corner(5000, 5000) + "," + corner(5000, -5000) + "," + corner(-5000, -5000)
	return zoneFeature(t, `{"type":"Feature","id":"county","properties":{"name":"永康市","kind":"jurisdiction"},"geometry":{"type":"Polygon","coordinates":[[`+ring+`]]}}`)
}

// countyTrack returns one fix every 10 s at the given offsets, in metres
// east of the county point, with the reported speed matching the
// displacement from the previous fix.
func countyTrack(start time.Time, eastM ...float64) []*model.Fix {
	const interval = 10 * time.Second
	fixes := make([]*model.Fix, len(eastM))
	for i, east := range eastM {
		kmh := 0.0
		if i > 0 {
			kmh = math.Abs(east-eastM[i-1]) / interval.Seconds() * 3.6
		}
		lat, lon := offsetM(countyLat, countyLon, 0, east)
		fixes[i] = newFix(countyTerminal, start.Add(time.Duration(i)*interval), lat, lon, speed(kmh))
	}
	return fixes
}

// steps returns from, from+step, ... up to and including to.
func steps(from, to, step float64) []float64 {
	var out []float64
	for x := from; (step > 0 && x <= to) || (step < 0 && x >= to); x += step {
		out = append(out, x)
	}
	return out
}

// newCountyEngine returns an engine with the given zones and a trip along
// the county's east-west axis from routeFromM to routeToM.
func newCountyEngine(t *testing.T, zones []*geofence.Zone, routeFromM, routeToM float64) *Engine {
	t.Helper()
	e := New(Config{}, nil)
	e.SetZones(zones)
	lat, lon := offsetM(countyLat, countyLon, 0, routeFromM)
	if _, err := e.SetTrip(countyTerminal, straightTrip("trip-1", countyTerminal, lat, lon, routeToM-routeFromM, 200), t0); err != nil {
		t.Fatalf("SetTrip: %v", err)
	}
	return e
}

// jurisdictionEpisodes returns the route deviations that name a zone.
func jurisdictionEpisodes(devs []model.Deviation) []model.Deviation {
	var out []model.Deviation
	for _, d := range ofKind(devs, model.KindRouteDeviation) {
		if d.ZoneID != "" {
			out = append(out, d)
		}
	}
	return out
}

func TestJurisdictionLeft(t *testing.T) {
	outAndBack := append(steps(4100, 5900, 200), steps(5700, 4100, -200)...)
	tests := []struct {
		name       string
		withCounty bool
		routeToM   float64
		eastM      []float64
		wantOpen   int // index of the fix the episode starts at, or -1
		wantClose  int // index of the fix the episode ends at, or -1
	}{
		{"local trip leaves and returns", true, 3000, outAndBack, 5, 14},
		{"route planned to leave", true, 8000, outAndBack, -1, -1},
		{"no jurisdiction zone", false, 3000, outAndBack, -1, -1},
		{"single stray fix outside", true, 3000, []float64{4100, 4300, 4500, 4700, 4900, 5300, 4900, 4700, 4500, 4300, 4100}, -1, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var zones []*geofence.Zone
			if tc.withCounty {
				zones = append(zones, countyZone(t))
			}
			e := newCountyEngine(t, zones, -4000, tc.routeToM)
			fixes := countyTrack(t0, tc.eastM...)
			got := jurisdictionEpisodes(processAll(e, fixes))

			want := 0
			if tc.wantOpen >= 0 {
				want++
			}
			if tc.wantClose >= 0 {
				want++
			}
			if len(got) != want {
				t.Fatalf("got %d jurisdiction transitions %+v, want %d", len(got), got, want)
			}
			if want == 0 {
				return
			}

			opened := got[0]
			if opened.State != model.StateOpen {
				t.Errorf("first transition is %s, want open", opened.State)
			}
			if !opened.StartedAt.Equal(fixes[tc.wantOpen].Time) {
				t.Errorf("started at %v, want %v", opened.StartedAt, fixes[tc.wantOpen].Time)
			}
			if opened.ZoneID != "county" || opened.ZoneName != "永康市" || opened.TripID != "trip-1" {
				t.Errorf("zone %q %q, trip %q; want county 永康市, trip-1", opened.ZoneID, opened.ZoneName, opened.TripID)
			}
			if opened.TextZH != "驶出管辖区域：永康市" || opened.TextEN != "Left the jurisdiction: 永康市" {
				t.Errorf("texts %q / %q", opened.TextZH, opened.TextEN)
			}

			closed := got[1]
			if closed.State != model.StateClosed || closed.ID != opened.ID {
				t.Errorf("second transition is %s of %s, want the close of %s", closed.State, closed.ID, opened.ID)
			}
			if !closed.EndedAt.Equal(fixes[tc.wantClose].Time) {
				t.Errorf("ended at %v, want %v", closed.EndedAt, fixes[tc.wantClose].Time)
			}
			if closed.Peak < 850 || closed.Peak > 950 {
				t.Errorf("peak %.0f m outside, want about 900", closed.Peak)
			}
		})
	}
}

func TestJurisdictionEpisodeSurvivesRestart(t *testing.T) {
	fixes := countyTrack(t0, append(steps(4100, 5900, 200), steps(5700, 4100, -200)...)...)
	const split = 10 // after the episode opened at fix 8

	before := newCountyEngine(t, []*geofence.Zone{countyZone(t)}, -4000, 3000)
	opened := jurisdictionEpisodes(processAll(before, fixes[:split]))
	if len(opened) != 1 {
		t.Fatalf("got %d transitions before the restart, want one open", len(opened))
	}
	image, err := before.MarshalState(countyTerminal)
	if err != nil {
		t.Fatalf("MarshalState: %v", err)
	}

	after := newCountyEngine(t, []*geofence.Zone{countyZone(t)}, -4000, 3000)
	if err := after.RestoreState(countyTerminal, image); err != nil {
		t.Fatalf("RestoreState: %v", err)
	}
	got := jurisdictionEpisodes(processAll(after, fixes[split:]))
	if len(got) != 1 {
		t.Fatalf("got %d transitions after the restart %+v, want one close", len(got), got)
	}
	if got[0].State != model.StateClosed || got[0].ID != opened[0].ID {
		t.Errorf("got %s of %s, want the close of %s", got[0].State, got[0].ID, opened[0].ID)
	}
}

func TestJurisdictionZoneRemovedClosesEpisode(t *testing.T) {
	fixes := countyTrack(t0, steps(4100, 7500, 200)...)
	e := newCountyEngine(t, []*geofence.Zone{countyZone(t)}, -4000, 3000)
	opened := jurisdictionEpisodes(processAll(e, fixes[:10]))
	if len(opened) != 1 {
		t.Fatalf("got %d transitions, want one open", len(opened))
	}

	e.SetZones(nil)
	got := jurisdictionEpisodes(processAll(e, fixes[10:]))
	if len(got) != 1 || got[0].State != model.StateClosed {
		t.Fatalf("got %+v after the zone was removed, want one close", got)
	}
}

func TestRouteTripID(t *testing.T) {
	tests := []struct{ subject, want string }{
		{"trp_1", "trp_1"},
		{"trp_1#jurisdiction", "trp_1"},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.subject, func(t *testing.T) {
			if got := routeTripID(tc.subject); got != tc.want {
				t.Errorf("routeTripID(%q) = %q, want %q", tc.subject, got, tc.want)
			}
		})
	}
}
