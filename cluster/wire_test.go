package cluster

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/broker"
)

func TestNodeStateText(t *testing.T) {
	for _, st := range []NodeState{NodeStateUp, NodeStateLeaving, NodeStateLeft, NodeStateLost} {
		b, err := st.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back NodeState
		if err := back.UnmarshalText(b); err != nil || back != st {
			t.Errorf("%s: round trip gave %s, %v", st, back, err)
		}
	}
	var st NodeState
	for _, bad := range []string{"unknown", "", "UP"} {
		if err := st.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted an unknown state", bad)
		}
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	msg := broker.Message{
		ClientID: "013300786000", Terminal: "013300786000", Topic: "hwt/v1/013300786000/fix",
		QoS: 1, Payload: []byte(`{"time":1,"lat":28.9,"lon":120.0}`), ReceivedAt: time.Unix(1700000000, 123).UTC(),
	}
	b, err := json.Marshal(newEnvelope(msg, "a", 1))
	if err != nil {
		t.Fatal(err)
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	got, err := env.message()
	if err != nil {
		t.Fatal(err)
	}
	if got.Terminal != msg.Terminal || got.Topic != msg.Topic || got.QoS != msg.QoS || string(got.Payload) != string(msg.Payload) ||
		!got.ReceivedAt.Equal(msg.ReceivedAt) || got.ClientID != msg.ClientID {
		t.Errorf("round trip gave %+v, want %+v", got, msg)
	}
	if env.Hops != 1 || env.From != "a" {
		t.Errorf("hops %d from %q, want 1 from a", env.Hops, env.From)
	}
}

func TestEnvelopeRejectsForeignTopics(t *testing.T) {
	for name, env := range map[string]envelope{
		"command topic":   {Topic: "hwt/v1/013300786000/cmd", ReceivedAt: time.Now()},
		"control topic":   {Topic: "hwtrack/g/nodes/a", ReceivedAt: time.Now()},
		"no receive time": {Topic: "hwt/v1/013300786000/fix"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := env.message(); err == nil {
				t.Error("message() accepted the envelope")
			}
		})
	}
}
