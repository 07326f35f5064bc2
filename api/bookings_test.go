package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hwtrack/hwtrack/model"
)

// validBooking returns a booking request body as a map, so cases can change
// one field at a time.
func validBooking() map[string]any {
	return map[string]any{
		"manifest_no": "20263307000123",
		"shipper": map[string]any{
			"name":        "永康市某五金制品有限公司",
			"credit_code": "91330784MA2E12345X",
			"lat":         28.85,
			"lon":         120.05,
		},
		"wastes": []any{
			map[string]any{"code": "900-006-09", "name": "废乳化液", "form": "液态", "hazard": "T", "packaging": "IBC吨桶", "count": 2, "weight_kg": 1850.5},
			map[string]any{"code": "900-041-49", "name": "含油抹布", "form": "固态", "hazard": "T/In", "packaging": "吨袋", "count": 0, "weight_kg": 120},
		},
	}
}

func createBooking(t *testing.T, api *testAPI) string {
	t.Helper()
	r := api.do("POST", "/api/v1/bookings", validBooking())
	expectStatus(t, r, http.StatusCreated)
	var created idResponse
	r.json(t, &created)
	return created.ID
}

func TestBookingLifecycle(t *testing.T) {
	api := newTestAPI(t)
	id := createBooking(t, api)
	if !strings.HasPrefix(id, prefixBooking) {
		t.Fatalf("booking id %q lacks prefix %q", id, prefixBooking)
	}

	r := api.do("GET", "/api/v1/bookings/"+id, nil)
	expectStatus(t, r, http.StatusOK)
	var booking model.Booking
	r.json(t, &booking)
	if booking.ID != id || booking.ManifestNo != "20263307000123" || booking.Shipper.CreditCode != "91330784MA2E12345X" ||
		booking.Shipper.Lat != 28.85 || len(booking.Wastes) != 2 || booking.Wastes[0].WeightKg != 1850.5 || booking.Wastes[1].Hazard != "T/In" {
		t.Errorf("booking = %+v, want the posted booking", booking)
	}

	second := createBooking(t, api)
	r = api.do("GET", "/api/v1/bookings", nil)
	expectStatus(t, r, http.StatusOK)
	var list bookingList
	r.json(t, &list)
	if len(list.Bookings) != 2 || list.Bookings[0].ID != id || list.Bookings[1].ID != second {
		t.Errorf("booking list = %s, want both bookings oldest first", r.body)
	}

	expectError(t, api.do("GET", "/api/v1/bookings/bkg_missing", nil), http.StatusNotFound, codeNotFound, "")
}

func TestCreateBookingValidation(t *testing.T) {
	shipper := func(b map[string]any) map[string]any { return b["shipper"].(map[string]any) }
	waste := func(b map[string]any, i int) map[string]any { return b["wastes"].([]any)[i].(map[string]any) }

	cases := []struct {
		name   string
		change func(b map[string]any)
		field  string
	}{
		{"manifest 13 digits", func(b map[string]any) { b["manifest_no"] = "2026330700012" }, "manifest_no"},
		{"manifest 15 digits", func(b map[string]any) { b["manifest_no"] = "202633070001234" }, "manifest_no"},
		{"manifest with letter", func(b map[string]any) { b["manifest_no"] = "2026330700012A" }, "manifest_no"},
		{"manifest missing", func(b map[string]any) { delete(b, "manifest_no") }, "manifest_no"},
		{"shipper name missing", func(b map[string]any) { delete(shipper(b), "name") }, "shipper.name"},
		{"shipper name blank", func(b map[string]any) { shipper(b)["name"] = " " }, "shipper.name"},
		{"credit code short", func(b map[string]any) { shipper(b)["credit_code"] = "91330784MA2E1234" }, "shipper.credit_code"},
		{"credit code with O", func(b map[string]any) { shipper(b)["credit_code"] = "91330784MA2E1234O0" }, "shipper.credit_code"},
		{"credit code lowercase", func(b map[string]any) { shipper(b)["credit_code"] = "91330784ma2e12345x" }, "shipper.credit_code"},
		{"credit code missing", func(b map[string]any) { delete(shipper(b), "credit_code") }, "shipper.credit_code"},
		{"lat missing", func(b map[string]any) { delete(shipper(b), "lat") }, "shipper.lat"},
		{"lon missing", func(b map[string]any) { delete(shipper(b), "lon") }, "shipper.lon"},
		{"lat out of range", func(b map[string]any) { shipper(b)["lat"] = 120.05; shipper(b)["lon"] = 28.85 }, "shipper.lat"},
		{"lon out of range", func(b map[string]any) { shipper(b)["lon"] = 181.0 }, "shipper.lon"},
		{"no wastes", func(b map[string]any) { b["wastes"] = []any{} }, "wastes"},
		{"wastes missing", func(b map[string]any) { delete(b, "wastes") }, "wastes"},
		{"waste code without dashes", func(b map[string]any) { waste(b, 1)["code"] = "90004149" }, "wastes[1].code"},
		{"waste code HW form", func(b map[string]any) { waste(b, 0)["code"] = "HW49" }, "wastes[0].code"},
		{"waste code letters", func(b map[string]any) { waste(b, 0)["code"] = "900-04a-49" }, "wastes[0].code"},
		{"waste name missing", func(b map[string]any) { delete(waste(b, 1), "name") }, "wastes[1].name"},
		{"negative count", func(b map[string]any) { waste(b, 0)["count"] = -1 }, "wastes[0].count"},
		{"zero weight", func(b map[string]any) { waste(b, 0)["weight_kg"] = 0 }, "wastes[0].weight_kg"},
		{"negative weight", func(b map[string]any) { waste(b, 1)["weight_kg"] = -3 }, "wastes[1].weight_kg"},
		{"weight missing", func(b map[string]any) { delete(waste(b, 1), "weight_kg") }, "wastes[1].weight_kg"},
		{"form too long", func(b map[string]any) { waste(b, 0)["form"] = strings.Repeat("液", 65) }, "wastes[0].form"},
		{"unknown field", func(b map[string]any) { b["carrier"] = "x" }, "carrier"},
		{"unknown shipper field", func(b map[string]any) { shipper(b)["address"] = "x" }, "address"},
		{"count as string", func(b map[string]any) { waste(b, 0)["count"] = "2" }, "wastes.count"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := newTestAPI(t)
			body := validBooking()
			tc.change(body)
			r := api.do("POST", "/api/v1/bookings", body)
			e := expectError(t, r, http.StatusUnprocessableEntity, codeInvalidInput, tc.field)
			if len(api.store.bookings) != 0 {
				t.Errorf("rejected booking was stored")
			}
			if tc.name == "lat out of range" && !strings.Contains(e.Fields[0].Reason, "swapped") {
				t.Errorf("reason %q does not mention swapped coordinates", e.Fields[0].Reason)
			}
		})
	}
}

func TestCreateBookingReportsAllProblems(t *testing.T) {
	api := newTestAPI(t)
	r := api.do("POST", "/api/v1/bookings", `{"manifest_no":"1","shipper":{},"wastes":[{"code":"x"}]}`)
	e := expectError(t, r, http.StatusUnprocessableEntity, codeInvalidInput, "")
	want := []string{"manifest_no", "shipper.name", "shipper.credit_code", "shipper.lat", "shipper.lon", "wastes[0].code", "wastes[0].name", "wastes[0].weight_kg"}
	var got []string
	for _, f := range e.Fields {
		got = append(got, f.Field)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("fields = %v, want %v", got, want)
	}
}

func TestCreateBookingBodyLimit(t *testing.T) {
	api := newTestAPI(t)
	body := validBooking()
	body["manifest_no"] = strings.Repeat("1", maxBodyBytes)
	encoded, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	expectError(t, api.do("POST", "/api/v1/bookings", encoded), http.StatusRequestEntityTooLarge, codeTooLarge, "")
}

// storeWithoutBookingList hides memStore's Bookings method.
type storeWithoutBookingList struct{ Store }

func TestListBookingsNeedsLister(t *testing.T) {
	api := newTestAPI(t)
	handler := New(Options{Store: storeWithoutBookingList{api.store}, Tokens: []string{testToken}, HashSecret: testHash, ParseZone: testParseZone})
	api.server.Close()
	api.server = newServer(t, handler)
	expectError(t, api.do("GET", "/api/v1/bookings", nil), http.StatusNotImplemented, codeNotImplemented, "")
	expectStatus(t, api.do("POST", "/api/v1/bookings", validBooking()), http.StatusCreated)
}
