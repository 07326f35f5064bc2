package cluster

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/broker"
)

// onMessage routes one message of a data or adopted connection. It runs on
// paho's router goroutine of that connection, so messages are routed and
// acknowledged in the order they arrived.
func (n *Node) onMessage(c *conn, m paho.Message) {
	c.last.Store(time.Now().UnixNano())
	msg, hops, ok := n.incoming(c, m)
	if !ok {
		c.push(&ackEntry{msg: m, done: closedChan})
		return
	}
	if !carriesFixes(msg.Topic) {
		// Status messages are kept in the raw log only and change no
		// vehicle state, so any node may record them.
		e := newRecordEntry(m)
		c.push(e)
		n.opts.Recorder.Record(msg, e.finish)
		return
	}

	owner, local := n.claim(msg.Terminal, hops, c.source == sourceAdopted)
	if local {
		e := newRecordEntry(m)
		c.push(e)
		n.opts.Recorder.Record(msg, func(err error) {
			n.recorded(msg.Terminal)
			e.finish(err)
		})
		return
	}
	c.push(&ackEntry{msg: m, token: n.handOff(msg, owner, hops+1)})
}

// incoming decodes a received message: a hand-off envelope on the inbox
// the session subscribes to, or a vehicle's own publish. A message it
// cannot use is counted and reported as not ok, to be acknowledged and
// dropped, because the cluster would deliver it again unchanged.
func (n *Node) incoming(c *conn, m paho.Message) (msg broker.Message, hops int, ok bool) {
	topic := m.Topic()
	if topic == n.topics.inbox(c.inboxOf) {
		var env envelope
		err := json.Unmarshal(m.Payload(), &env)
		if err == nil {
			msg, err = env.message()
		}
		if err != nil {
			n.metrics.dropped.WithLabelValues(dropEnvelope).Inc()
			n.log.Warn("hand-off message not readable; dropped", "topic", topic, "err", err)
			return broker.Message{}, 0, false
		}
		source := sourceHandoff
		if c.source == sourceAdopted {
			source = sourceAdopted
		}
		n.metrics.messages.WithLabelValues(source).Inc()
		return msg, env.Hops, true
	}

	terminal, isVehicle := vehicleTopic(topic)
	if !isVehicle {
		n.metrics.dropped.WithLabelValues(dropTopic).Inc()
		n.log.Warn("message on a topic that is not a vehicle topic; dropped", "topic", topic)
		return broker.Message{}, 0, false
	}
	n.metrics.messages.WithLabelValues(c.source).Inc()
	return broker.Message{
		Terminal:   terminal,
		Topic:      topic,
		QoS:        m.Qos(),
		Retain:     m.Retained(),
		Payload:    m.Payload(),
		ReceivedAt: time.Now(),
	}, 0, true
}

// carriesFixes reports whether a vehicle topic carries fixes, whose
// evaluation needs the vehicle's owner.
func carriesFixes(topic string) bool {
	return strings.HasSuffix(topic, "/fix") || strings.HasPrefix(topic, "owntracks/")
}

// claim decides where a message of terminal is evaluated. When this node
// owns the vehicle it makes sure the vehicle is held, restoring its newest
// state image first, and counts the record as pending until recorded is
// called. Otherwise it returns the owner to hand the message to. A message
// from an adopted session (adopted) does not wait for the adopted
// sessions' backlog, of which it is part.
func (n *Node) claim(terminal string, hops int, adopted bool) (owner string, local bool) {
	waited := false
	for {
		v := n.view.Load()
		owner = v.owner(terminal)
		if owner != n.id && owner != "" {
			if hops > 0 && !waited {
				// The sender took this node for the owner: wait briefly
				// for the views to agree rather than bounce the message.
				n.waitViewChange(v, 250*time.Millisecond)
				waited = true
				continue
			}
			if hops < maxHops {
				return owner, false
			}
			n.metrics.misrouted.Inc()
			n.log.Warn("message handed on too often; recording it here", "vehicle_id", terminal, "owner", owner, "hops", hops)
			n.mu.Lock()
			n.pending[terminal]++
			n.mu.Unlock()
			return n.id, true
		}

		if !n.isHeld(terminal) {
			n.settle(v, adopted)
		}
		n.mu.Lock()
		if n.view.Load() != v {
			n.mu.Unlock()
			continue
		}
		if _, busy := n.releasing[terminal]; busy {
			n.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
			continue
		}
		if _, ok := n.held[terminal]; !ok {
			n.acquireLocked(terminal)
		}
		n.pending[terminal]++
		n.dirty[terminal] = struct{}{}
		n.mu.Unlock()
		return n.id, true
	}
}

// recorded ends the pending count claim started.
func (n *Node) recorded(terminal string) {
	n.mu.Lock()
	if n.pending[terminal] <= 1 {
		delete(n.pending, terminal)
	} else {
		n.pending[terminal]--
	}
	n.mu.Unlock()
}

func (n *Node) isHeld(terminal string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.held[terminal]
	return ok
}

// waitViewChange waits until a view other than v is installed, or for at
// most d.
func (n *Node) waitViewChange(v *view, d time.Duration) {
	deadline := time.Now().Add(d)
	for n.view.Load() == v && time.Now().Before(deadline) {
		select {
		case <-n.members.changes():
		case <-time.After(10 * time.Millisecond):
		case <-n.stop:
			return
		}
	}
}

// settle waits until every other live node has published its release
// marker for v. Unless adopted is set, it also waits until the sessions
// this node adopted in v have delivered their backlog, so the older
// messages a lost node held are evaluated before newer ones. It gives up
// when v is replaced or the settle timeout since v was installed passed.
func (n *Node) settle(v *view, adopted bool) {
	deadline := v.installed.Add(n.opts.SettleTimeout)
	for {
		changes := n.members.changes()
		if n.view.Load() != v {
			return
		}
		backlogDone := adopted
		if !backlogDone {
			select {
			case <-v.backlog:
				backlogDone = true
			default:
			}
		}
		if backlogDone && n.members.settled(v) {
			return
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			if v.timedOut.CompareAndSwap(false, true) {
				n.metrics.settleTimeouts.Inc()
				n.log.Warn("nodes did not confirm the hand-over in time; restoring the newest state images saved so far",
					"settle_timeout", n.opts.SettleTimeout, "waiting_for", v.waitFor)
			}
			return
		}
		select {
		case <-changes:
		case <-v.backlog:
		case <-time.After(wait):
		case <-n.stop:
			return
		}
	}
}

// handOff publishes msg to the owner's inbox at QoS 1. Once the cluster
// acknowledges the publish or it fails, the latency or the failure is
// counted.
func (n *Node) handOff(msg broker.Message, owner string, hops int) paho.Token {
	n.metrics.handoffs.Inc()
	b, err := json.Marshal(newEnvelope(msg, n.id, hops))
	if err != nil {
		// An envelope of plain fields always encodes; a failure here is
		// a bug, reported like a failed publish.
		n.metrics.handoffFailures.Inc()
		return &failedToken{err: fmt.Errorf("encode hand-off: %w", err)}
	}
	start := time.Now()
	tok := n.out.Publish(n.topics.inbox(owner), 1, false, b)
	go func() {
		<-tok.Done()
		if tok.Error() != nil {
			n.metrics.handoffFailures.Inc()
			return
		}
		n.metrics.handoffSeconds.Observe(time.Since(start).Seconds())
	}()
	return tok
}

// HandlePublish implements broker.Handler for the embedded broker of a node
// in external mode. It records a message of an owned vehicle and hands any
// other to its owner. It returns once the message is on disk or the
// cluster acknowledged the hand-off.
func (n *Node) HandlePublish(msg broker.Message) error {
	n.metrics.messages.WithLabelValues(sourceLocal).Inc()
	if !carriesFixes(msg.Topic) {
		return n.recordAndWait(msg, nil)
	}
	owner, local := n.claim(msg.Terminal, 0, false)
	if local {
		return n.recordAndWait(msg, func() { n.recorded(msg.Terminal) })
	}
	tok := n.handOff(msg, owner, 1)
	if msg.QoS == 0 {
		return nil
	}
	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		return fmt.Errorf("%w: hand message to node %s: %w", broker.ErrUnavailable, owner, tokenError(tok))
	}
	return nil
}

func (n *Node) recordAndWait(msg broker.Message, after func()) error {
	done := make(chan error, 1)
	n.opts.Recorder.Record(msg, func(err error) {
		if after != nil {
			after()
		}
		done <- err
	})
	if msg.QoS == 0 {
		return nil
	}
	if err := <-done; err != nil {
		return fmt.Errorf("%w: %w", broker.ErrUnavailable, err)
	}
	return nil
}

// ackFailed handles a message that was neither recorded nor handed off:
// it stays unacknowledged, and the connection is renewed so the cluster
// delivers it again.
func (n *Node) ackFailed(c *conn, err error) {
	n.log.Warn("message neither recorded nor handed off; it stays unacknowledged", "connection", c.source, "err", err)
	if c != n.data {
		// An adopted session keeps the message for the next adopter or
		// for the lost node itself.
		go c.client.Disconnect(0)
		return
	}
	n.reconnectData()
}

// reconnectData renews the data connection, one renewal at a time. The new
// connection waits for the control connection, because a node the others
// take for lost must not evaluate vehicles they have taken over.
func (n *Node) reconnectData() {
	if !n.reconnecting.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer n.reconnecting.Store(false)
		n.log.Warn("renewing the data connection so the MQTT cluster delivers unacknowledged messages again")
		n.data.reconnect(time.Second, n.ctl.IsConnectionOpen)
	}()
}

// Owns reports whether this node evaluates terminal now, for the timed
// rules. An owned vehicle that has sent nothing since it moved here is
// taken over on the spot once the hand-over settled, so a vehicle that went
// silent still gets its signal-loss alarm.
func (n *Node) Owns(terminal string) bool {
	v := n.view.Load()
	if v.owner(terminal) != n.id {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.held[terminal]; ok {
		return true
	}
	if _, busy := n.releasing[terminal]; busy {
		return false
	}
	settled := n.members.settled(v)
	select {
	case <-v.backlog:
	default:
		settled = false
	}
	if !settled && time.Since(v.installed) < n.opts.SettleTimeout {
		return false
	}
	n.acquireLocked(terminal)
	return true
}

// failedToken is a paho.Token that failed before anything was sent.
type failedToken struct {
	err error
}

func (t *failedToken) Wait() bool                     { return true }
func (t *failedToken) WaitTimeout(time.Duration) bool { return true }
func (t *failedToken) Done() <-chan struct{}          { return closedChan }
func (t *failedToken) Error() error                   { return t.err }
