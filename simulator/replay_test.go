package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/hwtrack/hwtrack/model"
)

// testAPI is a small stand-in for the hwtrack HTTP API. It records the
// registrations and serves track and deviation queries from the messages
// the embedded test broker received. A route deviation opens when a valid
// fix leaves the trip's corridor.
type testAPI struct {
	token string
	rec   *recordHook

	mu       sync.Mutex
	vehicles map[string]VehicleRequest
	bookings []BookingRequest
	trips    map[string]*testTrip
}

type testTrip struct {
	terminal  string
	route     orb.LineString
	corridorM float64
	completed bool
}

func newTestAPI(t *testing.T, token string, rec *recordHook) (*testAPI, *httptest.Server) {
	api := &testAPI{token: token, rec: rec, vehicles: map[string]VehicleRequest{}, trips: map[string]*testTrip{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/vehicles", api.createVehicle)
	mux.HandleFunc("POST /api/v1/bookings", api.createBooking)
	mux.HandleFunc("POST /api/v1/trips", api.createTrip)
	mux.HandleFunc("POST /api/v1/trips/{id}/complete", api.completeTrip)
	mux.HandleFunc("GET /api/v1/vehicles/{terminal}/track", api.track)
	mux.HandleFunc("GET /api/v1/deviations", api.deviations)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			writeTestError(w, http.StatusUnauthorized, "unauthorized", "missing or invalid bearer token")
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return api, srv
}

func writeTestError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
}

func writeTestJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (a *testAPI) createVehicle(w http.ResponseWriter, r *http.Request) {
	var v VehicleRequest
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil || v.Terminal == "" || len(v.Password) < 16 {
		writeTestError(w, http.StatusBadRequest, "invalid", "invalid vehicle")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.vehicles[v.Terminal] = v
	writeTestJSON(w, http.StatusCreated, map[string]any{"vehicles": []any{v}})
}

func (a *testAPI) createBooking(w http.ResponseWriter, r *http.Request) {
	var b BookingRequest
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil || len(b.ManifestNo) != 14 {
		writeTestError(w, http.StatusBadRequest, "invalid", "invalid booking")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.bookings = append(a.bookings, b)
	writeTestJSON(w, http.StatusCreated, idResponse{ID: fmt.Sprintf("b%d", len(a.bookings))})
}

func (a *testAPI) createTrip(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Terminal  string            `json:"terminal"`
		Route     geoJSONLineString `json:"route"`
		CorridorM float64           `json:"corridor_m"`
		Bookings  []string          `json:"bookings"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Route.Type != "LineString" || len(body.Bookings) != 1 {
		writeTestError(w, http.StatusBadRequest, "invalid", "invalid trip")
		return
	}
	route := make(orb.LineString, len(body.Route.Coordinates))
	for i, c := range body.Route.Coordinates {
		route[i] = orb.Point{c[0], c[1]}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	id := fmt.Sprintf("trip%d", len(a.trips)+1)
	a.trips[id] = &testTrip{terminal: body.Terminal, route: route, corridorM: body.CorridorM}
	writeTestJSON(w, http.StatusCreated, idResponse{ID: id})
}

func (a *testAPI) completeTrip(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	trip, ok := a.trips[r.PathValue("id")]
	if !ok {
		writeTestError(w, http.StatusNotFound, "not_found", "trip not found")
		return
	}
	trip.completed = true
	writeTestJSON(w, http.StatusOK, map[string]string{"state": "completed"})
}

// received returns the fixes the broker got from terminal, in order.
func (a *testAPI) received(terminal string) []model.FixJSON {
	var out []model.FixJSON
	for _, m := range a.rec.byTopic("hwt/v1/" + terminal + "/fix") {
		var batch []model.FixJSON
		if json.Unmarshal(m.payload, &batch) == nil {
			out = append(out, batch...)
			continue
		}
		var single model.FixJSON
		if json.Unmarshal(m.payload, &single) == nil {
			out = append(out, single)
		}
	}
	return out
}

func (a *testAPI) track(w http.ResponseWriter, r *http.Request) {
	terminal := r.PathValue("terminal")
	from, err1 := time.Parse(time.RFC3339Nano, r.URL.Query().Get("from"))
	to, err2 := time.Parse(time.RFC3339Nano, r.URL.Query().Get("to"))
	if err1 != nil || err2 != nil {
		writeTestError(w, http.StatusBadRequest, "invalid", "invalid from or to")
		return
	}
	var fixes []model.FixJSON
	for _, f := range a.received(terminal) {
		ts, err := time.Parse(time.RFC3339Nano, f.Time)
		if err == nil && !ts.Before(from) && !ts.After(to) {
			fixes = append(fixes, f)
		}
	}
	writeTestJSON(w, http.StatusOK, map[string]any{"terminal": terminal, "fixes": fixes})
}

// deviations opens an episode when a valid fix leaves the corridor and
// closes it when one comes back.
func (a *testAPI) deviations(w http.ResponseWriter, r *http.Request) {
	terminal := r.URL.Query().Get("terminal")
	a.mu.Lock()
	var trip *testTrip
	for _, tr := range a.trips {
		if tr.terminal == terminal {
			trip = tr
		}
	}
	a.mu.Unlock()

	var devs []model.Deviation
	if trip != nil {
		outside := false
		for _, f := range a.received(terminal) {
			if !f.Valid {
				continue
			}
			off := DistanceToRouteM(orb.Point{f.Lon, f.Lat}, trip.route) > trip.corridorM/2
			if off && !outside {
				devs = append(devs, model.Deviation{ID: fmt.Sprintf("d%d", len(devs)+1), Kind: model.KindRouteDeviation, State: model.StateOpen, Terminal: terminal})
			}
			if !off && outside {
				devs[len(devs)-1].State = model.StateClosed
			}
			outside = off
		}
	}
	writeTestJSON(w, http.StatusOK, map[string]any{"deviations": devs})
}

// writeTestGPX writes fixes as a GPX 1.0 track file.
func writeTestGPX(t *testing.T, path string, fixes []model.Fix) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<gpx version="1.0"><trk><trkseg>` + "\n")
	for _, f := range fixes {
		fmt.Fprintf(&b, `<trkpt lat="%.7f" lon="%.7f"><time>%s</time><speed>%.3f</speed></trkpt>`+"\n",
			f.Lat, f.Lon, f.Time.UTC().Format(time.RFC3339Nano), f.SpeedKmh/3.6)
	}
	b.WriteString("</trkseg></trk></gpx>\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatalf("write gpx: %v", err)
	}
}

func TestReplay(t *testing.T) {
	dir := t.TempDir()
	drive := filepath.Join(dir, "drive.gpx")
	route := orb.LineString{{120.00, 28.90}, {120.06, 28.90}, {120.06, 28.95}}
	writeTestGPX(t, drive, DriveAlong(route, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 40, 2*time.Second))

	cases := []struct {
		name      string
		inject    []model.DeviationKind
		batch     int
		wantRoute int
	}{
		{name: "plain replay", wantRoute: 0},
		{name: "injected route deviation", inject: []model.DeviationKind{model.KindRouteDeviation}, wantRoute: 1},
		{name: "injected in batches", inject: []model.DeviationKind{model.KindRouteDeviation}, batch: 10, wantRoute: 1},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			brokerURL, _, rec := startBroker(t)
			api, srv := newTestAPI(t, "tok", rec)
			report, err := Replay(context.Background(), ReplayOptions{
				Files: []string{drive}, Broker: brokerURL, API: srv.URL, APIToken: "tok",
				Speedup: 1e6, Inject: tc.inject, QoS: 1, BatchSize: tc.batch,
				Settle: 5 * time.Second, RunID: fmt.Sprintf("t%d", i),
			})
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
			if len(report.Vehicles) != 1 {
				t.Fatalf("vehicles = %d, want 1", len(report.Vehicles))
			}
			v := report.Vehicles[0]
			if v.Error != "" {
				t.Fatalf("vehicle error: %s", v.Error)
			}
			if v.Published != v.FixesRead || v.Acknowledged != v.Published || v.Stored != v.Published {
				t.Errorf("read %d published %d acked %d stored %d, want all equal", v.FixesRead, v.Published, v.Acknowledged, v.Stored)
			}
			if v.Expected["route_deviation"] != tc.wantRoute || v.Seen["route_deviation"] != tc.wantRoute {
				t.Errorf("route deviations expected %d seen %d, want %d of each", v.Expected["route_deviation"], v.Seen["route_deviation"], tc.wantRoute)
			}
			if !report.OK() {
				t.Errorf("report not OK: %+v", v)
			}
			if _, ok := api.vehicles[v.Terminal]; !ok {
				t.Errorf("vehicle %s was not registered", v.Terminal)
			}
			if len(api.bookings) != 1 || !strings.HasPrefix(api.bookings[0].ManifestNo, fmt.Sprint(report.Started.Year())+"3307") {
				t.Errorf("bookings = %+v, want one with a %d3307 manifest", api.bookings, report.Started.Year())
			}
			trip := api.trips[v.TripID]
			if trip == nil || !trip.completed {
				t.Errorf("trip %q not created and completed", v.TripID)
			}
			// Every published fix time lies in the past of the run's start.
			for _, f := range api.received(v.Terminal) {
				ts, _ := time.Parse(time.RFC3339Nano, f.Time)
				if ts.After(report.Started) {
					t.Fatalf("fix time %s is after the run start %v", f.Time, report.Started)
				}
			}
			var table strings.Builder
			if err := report.WriteTable(&table); err != nil {
				t.Fatalf("write table: %v", err)
			}
			if !strings.Contains(table.String(), v.Terminal) || !strings.Contains(table.String(), " ok") {
				t.Errorf("table does not show an ok row for %s:\n%s", v.Terminal, table.String())
			}
		})
	}
}

func TestReplayShowsAPIError(t *testing.T) {
	dir := t.TempDir()
	drive := filepath.Join(dir, "drive.gpx")
	writeTestGPX(t, drive, DriveAlong(yongkangRoute, time.Now(), 40, 5*time.Second))
	brokerURL, _, rec := startBroker(t)
	_, srv := newTestAPI(t, "right", rec)

	report, err := Replay(context.Background(), ReplayOptions{
		Files: []string{drive}, Broker: brokerURL, API: srv.URL, APIToken: "wrong", Speedup: 1e6,
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	v := report.Vehicles[0]
	if !strings.Contains(v.Error, "missing or invalid bearer token") || !strings.Contains(v.Error, "401") {
		t.Errorf("error = %q, want the server's message and status", v.Error)
	}
	if report.OK() {
		t.Error("report OK despite the failure")
	}
}

func TestReplayRejectsBadOptions(t *testing.T) {
	cases := []struct {
		name string
		opts ReplayOptions
	}{
		{"no files", ReplayOptions{}},
		{"unsupported injection", ReplayOptions{Files: []string{"x.gpx"}, Inject: []model.DeviationKind{model.KindOverspeed}}},
		{"bad qos", ReplayOptions{Files: []string{"x.gpx"}, QoS: 3}},
		{"bad run id", ReplayOptions{Files: []string{"x.gpx"}, RunID: "a/b"}},
		{"bad api url", ReplayOptions{Files: []string{"x.gpx"}, API: "127.0.0.1:8080"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Replay(context.Background(), tc.opts); err == nil {
				t.Error("replay accepted invalid options")
			}
		})
	}
}

func TestReplayRealTracks(t *testing.T) {
	files := []string{
		sharedData(t, "trajectories/geolife/008/20081025225205.plt"),
		sharedData(t, "trajectories/gpsbabel/iblue747_csv.gpx"),
		sharedData(t, "nmea/gpsbabel/backfilldate.nmea"),
	}
	brokerURL, _, rec := startBroker(t)
	_, srv := newTestAPI(t, "tok", rec)
	report, err := Replay(context.Background(), ReplayOptions{
		Files: files, Broker: brokerURL, API: srv.URL, APIToken: "tok", Speedup: 1e6,
		Inject: []model.DeviationKind{model.KindRouteDeviation}, Settle: 5 * time.Second, RunID: "real",
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	for _, v := range report.Vehicles {
		if !v.OK(report.QoS) {
			t.Errorf("%s: not OK: error %q published %d acked %d expected %v seen %v",
				v.File, v.Error, v.Published, v.Acknowledged, v.Expected, v.Seen)
		}
	}
}
