package forwarder

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func TestHandlingMessage(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 30, 0, 0, time.UTC)
	base := model.Deviation{ID: "dev1", Kind: model.KindRouteDeviation, State: model.StateOpen, Terminal: "013300784001", TripID: "trp_1"}
	acked := base
	acked.Handling = model.Handling{Status: model.HandlingAcknowledged, AckedBy: "reg", AckedAt: at, Comment: "seen"}
	handled := acked
	handled.Handling.Status, handled.Handling.HandledBy, handled.Handling.HandledAt = model.HandlingHandled, "reg2", at.Add(time.Minute)
	handled.Handling.Comment, handled.Handling.Result = "called driver", "已核实"
	vehicle := model.Vehicle{Terminal: "013300784001", Plate: "浙G·A1001"}

	cases := []struct {
		name    string
		action  string
		dev     model.Deviation
		vehicle model.Vehicle
		wantID  string
		wantBy  string
		result  string
		invalid string
	}{
		{name: "ack", action: HandlingActionAck, dev: acked, vehicle: vehicle, wantID: "dev1:ack", wantBy: "reg"},
		{name: "handled", action: HandlingActionHandled, dev: handled, vehicle: vehicle, wantID: "dev1:handled", wantBy: "reg2", result: "已核实"},
		{name: "unknown action", action: "close", dev: acked, vehicle: vehicle, invalid: "action"},
		{name: "ack with wrong status", action: HandlingActionAck, dev: base, vehicle: vehicle, invalid: "deviation.handling.status"},
		{name: "vehicle mismatch", action: HandlingActionAck, dev: acked, vehicle: model.Vehicle{Terminal: "other"}, invalid: "vehicle.terminal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			msg, err := HandlingMessage(tc.action, tc.dev, tc.vehicle)
			if tc.invalid != "" {
				var verr *model.ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("error = %v, want a *model.ValidationError", err)
				}
				if verr.Fields[0].Field != tc.invalid {
					t.Errorf("first invalid field = %s, want %s", verr.Fields[0].Field, tc.invalid)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if msg.ID != tc.wantID {
				t.Errorf("ID = %q, want %q", msg.ID, tc.wantID)
			}
			if msg.Topic != "handling/013300784001" || msg.Key != "013300784001" {
				t.Errorf("topic, key = %q, %q", msg.Topic, msg.Key)
			}
			var p HandlingPayload
			if err := json.Unmarshal(msg.Payload, &p); err != nil {
				t.Fatal(err)
			}
			if p.ID != tc.wantID || p.DeviationID != "dev1" || p.By != tc.wantBy || p.Result != tc.result || p.Plate != "浙G·A1001" || p.TripID != "trp_1" {
				t.Errorf("payload = %+v", p)
			}
			if p.Status != tc.dev.Handling.Status.String() {
				t.Errorf("status = %q, want %q", p.Status, tc.dev.Handling.Status)
			}

			again, _ := HandlingMessage(tc.action, tc.dev, tc.vehicle)
			if again.ID != msg.ID {
				t.Errorf("rebuilt id %q differs from %q", again.ID, msg.ID)
			}
		})
	}
}
