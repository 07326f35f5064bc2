package forwarder

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

var (
	testStart   = time.Date(2026, 12, 4, 9, 30, 5, 0, time.FixedZone("CST", 8*3600))
	testVehicle = model.Vehicle{Terminal: "013800000001", Plate: "浙G·A1234"}
	testSite    = SitePayload{ID: "site-collection-centre", Name: "永康市危废收集中心", Lat: 28.9012, Lon: 120.0456}
)

func testBookings() []model.Booking {
	return []model.Booking{
		{
			ID:         "b1",
			ManifestNo: "20263307000123",
			Shipper:    model.Shipper{Name: "永康市某五金有限公司", CreditCode: "91330784MA2ABCDE1X", Lat: 28.89, Lon: 120.04},
			Wastes: []model.Waste{
				{Code: "900-041-49", Name: "废包装桶", Form: "固态", Hazard: "T/In", Packaging: "托盘", Count: 12, WeightKg: 240},
			},
		},
		{
			ID:         "b2",
			ManifestNo: "20263307000124",
			Shipper:    model.Shipper{Name: "永康市某电镀厂", CreditCode: "91330784MA2FGHIJ2Y", Lat: 28.91, Lon: 120.06},
			Wastes: []model.Waste{
				{Code: "336-064-17", Name: "电镀污泥", Form: "半固态", Hazard: "T", Packaging: "吨袋", Count: 3, WeightKg: 2800},
				{Code: "900-249-08", Name: "废矿物油", Form: "液态", Hazard: "T/I", Packaging: "铁桶", Count: 2, WeightKg: 360},
			},
		},
	}
}

func testTrip() model.Trip {
	return model.Trip{
		ID:           "trip-42",
		Terminal:     testVehicle.Terminal,
		Driver:       "王师傅",
		Escort:       "李押运",
		Route:        json.RawMessage(`{"type":"LineString","coordinates":[[120.04,28.89],[120.06,28.91]]}`),
		CorridorM:    200,
		Bookings:     []string{"b2", "b1"},
		PlannedStart: testStart,
		PlannedEnd:   testStart.Add(3 * time.Hour),
		State:        model.TripDispatched,
	}
}

func testDeviation(state model.DeviationState) model.Deviation {
	d := model.Deviation{
		ID:         "dev-7",
		Kind:       model.KindRouteDeviation,
		State:      state,
		Terminal:   testVehicle.Terminal,
		TripID:     "trip-42",
		StartedAt:  testStart.Add(10 * time.Minute),
		Lat:        28.9,
		Lon:        120.05,
		ZoneID:     "trip-42",
		ZoneName:   "trip-42 route",
		Segment:    0,
		Peak:       640,
		ReceivedAt: testStart.Add(10*time.Minute + 2*time.Second),
		Severity:   "high",
		TextZH:     "车辆偏离规定路线 640 米",
		TextEN:     "vehicle 640 m off its planned route",
	}
	if state == model.StateClosed {
		d.EndedAt = testStart.Add(25 * time.Minute)
		d.EndLat, d.EndLon = 28.905, 120.055
	}
	return d
}

func testFixes(n int) []model.Fix {
	fixes := make([]model.Fix, n)
	for i := range fixes {
		// Reverse time order, to check that the excerpt is sorted.
		fixes[i] = model.Fix{
			Terminal: testVehicle.Terminal,
			Time:     testStart.Add(time.Duration(n-i) * 10 * time.Second),
			Lat:      28.9 + float64(i)*1e-4,
			Lon:      120.05,
			SpeedKmh: 42,
			Has:      model.HasSpeed,
		}
	}
	return fixes
}

var deviationFields = []string{
	"id", "deviation_id", "kind", "state", "terminal", "plate", "started_at", "ended_at", "lat", "lon",
	"end_lat", "end_lon", "late", "received_at", "zone", "segment", "peak", "severity", "text", "text_en",
	"trip", "bookings", "track", "sent_at",
}

func TestDeviationMessage(t *testing.T) {
	trip := testTrip()
	tests := []struct {
		name       string
		deviation  model.Deviation
		trip       *model.Trip
		bookings   []model.Booking
		wantID     string
		wantEnded  bool
		wantTrip   bool
		wantBooked []string
	}{
		{"open with trip", testDeviation(model.StateOpen), &trip, testBookings(), "dev-7:open", false, true, []string{"20263307000124", "20263307000123"}},
		{"closed with trip", testDeviation(model.StateClosed), &trip, testBookings(), "dev-7:closed", true, true, []string{"20263307000124", "20263307000123"}},
		{"open without trip", testDeviation(model.StateOpen), nil, nil, "dev-7:open", false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := DeviationMessage(tt.deviation, testVehicle, tt.trip, tt.bookings, testFixes(40))
			if err != nil {
				t.Fatalf("DeviationMessage: %v", err)
			}
			if msg.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", msg.ID, tt.wantID)
			}
			if msg.Topic != "deviations/013800000001" || msg.Key != "013800000001" {
				t.Errorf("topic, key = %q, %q", msg.Topic, msg.Key)
			}

			var fields map[string]json.RawMessage
			if err := json.Unmarshal(msg.Payload, &fields); err != nil {
				t.Fatalf("payload is not a JSON object: %v", err)
			}
			for _, name := range deviationFields {
				if _, ok := fields[name]; !ok {
					t.Errorf("payload has no %q", name)
				}
			}

			var p DeviationPayload
			if err := json.Unmarshal(msg.Payload, &p); err != nil {
				t.Fatalf("decode payload: %v", err)
			}
			if p.ID != msg.ID || p.DeviationID != "dev-7" || p.Kind != "route_deviation" || p.Plate != "浙G·A1234" {
				t.Errorf("id, deviation_id, kind, plate = %q, %q, %q, %q", p.ID, p.DeviationID, p.Kind, p.Plate)
			}
			if p.StartedAt != "2026-12-04T01:40:05.000Z" {
				t.Errorf("started_at = %q, want UTC RFC 3339", p.StartedAt)
			}
			if (p.EndedAt != nil) != tt.wantEnded || (p.EndLat != nil) != tt.wantEnded {
				t.Errorf("ended_at = %v, end_lat = %v; want set = %v", p.EndedAt, p.EndLat, tt.wantEnded)
			}
			if tt.wantEnded && string(fields["ended_at"]) == "null" {
				t.Error("ended_at is null on a closed deviation")
			}
			if !tt.wantEnded && string(fields["ended_at"]) != "null" {
				t.Errorf("ended_at = %s on an open deviation, want null", fields["ended_at"])
			}
			if p.Zone == nil || p.Zone.ID != "trip-42" || p.Segment == nil || *p.Segment != 0 {
				t.Errorf("zone, segment = %+v, %v", p.Zone, p.Segment)
			}
			if p.Text == "" || p.TextEN == "" {
				t.Error("text or text_en is empty")
			}
			if (p.Trip != nil) != tt.wantTrip {
				t.Fatalf("trip = %+v, want present = %v", p.Trip, tt.wantTrip)
			}
			if tt.wantTrip && (p.Trip.Driver != "王师傅" || p.Trip.Escort != "李押运" || p.Trip.CorridorM != 200 || p.Trip.State != "dispatched" || !json.Valid(p.Trip.Route) || string(p.Trip.Route) == "null") {
				t.Errorf("trip = %+v", p.Trip)
			}
			var manifests []string
			for _, b := range p.Bookings {
				manifests = append(manifests, b.ManifestNo)
				if len(b.Wastes) == 0 || b.Shipper.CreditCode == "" {
					t.Errorf("booking %s lacks wastes or shipper", b.ID)
				}
			}
			if !slices.Equal(manifests, tt.wantBooked) {
				t.Errorf("booking manifests = %v, want %v in trip order", manifests, tt.wantBooked)
			}
			if len(p.Track) != maxTrackFixes {
				t.Errorf("track has %d fixes, want %d", len(p.Track), maxTrackFixes)
			}
			for i := 1; i < len(p.Track); i++ {
				if p.Track[i].Time <= p.Track[i-1].Time {
					t.Errorf("track not in time order at %d", i)
				}
			}
			if len(p.Track) > 0 && (p.Track[0].Speed == nil || *p.Track[0].Speed != 42) {
				t.Errorf("track speed = %v, want 42", p.Track[0].Speed)
			}

			again, err := DeviationMessage(tt.deviation, testVehicle, tt.trip, tt.bookings, testFixes(40))
			if err != nil || again.ID != msg.ID {
				t.Errorf("rebuilt id = %q (%v), want the stable %q", again.ID, err, msg.ID)
			}
		})
	}
}

func TestDeviationMessageRejectsInvalidInput(t *testing.T) {
	trip := testTrip()
	tests := []struct {
		name     string
		modify   func(d *model.Deviation, v *model.Vehicle)
		bookings []model.Booking
		field    string
	}{
		{"missing id", func(d *model.Deviation, _ *model.Vehicle) { d.ID = "" }, testBookings(), "deviation.id"},
		{"unknown kind", func(d *model.Deviation, _ *model.Vehicle) { d.Kind = model.KindUnknown }, testBookings(), "deviation.kind"},
		{"unknown state", func(d *model.Deviation, _ *model.Vehicle) { d.State = model.StateUnknown }, testBookings(), "deviation.state"},
		{"terminal with slash", func(d *model.Deviation, v *model.Vehicle) { d.Terminal, v.Terminal = "a/b", "a/b" }, testBookings(), "deviation.terminal"},
		{"vehicle mismatch", func(_ *model.Deviation, v *model.Vehicle) { v.Terminal = "other" }, testBookings(), "vehicle.terminal"},
		{"closed without end", func(d *model.Deviation, _ *model.Vehicle) { d.State = model.StateClosed }, testBookings(), "deviation.ended_at"},
		{"trip mismatch", func(d *model.Deviation, _ *model.Vehicle) { d.TripID = "trip-1" }, testBookings(), "trip.id"},
		{"booking missing", func(*model.Deviation, *model.Vehicle) {}, testBookings()[:1], "trip.bookings[0]"},
		{"booking not on trip", func(*model.Deviation, *model.Vehicle) {}, append(testBookings(), model.Booking{ID: "b9"}), "bookings[2].id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, v := testDeviation(model.StateOpen), testVehicle
			tt.modify(&d, &v)
			_, err := DeviationMessage(d, v, &trip, tt.bookings, nil)
			var verr *model.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error = %v, want a *model.ValidationError", err)
			}
			found := false
			for _, f := range verr.Fields {
				found = found || f.Field == tt.field
			}
			if !found {
				t.Errorf("fields = %v, want one on %s", verr.Fields, tt.field)
			}
		})
	}
}

func TestTripMessage(t *testing.T) {
	at := testStart.Add(40 * time.Minute)
	tests := []struct {
		event  string
		wantID string
	}{
		{TripEventDispatched, "trip-42:dispatched"},
		{TripEventArrived, "trip-42:arrived:1796350205000"},
		{TripEventDeparted, "trip-42:departed:1796350205000"},
		{TripEventCompleted, "trip-42:completed"},
	}
	siteFor := func(event string) *SitePayload {
		if event == TripEventArrived || event == TripEventDeparted {
			return &testSite
		}
		return nil
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			msg, err := TripMessage(tt.event, testTrip(), testVehicle, testBookings(), siteFor(tt.event), at)
			if err != nil {
				t.Fatalf("TripMessage: %v", err)
			}
			if msg.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", msg.ID, tt.wantID)
			}
			if msg.Topic != "trips/trip-42" || msg.Key != testVehicle.Terminal {
				t.Errorf("topic, key = %q, %q", msg.Topic, msg.Key)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(msg.Payload, &fields); err != nil {
				t.Fatalf("payload is not a JSON object: %v", err)
			}
			for _, name := range []string{"id", "event", "trip", "plate", "terminal", "bookings", "at", "sent_at"} {
				if _, ok := fields[name]; !ok {
					t.Errorf("payload has no %q", name)
				}
			}
			var p TripEventPayload
			if err := json.Unmarshal(msg.Payload, &p); err != nil {
				t.Fatalf("decode payload: %v", err)
			}
			if p.ID != msg.ID || p.Event != tt.event || p.Plate != testVehicle.Plate || p.Trip.ID != "trip-42" || len(p.Bookings) != 2 {
				t.Errorf("payload = %+v", p)
			}
			if p.At != "2026-12-04T02:10:05.000Z" {
				t.Errorf("at = %q", p.At)
			}
			_, hasSite := fields["site"]
			switch want := siteFor(tt.event); {
			case want == nil && hasSite:
				t.Errorf("%s payload carries a site: %s", tt.event, fields["site"])
			case want != nil && (p.Site == nil || *p.Site != *want):
				t.Errorf("site = %+v, want %+v", p.Site, *want)
			}
			again, _ := TripMessage(tt.event, testTrip(), testVehicle, testBookings(), siteFor(tt.event), at)
			if again.ID != msg.ID {
				t.Errorf("rebuilt id = %q, want the stable %q", again.ID, msg.ID)
			}
		})
	}

	t.Run("arrivals at two sites differ", func(t *testing.T) {
		a, _ := TripMessage(TripEventArrived, testTrip(), testVehicle, testBookings(), &testSite, at)
		b, _ := TripMessage(TripEventArrived, testTrip(), testVehicle, testBookings(), &testSite, at.Add(time.Minute))
		if a.ID == b.ID {
			t.Errorf("both arrivals have id %q", a.ID)
		}
	})
	t.Run("site rules", func(t *testing.T) {
		cases := []struct {
			name  string
			event string
			site  *SitePayload
			field string
		}{
			{"arrival without site", TripEventArrived, nil, "site"},
			{"departure without site id", TripEventDeparted, &SitePayload{Name: "x", Lat: 28.9, Lon: 120.0}, "site.id"},
			{"arrival at impossible position", TripEventArrived, &SitePayload{ID: "s", Lat: 120.0, Lon: 28.9}, "site"},
			{"dispatch with site", TripEventDispatched, &testSite, "site"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				_, err := TripMessage(tc.event, testTrip(), testVehicle, testBookings(), tc.site, at)
				var verr *model.ValidationError
				if !errors.As(err, &verr) || len(verr.Fields) != 1 || verr.Fields[0].Field != tc.field {
					t.Errorf("error = %v, want one validation error on %s", err, tc.field)
				}
			})
		}
	})
	t.Run("unknown event", func(t *testing.T) {
		var verr *model.ValidationError
		if _, err := TripMessage("unloaded", testTrip(), testVehicle, testBookings(), nil, at); !errors.As(err, &verr) {
			t.Errorf("error = %v, want a *model.ValidationError", err)
		}
	})
}

func BenchmarkDeviationMessage(b *testing.B) {
	trip := testTrip()
	d := testDeviation(model.StateClosed)
	bookings := testBookings()
	fixes := testFixes(30)
	for b.Loop() {
		if _, err := DeviationMessage(d, testVehicle, &trip, bookings, fixes); err != nil {
			b.Fatal(err)
		}
	}
}
