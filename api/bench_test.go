package api

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// benchHandler returns the API handler over a memStore, called directly
// without a network round trip so the numbers show the handler's own cost.
func benchHandler(b *testing.B) (http.Handler, *memStore) {
	b.Helper()
	store := newMemStore()
	handler := New(Options{
		Store:      store,
		Tokens:     []string{testToken},
		HashSecret: testHash,
		ParseZone:  testParseZone,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:        func() time.Time { return testStart },
	})
	return handler, store
}

func serve(b *testing.B, handler http.Handler, method, path string, body []byte, want int) {
	var reader io.Reader
	if body != nil {
		reader = strings.NewReader(string(body))
	}
	req := httptest.NewRequest(method, path, reader)
	req.Header.Set("Authorization", "Bearer "+testToken)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: status %d, want %d: %s", method, path, rec.Code, want, rec.Body)
	}
}

// BenchmarkListVehicles measures the console's fleet poll: 1,000 vehicles,
// each with a latest fix, and 200 active trips.
func BenchmarkListVehicles(b *testing.B) {
	handler, store := benchHandler(b)
	for i := range 1000 {
		terminal := fmt.Sprintf("T%04d", i)
		store.vehicles[terminal] = model.Vehicle{Terminal: terminal, Plate: fmt.Sprintf("浙G·%05d", i)}
		store.fixes[terminal] = []model.Fix{{Terminal: terminal, Time: testStart, Lat: 28.89, Lon: 120.04, Valid: true,
			SpeedKmh: 40, HeadingDeg: 90, Source: model.SourceRealtime, Has: model.HasSpeed | model.HasHeading}}
		if i%5 == 0 {
			id := fmt.Sprintf("trp_%04d", i)
			store.trips[id] = model.Trip{ID: id, Terminal: terminal, PlannedStart: testStart.Add(-time.Hour), PlannedEnd: testStart.Add(time.Hour), State: model.TripDispatched}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		serve(b, handler, "GET", "/api/v1/vehicles", nil, http.StatusOK)
	}
}

// BenchmarkRegisterVehiclesBulk measures registering 1,000 vehicles with
// generated passwords in one request.
func BenchmarkRegisterVehiclesBulk(b *testing.B) {
	handler, store := benchHandler(b)
	body := bulkBody(1000)
	b.ReportAllocs()
	for b.Loop() {
		clear(store.vehicles)
		serve(b, handler, "POST", "/api/v1/vehicles", body, http.StatusCreated)
	}
}

// BenchmarkTrack measures a one-day track of 10,000 fixes.
func BenchmarkTrack(b *testing.B) {
	handler, store := benchHandler(b)
	store.vehicles["T1"] = model.Vehicle{Terminal: "T1", Plate: "浙G·A0001"}
	fixes := make([]model.Fix, 10_000)
	for i := range fixes {
		fixes[i] = model.Fix{Terminal: "T1", Time: testStart.Add(-time.Duration(len(fixes)-i) * 8 * time.Second), Lat: 28.89, Lon: 120.04,
			Valid: true, SpeedKmh: 40, Source: model.SourceRealtime, Seq: uint64(i), Has: model.HasSpeed | model.HasSeq}
	}
	store.fixes["T1"] = fixes
	b.ReportAllocs()
	for b.Loop() {
		serve(b, handler, "GET", "/api/v1/vehicles/T1/track", nil, http.StatusOK)
	}
}

// BenchmarkCreateBooking measures validating and storing one booking.
func BenchmarkCreateBooking(b *testing.B) {
	handler, _ := benchHandler(b)
	body := []byte(`{"manifest_no":"20263307000123","shipper":{"name":"永康市某五金制品有限公司","credit_code":"91330784MA2E12345X","lat":28.85,"lon":120.05},` +
		`"wastes":[{"code":"900-006-09","name":"废乳化液","form":"液态","hazard":"T","packaging":"IBC吨桶","count":2,"weight_kg":1850.5}]}`)
	b.ReportAllocs()
	for b.Loop() {
		serve(b, handler, "POST", "/api/v1/bookings", body, http.StatusCreated)
	}
}

// BenchmarkAuthReject measures rejecting a wrong bearer token.
func BenchmarkAuthReject(b *testing.B) {
	handler, _ := benchHandler(b)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/api/v1/vehicles", nil)
		req.Header.Set("Authorization", "Bearer wrong-token")
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			b.Fatalf("status %d, want 401", rec.Code)
		}
	}
}

func BenchmarkNewID(b *testing.B) {
	g := newIDGenerator()
	b.ReportAllocs()
	for b.Loop() {
		g.New(prefixTrip, testStart)
	}
}
