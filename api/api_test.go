package api

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuthentication(t *testing.T) {
	api := newTestAPI(t)
	cases := []struct {
		name          string
		authorization string
		status        int
		challenge     string
	}{
		{"missing header", "", http.StatusUnauthorized, `Bearer realm="hwtrack"`},
		{"basic scheme", "Basic dXNlcjpwYXNz", http.StatusUnauthorized, `Bearer realm="hwtrack"`},
		{"bearer without token", "Bearer ", http.StatusUnauthorized, `Bearer realm="hwtrack"`},
		{"wrong token", "Bearer not-the-token", http.StatusUnauthorized, `Bearer realm="hwtrack", error="invalid_token"`},
		{"token prefix", "Bearer " + testToken[:len(testToken)-1], http.StatusUnauthorized, `Bearer realm="hwtrack", error="invalid_token"`},
		{"token with suffix", "Bearer " + testToken + "x", http.StatusUnauthorized, `Bearer realm="hwtrack", error="invalid_token"`},
		{"valid token", "Bearer " + testToken, http.StatusOK, ""},
		{"second valid token", "Bearer other-token-abcdef", http.StatusOK, ""},
		{"lowercase scheme", "bearer " + testToken, http.StatusOK, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := api.doWithAuth("GET", "/api/v1/vehicles", nil, tc.authorization)
			if tc.status == http.StatusUnauthorized {
				expectError(t, r, http.StatusUnauthorized, codeUnauthorized, "")
			} else {
				expectStatus(t, r, tc.status)
			}
			if got := r.header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
		})
	}
}

func TestAuthenticationCoversEveryEndpoint(t *testing.T) {
	api := newTestAPI(t)
	paths := []struct{ method, path string }{
		{"POST", "/api/v1/vehicles"},
		{"GET", "/api/v1/vehicles/T1"},
		{"GET", "/api/v1/vehicles/T1/track"},
		{"GET", "/api/v1/zones"},
		{"POST", "/api/v1/zones"},
		{"DELETE", "/api/v1/zones/zon_x"},
		{"POST", "/api/v1/bookings"},
		{"GET", "/api/v1/bookings/bkg_x"},
		{"POST", "/api/v1/trips"},
		{"POST", "/api/v1/trips/trp_x/complete"},
		{"GET", "/api/v1/deviations"},
		{"GET", "/api/v1/no-such-endpoint"},
	}
	for _, p := range paths {
		t.Run(p.method+" "+p.path, func(t *testing.T) {
			r := api.doWithAuth(p.method, p.path, "{}", "")
			expectError(t, r, http.StatusUnauthorized, codeUnauthorized, "")
		})
	}
}

func TestNoTokensRejectsEverything(t *testing.T) {
	handler := New(Options{Store: newMemStore(), HashSecret: testHash, ParseZone: testParseZone, Tokens: []string{""}})
	api := newTestAPI(t)
	api.server = newServer(t, handler)
	r := api.doWithAuth("GET", "/api/v1/vehicles", nil, "Bearer ")
	expectError(t, r, http.StatusUnauthorized, codeUnauthorized, "")
	r = api.do("GET", "/api/v1/vehicles", nil)
	expectError(t, r, http.StatusUnauthorized, codeUnauthorized, "")
}

func TestHealthAndReadiness(t *testing.T) {
	api := newTestAPI(t)

	r := api.doWithAuth("GET", "/healthz", nil, "")
	expectStatus(t, r, http.StatusOK)

	r = api.doWithAuth("GET", "/readyz", nil, "")
	expectStatus(t, r, http.StatusOK)
	var ready readyResponse
	r.json(t, &ready)
	if !ready.Ready {
		t.Errorf("readyz body = %s, want ready true", r.body)
	}

	api.ready = errors.New("storage is replaying its log")
	r = api.doWithAuth("GET", "/readyz", nil, "")
	expectStatus(t, r, http.StatusServiceUnavailable)
	r.json(t, &ready)
	if ready.Ready || ready.Reason != "storage is replaying its log" {
		t.Errorf("readyz body = %s, want ready false with the reason", r.body)
	}

	r = api.doWithAuth("GET", "/metrics", nil, "")
	expectStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), "hwtrack_test_metric 1") {
		t.Errorf("metrics body = %q, want the Metrics handler output", r.body)
	}
}

func TestRoutingErrors(t *testing.T) {
	api := newTestAPI(t)
	cases := []struct {
		name   string
		method string
		path   string
		status int
		code   string
		allow  string
	}{
		{"unknown api path", "GET", "/api/v1/nothing", http.StatusNotFound, codeNotFound, ""},
		{"unknown root path", "GET", "/nothing", http.StatusNotFound, codeNotFound, ""},
		{"trailing slash", "GET", "/api/v1/vehicles/", http.StatusNotFound, codeNotFound, ""},
		{"put on vehicles", "PUT", "/api/v1/vehicles", http.StatusMethodNotAllowed, codeMethodNotAllowed, "GET, HEAD, POST"},
		{"delete on trip", "DELETE", "/api/v1/trips/trp_1", http.StatusMethodNotAllowed, codeMethodNotAllowed, "GET, HEAD"},
		{"get on complete", "GET", "/api/v1/trips/trp_1/complete", http.StatusMethodNotAllowed, codeMethodNotAllowed, "POST"},
		{"post on healthz", "POST", "/healthz", http.StatusMethodNotAllowed, codeMethodNotAllowed, "GET, HEAD"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := api.do(tc.method, tc.path, nil)
			expectError(t, r, tc.status, tc.code, "")
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestStoreFailureIsInternalError(t *testing.T) {
	api := newTestAPI(t)
	api.register("T1", "浙G·A1234")
	api.store.failWith = errStoreDown

	cases := []struct{ method, path string }{
		{"GET", "/api/v1/vehicles"},
		{"GET", "/api/v1/vehicles/T1"},
		{"GET", "/api/v1/zones"},
		{"GET", "/api/v1/trips"},
		{"GET", "/api/v1/deviations"},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := api.do(tc.method, tc.path, nil)
			e := expectError(t, r, http.StatusInternalServerError, codeInternal, "")
			if strings.Contains(e.Message, errStoreDown.Error()) {
				t.Errorf("message %q exposes the internal error", e.Message)
			}
		})
	}
	if !strings.Contains(api.logs.String(), "err=\"") || !strings.Contains(api.logs.String(), errStoreDown.Error()) {
		t.Errorf("log does not contain the store error:\n%s", api.logs.String())
	}
}

func TestNewPanicsWithoutRequiredOptions(t *testing.T) {
	cases := []struct {
		name string
		opts Options
	}{
		{"no store", Options{HashSecret: testHash, ParseZone: testParseZone}},
		{"no hash", Options{Store: newMemStore(), ParseZone: testParseZone}},
		{"no zone parser", Options{Store: newMemStore(), HashSecret: testHash}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("New did not panic")
				}
			}()
			New(tc.opts)
		})
	}
}

func TestIDsSortAndDiffer(t *testing.T) {
	g := newIDGenerator()
	base := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	times := []time.Time{
		base,
		base,                           // same millisecond
		base.Add(-time.Second),         // clock stepped back
		base.Add(time.Millisecond),     // next millisecond
		base.Add(24 * time.Hour),       // next day
		base.Add(24 * time.Hour),       // same again
		base.Add(400 * 24 * time.Hour), // next year
	}
	var previous string
	for i, now := range times {
		id := g.New(prefixTrip, now)
		if !strings.HasPrefix(id, prefixTrip) || len(id) != len(prefixTrip)+26 {
			t.Fatalf("id %q: want prefix %q and 26 characters after it", id, prefixTrip)
		}
		for _, c := range id[len(prefixTrip):] {
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'v') {
				t.Fatalf("id %q has character %q outside lowercase base32hex", id, c)
			}
		}
		if i > 0 && id <= previous {
			t.Errorf("id %d = %q does not sort after %q", i, id, previous)
		}
		previous = id
	}

	fresh := newIDGenerator()
	a, b := fresh.New("x_", base), newIDGenerator().New("x_", base.Add(time.Millisecond))
	if a >= b {
		t.Errorf("ids of independent generators %q and %q do not sort by time", a, b)
	}
}
