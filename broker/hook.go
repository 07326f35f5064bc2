package broker

import (
	"bytes"
	"log/slog"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// hook connects mochi's events to the vehicle registry and the Handler.
type hook struct {
	mqtt.HookBase
	broker  *Broker
	creds   Credentials
	handler Handler
	log     *slog.Logger
}

func (h *hook) ID() string { return "hwtrack" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnPublish,
		mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
	}, []byte{b})
}

// OnConnectAuthenticate accepts a client whose username is a registered
// terminal id and whose password matches its stored hash.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	terminal := string(pk.Connect.Username)
	ok := ValidTerminal(terminal) && h.creds.Check(terminal, string(pk.Connect.Password))
	if !ok {
		h.broker.metrics.authFailures.Inc()
		h.log.Warn("MQTT authentication failed", "client_id", cl.ID, "vehicle_id", terminal, "remote", cl.Net.Remote)
	}
	return ok
}

// OnACLCheck confines a vehicle to hwt/v1/{terminal}/… and
// owntracks/{terminal}/…, for publishing and for subscription filters alike.
func (h *hook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	terminal := string(cl.Properties.Username)
	if Allowed(terminal, topic) {
		return true
	}
	h.broker.metrics.aclDenials.Inc()
	h.log.Warn("MQTT topic denied", "client_id", cl.ID, "vehicle_id", terminal, "topic", topic, "write", write)
	return false
}

func (h *hook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	h.broker.metrics.connects.Inc()
	h.broker.setOnline(string(cl.Properties.Username), cl)
}

func (h *hook) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	h.broker.metrics.disconnects.Inc()
	h.broker.setOffline(string(cl.Properties.Username), cl)
}

// OnPublish runs in the publishing client's read loop before mochi sends
// the PUBACK, so the Handler's durable write happens before the unit is
// told its message was received.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	msg := Message{
		ClientID:   cl.ID,
		Terminal:   string(cl.Properties.Username),
		Topic:      pk.TopicName,
		QoS:        pk.FixedHeader.Qos,
		Retain:     pk.FixedHeader.Retain,
		Payload:    pk.Payload,
		ReceivedAt: time.Now(),
	}
	if err := h.handler.HandlePublish(msg); err != nil {
		h.broker.metrics.publishFailures.Inc()
		h.log.Warn("publish not recorded; acknowledgement withheld", "client_id", cl.ID, "vehicle_id", msg.Terminal, "topic", msg.Topic, "err", err)
		return pk, reject(cl, pk)
	}
	// Positions are live data, never state: a retained fix would be
	// replayed to later subscribers as if it were current.
	if pk.FixedHeader.Retain && !strings.HasSuffix(pk.TopicName, "/status") {
		pk.FixedHeader.Retain = false
	}
	return pk, nil
}
