package cluster

import (
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ackQueueLen bounds the messages of one connection waiting for their
// acknowledgement. The cluster sends at most its in-flight window of QoS 1
// messages unacknowledged (mosquitto's default is 20), so only QoS 0
// messages can fill the queue. A full queue holds up paho's router until
// the acknowledgements catch up.
const ackQueueLen = 1 << 16

// conn is one paho connection that brings vehicle messages: the node's own
// data connection or the adopted session of a lost node. Messages are
// acknowledged by hand, in the order they arrived as MQTT requires, each
// once it is recorded or handed off.
type conn struct {
	n      *Node
	source string
	// inboxOf is the node whose inbox this session subscribes to.
	inboxOf string
	client  paho.Client

	acks chan *ackEntry
	// last is when the last message arrived, in Unix nanoseconds.
	last    atomic.Int64
	pending atomic.Int64
	stop    chan struct{}
	wg      sync.WaitGroup
	// mu guards closed, so a reconnect never races the final close.
	mu     sync.Mutex
	closed bool
}

// ackEntry is one received message waiting for its acknowledgement: for a
// recorded message until done closes, for a handed-off one until token
// completes.
type ackEntry struct {
	msg   paho.Message
	done  chan struct{}
	err   error
	token paho.Token
}

func newRecordEntry(m paho.Message) *ackEntry {
	return &ackEntry{msg: m, done: make(chan struct{})}
}

// finish completes a recorded entry; err nil lets it be acknowledged.
func (e *ackEntry) finish(err error) {
	e.err = err
	close(e.done)
}

var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// newConn builds a connection with a persistent session under clientID.
// The node's own data connection (primary) reconnects by itself and
// subscribes on every connect. An adopted one does neither, because the
// session already contains the subscriptions.
func (n *Node) newConn(clientID, inboxOf, source string, primary bool) *conn {
	c := &conn{n: n, source: source, inboxOf: inboxOf, acks: make(chan *ackEntry, ackQueueLen), stop: make(chan struct{})}
	opts := n.clientOptions(clientID).
		SetCleanSession(false).
		SetAutoAckDisabled(true).
		SetOrderMatters(true).
		SetResumeSubs(false).
		// The router may wait for the other nodes' release markers for up
		// to the settle timeout, and paho reads no PINGRESP meanwhile.
		SetPingTimeout(max(10*time.Second, 2*n.opts.SettleTimeout)).
		SetAutoReconnect(primary).
		SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { n.onMessage(c, m) })
	if primary {
		opts.SetOnConnectHandler(func(pc paho.Client) {
			filters := map[string]byte{n.topics.inbox(n.id): 1}
			if !n.leaving.Load() {
				for _, f := range sharedFilters(n.opts.Group) {
					filters[f] = 1
				}
			}
			if tok := pc.SubscribeMultiple(filters, nil); !tok.WaitTimeout(n.opts.ConnectTimeout) || tok.Error() != nil {
				n.log.Error("subscriptions for vehicle messages failed; reconnecting", "err", tokenError(tok))
				n.reconnectData()
			}
		})
		opts.SetConnectionLostHandler(func(_ paho.Client, err error) {
			n.log.Warn("data connection to the MQTT cluster lost; reconnecting", "err", err)
		})
	}
	c.client = paho.NewClient(opts)
	c.wg.Add(1)
	go c.ackLoop()
	return c
}

// connect opens the connection; on failure the acknowledgement goroutine
// is stopped too.
func (c *conn) connect(timeout time.Duration) error {
	tok := c.client.Connect()
	if !tok.WaitTimeout(timeout) || tok.Error() != nil {
		c.close()
		return tokenError(tok)
	}
	return nil
}

// push queues an entry behind the messages received before it.
func (c *conn) push(e *ackEntry) {
	c.pending.Add(1)
	c.n.unackedTotal.Add(1)
	c.acks <- e
}

func (c *conn) lastMessage() time.Time { return time.Unix(0, c.last.Load()) }

func (c *conn) unacked() int64 { return c.pending.Load() }

// ackLoop acknowledges the queued messages in arrival order.
func (c *conn) ackLoop() {
	defer c.wg.Done()
	for {
		select {
		case e := <-c.acks:
			if !c.settle(e) {
				return
			}
		case <-c.stop:
			return
		}
	}
}

// settle waits for one entry and acknowledges it when it succeeded. It
// returns false when the connection closes first.
func (c *conn) settle(e *ackEntry) bool {
	var err error
	if e.token != nil {
		select {
		case <-e.token.Done():
		case <-c.stop:
			return false
		}
		err = e.token.Error()
	} else {
		select {
		case <-e.done:
		case <-c.stop:
			return false
		}
		err = e.err
	}
	c.pending.Add(-1)
	c.n.unackedTotal.Add(-1)
	if err != nil {
		c.n.ackFailed(c, err)
		return true
	}
	e.msg.Ack()
	return true
}

// close disconnects and stops the acknowledgements. Messages still
// unacknowledged stay in the session, and the cluster delivers them again
// to the next connection with its client id. Safe to call twice.
func (c *conn) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	c.client.Disconnect(250)
	close(c.stop)
	c.wg.Wait()
	c.n.unackedTotal.Add(-c.pending.Swap(0))
}

// reconnect drops the connection and connects again after a pause, so the
// cluster delivers again what was not acknowledged, because MQTT 3.1.1
// brokers redeliver only on a new connection. It connects only while ready
// returns true, and gives up once the conn closes.
func (c *conn) reconnect(pause time.Duration, ready func() bool) {
	c.client.Disconnect(100)
	for {
		select {
		case <-c.stop:
			return
		case <-time.After(pause):
		}
		if !ready() {
			continue
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return
		}
		tok := c.client.Connect()
		c.mu.Unlock()
		if tok.WaitTimeout(c.n.opts.ConnectTimeout) && tok.Error() == nil {
			return
		}
		c.n.log.Warn("data connection to the MQTT cluster not restored; retrying", "err", tokenError(tok))
	}
}
