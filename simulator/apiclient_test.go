package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/hwtrack/hwtrack/model"
)

func TestAPIClientRequests(t *testing.T) {
	type seen struct {
		method, path, query, auth, contentType string
		body                                   map[string]any
	}
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{method: r.Method, path: r.URL.Path, query: r.URL.RawQuery, auth: r.Header.Get("Authorization"), contentType: r.Header.Get("Content-Type")}
		if data, _ := io.ReadAll(r.Body); len(data) > 0 {
			if err := json.Unmarshal(data, &s.body); err != nil {
				t.Errorf("request body %s is not JSON: %v", data, err)
			}
		}
		got = append(got, s)
		switch {
		case r.URL.Path == "/api/v1/deviations":
			_, _ = io.WriteString(w, `{"deviations":[{"id":"d1","kind":"route_deviation","state":"closed","terminal":"T1","started_at":"2026-12-04T01:00:00Z","lat":28.9,"lon":120.1,"late":true}]}`)
		case strings.HasSuffix(r.URL.Path, "/track"):
			_, _ = io.WriteString(w, `{"terminal":"T1","fixes":[{"time":"2026-12-04T01:00:00Z","lat":28.9,"lon":120.1,"valid":true,"source":"realtime"}]}`)
		case strings.HasSuffix(r.URL.Path, "/complete"):
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"x1"}`)
		}
	}))
	defer srv.Close()

	c, err := NewAPIClient(srv.URL+"/", "tok", nil)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	ctx := context.Background()
	start := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)

	if err := c.RegisterVehicle(ctx, VehicleRequest{Terminal: "T1", Plate: "浙G·S0001", Password: "0123456789abcdef"}); err != nil {
		t.Fatalf("register: %v", err)
	}
	if id, err := c.CreateBooking(ctx, sampleBooking(model.Fix{Lat: 28.9, Lon: 120.0}, 2026, 1, "永康市东城五金制品有限公司")); err != nil || id != "x1" {
		t.Fatalf("create booking = %q, %v", id, err)
	}
	trip := TripRequest{Terminal: "T1", Driver: "王建国", Escort: "张丽", Route: orb.LineString{{120.0, 28.9}, {120.1, 28.95}},
		CorridorM: 300, Bookings: []string{"x1"}, PlannedStart: start, PlannedEnd: start.Add(time.Hour)}
	if id, err := c.CreateTrip(ctx, trip); err != nil || id != "x1" {
		t.Fatalf("create trip = %q, %v", id, err)
	}
	if err := c.CompleteTrip(ctx, "x1"); err != nil {
		t.Fatalf("complete: %v", err)
	}
	devs, err := c.Deviations(ctx, "T1")
	if err != nil || len(devs) != 1 || devs[0].Kind != model.KindRouteDeviation || devs[0].State != model.StateClosed {
		t.Fatalf("deviations = %+v, %v", devs, err)
	}
	fixes, err := c.Track(ctx, "T1", start, start.Add(time.Hour))
	if err != nil || len(fixes) != 1 {
		t.Fatalf("track = %+v, %v", fixes, err)
	}

	wantPaths := []string{"POST /api/v1/vehicles", "POST /api/v1/bookings", "POST /api/v1/trips", "POST /api/v1/trips/x1/complete",
		"GET /api/v1/deviations", "GET /api/v1/vehicles/T1/track"}
	if len(got) != len(wantPaths) {
		t.Fatalf("requests = %d, want %d", len(got), len(wantPaths))
	}
	for i, want := range wantPaths {
		if got[i].method+" "+got[i].path != want {
			t.Errorf("request %d = %s %s, want %s", i, got[i].method, got[i].path, want)
		}
		if got[i].auth != "Bearer tok" {
			t.Errorf("request %d authorization = %q", i, got[i].auth)
		}
	}
	if got[0].contentType != "application/json" {
		t.Errorf("content type = %q, want application/json", got[0].contentType)
	}
	route, _ := got[2].body["route"].(map[string]any)
	coords, _ := route["coordinates"].([]any)
	if route["type"] != "LineString" || len(coords) != 2 {
		t.Errorf("trip route = %v, want a GeoJSON LineString of 2 positions", got[2].body["route"])
	}
	if got[2].body["corridor_m"] != 300.0 || got[2].body["planned_start"] != "2026-12-04T01:00:00Z" {
		t.Errorf("trip body = %v", got[2].body)
	}
	if got[4].query != "terminal=T1" {
		t.Errorf("deviations query = %q", got[4].query)
	}
	if !strings.Contains(got[5].query, "from=2026-12-04T01%3A00%3A00Z") {
		t.Errorf("track query = %q", got[5].query)
	}
}

func TestAPIClientErrors(t *testing.T) {
	cases := []struct {
		name     string
		status   int
		body     string
		wantCode string
		wantMsg  string
	}{
		{"server error object", http.StatusBadRequest,
			`{"error":{"code":"invalid","message":"invalid vehicle: plate: is required","fields":[{"field":"plate","reason":"is required"}]}}`,
			"invalid", "invalid vehicle: plate: is required"},
		{"plain text body", http.StatusBadGateway, "upstream down\n", "", "upstream down"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			c, err := NewAPIClient(srv.URL, "", nil)
			if err != nil {
				t.Fatalf("new client: %v", err)
			}
			err = c.RegisterVehicle(context.Background(), VehicleRequest{Terminal: "T"})
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("error = %v, want *APIError", err)
			}
			if apiErr.Status != tc.status || apiErr.Code != tc.wantCode || apiErr.Message != tc.wantMsg {
				t.Errorf("error = %+v, want status %d code %q message %q", apiErr, tc.status, tc.wantCode, tc.wantMsg)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error text %q does not show the server's message", err)
			}
		})
	}
}

func TestNewAPIClientRejectsBadURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:8080", "ftp://host", "http://", "::"} {
		if _, err := NewAPIClient(u, "", nil); err == nil {
			t.Errorf("NewAPIClient(%q) succeeded", u)
		}
	}
}
