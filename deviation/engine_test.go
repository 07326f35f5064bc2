package deviation

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

const (
	shLat, shLon = 31.2304, 121.4737
	ykLat, ykLon = 28.8908, 120.0425
)

func TestJitterStormAtCircleEdge(t *testing.T) {
	// 181 fixes 10 s apart alternating 5.4 m inside and 5.7 m outside the
	// rim of a 200 m circle, with 10 m accuracy.
	cases := []struct {
		name     string
		speedKmh float64
	}{
		{"parked", 0},
		{"moving", 25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			e.SetZones([]*geofence.Zone{circleZone(t, "c1", "jitter", shLat, shLon, 200, "")})
			var fixes []*model.Fix
			for i := range 181 {
				lat := 31.232150
				if i%2 == 1 {
					lat = 31.232250
				}
				fixes = append(fixes, newFix("T1", t0.Add(time.Duration(i)*10*time.Second), lat, shLon, speed(tc.speedKmh), accuracy(10)))
			}
			if devs := processAll(e, fixes); len(devs) != 0 {
				t.Errorf("got %d deviations, want none: %+v", len(devs), devs)
			}
			if got := e.Stats().Processed; got != 181 {
				t.Errorf("Processed = %d, want 181", got)
			}
		})
	}
}

// excursion returns fixes 10 s apart at the given distances (metres) due
// north of the centre.
func excursion(terminal string, distancesM []float64, opts ...fixOption) []*model.Fix {
	fixes := make([]*model.Fix, len(distancesM))
	for i, d := range distancesM {
		lat, lon := offsetM(shLat, shLon, d, 0)
		fixes[i] = newFix(terminal, t0.Add(time.Duration(i)*10*time.Second), lat, lon, opts...)
	}
	return fixes
}

func TestRestrictedZoneExcursion(t *testing.T) {
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "z1", "杨溪水库饮用水水源一级保护区", shLat, shLon, 200, `,"level":1`)})
	// Index 3 (190 m) is the first fix inside; index 11 (210 m) the first
	// back outside.
	dist := []float64{400, 300, 250, 190, 150, 100, 100, 100, 100, 100, 150, 210, 250, 300, 400, 400, 400}
	fixes := excursion("T1", dist)
	devs := processAll(e, fixes)
	if len(devs) != 2 {
		t.Fatalf("got %d deviations, want open and close: %+v", len(devs), devs)
	}
	open, closed := devs[0], devs[1]

	t.Run("open", func(t *testing.T) {
		if open.State != model.StateOpen || open.Kind != model.KindRestrictedZone {
			t.Errorf("first deviation = %v %v, want open restricted_zone", open.State, open.Kind)
		}
		if !open.StartedAt.Equal(fixes[3].Time) {
			t.Errorf("StartedAt = %v, want the first fix inside %v", open.StartedAt, fixes[3].Time)
		}
		if open.Lat != fixes[3].Lat || open.Lon != fixes[3].Lon {
			t.Errorf("start position = %v,%v, want %v,%v", open.Lat, open.Lon, fixes[3].Lat, fixes[3].Lon)
		}
		if !open.ReceivedAt.Equal(fixes[6].ReceivedAt) {
			t.Errorf("ReceivedAt = %v, want the confirming fix's %v", open.ReceivedAt, fixes[6].ReceivedAt)
		}
		if open.ZoneID != "z1" || open.ZoneName != "杨溪水库饮用水水源一级保护区" {
			t.Errorf("zone = %q %q", open.ZoneID, open.ZoneName)
		}
		if open.Severity != "high" {
			t.Errorf("Severity = %q, want high for level 1", open.Severity)
		}
		if open.TextZH != "驶入禁行区域：杨溪水库饮用水水源一级保护区" {
			t.Errorf("TextZH = %q", open.TextZH)
		}
		if open.TextEN != "Entered restricted zone: 杨溪水库饮用水水源一级保护区" {
			t.Errorf("TextEN = %q", open.TextEN)
		}
	})
	t.Run("close", func(t *testing.T) {
		if closed.State != model.StateClosed || closed.ID != open.ID {
			t.Errorf("second deviation = %v id %s, want closed with the open's id %s", closed.State, closed.ID, open.ID)
		}
		if !closed.EndedAt.Equal(fixes[11].Time) {
			t.Errorf("EndedAt = %v, want the first fix outside %v", closed.EndedAt, fixes[11].Time)
		}
		if closed.EndLat != fixes[11].Lat {
			t.Errorf("EndLat = %v, want %v", closed.EndLat, fixes[11].Lat)
		}
		if !closed.StartedAt.Equal(open.StartedAt) {
			t.Errorf("closed StartedAt = %v, want %v", closed.StartedAt, open.StartedAt)
		}
		if closed.Peak != 0 {
			t.Errorf("Peak = %v, want 0 for a zone", closed.Peak)
		}
	})
	st := e.Stats()
	if st.Opened != 1 || st.Closed != 1 {
		t.Errorf("Stats opened/closed = %d/%d, want 1/1", st.Opened, st.Closed)
	}
}

func TestStrayFixesDoNothing(t *testing.T) {
	cases := []struct {
		name  string
		dist  []float64
		opts  []fixOption
		stats func(Stats) uint64
		want  uint64
	}{
		{"single stray fix inside", []float64{400, 400, 400, 0, 400, 400, 400, 400}, nil, func(s Stats) uint64 { return s.Processed }, 8},
		{"two strays split by an outside fix", []float64{400, 0, 400, 0, 400, 400}, nil, func(s Stats) uint64 { return s.Processed }, 6},
		{"stray run shorter than persistence", []float64{400, 0, 0, 400, 400}, nil, func(s Stats) uint64 { return s.Processed }, 5},
		{"invalid fixes inside", []float64{0, 0, 0, 0, 0, 0, 0, 0}, []fixOption{invalid()}, func(s Stats) uint64 { return s.Invalid }, 8},
		{"parked 30 m inside", []float64{230, 170, 170, 170, 170, 170, 170}, []fixOption{speed(0)}, func(s Stats) uint64 { return s.Processed }, 7},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", shLat, shLon, 200, "")})
			if devs := processAll(e, excursion("T1", tc.dist, tc.opts...)); len(devs) != 0 {
				t.Errorf("got %d deviations, want none: %+v", len(devs), devs)
			}
			if got := tc.stats(e.Stats()); got != tc.want {
				t.Errorf("counter = %d, want %d (stats %+v)", got, tc.want, e.Stats())
			}
		})
	}
}

func TestParkedFarInsideOpens(t *testing.T) {
	// A stationary fix more than StationaryBreakM beyond the edge is not
	// frozen: a truck parked 100 m inside must still raise an alarm.
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", shLat, shLon, 200, "")})
	devs := processAll(e, excursion("T1", []float64{400, 100, 100, 100, 100, 100}, speed(0)))
	if countState(devs, model.StateOpen) != 1 {
		t.Errorf("got %+v, want one open", devs)
	}
}

func TestNullIslandFixesIgnored(t *testing.T) {
	// A restricted zone at (0, 0) must not catch receivers that report
	// (0, 0) when they have no position.
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "null", "null island", 0, 0, 1000, "")})
	var fixes []*model.Fix
	for i := range 10 {
		fixes = append(fixes, newFix("T1", t0.Add(time.Duration(i)*10*time.Second), 0, 0))
	}
	if devs := processAll(e, fixes); len(devs) != 0 {
		t.Errorf("got %d deviations, want none", len(devs))
	}
	if st := e.Stats(); st.Zero != 10 || st.Processed != 0 {
		t.Errorf("Stats = %+v, want Zero 10 and Processed 0", st)
	}
}

func TestStaleFixesIgnored(t *testing.T) {
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", shLat, shLon, 200, "")})
	e.Process(excursion("T1", []float64{400})[0])

	// Old fixes deep inside the zone arrive after the newest one.
	var late []*model.Fix
	for i := range 8 {
		lat, lon := offsetM(shLat, shLon, 0, 0)
		late = append(late, newFix("T1", t0.Add(-time.Duration(8-i)*10*time.Second), lat, lon))
	}
	late = append(late, newFix("T1", t0, shLat, shLon)) // same time as the last processed fix
	if devs := processAll(e, late); len(devs) != 0 {
		t.Errorf("got %d deviations from late fixes, want none", len(devs))
	}
	if st := e.Stats(); st.Stale != 8 || st.Duplicate != 1 {
		t.Errorf("Stats = %+v, want Stale 8 and Duplicate 1", st)
	}
}

// routeExcursion drives east along the route at 36 km/h, one fix every
// 10 s, and from fix 10 to fix 21 (2 minutes) runs offM metres north of
// it. Fix 22 is back on the route.
func routeExcursion(terminal string, offM float64) []*model.Fix {
	var fixes []*model.Fix
	for i := range 40 {
		north := 0.0
		if i >= 10 && i <= 21 {
			north = offM
		}
		lat, lon := offsetM(ykLat, ykLon, north, float64(i)*100)
		fixes = append(fixes, newFix(terminal, t0.Add(time.Duration(i)*10*time.Second), lat, lon, speed(36)))
	}
	return fixes
}

func TestRouteDeviationEpisode(t *testing.T) {
	e := New(DefaultConfig(), nil)
	trip := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
	if _, err := e.SetTrip("T1", trip, t0); err != nil {
		t.Fatal(err)
	}
	fixes := routeExcursion("T1", 600)
	devs := processAll(e, fixes)
	if len(devs) != 2 {
		t.Fatalf("got %d deviations, want exactly one episode (open, close): %+v", len(devs), devs)
	}

	open, closed := devs[0], devs[1]
	if open.Kind != model.KindRouteDeviation || open.State != model.StateOpen || open.TripID != "trip-1" {
		t.Errorf("open = %v %v trip %q", open.Kind, open.State, open.TripID)
	}
	if !open.StartedAt.Equal(fixes[10].Time) {
		t.Errorf("StartedAt = %v, want %v", open.StartedAt, fixes[10].Time)
	}

	if closed.State != model.StateClosed || closed.ID != open.ID {
		t.Errorf("closed = %v id %s, want closed with id %s", closed.State, closed.ID, open.ID)
	}
	if !closed.EndedAt.Equal(fixes[22].Time) {
		t.Errorf("EndedAt = %v, want %v", closed.EndedAt, fixes[22].Time)
	}
	if math.Abs(closed.Peak-600) > 1 {
		t.Errorf("Peak = %.1f m, want 600 ± 1", closed.Peak)
	}
	// The excursion runs from 1.0 km to 2.1 km east: segments 1 and 2.
	if closed.Segment != 1 && closed.Segment != 2 {
		t.Errorf("Segment = %d, want 1 or 2", closed.Segment)
	}

	if open.Severity != "medium" {
		t.Errorf("Severity = %q, want medium", open.Severity)
	}
	if !strings.HasPrefix(closed.TextZH, "回到规划路线，期间最远偏离 600 米") {
		t.Errorf("closed TextZH = %q", closed.TextZH)
	}
	if !strings.HasPrefix(open.TextEN, "Left the planned route, up to 600 m off (segment ") {
		t.Errorf("open TextEN = %q", open.TextEN)
	}
}

func TestRouteRuleNeedsActiveTrip(t *testing.T) {
	cases := []struct {
		name string
		trip func() *model.Trip
	}{
		{"no trip", func() *model.Trip { return nil }},
		{"trip not started", func() *model.Trip {
			tr := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
			tr.PlannedStart = t0.Add(time.Hour)
			return tr
		}},
		{"trip completed", func() *model.Trip {
			tr := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
			tr.State, tr.CompletedAt = model.TripCompleted, t0.Add(-time.Minute)
			return tr
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			if _, err := e.SetTrip("T1", tc.trip(), t0); err != nil {
				t.Fatal(err)
			}
			if devs := processAll(e, routeExcursion("T1", 600)); len(devs) != 0 {
				t.Errorf("got %d deviations, want none", len(devs))
			}
		})
	}
}

func TestSetTripClosesOpenEpisode(t *testing.T) {
	cases := []struct {
		name string
		next *model.Trip
	}{
		{"cleared", nil},
		{"completed", func() *model.Trip {
			tr := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
			tr.State = model.TripCompleted
			return tr
		}()},
		{"replaced by another trip", straightTrip("trip-2", "T1", ykLat, ykLon, 10000, 200)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			if _, err := e.SetTrip("T1", straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200), t0); err != nil {
				t.Fatal(err)
			}
			fixes := routeExcursion("T1", 600)
			opened := processAll(e, fixes[:16])
			if countState(opened, model.StateOpen) != 1 {
				t.Fatalf("setup: got %+v, want one open", opened)
			}
			at := fixes[15].Time.Add(5 * time.Second)
			closed, err := e.SetTrip("T1", tc.next, at)
			if err != nil {
				t.Fatal(err)
			}
			if len(closed) != 1 || closed[0].State != model.StateClosed || closed[0].ID != opened[0].ID {
				t.Fatalf("SetTrip returned %+v, want the open episode closed", closed)
			}
			if !closed[0].EndedAt.Equal(at) {
				t.Errorf("EndedAt = %v, want %v", closed[0].EndedAt, at)
			}
		})
	}
}

func TestSetTripSameIDKeepsEpisode(t *testing.T) {
	e := New(DefaultConfig(), nil)
	trip := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
	if _, err := e.SetTrip("T1", trip, t0); err != nil {
		t.Fatal(err)
	}
	fixes := routeExcursion("T1", 600)
	first := processAll(e, fixes[:16])
	again, err := e.SetTrip("T1", trip, fixes[15].Time)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("re-setting the same trip returned %+v, want nothing", again)
	}
	rest := processAll(e, fixes[16:])
	if len(first) != 1 || len(rest) != 1 || rest[0].ID != first[0].ID {
		t.Errorf("got open %+v then %+v, want one episode", first, rest)
	}
}

func TestSetTripRejectsBadRoute(t *testing.T) {
	cases := []struct {
		name  string
		route string
		width float64
	}{
		{"not json", `{`, 200},
		{"polygon", `{"type":"Polygon","coordinates":[]}`, 200},
		{"negative width", `{"type":"LineString","coordinates":[[120,28],[120.1,28]]}`, -5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			trip := &model.Trip{ID: "bad", Route: []byte(tc.route), CorridorM: tc.width, State: model.TripDispatched}
			if _, err := e.SetTrip("T1", trip, t0); err == nil {
				t.Error("SetTrip accepted the trip, want an error")
			}
		})
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	trip := straightTrip("trip-1", "T1", ykLat, ykLon, 10000, 200)
	fixes := routeExcursion("T1", 600)

	before := New(DefaultConfig(), nil)
	if _, err := before.SetTrip("T1", trip, t0); err != nil {
		t.Fatal(err)
	}
	opened := processAll(before, fixes[:16])
	if countState(opened, model.StateOpen) != 1 {
		t.Fatalf("setup: got %+v, want one open", opened)
	}
	image, err := before.MarshalState("T1")
	if err != nil {
		t.Fatal(err)
	}

	orders := []struct {
		name      string
		tripFirst bool
	}{
		{"trip then state", true},
		{"state then trip", false},
	}
	for _, order := range orders {
		t.Run(order.name, func(t *testing.T) {
			after := New(DefaultConfig(), nil)
			if order.tripFirst {
				if _, err := after.SetTrip("T1", trip, t0); err != nil {
					t.Fatal(err)
				}
			}
			if err := after.RestoreState("T1", image); err != nil {
				t.Fatal(err)
			}
			if !order.tripFirst {
				if _, err := after.SetTrip("T1", trip, t0); err != nil {
					t.Fatal(err)
				}
			}

			if devs := after.Process(fixes[15]); len(devs) != 0 {
				t.Errorf("re-sent last fix produced %+v, want nothing", devs)
			}
			rest := processAll(after, fixes[16:])
			if countState(rest, model.StateOpen) != 0 {
				t.Errorf("restored engine opened %+v, want no new open", rest)
			}
			if len(rest) != 1 || rest[0].ID != opened[0].ID || !rest[0].EndedAt.Equal(fixes[22].Time) {
				t.Fatalf("restored engine produced %+v, want the open episode closed at %v", rest, fixes[22].Time)
			}
			if math.Abs(rest[0].Peak-600) > 1 {
				t.Errorf("Peak = %.1f, want 600", rest[0].Peak)
			}
		})
	}
}

func TestRestoreStateRejectsBadImage(t *testing.T) {
	cases := []struct {
		name  string
		image string
	}{
		{"not json", `{`},
		{"wrong version", `{"version":99,"terminal":"T1"}`},
		{"other terminal", `{"version":1,"terminal":"T2"}`},
		{"alarm without episode", `{"version":1,"terminal":"T1","trackers":[{"kind":"restricted_zone","subject":"z","alarm":true}]}`},
		{"unsupported kind", `{"version":1,"terminal":"T1","trackers":[{"kind":"overspeed","subject":"z"}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := New(DefaultConfig(), nil).RestoreState("T1", []byte(tc.image)); err == nil {
				t.Error("RestoreState accepted the image, want an error")
			}
		})
	}
	if _, err := New(DefaultConfig(), nil).MarshalState("nobody"); err == nil {
		t.Error("MarshalState of an unknown terminal succeeded, want ErrUnknownTerminal")
	}
}

func TestDailyWindowHonoured(t *testing.T) {
	// Zone active 08:00-18:00 Shanghai time.
	at := func(h, m int) time.Time { return time.Date(2026, 12, 4, h, m, 0, 0, cst) }
	inside := func(start time.Time, n int) []*model.Fix {
		var fixes []*model.Fix
		for i := range n {
			fixes = append(fixes, newFix("T1", start.Add(time.Duration(i)*10*time.Second), shLat, shLon))
		}
		return fixes
	}
	cases := []struct {
		name       string
		fixes      []*model.Fix
		wantOpen   int
		wantClosed int
		wantEnd    time.Time
	}{
		{"inside at night", inside(at(20, 0), 60), 0, 0, time.Time{}},
		{"inside by day", inside(at(10, 0), 60), 1, 0, time.Time{}},
		{"window ends while inside", inside(at(17, 50), 120), 1, 1, at(18, 0)},
		{"window opens while inside", inside(at(7, 55), 60), 1, 0, time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", shLat, shLon, 200, `,"window":"08:00-18:00","level":2`)})
			devs := processAll(e, tc.fixes)
			if got := countState(devs, model.StateOpen); got != tc.wantOpen {
				t.Errorf("opened %d, want %d: %+v", got, tc.wantOpen, devs)
			}
			if got := countState(devs, model.StateClosed); got != tc.wantClosed {
				t.Errorf("closed %d, want %d: %+v", got, tc.wantClosed, devs)
			}
			for _, d := range devs {
				if d.State == model.StateOpen && d.StartedAt.In(cst).Hour() < 8 {
					t.Errorf("episode started at %v, before the window", d.StartedAt)
				}
				if d.State == model.StateClosed && !d.EndedAt.Equal(tc.wantEnd) {
					t.Errorf("EndedAt = %v, want %v", d.EndedAt, tc.wantEnd)
				}
				if d.Severity != "medium" {
					t.Errorf("Severity = %q, want medium for level 2", d.Severity)
				}
			}
		})
	}
}

func TestZoneRemovedClosesEpisode(t *testing.T) {
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", shLat, shLon, 200, "")})
	fixes := excursion("T1", []float64{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	opened := processAll(e, fixes[:6])
	e.SetZones(nil)
	closed := processAll(e, fixes[6:])
	if countState(opened, model.StateOpen) != 1 || len(closed) != 1 || closed[0].State != model.StateClosed {
		t.Fatalf("got %+v then %+v, want open then close", opened, closed)
	}
	if closed[0].ZoneName != "zone" || closed[0].TextZH != "驶离禁行区域：zone" {
		t.Errorf("closing deviation lost the zone name: %q %q", closed[0].ZoneName, closed[0].TextZH)
	}
	if !closed[0].EndedAt.Equal(fixes[6].Time) {
		t.Errorf("EndedAt = %v, want %v", closed[0].EndedAt, fixes[6].Time)
	}
}

func TestDeviationIDsDeterministic(t *testing.T) {
	run := func(terminal string) []model.Deviation {
		e := New(DefaultConfig(), nil)
		e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", shLat, shLon, 200, "")})
		if _, err := e.SetTrip(terminal, straightTrip("trip-1", terminal, ykLat, ykLon, 10000, 200), t0); err != nil {
			t.Fatal(err)
		}
		devs := processAll(e, routeExcursion(terminal, 600))
		later := excursion(terminal, []float64{0, 0, 0, 0, 0, 0})
		for _, f := range later {
			f.Time = f.Time.Add(time.Hour) // after the route fixes, so none is stale
		}
		devs = append(devs, processAll(e, later)...)
		// The hour without fixes also raises a signal_loss episode, which
		// this test is not about.
		return slices.DeleteFunc(devs, func(d model.Deviation) bool { return d.Kind == model.KindSignalLoss })
	}
	first, replay, other := run("T1"), run("T1"), run("T2")
	// Route open and close, then at Shanghai, 300 km off the active route,
	// a zone open and a second route open.
	if len(first) != 4 || len(replay) != 4 || len(other) != 4 {
		t.Fatalf("got %d, %d, %d deviations, want 4 each", len(first), len(replay), len(other))
	}
	for i := range first {
		if first[i].ID != replay[i].ID {
			t.Errorf("deviation %d: replay id %s != first id %s", i, replay[i].ID, first[i].ID)
		}
		if first[i].ID == other[i].ID {
			t.Errorf("deviation %d: terminals T1 and T2 share id %s", i, first[i].ID)
		}
		if len(first[i].ID) != 32 || strings.Trim(first[i].ID, "0123456789abcdef") != "" {
			t.Errorf("id %q is not 32 lowercase hex digits", first[i].ID)
		}
	}
	ids := map[string]bool{}
	for _, d := range first {
		ids[d.ID] = true
	}
	if len(ids) != 3 {
		t.Errorf("got %d distinct ids among %+v, want 3 (one per episode)", len(ids), first)
	}
}

func TestTerminalsSorted(t *testing.T) {
	e := New(DefaultConfig(), nil)
	for _, term := range []string{"T3", "T1", "T2"} {
		e.Process(newFix(term, t0, ykLat, ykLon))
	}
	if got := strings.Join(e.Terminals(), ","); got != "T1,T2,T3" {
		t.Errorf("Terminals = %s, want T1,T2,T3", got)
	}
}
