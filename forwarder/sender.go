package forwarder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Paho settings. A write that cannot reach the socket within writeTimeout
// fails its token, which ends the session.
const (
	connectTimeout    = 10 * time.Second
	writeTimeout      = 10 * time.Second
	keepAlive         = 30 * time.Second
	pingTimeout       = 10 * time.Second
	disconnectQuiesce = 250 // milliseconds, as paho's Disconnect takes it

	// readBatch is the number of records the dispatcher reads per outbox scan.
	readBatch = 256
	// maxAckBatch is the number of acknowledged records removed in one
	// outbox write.
	maxAckBatch = 256
	// closeGrace is how long a session that is ending still waits for
	// PUBACKs of publishes already sent, so a clean shutdown resends less.
	closeGrace = time.Second
)

var (
	errStalled      = errors.New("no PUBACK within the stall timeout while messages are pending")
	errSessionEnded = errors.New("session ended before PUBACK")
)

// run connects, drains the outbox over one connection until that connection
// fails, and reconnects with jittered exponential back-off, until ctx ends.
// Each connection gets a new paho client, so a client wedged inside paho is
// dropped whole rather than reused.
func (f *Forwarder) run(ctx context.Context) {
	log := f.log.With("client_id", f.opts.ClientID)
	log.Info("forwarder started", "url", redactURL(f.opts.URL), "topic_prefix", f.opts.TopicPrefix,
		"max_inflight", f.opts.MaxInflight, "depth", f.Depth())
	defer log.Info("forwarder stopped", "depth", f.Depth())

	attempt := 0
	var failures failureTracker
	for ctx.Err() == nil {
		sessionCtx, cancel := context.WithCancelCause(ctx)
		client := f.newClient(func(err error) { cancel(fmt.Errorf("connection lost: %w", err)) })

		// paho bounds the wait: connectTimeout for the dial and again for
		// the CONNACK.
		token := client.Connect()
		<-token.Done()
		if err := token.Error(); err != nil {
			cancel(nil)
			attempt++
			f.metrics.errors.WithLabelValues(stageConnect).Inc()
			delay := backoff(attempt, f.opts.MinReconnectDelay, f.opts.MaxReconnectDelay)
			log.Warn("connect to upstream failed", "err", err, "attempt", attempt, "retry_in", delay)
			if !sleepContext(ctx, delay) {
				return
			}
			continue
		}

		f.connected.Store(true)
		log.Info("connected to upstream", "depth", f.Depth())
		began := time.Now()
		probe := failures.probing()
		head, cause := f.runSession(sessionCtx, cancel, client, probe, log)
		f.connected.Store(false)
		client.Disconnect(disconnectQuiesce)
		cancel(nil)
		if ctx.Err() != nil {
			return
		}
		if failures.observe(head, probe, f.opts.MaxDeliveryFailures) {
			f.retire(*head, cause)
		}

		// A connection that drops soon after it was made counts as another
		// failed attempt, so a broker that accepts and then closes at once
		// is not hammered.
		if time.Since(began) < f.opts.MaxReconnectDelay {
			attempt++
		} else {
			attempt = 1
		}
		delay := backoff(attempt, f.opts.MinReconnectDelay, f.opts.MaxReconnectDelay)
		log.Warn("upstream session ended", "err", cause, "depth", f.Depth(), "retry_in", delay)
		if !sleepContext(ctx, delay) {
			return
		}
	}
}

func (f *Forwarder) newClient(onLost func(error)) mqtt.Client {
	// CleanSession with no auto-reconnect: the outbox, not paho's
	// in-memory store, is the record of what is unacknowledged, and paho
	// fails every pending token when the connection drops, so each
	// failure is seen and the message resent from the outbox.
	opts := mqtt.NewClientOptions().
		AddBroker(f.opts.URL).
		SetClientID(f.opts.ClientID).
		SetUsername(f.opts.Username).
		SetPassword(f.opts.Password).
		SetTLSConfig(f.opts.TLSConfig).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(connectTimeout).
		SetWriteTimeout(writeTimeout).
		SetKeepAlive(keepAlive).
		SetPingTimeout(pingTimeout).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) { onLost(err) })
	return mqtt.NewClient(opts)
}

// inflight is a publish waiting for its PUBACK.
type inflight struct {
	rec   record
	token mqtt.Token
}

// session drains the outbox over one connected client with three
// goroutines. The dispatcher reads records after its cursor and publishes
// them. The completer waits for the tokens in publish order and removes
// acknowledged records. The watchdog ends the session when nothing is
// acknowledged for StallTimeout. Any failure cancels ctx, and the next
// session starts again from the oldest record still in the outbox.
type session struct {
	f      *Forwarder
	log    *slog.Logger
	client mqtt.Client
	ctx    context.Context
	cancel context.CancelCauseFunc

	// slots bounds the publishes awaiting a PUBACK to MaxInflight.
	slots    chan struct{}
	inflight chan inflight
	// lastProgress is the Unix nanosecond time of the last PUBACK, or of
	// the last watchdog check that found the outbox empty.
	lastProgress atomic.Int64

	// graceOnce starts graceOver, which closes closeGrace after the
	// session context ends. Only the completer uses them.
	graceOnce sync.Once
	graceOver chan struct{}

	// head is the first record, in publish order, whose PUBACK did not
	// arrive. Only the completer writes it, before the session ends.
	head *record
	// probe makes the dispatcher wait for the first record's PUBACK before
	// it publishes the next one (see the dead-letter rule).
	probe bool
}

// runSession returns the first record left without a PUBACK (nil when
// every publish was acknowledged) and why the session ended.
func (f *Forwarder) runSession(ctx context.Context, cancel context.CancelCauseFunc, client mqtt.Client, probe bool, log *slog.Logger) (*record, error) {
	s := &session{
		probe:     probe,
		f:         f,
		log:       log,
		client:    client,
		ctx:       ctx,
		cancel:    cancel,
		slots:     make(chan struct{}, f.opts.MaxInflight),
		inflight:  make(chan inflight, f.opts.MaxInflight),
		graceOver: make(chan struct{}),
	}
	s.lastProgress.Store(time.Now().UnixNano())

	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(s.inflight)
		s.dispatch()
	})
	wg.Go(s.complete)
	wg.Go(s.watch)
	wg.Wait()
	return s.head, context.Cause(ctx)
}

func (s *session) dispatch() {
	var cursor uint64
	probe := s.probe
	for s.ctx.Err() == nil {
		recs, err := s.f.box.readAfter(cursor, readBatch)
		if err != nil {
			s.f.metrics.errors.WithLabelValues(stageStore).Inc()
			s.cancel(err)
			return
		}
		if len(recs) == 0 {
			select {
			case <-s.f.wake:
			case <-s.ctx.Done():
				return
			}
			continue
		}

		for _, r := range recs {
			select {
			case s.slots <- struct{}{}:
			case <-s.ctx.Done():
				return
			}
			token := s.client.Publish(s.f.opts.TopicPrefix+"/"+r.msg.Topic, 1, false, r.msg.Payload)

			// A token that has already failed was never written (not
			// connected, or the write timed out). Stop here, so no later
			// message overtakes it.
			if tokenDone(token) && token.Error() != nil {
				if probe {
					// The suspect's failure counts even when paho
					// reports it at once, so the completer must see it.
					s.inflight <- inflight{rec: r, token: token}
					return
				}
				<-s.slots
				s.f.metrics.errors.WithLabelValues(stagePublish).Inc()
				s.cancel(fmt.Errorf("publish message %s: %w", r.msg.ID, token.Error()))
				return
			}
			s.inflight <- inflight{rec: r, token: token}
			cursor = r.seq
			s.log.Debug("published", "message_id", r.msg.ID, "seq", r.seq, "alone", probe)
			if probe {
				select {
				case <-token.Done():
				case <-s.ctx.Done():
					return
				}
				if token.Error() != nil {
					return // the completer records the failure and ends the session
				}
				probe = false
			}
		}
	}
}

// complete waits for PUBACKs in publish order. After the first failure it
// only frees the remaining slots: those records stay in the outbox and go
// out again, in order, on the next connection.
func (s *session) complete() {
	var lookahead *inflight
	failed := false
	acked := make([]record, 0, maxAckBatch)
	for {
		var e inflight
		if lookahead != nil {
			e, lookahead = *lookahead, nil
		} else {
			var ok bool
			if e, ok = <-s.inflight; !ok {
				return
			}
		}
		if failed {
			<-s.slots
			continue
		}
		if err := s.await(e.token); err != nil {
			<-s.slots
			failed = true
			s.head = &e.rec
			if !errors.Is(err, errSessionEnded) {
				s.f.metrics.errors.WithLabelValues(stagePublish).Inc()
				s.cancel(fmt.Errorf("publish message %s: %w", e.rec.msg.ID, err))
			}
			continue
		}

		// Collect the PUBACKs that have already arrived, so one outbox
		// write removes them all.
		acked = append(acked[:0], e.rec)
	gather:
		for len(acked) < maxAckBatch {
			select {
			case next, ok := <-s.inflight:
				if !ok {
					break gather
				}
				if tokenDone(next.token) && next.token.Error() == nil {
					acked = append(acked, next.rec)
					continue
				}
				lookahead = &next
				break gather
			default:
				break gather
			}
		}
		if !s.ack(acked) {
			failed = true
		}
		for range acked {
			<-s.slots
		}
	}
}

// await returns the outcome of token. Once the session is ending it waits
// at most closeGrace in total for outstanding PUBACKs, then returns
// errSessionEnded.
func (s *session) await(token mqtt.Token) error {
	select {
	case <-token.Done():
		return token.Error()
	case <-s.ctx.Done():
	}
	s.graceOnce.Do(func() { time.AfterFunc(closeGrace, func() { close(s.graceOver) }) })
	select {
	case <-token.Done():
		return token.Error()
	case <-s.graceOver:
		return errSessionEnded
	}
}

// ack removes acknowledged records from the outbox and reports whether that
// succeeded. On failure the records stay and are sent again under the same
// ids on the next connection.
func (s *session) ack(recs []record) bool {
	if err := s.f.box.remove(recs); err != nil {
		s.f.metrics.errors.WithLabelValues(stageStore).Inc()
		s.log.Error("remove delivered messages from outbox failed", "err", err, "count", len(recs))
		s.cancel(err)
		return false
	}
	now := time.Now()
	for _, r := range recs {
		s.f.metrics.observeAck(r.msg, now)
	}
	s.lastProgress.Store(now.UnixNano())
	return true
}

// watch ends the session when messages are pending and no PUBACK arrived
// for StallTimeout, so the next session starts with a new client.
func (s *session) watch() {
	ticker := time.NewTicker(max(s.f.opts.StallTimeout/4, 10*time.Millisecond))
	defer ticker.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-ticker.C:
			if s.f.Depth() == 0 {
				s.lastProgress.Store(now.UnixNano())
				continue
			}
			if now.Sub(time.Unix(0, s.lastProgress.Load())) > s.f.opts.StallTimeout {
				s.f.metrics.errors.WithLabelValues(stageStall).Inc()
				s.cancel(errStalled)
				return
			}
		}
	}
}

func tokenDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// backoff returns the delay before connection attempt number attempt
// (1-based): min doubled per attempt, capped at max, then drawn uniformly
// from the upper half so a fleet of servers does not reconnect in step.
func backoff(attempt int, minDelay, maxDelay time.Duration) time.Duration {
	d := minDelay
	for i := 1; i < attempt && d < maxDelay; i++ {
		d *= 2
	}
	d = min(d, maxDelay)
	if d <= 1 {
		return d
	}
	half := d / 2
	return half + rand.N(d-half+1)
}

func sleepContext(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// redactURL hides a password embedded in the broker URL before logging it.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
