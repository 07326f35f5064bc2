package demo

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// SampleRegulator stands in for the regulator's MQTT broker in the demo: an
// anonymous broker on loopback that logs every forwarded message.
type SampleRegulator struct {
	server *mqtt.Server
	addr   net.Addr
}

// StartSampleRegulator listens on addr (or a free loopback port when addr
// is taken) and logs messages under prefix.
func StartSampleRegulator(addr, prefix string, log *slog.Logger) (*SampleRegulator, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("listen for the sample regulator broker: %w", err)
		}
	}
	s := mqtt.New(&mqtt.Options{InlineClient: true, Logger: slog.New(slog.DiscardHandler)})
	if err := s.AddHook(new(auth.AllowHook), nil); err != nil {
		ln.Close()
		return nil, err
	}
	if err := s.AddListener(listeners.NewNet("regulator", ln)); err != nil {
		ln.Close()
		return nil, err
	}
	if err := s.Serve(); err != nil {
		return nil, err
	}
	log = log.With("component", "sample-regulator")
	err = s.Subscribe(prefix+"/#", 1, func(cl *mqtt.Client, sub packets.Subscription, pk packets.Packet) {
		var m struct {
			ID    string `json:"id"`
			Kind  string `json:"kind"`
			State string `json:"state"`
			Event string `json:"event"`
			Plate string `json:"plate"`
			Text  string `json:"text"`
		}
		_ = json.Unmarshal(pk.Payload, &m)
		log.Info("regulator received", "topic", pk.TopicName, "id", m.ID, "plate", m.Plate, "kind", m.Kind, "state", m.State, "event", m.Event, "text", m.Text)
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("subscribe sample regulator: %w", err)
	}
	return &SampleRegulator{server: s, addr: ln.Addr()}, nil
}

// Addr returns the broker's address.
func (r *SampleRegulator) Addr() net.Addr { return r.addr }

// Close stops the broker.
func (r *SampleRegulator) Close() error { return r.server.Close() }
