package forwarder

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultTopicPrefix       = "hwt/regulator/v1"
	DefaultMaxInflight       = 64
	DefaultMinReconnectDelay = time.Second
	DefaultMaxReconnectDelay = 60 * time.Second
	DefaultStallTimeout      = 60 * time.Second
)

// maxInflightLimit is the number of distinct MQTT packet identifiers
// (MQTT 3.1.1 section 2.3.1), the hard ceiling for unacknowledged publishes.
const maxInflightLimit = 65535

// supportedSchemes are the URL schemes paho v1.5.1 dials over the network.
var supportedSchemes = []string{"tcp", "mqtt", "ssl", "tls", "mqtts", "tcps", "ws", "wss"}

// ErrClosed is returned by Enqueue after Close.
var ErrClosed = errors.New("forwarder closed")

// Options configures a Forwarder.
type Options struct {
	// URL is the regulator broker, tcp://, ssl://, ws:// or wss://. Empty
	// disables forwarding: messages are still stored in the outbox.
	URL string
	// ClientID is the MQTT client id. Keep it stable across restarts so
	// the regulator can tell one server from another; the default is
	// "hwtrack-fwd-" plus the host name.
	ClientID string
	Username string
	Password string
	// TLSConfig is used for ssl://, tls://, mqtts:// and wss:// URLs.
	// Nil verifies the server against the system's root certificates.
	TLSConfig *tls.Config
	// TopicPrefix is prepended to Message.Topic with a "/"; default
	// DefaultTopicPrefix.
	TopicPrefix string
	// Dir is the outbox directory, created when missing.
	Dir string
	// MaxInflight bounds the publishes waiting for a PUBACK; default 64,
	// at most 65535.
	MaxInflight int
	// MinReconnectDelay and MaxReconnectDelay bound the jittered
	// exponential back-off between connection attempts; default 1 s and
	// 60 s.
	MinReconnectDelay time.Duration
	MaxReconnectDelay time.Duration
	// StallTimeout is the time without a PUBACK, while messages are
	// pending, after which the watchdog drops the client and connects a
	// new one. The default is 60 s.
	StallTimeout time.Duration
	// MaxDeliveryFailures is the number of consecutive sessions that may
	// end with the same message unacknowledged before it is moved to the
	// dead-letter store; default 3.
	MaxDeliveryFailures int
	Logger              *slog.Logger
}

func (o *Options) applyDefaults() error {
	o.TopicPrefix = strings.TrimSuffix(o.TopicPrefix, "/")
	if o.TopicPrefix == "" {
		o.TopicPrefix = DefaultTopicPrefix
	}
	if o.MaxInflight == 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	if o.MinReconnectDelay == 0 {
		o.MinReconnectDelay = DefaultMinReconnectDelay
	}
	if o.MaxReconnectDelay == 0 {
		o.MaxReconnectDelay = DefaultMaxReconnectDelay
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = DefaultStallTimeout
	}
	if o.MaxDeliveryFailures == 0 {
		o.MaxDeliveryFailures = DefaultMaxDeliveryFailures
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ClientID == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "unknown"
		}
		o.ClientID = "hwtrack-fwd-" + host
	}

	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("dir: missing outbox directory"))
	}
	if strings.ContainsAny(o.TopicPrefix, "+#\x00") {
		errs = append(errs, fmt.Errorf("topic_prefix: %q must not contain '+', '#' or NUL", o.TopicPrefix))
	}
	if o.MaxInflight < 1 || o.MaxInflight > maxInflightLimit {
		errs = append(errs, fmt.Errorf("max_inflight: %d is outside 1..%d", o.MaxInflight, maxInflightLimit))
	}
	if o.MinReconnectDelay < 0 || o.MaxReconnectDelay < o.MinReconnectDelay {
		errs = append(errs, fmt.Errorf("reconnect delay: need 0 < min (%s) <= max (%s)", o.MinReconnectDelay, o.MaxReconnectDelay))
	}
	if o.MaxDeliveryFailures < 1 {
		errs = append(errs, fmt.Errorf("max_delivery_failures: %d is below 1", o.MaxDeliveryFailures))
	}
	if o.StallTimeout < 0 {
		errs = append(errs, fmt.Errorf("stall_timeout: %s is negative", o.StallTimeout))
	}
	if o.URL != "" {
		u, err := url.Parse(o.URL)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("url: %w", err))
		case !slices.Contains(supportedSchemes, u.Scheme):
			errs = append(errs, fmt.Errorf("url: scheme %q is not one of %v", u.Scheme, supportedSchemes))
		case u.Host == "":
			errs = append(errs, fmt.Errorf("url: %q has no host", u.Redacted()))
		}
	}
	return errors.Join(errs...)
}

// Forwarder owns the outbox and the upstream MQTT client.
//
// Locking: lifeMu guards boxClosed and keeps the outbox open while held
// shared (Enqueue, metric reads); Close takes it exclusively to close the
// outbox. runMu guards started, closed and cancel. The sender goroutine owns
// the paho client and the in-flight window.
type Forwarder struct {
	opts    Options
	log     *slog.Logger
	box     *outbox
	metrics *metrics

	// wake carries at most one pending "new messages" signal to the sender.
	wake      chan struct{}
	connected atomic.Bool

	lifeMu    sync.RWMutex
	boxClosed bool

	runMu   sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New opens the outbox in opts.Dir. It makes no network connection.
func New(opts Options) (*Forwarder, error) {
	if err := opts.applyDefaults(); err != nil {
		return nil, fmt.Errorf("invalid forwarder options: %w", err)
	}
	log := opts.Logger.With("component", "forwarder")
	box, err := openOutbox(opts.Dir, log)
	if err != nil {
		return nil, err
	}
	f := &Forwarder{
		opts: opts,
		log:  log,
		box:  box,
		wake: make(chan struct{}, 1),
	}
	f.metrics = newMetrics(f)
	log.Info("outbox opened", "dir", opts.Dir, "depth", box.depth.Load())
	return f, nil
}

// Start connects to the upstream broker and drains the outbox in the
// background until ctx ends or Close is called. It returns at once. With an
// empty URL it only logs that forwarding is disabled. Calls after the first,
// or after Close, do nothing.
func (f *Forwarder) Start(ctx context.Context) {
	f.runMu.Lock()
	defer f.runMu.Unlock()
	if f.started || f.closed {
		return
	}
	f.started = true

	if f.opts.URL == "" {
		f.log.Info("forwarding disabled: no upstream URL configured; messages stay in the outbox", "depth", f.Depth())
		return
	}
	ctx, f.cancel = context.WithCancel(ctx)
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		f.run(ctx)
	}()
}

// Enqueue stores msgs in the outbox, in order, and returns once they are
// synced to disk. A message whose ID is already waiting in the outbox is
// not stored again. It returns a *model.ValidationError when a message has
// no ID or an invalid topic, in which case nothing is stored, and ErrClosed
// after Close.
func (f *Forwarder) Enqueue(msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	f.lifeMu.RLock()
	defer f.lifeMu.RUnlock()
	if f.boxClosed {
		return ErrClosed
	}
	added, err := f.box.append(msgs)
	if err != nil {
		return fmt.Errorf("enqueue %d messages: %w", len(msgs), err)
	}
	if added > 0 {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Depth returns the number of messages waiting for a PUBACK.
func (f *Forwarder) Depth() int {
	return int(f.box.depth.Load())
}

// Connected reports whether the upstream MQTT connection is up.
func (f *Forwarder) Connected() bool {
	return f.connected.Load()
}

// Collectors returns the forwarder's Prometheus collectors. They are not
// registered anywhere; the caller registers them once.
func (f *Forwarder) Collectors() []prometheus.Collector {
	return f.metrics.collectors()
}

// Close stops sending, waits for the sender to exit and closes the outbox.
// Undelivered messages stay in the outbox and are sent under the same id
// after the next New and Start. A connection attempt in progress is waited
// for, bounded by the paho connect timeout. Close is safe to call twice;
// the second call returns nil.
func (f *Forwarder) Close() error {
	f.runMu.Lock()
	if f.closed {
		f.runMu.Unlock()
		return nil
	}
	f.closed = true
	if f.cancel != nil {
		f.cancel()
	}
	f.runMu.Unlock()

	f.wg.Wait()

	f.lifeMu.Lock()
	defer f.lifeMu.Unlock()
	f.boxClosed = true
	depth := f.Depth()
	if err := f.box.close(); err != nil {
		return err
	}
	f.log.Info("forwarder closed", "undelivered", depth)
	return nil
}

// oldestAge returns how long the oldest pending message has waited, or 0.
func (f *Forwarder) oldestAge() time.Duration {
	f.lifeMu.RLock()
	defer f.lifeMu.RUnlock()
	if f.boxClosed {
		return 0
	}
	created, ok, err := f.box.oldest()
	if err != nil {
		f.log.Warn("read oldest outbox message failed", "err", err)
		return 0
	}
	if !ok {
		return 0
	}
	return max(time.Since(created), 0)
}
