// Package broker runs the embedded MQTT broker (mochi-mqtt v2) that onboard
// units connect to. It authenticates every client against the vehicle
// registry, confines each vehicle to its own topics, caps every per-client
// resource, and hands each accepted publish to a Handler before the broker
// acknowledges it.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"
)

// Message is one publish received from a client.
type Message struct {
	ClientID   string
	Terminal   string // the authenticated username
	Topic      string
	QoS        byte
	Retain     bool
	Payload    []byte
	ReceivedAt time.Time
}

// Handler processes a publish before the broker acknowledges it. A nil
// error lets the broker send PUBACK; any error withholds the PUBACK so the
// unit keeps the message and sends it again (see ErrUnavailable).
type Handler interface {
	HandlePublish(msg Message) error
}

// ErrUnavailable is returned by a Handler that cannot record a message
// right now (a full disk, say). The broker refuses the publish: MQTT 5
// clients get a negative PUBACK, MQTT 3.1.1 clients are disconnected, and in
// both cases the unit still holds the message.
var ErrUnavailable = errors.New("server cannot record messages now")

// Credentials checks a vehicle's MQTT password.
type Credentials interface {
	Check(terminal, password string) bool
}

// Options configures the broker. Zero limits are replaced by defaults.
type Options struct {
	// Addr is the TCP listen address; ignored when Listener is set.
	Addr     string
	Listener net.Listener
	// WebSocketAddr is the MQTT-over-WebSocket listen address; empty
	// disables it.
	WebSocketAddr string
	// TLSConfig enables the MQTT-over-TLS listener on TLSListener, or on
	// TLSAddr when TLSListener is nil. When it requires and verifies client
	// certificates, a certificate's common name must equal the terminal id
	// the client logs in with.
	TLSConfig   *tls.Config
	TLSAddr     string
	TLSListener net.Listener

	MaxPacketBytes int
	ReceiveMaximum int
	MaxInflight    int
	MaxQueued      int
	SessionExpiry  time.Duration
	MessageExpiry  time.Duration
	MaxClients     int
	// ConnectTimeout is how long a new connection may take to send its
	// CONNECT packet before it is closed; 0 means 10 s.
	ConnectTimeout time.Duration

	// ConnectRate is the sustained number of CONNECT packets per second
	// the broker processes, and ConnectBurst the bucket size; a CONNECT
	// beyond them gets "server unavailable" before any password is hashed.
	ConnectRate  float64
	ConnectBurst int
	// FlapTakeovers live takeovers of one terminal's client id within
	// FlapWindow ban that terminal for FlapBan.
	FlapTakeovers int
	FlapWindow    time.Duration
	FlapBan       time.Duration

	Credentials Credentials
	Handler     Handler
	Logger      *slog.Logger
}

// Broker is the running embedded broker.
type Broker struct {
	server  *mqtt.Server
	log     *slog.Logger
	addr    net.Addr
	tlsAddr net.Addr
	metrics *metrics
	guard   *guard
	// requireClientCert is set when the TLS listener verifies client
	// certificates, so their common name is checked against the terminal.
	requireClientCert bool

	// mu guards online.
	mu sync.Mutex
	// online holds each terminal's live connections. A unit may have a
	// second one, such as a diagnostic tool logged in as the vehicle under
	// another client id. The vehicle is online while any of them is.
	online map[string]map[*mqtt.Client]struct{}

	// serverStops holds the clients the server is disconnecting, from just
	// before mochi closes their socket until their OnDisconnect, so a unit
	// that reconnects at once is not counted as a takeover.
	serverStops sync.Map // *mqtt.Client -> struct{}

	// netListeners are the TCP listeners under mochi's, closed first at
	// shutdown so no connection arrives while clients are ended.
	netListeners []net.Listener

	closeOnce sync.Once
	closeErr  error
}

// New starts the broker's listeners.
func New(opts Options) (*Broker, error) {
	if opts.Credentials == nil || opts.Handler == nil {
		return nil, errors.New("broker needs credentials and a handler")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	mochiLog := slog.New(newMochiLogHandler(log.Handler())).With("component", "mochi")
	log = log.With("component", "broker")

	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(orDefault(opts.MaxPacketBytes, 256<<10))
	caps.ReceiveMaximum = uint16(orDefault(opts.ReceiveMaximum, 256))
	caps.MaximumInflight = uint16(orDefault(opts.MaxInflight, 1024))
	caps.MaximumClientWritesPending = int32(orDefault(opts.MaxQueued, 128))
	caps.MaximumSessionExpiryInterval = uint32(orDefaultDuration(opts.SessionExpiry, 24*time.Hour) / time.Second)
	caps.MaximumMessageExpiryInterval = int64(orDefaultDuration(opts.MessageExpiry, 10*time.Minute) / time.Second)
	caps.MaximumClients = int64(orDefault(opts.MaxClients, 200_000))
	// Topic aliases are per-connection state a client could inflate.
	caps.TopicAliasMaximum = 64

	connectRate := opts.ConnectRate
	if connectRate <= 0 {
		connectRate = 500
	}
	b := &Broker{
		log:     log,
		online:  map[string]map[*mqtt.Client]struct{}{},
		metrics: newMetrics(),
		guard: newGuard(connectRate, orDefault(opts.ConnectBurst, 1000),
			orDefault(opts.FlapTakeovers, 2),
			orDefaultDuration(opts.FlapWindow, time.Minute),
			orDefaultDuration(opts.FlapBan, 10*time.Minute)),
	}
	b.server = mqtt.New(&mqtt.Options{
		Capabilities: caps,
		InlineClient: true,
		Logger:       mochiLog,
		// $SYS topics are not part of the contract; publish them rarely.
		SysTopicResendInterval: 60,
	})

	hook := &hook{broker: b, creds: opts.Credentials, handler: opts.Handler, log: log,
		rateLog: rate.Sometimes{First: 1, Interval: 10 * time.Second}}
	if err := b.server.AddHook(hook, nil); err != nil {
		return nil, fmt.Errorf("add broker hook: %w", err)
	}

	ln := opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", opts.Addr)
		if err != nil {
			return nil, fmt.Errorf("listen for MQTT on %s: %w", opts.Addr, err)
		}
	}
	b.addr = ln.Addr()
	b.netListeners = append(b.netListeners, ln)
	ln = newResilientListener(ln, opts.ConnectTimeout, log, b.metrics.acceptErrors.Inc)
	if err := b.server.AddListener(listeners.NewNet("tcp", ln)); err != nil {
		ln.Close()
		return nil, fmt.Errorf("add MQTT listener: %w", err)
	}
	if opts.TLSConfig != nil {
		if err := b.addTLSListener(opts); err != nil {
			b.server.Close()
			return nil, err
		}
	}
	if opts.WebSocketAddr != "" {
		// mochi binds the WebSocket listener in the background and only
		// logs a failure, so check the address first. A server that
		// cannot listen on its configured address must not report itself started.
		probe, err := net.Listen("tcp", opts.WebSocketAddr)
		if err != nil {
			b.server.Close()
			return nil, fmt.Errorf("listen for MQTT over WebSocket on %s: %w", opts.WebSocketAddr, err)
		}
		probe.Close()
		ws := listeners.NewWebsocket(listeners.Config{ID: "ws", Address: opts.WebSocketAddr})
		if err := b.server.AddListener(ws); err != nil {
			b.server.Close()
			return nil, fmt.Errorf("add MQTT WebSocket listener on %s: %w", opts.WebSocketAddr, err)
		}
	}
	if err := b.server.Serve(); err != nil {
		b.server.Close()
		return nil, fmt.Errorf("start MQTT broker: %w", err)
	}
	log.Info("MQTT broker listening", "addr", b.addr.String(), "websocket_addr", opts.WebSocketAddr, "tls_addr", addrString(b.tlsAddr))
	return b, nil
}

// tlsListenerID names the TLS listener in mochi's client records.
const tlsListenerID = "tls"

func (b *Broker) addTLSListener(opts Options) error {
	ln := opts.TLSListener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", opts.TLSAddr)
		if err != nil {
			return fmt.Errorf("listen for MQTT over TLS on %s: %w", opts.TLSAddr, err)
		}
	}
	cfg := opts.TLSConfig.Clone()
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	b.requireClientCert = cfg.ClientAuth == tls.RequireAndVerifyClientCert
	b.tlsAddr = ln.Addr()
	b.netListeners = append(b.netListeners, ln)
	ln = newResilientListener(ln, opts.ConnectTimeout, b.log, b.metrics.acceptErrors.Inc)
	if err := b.server.AddListener(listeners.NewNet(tlsListenerID, tls.NewListener(ln, cfg))); err != nil {
		ln.Close()
		return fmt.Errorf("add MQTT TLS listener: %w", err)
	}
	return nil
}

// TLSAddr returns the TLS listener's address, or nil without one.
func (b *Broker) TLSAddr() net.Addr { return b.tlsAddr }

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// stopTerminal disconnects every connection logged in as terminal.
func (b *Broker) stopTerminal(terminal string) {
	for _, cl := range b.server.Clients.GetAll() {
		if cl.Net.Inline || string(cl.Properties.Username) != terminal {
			continue
		}
		b.serverStops.Store(cl, struct{}{})
		if cl.Properties.ProtocolVersion == 5 {
			_ = b.server.DisconnectClient(cl, packets.ErrBanned)
			continue
		}
		cl.Stop(errTerminalBanned)
	}
}

// Addr returns the TCP listener's address.
func (b *Broker) Addr() net.Addr { return b.addr }

// Online reports whether the vehicle has a live connection.
func (b *Broker) Online(terminal string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.online[terminal]) > 0
}

// Publish sends payload to topic from the server itself at QoS 0, e.g. a
// rejection notice to a vehicle's error topic.
func (b *Broker) Publish(topic string, payload []byte) error {
	return b.server.Publish(topic, payload, false, 0)
}

// PublishReliable sends payload to topic from the server at QoS 1, for
// messages a vehicle must not miss on a lossy link, such as camera
// signalling. Subscribers at QoS 0 still get it at QoS 0.
func (b *Broker) PublishReliable(topic string, payload []byte) error {
	return b.server.Publish(topic, payload, false, 1)
}

// Close stops the listeners and disconnects every client. It is safe to
// call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		b.quiesce()
		b.closeErr = b.server.Close()
		b.log.Info("MQTT broker stopped")
	})
	return b.closeErr
}

// errServerClosing ends client connections when the broker stops.
var errServerClosing = errors.New("server shutting down")

// quiesce stops new connections, ends every client connection and waits
// briefly for mochi to finish removing them. mochi v2.7.9's server Close
// takes the client map's read lock twice (Clients.GetByListener calls
// Clients.Len), so a client removal waiting for the write lock in between
// deadlocks the shutdown; with no removal in flight it cannot.
func (b *Broker) quiesce() {
	for _, ln := range b.netListeners {
		_ = ln.Close()
	}
	for _, cl := range b.server.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() {
			cl.Stop(errServerClosing)
		}
	}

	deadline := time.Now().Add(3 * time.Second)
	last := -1
	for time.Now().Before(deadline) {
		n := b.server.Clients.Len()
		if n == last && b.allClientsClosed() {
			return
		}
		last = n
		time.Sleep(50 * time.Millisecond)
	}
	b.log.Warn("MQTT clients still closing at shutdown")
}

func (b *Broker) allClientsClosed() bool {
	for _, cl := range b.server.Clients.GetAll() {
		if !cl.Net.Inline && !cl.Closed() {
			return false
		}
	}
	return true
}

// Shutdown is Close bounded by ctx.
func (b *Broker) Shutdown(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("close MQTT broker: %w", ctx.Err())
	}
}

func (b *Broker) setOnline(terminal string, cl *mqtt.Client) {
	b.mu.Lock()
	conns := b.online[terminal]
	if conns == nil {
		conns = map[*mqtt.Client]struct{}{}
		b.online[terminal] = conns
	}
	conns[cl] = struct{}{}
	b.mu.Unlock()
}

// setOffline clears the vehicle's connection only when cl is still the
// current one: after a takeover the old connection's disconnect arrives
// last and must not mark the vehicle offline.
func (b *Broker) setOffline(terminal string, cl *mqtt.Client) {
	b.mu.Lock()
	if conns := b.online[terminal]; conns != nil {
		delete(conns, cl)
		if len(conns) == 0 {
			delete(b.online, terminal)
		}
	}
	b.mu.Unlock()
}

// reject withholds the PUBACK of a publish that could not be recorded.
func (b *Broker) reject(cl *mqtt.Client, pk packets.Packet) error {
	if pk.FixedHeader.Qos > 0 && cl.Properties.ProtocolVersion == 5 {
		return packets.ErrServerBusy
	}
	if pk.FixedHeader.Qos > 0 {
		// MQTT 3.1.1 has no negative PUBACK; closing the connection keeps
		// the message in the unit's session for redelivery.
		b.stopClient(cl, ErrUnavailable)
	}
	return packets.ErrRejectPacket
}

// stopClient closes a client's connection from the server side.
func (b *Broker) stopClient(cl *mqtt.Client, cause error) {
	b.serverStops.Store(cl, struct{}{})
	cl.Stop(cause)
}

func (b *Broker) stoppedByServer(cl *mqtt.Client) bool {
	_, ok := b.serverStops.Load(cl)
	return ok
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

func orDefaultDuration(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}
