package server

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/forwarder"
	"github.com/hwtrack/hwtrack/model"
)

func TestMissingBookingStillForwards(t *testing.T) {
	trip := &model.Trip{
		ID: "trp_1", Terminal: "T1", Driver: "王建国", Escort: "李明",
		Route:     json.RawMessage(`{"type":"LineString","coordinates":[[120.05,28.85],[120.06,28.86]]}`),
		CorridorM: 200, Bookings: []string{"bkg_1", "bkg_gone"},
		PlannedStart: time.Now().Add(-time.Hour), PlannedEnd: time.Now().Add(time.Hour), State: model.TripDispatched,
	}
	found := []model.Booking{{ID: "bkg_1", ManifestNo: "20263307000001",
		Shipper: model.Shipper{Name: "示例企业", CreditCode: "91330784MA28A0001X", Lat: 28.85, Lon: 120.05},
		Wastes:  []model.Waste{{Code: "900-041-49", Name: "废弃包装物", Form: "固态", Hazard: "T/In", Packaging: "吨袋", Count: 1, WeightKg: 100}}}}
	dev := model.Deviation{ID: "d1", Kind: model.KindRouteDeviation, State: model.StateOpen, Terminal: "T1", TripID: "trp_1",
		StartedAt: time.Now(), ReceivedAt: time.Now(), Lat: 28.85, Lon: 120.05, TextZH: "偏离规划路线", TextEN: "Left the planned route"}

	adjusted := tripWithBookings(trip, found)
	if len(trip.Bookings) != 2 {
		t.Fatal("tripWithBookings changed the caller's trip")
	}
	if _, err := forwarder.DeviationMessage(dev, model.Vehicle{Terminal: "T1", Plate: "浙G·A1001"}, adjusted, found, nil); err != nil {
		t.Fatalf("deviation with one missing booking not forwardable: %v", err)
	}
	if got := tripWithBookings(trip, append(found, model.Booking{ID: "bkg_gone"})); got != trip {
		t.Error("a trip whose bookings were all found was copied")
	}
}
