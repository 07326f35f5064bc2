package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// Fuzz targets for the request bodies the API decodes. Each one posts the
// input through the whole handler, so routing, body limits, strict JSON
// decoding and validation all run. Whatever the body, the API must answer
// with a 2xx or 4xx status and a JSON body, never a 5xx or a panic.

// checkFuzzResponse fails the test when the API answered body with a
// server error or with something that is not JSON.
func checkFuzzResponse(t *testing.T, r response, body []byte) {
	t.Helper()
	if r.status >= 500 {
		t.Fatalf("status %d for body %q: %s", r.status, body, r.body)
	}
	if !json.Valid(r.body) {
		t.Fatalf("status %d with a non-JSON response %q for body %q", r.status, r.body, body)
	}
	if r.status >= 400 {
		var e errorBody
		if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code == "" {
			t.Fatalf("status %d without the error shape: %s", r.status, r.body)
		}
	}
}

func FuzzCreateVehicles(f *testing.F) {
	f.Add([]byte(`{"terminal":"013800000002","plate":"浙G·A2345"}`))
	f.Add([]byte(`[{"terminal":"T1","plate":"浙G·A0001","password":"a-password-of-16+"},{"terminal":"T2","plate":"浙G·A0002"}]`))
	f.Add([]byte(`[{"terminal":"T1","plate":"x"},{"terminal":"T1","plate":"y"}]`))
	f.Add([]byte(`{"terminal":"../../etc","plate":" 浙G ","extra":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"terminal":1e309}`))
	f.Add([]byte("\xff\xfe{"))
	f.Fuzz(func(t *testing.T, body []byte) {
		api := newTestAPI(t)
		r := api.do(http.MethodPost, "/api/v1/vehicles", body)
		checkFuzzResponse(t, r, body)
		if r.status == http.StatusCreated && len(api.store.vehicles) == 0 {
			t.Fatalf("201 Created for %q but nothing stored", body)
		}
	})
}

func FuzzCreateBooking(f *testing.F) {
	valid, err := json.Marshal(validBooking())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add([]byte(`{"manifest_no":"x","shipper":{"name":"","lat":91,"lon":-181},"wastes":[]}`))
	f.Add([]byte(`{"shipper":{"credit_code":"91330784MA2E1234"},"wastes":[{"code":"900-006-0","count":-1,"weight_kg":"NaN"}]}`))
	f.Add([]byte(`{"wastes":[{}],"wastes":null}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		api := newTestAPI(t)
		r := api.do(http.MethodPost, "/api/v1/bookings", body)
		checkFuzzResponse(t, r, body)
	})
}

// bookingPlaceholder in a trip seed is replaced by the id of a booking the
// fixture created, so seeds can reach the checks past the references.
const bookingPlaceholder = "@BOOKING@"

func FuzzCreateTrip(f *testing.F) {
	start := testStart.Add(time.Hour).Format(time.RFC3339)
	end := testStart.Add(3 * time.Hour).Format(time.RFC3339)
	valid := `{"terminal":"T1","driver":"王师傅","escort":"李押运",` +
		`"route":{"type":"LineString","coordinates":[[120.0425,28.8908],[120.05,28.85],[120.06,28.84,95.0]]},` +
		`"corridor_m":100,"bookings":["` + bookingPlaceholder + `"],"planned_start":"` + start + `","planned_end":"` + end + `"}`
	f.Add([]byte(valid))
	f.Add([]byte(`{"terminal":"T1","route":{"type":"LineString","coordinates":[[28.89,120.04],[1e400,0]]},"bookings":[]}`))
	f.Add([]byte(`{"terminal":"T9","route":{"type":"Point","coordinates":[120,28]},"planned_start":"yesterday","planned_end":"` + start + `"}`))
	f.Add([]byte(`{"route":{"type":"LineString","coordinates":[[120,28],[120,28]]},"corridor_m":-5,"bookings":["` + bookingPlaceholder + `","` + bookingPlaceholder + `"]}`))
	f.Add([]byte(`{"route":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fixture := newTripFixture(t)
		sent := bytes.ReplaceAll(body, []byte(bookingPlaceholder), []byte(fixture.bookingID))
		r := fixture.api.do(http.MethodPost, "/api/v1/trips", sent)
		checkFuzzResponse(t, r, sent)
	})
}

func FuzzCreateZone(f *testing.F) {
	f.Add([]byte(testZoneFeature))
	f.Add([]byte(`{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[120,28],[120.1,28],[120.1,28.1],[120,28]]]},"properties":{"name":"a","kind":"restricted"}}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[]}`))
	f.Add([]byte(`{"type":"Feature","geometry":null,"properties":{}}`))
	f.Add([]byte(`{"type":"Feature","properties":{"name":"` + string(bytes.Repeat([]byte("名"), 300)) + `","kind":"x"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		api := newTestAPI(t)
		r := api.do(http.MethodPost, "/api/v1/zones", body)
		checkFuzzResponse(t, r, body)
	})
}
