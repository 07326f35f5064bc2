package storage

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func TestEntityRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	created := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)

	vehicle := model.Vehicle{Terminal: "T0001", Plate: "浙G12345", SecretHash: []byte{1, 2, 3, 0xff}, CreatedAt: created}
	zone := model.Zone{ID: "zone-1", Name: "永康经济开发区", Kind: "restricted",
		Feature: json.RawMessage(`{"type":"Feature","geometry":{"type":"Point","coordinates":[120.05,28.9]},"properties":{}}`), CreatedAt: created}
	booking := model.Booking{ID: "bk-1", ManifestNo: "20263307000123",
		Shipper:   model.Shipper{Name: "永康五金厂", CreditCode: "91330784MA2HXXXX1X", Lat: 28.91, Lon: 120.03},
		Wastes:    []model.Waste{{Code: "900-041-49", Name: "废包装桶", Form: "固态", Hazard: "T/In", Packaging: "吨袋", Count: 4, WeightKg: 350.5}},
		CreatedAt: created}
	trip := model.Trip{ID: "trip-1", Terminal: "T0001", Driver: "张三", Escort: "李四",
		Route:     json.RawMessage(`{"type":"LineString","coordinates":[[120.0,28.9],[120.1,28.95]]}`),
		CorridorM: 200, Bookings: []string{"bk-1"}, PlannedStart: created, PlannedEnd: created.Add(4 * time.Hour),
		State: model.TripCompleted, CreatedAt: created, CompletedAt: created.Add(3 * time.Hour)}

	if err := s.PutVehicle(vehicle); err != nil {
		t.Fatal(err)
	}
	if err := s.PutZone(zone); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBooking(booking); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTrip(trip); err != nil {
		t.Fatal(err)
	}
	if err := s.PutState("engine/T0001", []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, s *Store) {
		t.Run("vehicle", func(t *testing.T) {
			got, ok, err := s.Vehicle("T0001")
			mustFind(t, ok, err)
			if !reflect.DeepEqual(got, vehicle) {
				t.Fatalf("Vehicle = %+v, want %+v", got, vehicle)
			}
		})
		t.Run("zone", func(t *testing.T) {
			got, ok, err := s.Zone("zone-1")
			mustFind(t, ok, err)
			if !jsonEqual(got.Feature, zone.Feature) {
				t.Errorf("feature = %s, want %s", got.Feature, zone.Feature)
			}
			want := zone
			got.Feature, want.Feature = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Zone = %+v, want %+v", got, want)
			}
		})
		t.Run("booking", func(t *testing.T) {
			got, ok, err := s.Booking("bk-1")
			mustFind(t, ok, err)
			if !reflect.DeepEqual(got, booking) {
				t.Fatalf("Booking = %+v, want %+v", got, booking)
			}
		})
		t.Run("trip", func(t *testing.T) {
			got, ok, err := s.Trip("trip-1")
			mustFind(t, ok, err)
			if !jsonEqual(got.Route, trip.Route) {
				t.Errorf("route = %s, want %s", got.Route, trip.Route)
			}
			want := trip
			got.Route, want.Route = nil, nil
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Trip = %+v, want %+v", got, want)
			}
		})
		t.Run("state", func(t *testing.T) {
			got, ok, err := s.State("engine/T0001")
			mustFind(t, ok, err)
			if !reflect.DeepEqual(got, []byte{0, 1, 2}) {
				t.Fatalf("State = %v, want [0 1 2]", got)
			}
		})
		t.Run("missing", func(t *testing.T) {
			if _, ok, err := s.Vehicle("nope"); ok || err != nil {
				t.Errorf("Vehicle(nope) = %v, %v", ok, err)
			}
			if _, ok, err := s.Zone("nope"); ok || err != nil {
				t.Errorf("Zone(nope) = %v, %v", ok, err)
			}
			if _, ok, err := s.Booking("nope"); ok || err != nil {
				t.Errorf("Booking(nope) = %v, %v", ok, err)
			}
			if _, ok, err := s.Trip("nope"); ok || err != nil {
				t.Errorf("Trip(nope) = %v, %v", ok, err)
			}
			if _, ok, err := s.State("nope"); ok || err != nil {
				t.Errorf("State(nope) = %v, %v", ok, err)
			}
		})
	}

	t.Run("open", func(t *testing.T) { check(t, s) })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, Options{Dir: dir})
	t.Run("reopened", func(t *testing.T) { check(t, s2) })
}

// mustFind fails the test unless a lookup returned found and no error.
func mustFind(t *testing.T, found bool, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatal("not found")
	}
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func TestListsSortedByID(t *testing.T) {
	s := openStore(t, Options{})
	for _, id := range []string{"T3", "T1", "T2"} {
		if err := s.PutVehicle(model.Vehicle{Terminal: id}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutZone(model.Zone{ID: "z" + id, Feature: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutTrip(model.Trip{ID: "trip" + id, Terminal: id, Route: json.RawMessage(`null`)}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutBooking(model.Booking{ID: "b" + id, ManifestNo: "20263307000001"}); err != nil {
			t.Fatal(err)
		}
	}

	bookings, err := s.Bookings()
	if err != nil {
		t.Fatal(err)
	}
	var bookingIDs []string
	for _, b := range bookings {
		bookingIDs = append(bookingIDs, b.ID)
	}
	if !reflect.DeepEqual(bookingIDs, []string{"bT1", "bT2", "bT3"}) {
		t.Errorf("Bookings order = %v", bookingIDs)
	}

	vehicles, err := s.Vehicles()
	if err != nil {
		t.Fatal(err)
	}
	var terms []string
	for _, v := range vehicles {
		terms = append(terms, v.Terminal)
	}
	if !reflect.DeepEqual(terms, []string{"T1", "T2", "T3"}) {
		t.Errorf("Vehicles order = %v", terms)
	}

	zones, err := s.Zones()
	if err != nil {
		t.Fatal(err)
	}
	var zoneIDs []string
	for _, z := range zones {
		zoneIDs = append(zoneIDs, z.ID)
	}
	if !reflect.DeepEqual(zoneIDs, []string{"zT1", "zT2", "zT3"}) {
		t.Errorf("Zones order = %v", zoneIDs)
	}

	trips, err := s.Trips()
	if err != nil {
		t.Fatal(err)
	}
	var tripIDs []string
	for _, tr := range trips {
		tripIDs = append(tripIDs, tr.ID)
	}
	if !reflect.DeepEqual(tripIDs, []string{"tripT1", "tripT2", "tripT3"}) {
		t.Errorf("Trips order = %v", tripIDs)
	}
}

func TestDeleteZone(t *testing.T) {
	s := openStore(t, Options{})
	if err := s.PutZone(model.Zone{ID: "z1", Feature: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want bool
	}{
		{"existing", true},
		{"already deleted", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := s.DeleteZone("z1")
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.want {
				t.Fatalf("DeleteZone reported existed = %v, want %v", ok, tt.want)
			}
			if _, found, _ := s.Zone("z1"); found {
				t.Fatal("zone still found after delete")
			}
		})
	}
}

func TestTripsForVehicle(t *testing.T) {
	s := openStore(t, Options{})
	put := func(id, terminal string) {
		t.Helper()
		if err := s.PutTrip(model.Trip{ID: id, Terminal: terminal, Route: json.RawMessage(`null`)}); err != nil {
			t.Fatal(err)
		}
	}
	put("a", "T1")
	put("b", "T1")
	put("c", "T10")
	put("b", "T2") // reassigned to another vehicle

	tests := []struct {
		terminal string
		want     []string
	}{
		{"T1", []string{"a"}},
		{"T2", []string{"b"}},
		{"T10", []string{"c"}},
		{"T3", nil},
	}
	for _, tt := range tests {
		t.Run(tt.terminal, func(t *testing.T) {
			trips, err := s.TripsForVehicle(tt.terminal)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, tr := range trips {
				ids = append(ids, tr.ID)
			}
			if !reflect.DeepEqual(ids, tt.want) {
				t.Fatalf("trip ids = %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestStateDelete(t *testing.T) {
	s := openStore(t, Options{})
	if err := s.PutState("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteState("k"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.State("k"); ok || err != nil {
		t.Fatalf("State after delete = %v, %v", ok, err)
	}
	if err := s.DeleteState("never-set"); err != nil {
		t.Errorf("DeleteState of a missing key: %v", err)
	}
	if err := s.PutState("", nil); err == nil {
		t.Error("PutState with an empty key succeeded")
	}
}

func TestEntityValidation(t *testing.T) {
	s := openStore(t, Options{})
	var verr *model.ValidationError
	tests := []struct {
		name string
		err  error
	}{
		{"vehicle without terminal", s.PutVehicle(model.Vehicle{})},
		{"zone without id", s.PutZone(model.Zone{})},
		{"booking without id", s.PutBooking(model.Booking{})},
		{"trip without terminal", s.PutTrip(model.Trip{ID: "x"})},
		{"deviation without start", s.PutDeviation(model.Deviation{ID: "d", Terminal: "T1"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("accepted, want an error")
			}
		})
	}
	if !errors.As(s.PutTrip(model.Trip{ID: "x"}), &verr) {
		t.Error("PutTrip error is not a *model.ValidationError")
	}
}
