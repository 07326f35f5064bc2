package broker

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"
)

// hook connects mochi's events to the vehicle registry and the Handler.
type hook struct {
	mqtt.HookBase
	broker  *Broker
	creds   Credentials
	handler Handler
	log     *slog.Logger

	// rateLog keeps a reconnect storm from flooding the log; the refusals
	// are counted in hwtrack_mqtt_connects_rejected_total.
	rateLog rate.Sometimes
}

func (h *hook) ID() string { return "hwtrack" }

func (h *hook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnConnect,
		mqtt.OnConnectAuthenticate,
		mqtt.OnACLCheck,
		mqtt.OnPublish,
		mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
		mqtt.OnPacketRead,
		mqtt.OnWill,
		mqtt.OnWillSent,
	}, []byte{b})
}

// errTerminalBanned stops the connections of a banned terminal.
var errTerminalBanned = errors.New("terminal banned for sharing its client id")

// OnConnect refuses a CONNECT when the connect rate is exceeded or the
// terminal is banned, before the password is hashed. A non-nil error makes
// mochi close the connection after the CONNACK sent here.
func (h *hook) OnConnect(cl *mqtt.Client, pk packets.Packet) error {
	if !h.broker.guard.allowConnect() {
		h.broker.metrics.connectsRejected.WithLabelValues("rate").Inc()
		h.rateLog.Do(func() {
			h.log.Warn("MQTT connect rate exceeded; rejecting connections with server unavailable", "client_id", cl.ID, "remote", cl.Net.Remote)
		})
		h.rejectConnect(cl, packets.ErrServerBusy, packets.Err3ServerUnavailable)
		return packets.ErrServerBusy
	}
	terminal := string(pk.Connect.Username)
	if until := h.broker.guard.bannedUntil(terminal, time.Now()); !until.IsZero() {
		h.broker.metrics.connectsRejected.WithLabelValues("banned").Inc()
		h.log.Debug("MQTT connect rejected: terminal banned", "client_id", cl.ID, "vehicle_id", terminal, "banned_until", until)
		h.rejectConnect(cl, packets.ErrBanned, packets.Err3NotAuthorized)
		return packets.ErrBanned
	}
	return nil
}

// rejectConnect sends a negative CONNACK: v5 to MQTT 5 clients, v3 (a return code
// of MQTT 3.1.1, which has no "banned" or "busy") to the others.
func (h *hook) rejectConnect(cl *mqtt.Client, v5, v3 packets.Code) {
	code := v5
	if cl.Properties.ProtocolVersion < 5 {
		code = v3
	}
	_ = h.broker.server.SendConnack(cl, code, false, nil)
}

// OnConnectAuthenticate accepts a client whose username is a registered
// terminal id and whose password matches its stored hash. On the TLS
// listener with client certificates required, the certificate's common
// name must also equal the terminal id. A client id held by a live
// connection of another terminal is refused, and a takeover by the same
// terminal counts towards its flapping ban.
func (h *hook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	terminal := string(pk.Connect.Username)
	ok := ValidTerminal(terminal) && h.creds.Check(terminal, string(pk.Connect.Password))
	if !ok {
		h.broker.metrics.authFailures.Inc()
		h.log.Warn("MQTT authentication failed", "client_id", cl.ID, "vehicle_id", terminal, "remote", cl.Net.Remote)
		return false
	}
	if cl.Net.Listener == tlsListenerID && h.broker.requireClientCert {
		if cn := peerCommonName(cl); cn != terminal {
			h.broker.metrics.authFailures.Inc()
			h.log.Warn("MQTT client certificate does not match the terminal", "client_id", cl.ID, "vehicle_id", terminal, "common_name", cn, "remote", cl.Net.Remote)
			return false
		}
	}

	existing, found := h.broker.server.Clients.Get(cl.ID)
	if !found || existing.Closed() || h.broker.stoppedByServer(existing) {
		// A unit reconnecting after the server closed its connection (an
		// unrecorded publish, say) is no takeover, even while mochi has
		// not finished closing the old one.
		return true
	}
	if string(existing.Properties.Username) != terminal {
		h.broker.metrics.connectsRejected.WithLabelValues("client_id_in_use").Inc()
		h.log.Warn("MQTT connect rejected: client id in use by another terminal", "client_id", cl.ID, "vehicle_id", terminal, "holder", string(existing.Properties.Username))
		return false
	}

	h.broker.metrics.takeovers.Inc()
	until := h.broker.guard.recordTakeover(terminal, time.Now())
	if until.IsZero() {
		h.log.Info("MQTT session taken over by a new connection", "client_id", cl.ID, "vehicle_id", terminal, "remote", cl.Net.Remote, "previous_remote", existing.Net.Remote)
		return true
	}

	// Both units are refused from here on: neither one's fixes are
	// recorded until an operator finds out which one is misconfigured.
	h.broker.metrics.bans.Inc()
	h.log.Error("MQTT terminal banned: its client id is used by more than one connection",
		"client_id", cl.ID, "vehicle_id", terminal, "remote", cl.Net.Remote, "previous_remote", existing.Net.Remote,
		"takeovers", h.broker.guard.takeovers, "window", h.broker.guard.window, "banned_until", until)
	h.broker.stopTerminal(terminal)
	return false
}

// peerCommonName returns the subject common name of the client's verified
// certificate, or "" when the connection has none.
func peerCommonName(cl *mqtt.Client) string {
	conn, ok := cl.Net.Conn.(*tls.Conn)
	if !ok {
		return ""
	}
	state := conn.ConnectionState()
	if len(state.VerifiedChains) == 0 || len(state.PeerCertificates) == 0 {
		return ""
	}
	return state.PeerCertificates[0].Subject.CommonName
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
	h.broker.serverStops.Delete(cl)
	h.broker.metrics.disconnects.Inc()
	h.broker.setOffline(string(cl.Properties.Username), cl)
}

// OnPublish runs in the publishing client's read loop before mochi sends
// the PUBACK, so the Handler's durable write happens before the unit
// receives the acknowledgement.
func (h *hook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	terminal := string(cl.Properties.Username)
	if until := h.broker.guard.bannedUntil(terminal, time.Now()); !until.IsZero() {
		// A connection that was established before the ban, or raced
		// it, must not add fixes either.
		h.broker.metrics.publishFailures.Inc()
		h.broker.stopClient(cl, errTerminalBanned)
		return pk, packets.ErrRejectPacket
	}
	msg := Message{
		ClientID:   cl.ID,
		Terminal:   terminal,
		Topic:      pk.TopicName,
		QoS:        pk.FixedHeader.Qos,
		Retain:     pk.FixedHeader.Retain,
		Payload:    pk.Payload,
		ReceivedAt: time.Now(),
	}
	if err := h.handler.HandlePublish(msg); err != nil {
		h.broker.metrics.publishFailures.Inc()
		h.log.Warn("publish not recorded; acknowledgement withheld", "client_id", cl.ID, "vehicle_id", msg.Terminal, "topic", msg.Topic, "err", err)
		return pk, h.broker.reject(cl, pk)
	}
	// Positions are live data, never state: a retained fix would be
	// replayed to later subscribers as if it were current.
	if pk.FixedHeader.Retain && !strings.HasSuffix(pk.TopicName, "/status") {
		pk.FixedHeader.Retain = false
	}
	return pk, nil
}

// errReservedTopic ends a connection that publishes to a topic starting
// with '$'. mochi drops such a publish without a PUBACK or a disconnect, so
// a QoS 1 client would wait for the acknowledgement forever.
var errReservedTopic = fmt.Errorf("%w: publishing to a topic starting with '$' is not allowed", packets.ErrRejectPacket)

// OnPacketRead rejects publishes to '$' topics; mochi ends the connection
// on a rejected packet, which the client notices at once.
func (h *hook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Publish && strings.HasPrefix(pk.TopicName, "$") && !cl.Net.Inline {
		h.broker.metrics.aclDenials.Inc()
		h.log.Debug("MQTT publish to a reserved topic; closing the connection", "client_id", cl.ID, "vehicle_id", string(cl.Properties.Username), "topic", pk.TopicName)
		return pk, errReservedTopic
	}
	return pk, nil
}

// OnWill drops a last will whose topic lies outside the vehicle's own
// prefix: mochi publishes wills without an ACL check, so a unit could
// otherwise speak on another vehicle's topics when it disconnects.
func (h *hook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	terminal := string(cl.Properties.Username)
	if will.TopicName == "" || Allowed(terminal, will.TopicName) {
		return will, nil
	}
	h.broker.metrics.aclDenials.Inc()
	h.log.Warn("MQTT last will dropped: topic outside the vehicle's prefix", "client_id", cl.ID, "vehicle_id", terminal, "topic", will.TopicName)
	return mqtt.Will{}, nil
}

// OnWillSent records a last will that mochi published, like any other
// message from the vehicle, so the raw log holds every message.
func (h *hook) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if pk.TopicName == "" {
		return
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
		h.log.Warn("last will not recorded", "client_id", cl.ID, "vehicle_id", msg.Terminal, "topic", msg.Topic, "err", err)
	}
}
