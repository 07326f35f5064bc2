package simulator

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/hwtrack/hwtrack/geofence"
)

// loadTestRoute returns a route of lengthM metres heading east from
// Yongkang's centre.
func loadTestRoute(t *testing.T, lengthM float64) *LoadRoute {
	t.Helper()
	start := orb.Point{120.04, 28.89}
	r, err := NewLoadRoute("east", orb.LineString{start, offsetPoint(start, lengthM, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLoadRoutePingPong(t *testing.T) {
	r := loadTestRoute(t, 2000)
	cases := []struct {
		name        string
		travelledM  float64
		wantAlongM  float64
		wantHeading float64
	}{
		{name: "start", travelledM: 0, wantAlongM: 0, wantHeading: 90},
		{name: "outbound", travelledM: 500, wantAlongM: 500, wantHeading: 90},
		{name: "after the turn", travelledM: 2500, wantAlongM: 1500, wantHeading: 270},
		{name: "second lap", travelledM: 4300, wantAlongM: 300, wantHeading: 90},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, heading := r.pingPong(0, tc.travelledM)
			if got := geo.Distance(r.Line[0], p); math.Abs(got-tc.wantAlongM) > 1 {
				t.Errorf("distance from the start = %.1f m, want %.1f", got, tc.wantAlongM)
			}
			if math.Abs(heading-tc.wantHeading) > 1 {
				t.Errorf("heading = %.1f, want %.1f", heading, tc.wantHeading)
			}
		})
	}
}

// TestLoadDetourGeometry checks that a detour leaves the route steadily,
// reaches its full offset, comes back to where it left and lets the
// vehicle carry on from there, with no step faster than the vehicle.
func TestLoadDetourGeometry(t *testing.T) {
	r := loadTestRoute(t, 20_000)
	start := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
	opts := LoadOptions{DetourM: 800, TimeScale: 1}
	run := &loadRun{opts: &opts, simStart: start}
	v := &loadVehicle{terminal: "T1", route: r, startM: 5000, speedKmh: 36}

	t0 := start.Add(10 * time.Second)
	anchor, _ := v.position(t0, run)
	if !v.startDetour(t0, run) {
		t.Fatal("detour rejected on a straight route")
	}
	d := v.detour
	if want := 160 * time.Second; d.durSim != want {
		t.Errorf("detour lasts %s, want %s (800 m out and back at 10 m/s)", d.durSim, want)
	}

	before, _ := v.position(t0.Add(-time.Second), run)
	if got := DistanceToRouteM(before, r.Line); got > 1 {
		t.Errorf("fix before the detour is %.1f m off the route", got)
	}
	prev, maxOff := anchor, 0.0
	for s := 1; s <= 200; s++ {
		p, _ := v.position(t0.Add(time.Duration(s)*time.Second), run)
		if step := geo.Distance(prev, p); step > 10.5 {
			t.Fatalf("second %d: moved %.1f m, faster than the vehicle's 10 m/s", s, step)
		}
		maxOff = math.Max(maxOff, DistanceToRouteM(p, r.Line))
		prev = p
	}
	if maxOff < 790 || maxOff > 810 {
		t.Errorf("largest offset %.0f m, want about 800", maxOff)
	}
	if v.detour != nil || v.busy.Load() {
		t.Error("detour still active after its end")
	}
	back, _ := v.position(t0.Add(d.durSim), run)
	if got := geo.Distance(back, anchor); got > 1 {
		t.Errorf("vehicle resumed %.1f m from where it left the route", got)
	}
	if len(run.injections) != 1 || run.injections[0].OffsetM != 800 {
		t.Errorf("injections = %+v, want one of 800 m", run.injections)
	}
}

func TestReadLoadRoutesFleetFile(t *testing.T) {
	routes, err := ReadLoadRoutes(filepath.Join("..", "configs", "demo.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 4 {
		t.Fatalf("read %d routes, want the 4 of the sample fleet", len(routes))
	}
	for _, r := range routes {
		if r.LengthM() < minLoadRouteM {
			t.Errorf("route %s is %.0f m long", r.Name, r.LengthM())
		}
	}
}

func TestSyntheticRoutesRepeatable(t *testing.T) {
	a, b := SyntheticRoutes(20, 7), SyntheticRoutes(20, 7)
	for i := range a {
		if !orb.Equal(a[i].Line, b[i].Line) {
			t.Fatalf("route %d differs between two calls with the same seed", i)
		}
		if !yongkangBound.Pad(0.2).Contains(a[i].Line[0]) {
			t.Errorf("route %d starts at %v, outside Yongkang", i, a[i].Line[0])
		}
	}
}

// TestSyntheticZonesParse checks every synthetic zone with the server's
// own GeoJSON parser.
func TestSyntheticZonesParse(t *testing.T) {
	features := SyntheticZones(200, 3)
	kinds := map[string]int{}
	for i, f := range features {
		z, err := geofence.ParseFeature(f)
		if err != nil {
			t.Fatalf("zone %d: %v\n%s", i, err, f)
		}
		kinds[z.Kind.String()]++
	}
	if kinds["restricted"] != 100 || kinds["speed_limit"] != 100 {
		t.Errorf("kinds = %v, want 100 restricted and 100 speed_limit", kinds)
	}

	path := filepath.Join(t.TempDir(), "zones.geojson")
	if err := WriteZoneFile(path, features); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadLoadRoutes(path); err == nil || !strings.Contains(err.Error(), "no usable route") {
		t.Errorf("reading zones as routes: err = %v, want no usable route", err)
	}
}

func TestLatencyHistQuantiles(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 1000; i++ {
		h.Add(time.Duration(i) * time.Millisecond)
	}
	cases := []struct {
		q    float64
		want time.Duration
	}{
		{q: 0.5, want: 500 * time.Millisecond},
		{q: 0.9, want: 900 * time.Millisecond},
		{q: 0.99, want: 990 * time.Millisecond},
		{q: 1, want: time.Second},
	}
	for _, tc := range cases {
		got := h.quantile(tc.q)
		if rel := math.Abs(float64(got-tc.want)) / float64(tc.want); rel > histGrowth-1 {
			t.Errorf("quantile(%g) = %s, want %s within 4 %%", tc.q, got, tc.want)
		}
	}
	if s := h.summary(); s.Count != 1000 || s.MaxMs != 1000 {
		t.Errorf("summary = %+v, want 1000 samples and max 1000 ms", s)
	}
}

func TestParseMetricsSumsLabels(t *testing.T) {
	body := []byte(`# HELP hwtrack_fixes_rejected_total Rejected fixes.
# TYPE hwtrack_fixes_rejected_total counter
hwtrack_fixes_rejected_total{reason="bad_json"} 2
hwtrack_fixes_rejected_total{reason="out_of_range"} 3
hwtrack_fixes_stored_total 1.5e+06
process_resident_memory_bytes 2.4e+08
`)
	m := parseMetrics(body)
	if got := m.get("hwtrack_fixes_rejected_total"); got != 5 {
		t.Errorf("rejected = %v, want 5", got)
	}
	if got := m.get("hwtrack_fixes_stored_total"); got != 1.5e6 {
		t.Errorf("stored = %v, want 1.5e6", got)
	}
	if m.has("hwtrack_broker_only_messages_total") {
		t.Error("absent metric reported present")
	}
}

func TestAppendLoadFixDecodes(t *testing.T) {
	at := time.Date(2026, 12, 4, 9, 30, 5, 123e6, time.UTC)
	b := appendLoadFix(nil, at, orb.Point{120.0425, 28.8908}, 42.5, 270, 7)
	var got struct {
		Time    int64   `json:"time"`
		Lat     float64 `json:"lat"`
		Lon     float64 `json:"lon"`
		Speed   float64 `json:"speed"`
		Heading float64 `json:"heading"`
		Valid   bool    `json:"valid"`
		Seq     uint64  `json:"seq"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got.Time != at.UnixMilli() || got.Lat != 28.8908 || got.Lon != 120.0425 || got.Speed != 42.5 || got.Heading != 270 || !got.Valid || got.Seq != 7 {
		t.Errorf("decoded %+v from %s", got, b)
	}
}
