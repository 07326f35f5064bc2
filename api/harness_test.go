package api

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

const testToken = "test-token-0123456789"

var testHashKey = []byte("test hash key")

// testHash is the keyed hash the tests give the API: HMAC-SHA256, the same
// construction a deployment would use with its own key.
func testHash(secret string) []byte {
	mac := hmac.New(sha256.New, testHashKey)
	mac.Write([]byte(secret))
	return mac.Sum(nil)
}

// memStore is an in-memory Store and BookingLister. failWith, when set,
// makes every method return that error.
type memStore struct {
	mu         sync.Mutex
	vehicles   map[string]model.Vehicle
	fixes      map[string][]model.Fix
	zones      map[string]model.Zone
	bookings   map[string]model.Booking
	trips      map[string]model.Trip
	deviations []model.Deviation
	queries    []DeviationQuery
	failWith   error
}

var (
	_ Store         = (*memStore)(nil)
	_ BookingLister = (*memStore)(nil)
)

func newMemStore() *memStore {
	return &memStore{
		vehicles: map[string]model.Vehicle{},
		fixes:    map[string][]model.Fix{},
		zones:    map[string]model.Zone{},
		bookings: map[string]model.Booking{},
		trips:    map[string]model.Trip{},
	}
}

func (m *memStore) PutVehicle(v model.Vehicle) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWith != nil {
		return m.failWith
	}
	m.vehicles[v.Terminal] = v
	return nil
}

func (m *memStore) Vehicle(terminal string) (model.Vehicle, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vehicles[terminal]
	return v, ok, m.failWith
}

func (m *memStore) Vehicles() ([]model.Vehicle, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]model.Vehicle, 0, len(m.vehicles))
	for _, v := range m.vehicles {
		out = append(out, v)
	}
	return out, m.failWith
}

func (m *memStore) LatestFix(terminal string) (model.Fix, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fixes := m.fixes[terminal]
	if len(fixes) == 0 {
		return model.Fix{}, false, m.failWith
	}
	latest := fixes[0]
	for _, f := range fixes[1:] {
		if f.Time.After(latest.Time) {
			latest = f
		}
	}
	return latest, true, m.failWith
}

// Track returns fixes in insertion order, not time order, so the tests see
// that the API sorts them.
func (m *memStore) Track(terminal string, from, to time.Time, limit int) ([]model.Fix, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.Fix
	for _, f := range m.fixes[terminal] {
		if !f.Time.Before(from) && f.Time.Before(to) && len(out) < limit {
			out = append(out, f)
		}
	}
	return out, m.failWith
}

func (m *memStore) PutZone(z model.Zone) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWith != nil {
		return m.failWith
	}
	m.zones[z.ID] = z
	return nil
}

func (m *memStore) Zone(id string) (model.Zone, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	z, ok := m.zones[id]
	return z, ok, m.failWith
}

func (m *memStore) Zones() ([]model.Zone, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.Zone
	for _, z := range m.zones {
		out = append(out, z)
	}
	return out, m.failWith
}

func (m *memStore) DeleteZone(id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.zones[id]
	delete(m.zones, id)
	return ok, m.failWith
}

func (m *memStore) PutBooking(b model.Booking) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWith != nil {
		return m.failWith
	}
	m.bookings[b.ID] = b
	return nil
}

func (m *memStore) Booking(id string) (model.Booking, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.bookings[id]
	return b, ok, m.failWith
}

func (m *memStore) Bookings() ([]model.Booking, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.Booking
	for _, b := range m.bookings {
		out = append(out, b)
	}
	return out, m.failWith
}

func (m *memStore) PutTrip(t model.Trip) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failWith != nil {
		return m.failWith
	}
	m.trips[t.ID] = t
	return nil
}

func (m *memStore) Trip(id string) (model.Trip, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.trips[id]
	return t, ok, m.failWith
}

func (m *memStore) Trips() ([]model.Trip, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.Trip
	for _, t := range m.trips {
		out = append(out, t)
	}
	return out, m.failWith
}

func (m *memStore) TripsForVehicle(terminal string) ([]model.Trip, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []model.Trip
	for _, t := range m.trips {
		if t.Terminal == terminal {
			out = append(out, t)
		}
	}
	return out, m.failWith
}

func (m *memStore) Deviations(q DeviationQuery) ([]model.Deviation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.queries = append(m.queries, q)
	sorted := slices.Clone(m.deviations)
	slices.SortFunc(sorted, func(a, b model.Deviation) int { return b.StartedAt.Compare(a.StartedAt) })
	var out []model.Deviation
	for _, d := range sorted {
		switch {
		case q.Terminal != "" && d.Terminal != q.Terminal,
			q.Kind != model.KindUnknown && d.Kind != q.Kind,
			q.State != model.StateUnknown && d.State != q.State,
			!q.From.IsZero() && d.StartedAt.Before(q.From),
			!q.To.IsZero() && !d.StartedAt.Before(q.To):
			continue
		}
		if len(out) < q.Limit {
			out = append(out, d)
		}
	}
	return out, m.failWith
}

// recordingHooks records every hook call. tripErr, when set, is returned by
// TripCreated and TripCompleted.
type recordingHooks struct {
	mu           sync.Mutex
	registered   []string
	zonesChanged int
	created      []string
	completed    []string
	tripErr      error
}

func (h *recordingHooks) VehicleRegistered(v model.Vehicle) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.registered = append(h.registered, v.Terminal)
}

func (h *recordingHooks) ZonesChanged() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.zonesChanged++
}

func (h *recordingHooks) TripCreated(t model.Trip) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.created = append(h.created, t.ID)
	return h.tripErr
}

func (h *recordingHooks) TripCompleted(t model.Trip) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.completed = append(h.completed, t.ID)
	return h.tripErr
}

// testParseZone is a small real validator for the tests: a GeoJSON Feature
// with a geometry object and string properties name and kind.
func testParseZone(raw []byte) (model.Zone, error) {
	var feature struct {
		Type       string          `json:"type"`
		Geometry   json.RawMessage `json:"geometry"`
		Properties struct {
			Name string `json:"name"`
			Kind string `json:"kind"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &feature); err != nil {
		return model.Zone{}, err
	}
	var problems model.ValidationError
	if feature.Type != "Feature" {
		problems.Add("type", `must be "Feature"`)
	}
	if len(feature.Geometry) == 0 || string(feature.Geometry) == "null" {
		problems.Add("geometry", "is required")
	}
	if feature.Properties.Name == "" {
		problems.Add("properties.name", "is required")
	}
	if feature.Properties.Kind == "" {
		problems.Add("properties.kind", "is required")
	}
	if err := problems.Err(); err != nil {
		return model.Zone{}, err
	}
	return model.Zone{Name: feature.Properties.Name, Kind: feature.Properties.Kind, Feature: raw}, nil
}

// testClock is a settable clock shared by the API and the test.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// testAPI is an httptest server running the API over a memStore.
type testAPI struct {
	t      *testing.T
	server *httptest.Server
	store  *memStore
	hooks  *recordingHooks
	clock  *testClock
	online map[string]bool
	ready  error
	logs   *syncBuffer
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var testStart = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

func newTestAPI(t *testing.T) *testAPI {
	t.Helper()
	api := &testAPI{
		t:      t,
		store:  newMemStore(),
		hooks:  &recordingHooks{},
		clock:  &testClock{now: testStart},
		online: map[string]bool{},
		logs:   &syncBuffer{},
	}
	var onlineMu sync.Mutex
	handler := New(Options{
		Store:      api.store,
		Hooks:      api.hooks,
		Tokens:     []string{"", "other-token-abcdef", testToken},
		HashSecret: testHash,
		ParseZone:  testParseZone,
		Online: func(terminal string) bool {
			onlineMu.Lock()
			defer onlineMu.Unlock()
			return api.online[terminal]
		},
		Ready: func() error { return api.ready },
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			io.WriteString(w, "hwtrack_test_metric 1\n")
		}),
		Logger: slog.New(slog.NewTextHandler(api.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    api.clock.Now,
	})
	api.server = newServer(t, handler)
	return api
}

func newServer(t *testing.T, handler http.Handler) *httptest.Server {
	t.Helper()
	server := httptest.NewServer(handler)
	t.Cleanup(server.Close)
	return server
}

// response is one HTTP exchange, decoded.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, dst any) {
	t.Helper()
	if err := json.Unmarshal(r.body, dst); err != nil {
		t.Fatalf("decode response %s: %v", r.body, err)
	}
}

// apiErrorBody decodes the JSON error shape.
func (r response) apiError(t *testing.T) errorObject {
	t.Helper()
	var body errorBody
	r.json(t, &body)
	return body.Error
}

// do sends a request with the test token. body may be nil, a string, a
// []byte or a value to encode as JSON.
func (a *testAPI) do(method, path string, body any) response {
	a.t.Helper()
	return a.doWithAuth(method, path, body, "Bearer "+testToken)
}

func (a *testAPI) doWithAuth(method, path string, body any, authorization string) response {
	a.t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		encoded, err := json.Marshal(b)
		if err != nil {
			a.t.Fatalf("encode request body: %v", err)
		}
		reader = bytes.NewReader(encoded)
	}

	req, err := http.NewRequest(method, a.server.URL+path, reader)
	if err != nil {
		a.t.Fatalf("build request: %v", err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if reader != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	resp, err := a.server.Client().Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("read response of %s %s: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// expectStatus fails the test when r has another status, showing the body.
func expectStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.status, status, r.body)
	}
}

// expectError checks status, the JSON error code and, when field is not
// empty, that one of the field errors names field.
func expectError(t *testing.T, r response, status int, code, field string) errorObject {
	t.Helper()
	expectStatus(t, r, status)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	e := r.apiError(t)
	if e.Code != code {
		t.Errorf("error code = %q, want %q; body: %s", e.Code, code, r.body)
	}
	if e.Message == "" {
		t.Errorf("error message is empty; body: %s", r.body)
	}
	if field != "" && !slices.ContainsFunc(e.Fields, func(f model.FieldError) bool { return f.Field == field }) {
		t.Errorf("error fields %+v do not name %q", e.Fields, field)
	}
	return e
}

// register adds a vehicle with a caller-chosen password through the API.
func (a *testAPI) register(terminal, plate string) {
	a.t.Helper()
	r := a.do("POST", "/api/v1/vehicles", map[string]string{"terminal": terminal, "plate": plate, "password": "a-long-enough-password"})
	expectStatus(a.t, r, http.StatusCreated)
}

var errStoreDown = errors.New("store is down")
