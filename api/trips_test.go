package api

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// tripFixture is an API with a registered vehicle T1 and one booking.
type tripFixture struct {
	api       *testAPI
	bookingID string
}

func newTripFixture(t *testing.T) tripFixture {
	t.Helper()
	api := newTestAPI(t)
	api.register("T1", "浙G·A0001")
	return tripFixture{api: api, bookingID: createBooking(t, api)}
}

func (f tripFixture) body(start, end time.Time) map[string]any {
	return map[string]any{
		"terminal":      "T1",
		"driver":        "王师傅",
		"escort":        "李押运",
		"route":         map[string]any{"type": "LineString", "coordinates": []any{[]any{120.0425, 28.8908}, []any{120.05, 28.85}, []any{120.06, 28.84, 95.0}}},
		"corridor_m":    100,
		"bookings":      []any{f.bookingID},
		"planned_start": start.Format(time.RFC3339),
		"planned_end":   end.Format(time.RFC3339),
	}
}

func (f tripFixture) create(t *testing.T, start, end time.Time) string {
	t.Helper()
	r := f.api.do("POST", "/api/v1/trips", f.body(start, end))
	expectStatus(t, r, http.StatusCreated)
	var created idResponse
	r.json(t, &created)
	return created.ID
}

type tripViewBody struct {
	ID           string          `json:"id"`
	Terminal     string          `json:"terminal"`
	Driver       string          `json:"driver"`
	Escort       string          `json:"escort"`
	Route        map[string]any  `json:"route"`
	CorridorM    float64         `json:"corridor_m"`
	Bookings     []model.Booking `json:"bookings"`
	PlannedStart time.Time       `json:"planned_start"`
	PlannedEnd   time.Time       `json:"planned_end"`
	State        string          `json:"state"`
	CompletedAt  *time.Time      `json:"completed_at"`
}

func TestTripLifecycle(t *testing.T) {
	f := newTripFixture(t)
	api := f.api
	start, end := testStart.Add(-time.Hour), testStart.Add(2*time.Hour)

	id := f.create(t, start, end)
	if !strings.HasPrefix(id, prefixTrip) {
		t.Fatalf("trip id %q lacks prefix %q", id, prefixTrip)
	}
	if len(api.hooks.created) != 1 || api.hooks.created[0] != id {
		t.Errorf("TripCreated calls = %v, want [%s]", api.hooks.created, id)
	}
	stored := api.store.trips[id]
	if stored.State != model.TripDispatched || !stored.PlannedStart.Equal(start) || stored.CorridorM != 100 {
		t.Errorf("stored trip = %+v, want a dispatched trip with the posted plan", stored)
	}
	if string(stored.Route) != `{"type":"LineString","coordinates":[[120.0425,28.8908],[120.05,28.85],[120.06,28.84,95]]}` {
		t.Errorf("stored route = %s, want the posted LineString", stored.Route)
	}

	r := api.do("GET", "/api/v1/trips/"+id, nil)
	expectStatus(t, r, http.StatusOK)
	var view tripViewBody
	r.json(t, &view)
	if view.ID != id || view.Driver != "王师傅" || view.Escort != "李押运" || view.State != "dispatched" || view.CompletedAt != nil {
		t.Errorf("trip = %s, want the dispatched trip", r.body)
	}
	if len(view.Bookings) != 1 || view.Bookings[0].ID != f.bookingID || view.Bookings[0].ManifestNo != "20263307000123" {
		t.Errorf("bookings = %+v, want the expanded booking", view.Bookings)
	}

	r = api.do("GET", "/api/v1/vehicles/T1", nil)
	var vehicle vehicleView
	r.json(t, &vehicle)
	if vehicle.TripID != id {
		t.Errorf("vehicle trip_id = %q, want the active trip %s", vehicle.TripID, id)
	}

	api.clock.Set(testStart.Add(30 * time.Minute))
	r = api.do("POST", "/api/v1/trips/"+id+"/complete", nil)
	expectStatus(t, r, http.StatusOK)
	r.json(t, &view)
	if view.State != "completed" || view.CompletedAt == nil || !view.CompletedAt.Equal(testStart.Add(30*time.Minute)) {
		t.Errorf("completed trip = %s, want state completed at the clock time", r.body)
	}
	if len(view.Bookings) != 1 || view.Bookings[0].ManifestNo == "" {
		t.Errorf("completed trip bookings = %+v, want them expanded", view.Bookings)
	}
	if len(api.hooks.completed) != 1 || api.hooks.completed[0] != id {
		t.Errorf("TripCompleted calls = %v, want [%s]", api.hooks.completed, id)
	}

	e := expectError(t, api.do("POST", "/api/v1/trips/"+id+"/complete", nil), http.StatusConflict, codeConflict, "")
	if !strings.Contains(e.Message, "already completed") {
		t.Errorf("message %q does not say the trip was already completed", e.Message)
	}
	if len(api.hooks.completed) != 1 {
		t.Errorf("TripCompleted called again for a second completion")
	}

	r = api.do("GET", "/api/v1/vehicles/T1", nil)
	r.json(t, &vehicle)
	if vehicle.TripID != "" {
		t.Errorf("vehicle trip_id = %q after completion, want \"\"", vehicle.TripID)
	}

	expectError(t, api.do("POST", "/api/v1/trips/trp_missing/complete", nil), http.StatusNotFound, codeNotFound, "")
	expectError(t, api.do("GET", "/api/v1/trips/trp_missing", nil), http.StatusNotFound, codeNotFound, "")
}

func TestCreateTripValidation(t *testing.T) {
	start, end := testStart, testStart.Add(time.Hour)
	route := func(coordinates ...any) map[string]any {
		return map[string]any{"type": "LineString", "coordinates": coordinates}
	}
	cases := []struct {
		name   string
		change func(b map[string]any)
		field  string
		reason string
	}{
		{"terminal missing", func(b map[string]any) { delete(b, "terminal") }, "terminal", "required"},
		{"terminal not registered", func(b map[string]any) { b["terminal"] = "T9" }, "terminal", "not registered"},
		{"terminal invalid", func(b map[string]any) { b["terminal"] = "T 9" }, "terminal", "ASCII"},
		{"driver missing", func(b map[string]any) { delete(b, "driver") }, "driver", "required"},
		{"escort missing", func(b map[string]any) { b["escort"] = "" }, "escort", "required"},
		{"route missing", func(b map[string]any) { delete(b, "route") }, "route", "LineString"},
		{"route is a point", func(b map[string]any) {
			b["route"] = map[string]any{"type": "Point", "coordinates": []any{120.0, 28.0}}
		}, "route.coordinates", "array"},
		{"route is a polygon", func(b map[string]any) {
			b["route"] = map[string]any{"type": "Polygon", "coordinates": []any{[]any{120.0, 28.0}, []any{120.1, 28.1}}}
		}, "route.type", "LineString"},
		{"route one position", func(b map[string]any) { b["route"] = route([]any{120.0, 28.0}) }, "route.coordinates", "at least 2"},
		{"route repeated position", func(b map[string]any) { b["route"] = route([]any{120.0, 28.0}, []any{120.0, 28.0}) }, "route.coordinates", "different"},
		{"route swapped", func(b map[string]any) { b["route"] = route([]any{28.89, 120.04}, []any{28.85, 120.05}) }, "route.coordinates[0]", "swapped"},
		{"route longitude out of range", func(b map[string]any) { b["route"] = route([]any{120.0, 28.0}, []any{190.0, 28.1}) }, "route.coordinates[1]", "longitude"},
		{"route position too short", func(b map[string]any) { b["route"] = route([]any{120.0, 28.0}, []any{120.1}) }, "route.coordinates[1]", "[lon, lat]"},
		{"route unknown member", func(b map[string]any) { b["route"].(map[string]any)["crs"] = "gcj02" }, "route.crs", "unknown"},
		{"route crosses antimeridian", func(b map[string]any) { b["route"] = route([]any{179.99, 0.5}, []any{-179.99, 0.5}) }, "route.coordinates[1]", "spans more than 180° of longitude"},
		{"crs unknown", func(b map[string]any) { b["crs"] = "cgcs2000" }, "crs", "expected wgs84, gcj02 or bd09"},
		{"route as string", func(b map[string]any) { b["route"] = "LINESTRING(120 28, 121 29)" }, "route", "object"},
		{"corridor too narrow", func(b map[string]any) { b["corridor_m"] = 19.9 }, "corridor_m", "20"},
		{"corridor too wide", func(b map[string]any) { b["corridor_m"] = 5001 }, "corridor_m", "5000"},
		{"corridor missing", func(b map[string]any) { delete(b, "corridor_m") }, "corridor_m", "20"},
		{"segments count mismatch", func(b map[string]any) { b["segments"] = []any{map[string]any{}, map[string]any{}, map[string]any{}} }, "segments", "one entry per segment"},
		{"segments empty list", func(b map[string]any) { b["segments"] = []any{} }, "segments", "has 0 entries"},
		{"segment too narrow", func(b map[string]any) { b["segments"] = []any{map[string]any{"width_m": 10}} }, "segments[0].width_m", "20 to 5000"},
		{"segment limit too high", func(b map[string]any) { b["segments"] = []any{map[string]any{"limit_kmh": 200}} }, "segments[0].limit_kmh", "120"},
		{"segment travel negative", func(b map[string]any) { b["segments"] = []any{map[string]any{"min_travel_s": -1}} }, "segments[0].min_travel_s", "0"},
		{"segment travel bounds reversed", func(b map[string]any) {
			b["segments"] = []any{map[string]any{"min_travel_s": 600, "max_travel_s": 300}}
		}, "segments[0].max_travel_s", "greater than min_travel_s"},
		{"segment unknown member", func(b map[string]any) { b["segments"] = []any{map[string]any{"width": 100}} }, "width", "unknown"},
		{"booking missing", func(b map[string]any) { b["bookings"] = []any{"bkg_nope"} }, "bookings[0]", "not found"},
		{"booking repeated", func(b map[string]any) { b["bookings"] = []any{b["bookings"].([]any)[0], b["bookings"].([]any)[0]} }, "bookings[1]", "duplicates"},
		{"start missing", func(b map[string]any) { delete(b, "planned_start") }, "planned_start", "required"},
		{"start not RFC 3339", func(b map[string]any) { b["planned_start"] = "2026-12-04 09:00" }, "planned_start", "RFC 3339"},
		{"end before start", func(b map[string]any) { b["planned_end"] = start.Add(-time.Minute).Format(time.RFC3339) }, "planned_end", "after"},
		{"end equals start", func(b map[string]any) { b["planned_end"] = start.Format(time.RFC3339) }, "planned_end", "after"},
		{"unknown field", func(b map[string]any) { b["receiver"] = "x" }, "receiver", "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newTripFixture(t)
			body := f.body(start, end)
			tc.change(body)
			e := expectError(t, f.api.do("POST", "/api/v1/trips", body), http.StatusUnprocessableEntity, codeInvalidInput, tc.field)
			found := false
			for _, fe := range e.Fields {
				if fe.Field == tc.field && strings.Contains(fe.Reason, tc.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no field error %q with a reason containing %q in %+v", tc.field, tc.reason, e.Fields)
			}
			if len(f.api.store.trips) != 0 || len(f.api.hooks.created) != 0 {
				t.Errorf("rejected trip was stored or announced")
			}
		})
	}
}

func TestCreateTripSegmentsStored(t *testing.T) {
	f := newTripFixture(t)
	body := f.body(testStart, testStart.Add(time.Hour))
	body["segments"] = []any{
		map[string]any{"width_m": 60, "limit_kmh": 40, "min_travel_s": 120, "max_travel_s": 900},
		map[string]any{},
	}
	r := f.api.do("POST", "/api/v1/trips", body)
	expectStatus(t, r, http.StatusCreated)
	var created idResponse
	r.json(t, &created)

	stored := f.api.store.trips[created.ID]
	want := []model.RouteSegment{{WidthM: 60, LimitKmh: 40, MinTravelS: 120, MaxTravelS: 900}, {}}
	if !reflect.DeepEqual(stored.Segments, want) {
		t.Errorf("stored segments = %+v, want %+v", stored.Segments, want)
	}
}

func TestCreateTripSwappedRouteIsReportedBriefly(t *testing.T) {
	f := newTripFixture(t)
	var coordinates []any
	for i := range 50 {
		coordinates = append(coordinates, []any{28.8 + float64(i)*0.001, 120.0})
	}
	body := f.body(testStart, testStart.Add(time.Hour))
	body["route"] = map[string]any{"type": "LineString", "coordinates": coordinates}
	e := expectError(t, f.api.do("POST", "/api/v1/trips", body), http.StatusUnprocessableEntity, codeInvalidInput, "route.coordinates")
	if len(e.Fields) != maxFieldProblems+1 {
		t.Errorf("got %d field errors, want %d per-position errors and one summary", len(e.Fields), maxFieldProblems)
	}
}

func TestCreateTripOverlap(t *testing.T) {
	hour := time.Hour
	cases := []struct {
		name          string
		existingStart time.Duration
		existingEnd   time.Duration
		completeFirst bool
		clock         time.Duration
		newStart      time.Duration
		newEnd        time.Duration
		wantConflict  bool
	}{
		{"same time", 0, 2 * hour, false, 0, 0, 2 * hour, true},
		{"starts inside", 0, 2 * hour, false, 0, hour, 3 * hour, true},
		{"contains existing", hour, 2 * hour, false, 0, 0, 3 * hour, true},
		{"back to back", 0, 2 * hour, false, 0, 2 * hour, 4 * hour, false},
		{"before", 2 * hour, 4 * hour, false, 0, 0, 2 * hour, false},
		{"existing completed", 0, 2 * hour, true, 0, hour, 3 * hour, false},
		// At 5h the existing trip has run past its planned end and is still
		// active, so it occupies the vehicle until now.
		{"overrunning trip", 0, 2 * hour, false, 5 * hour, 4 * hour, 6 * hour, true},
		{"after overrunning trip", 0, 2 * hour, false, 5 * hour, 5 * hour, 6 * hour, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newTripFixture(t)
			existing := f.create(t, testStart.Add(tc.existingStart), testStart.Add(tc.existingEnd))
			if tc.completeFirst {
				expectStatus(t, f.api.do("POST", "/api/v1/trips/"+existing+"/complete", nil), http.StatusOK)
			}
			f.api.clock.Set(testStart.Add(tc.clock))

			r := f.api.do("POST", "/api/v1/trips", f.body(testStart.Add(tc.newStart), testStart.Add(tc.newEnd)))
			if tc.wantConflict {
				e := expectError(t, r, http.StatusConflict, codeConflict, "planned_start")
				if !strings.Contains(e.Message, existing) {
					t.Errorf("message %q does not name the existing trip %s", e.Message, existing)
				}
				if len(f.api.store.trips) != 1 {
					t.Errorf("conflicting trip was stored")
				}
			} else {
				expectStatus(t, r, http.StatusCreated)
			}
		})
	}

	t.Run("other vehicle", func(t *testing.T) {
		f := newTripFixture(t)
		f.api.register("T2", "浙G·A0002")
		f.create(t, testStart, testStart.Add(hour))
		body := f.body(testStart, testStart.Add(hour))
		body["terminal"] = "T2"
		expectStatus(t, f.api.do("POST", "/api/v1/trips", body), http.StatusCreated)
	})
}

func TestTripHookFailure(t *testing.T) {
	f := newTripFixture(t)
	f.api.hooks.tripErr = errors.New("forwarder queue is closed")

	r := f.api.do("POST", "/api/v1/trips", f.body(testStart, testStart.Add(time.Hour)))
	expectError(t, r, http.StatusInternalServerError, codeInternal, "")
	if len(f.api.store.trips) != 1 {
		t.Errorf("store has %d trips, want the trip kept for an operator to inspect", len(f.api.store.trips))
	}
	if !strings.Contains(f.api.logs.String(), "forwarder queue is closed") {
		t.Errorf("hook error is not logged:\n%s", f.api.logs.String())
	}
}

func TestListTrips(t *testing.T) {
	f := newTripFixture(t)
	f.api.register("T2", "浙G·A0002")
	first := f.create(t, testStart, testStart.Add(time.Hour))
	body := f.body(testStart, testStart.Add(time.Hour))
	body["terminal"] = "T2"
	expectStatus(t, f.api.do("POST", "/api/v1/trips", body), http.StatusCreated)
	expectStatus(t, f.api.do("POST", "/api/v1/trips/"+first+"/complete", nil), http.StatusOK)

	cases := []struct {
		name      string
		query     string
		terminals []string
	}{
		{"all", "", []string{"T1", "T2"}},
		{"by terminal", "?terminal=T2", []string{"T2"}},
		{"completed", "?state=completed", []string{"T1"}},
		{"dispatched", "?state=dispatched", []string{"T2"}},
		{"unknown terminal", "?terminal=T9", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.api.do("GET", "/api/v1/trips"+tc.query, nil)
			expectStatus(t, r, http.StatusOK)
			var list struct {
				Trips []struct {
					Terminal string   `json:"terminal"`
					Bookings []string `json:"bookings"`
				} `json:"trips"`
			}
			r.json(t, &list)
			var got []string
			for _, trip := range list.Trips {
				got = append(got, trip.Terminal)
				if len(trip.Bookings) != 1 || trip.Bookings[0] != f.bookingID {
					t.Errorf("trip bookings = %v, want the booking id", trip.Bookings)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.terminals, ",") {
				t.Errorf("trip terminals = %v, want %v", got, tc.terminals)
			}
		})
	}

	expectError(t, f.api.do("GET", "/api/v1/trips?state=active", nil), http.StatusBadRequest, codeInvalidQuery, "state")
	expectError(t, f.api.do("GET", "/api/v1/trips?vehicle=T1", nil), http.StatusBadRequest, codeInvalidQuery, "vehicle")
}
