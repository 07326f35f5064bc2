package cluster

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/broker"
)

// Recorder is the ingest pipeline as a node uses it.
type Recorder interface {
	// Record writes msg to the raw log and calls done once it is on
	// disk and its fixes are queued for evaluation, or with the error.
	Record(msg broker.Message, done func(error))
	// Sync returns once the fixes of terminal queued so far are
	// evaluated and stored.
	Sync(terminal string)
}

// Engine is the deviation engine as a node uses it to move a vehicle's
// state between nodes.
type Engine interface {
	MarshalState(terminal string) ([]byte, error)
	RestoreState(terminal string, b []byte) error
	// Reset clears a vehicle's state except its trip.
	Reset(terminal string)
	// LastFixTime is the fix time of the newest fix in the state.
	LastFixTime(terminal string) time.Time
	// Terminals lists the vehicles the engine holds state for.
	Terminals() []string
}

// Options configures a Node. Zero durations take the defaults of
// config.DefaultExternal.
type Options struct {
	// URL is the MQTT cluster's address (tcp://, ssl://, ws://, wss://).
	URL       string
	Username  string
	Password  string
	TLSConfig *tls.Config
	// Group names the shared subscription; NodeID is unique in it.
	Group  string
	NodeID string

	Heartbeat     time.Duration
	NodeTimeout   time.Duration
	StateInterval time.Duration
	SettleTimeout time.Duration
	// ConnectTimeout bounds the first connection; 0 means 10 s.
	ConnectTimeout time.Duration

	Recorder Recorder
	Engine   Engine
	// OnRecord, when set, receives each record another node shared with
	// ShareRecord, in the order they were shared. Records retained from
	// before this node started are included, and nil data means the record
	// was deleted. It runs on the control connection's goroutine, so it
	// must not wait for other records or membership changes.
	OnRecord func(kind, id string, data []byte)
	Logger   *slog.Logger
}

// maxHops is how many times a message may be handed on before the node
// holding it records it itself.
const maxHops = 4

// Node is one running ingest node.
//
// Lock order: imgMu, then mu, then the engine's locks; the lock inside
// members is taken last and never held while taking another.
type Node struct {
	opts        Options
	id          string
	incarnation int64
	log         *slog.Logger
	topics      topics
	metrics     *metrics
	members     *membership

	ctl  paho.Client
	data *conn
	// out publishes the hand-offs. It is a connection of its own because
	// paho reads the PUBACKs of a connection on the goroutine that also
	// queues its incoming messages for the router: on the data
	// connection, a busy router would hold up every hand-off's PUBACK.
	out paho.Client

	view        atomic.Pointer[view]
	viewChanged chan struct{}

	// mu guards held (the vehicles this node evaluates), releasing (those
	// being handed over), pending (records per vehicle not yet queued for
	// evaluation), dirty (vehicles with fixes since their last image) and
	// images (the newest state image of every vehicle).
	mu        sync.Mutex
	held      map[string]struct{}
	releasing map[string]struct{}
	pending   map[string]int
	dirty     map[string]struct{}
	images    map[string]stateImage

	// imgMu orders the saving of one vehicle's images: a periodic image
	// can never follow the image saved when the vehicle moved away.
	imgMu sync.Mutex

	// onlineMu guards online, the last status of every vehicle.
	onlineMu sync.Mutex
	online   map[string]bool

	// adoptMu guards adopted: the incarnation of each lost node whose
	// session this node adopted.
	adoptMu sync.Mutex
	adopted map[string]int64

	// unackedTotal counts the messages of all connections waiting for
	// their acknowledgement.
	unackedTotal atomic.Int64

	urgent       chan string
	reconnecting atomic.Bool
	leaving      atomic.Bool
	stop         chan struct{}
	wg           sync.WaitGroup
	closeOnce    sync.Once
	closeErr     error
}

// Start connects the node, waits until its own membership record comes
// back, installs the first view and subscribes to the vehicles' messages.
// The engine must hold the state recovered from the raw log by then.
func Start(opts Options) (*Node, error) {
	if opts.Recorder == nil || opts.Engine == nil {
		return nil, errors.New("cluster node needs a recorder and an engine")
	}
	if opts.URL == "" || opts.Group == "" || opts.NodeID == "" {
		return nil, errors.New("cluster node needs a broker URL, a group and a node id")
	}
	opts.Heartbeat = orDefault(opts.Heartbeat, 2*time.Second)
	opts.NodeTimeout = orDefault(opts.NodeTimeout, 10*time.Second)
	opts.StateInterval = orDefault(opts.StateInterval, 5*time.Second)
	opts.SettleTimeout = orDefault(opts.SettleTimeout, 5*time.Second)
	opts.ConnectTimeout = orDefault(opts.ConnectTimeout, 10*time.Second)
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}

	n := &Node{
		opts:        opts,
		id:          opts.NodeID,
		incarnation: time.Now().UnixNano(),
		log:         log.With("component", "cluster", "node", opts.NodeID),
		topics:      newTopics(opts.Group),
		metrics:     newMetrics(),
		members:     newMembership(opts.NodeID, opts.NodeTimeout),
		viewChanged: make(chan struct{}, 1),
		held:        map[string]struct{}{},
		releasing:   map[string]struct{}{},
		pending:     map[string]int{},
		dirty:       map[string]struct{}{},
		images:      map[string]stateImage{},
		online:      map[string]bool{},
		adopted:     map[string]int64{},
		urgent:      make(chan string, 1024),
		stop:        make(chan struct{}),
	}
	n.view.Store(&view{lost: map[string]int64{}, backlog: closedChan})
	// The clients exist before any connects, so the handlers of one
	// connection never find another missing.
	n.out = paho.NewClient(n.clientOptions(n.dataClientID(n.id) + "-out").SetCleanSession(true).SetAutoReconnect(true))
	n.data = n.newConn(n.dataClientID(n.id), n.id, sourceShared, true)

	if err := n.connectControl(); err != nil {
		n.data.close()
		return nil, err
	}
	if err := n.join(); err != nil {
		n.data.close()
		n.ctl.Disconnect(250)
		return nil, err
	}
	first := n.members.current(time.Now())
	n.install(first, false)

	if tok := n.out.Connect(); !tok.WaitTimeout(opts.ConnectTimeout) || tok.Error() != nil {
		n.data.close()
		n.ctl.Disconnect(250)
		return nil, fmt.Errorf("connect to the MQTT cluster at %s for hand-offs: %w", opts.URL, tokenError(tok))
	}
	if err := n.data.connect(opts.ConnectTimeout); err != nil {
		n.out.Disconnect(250)
		n.ctl.Disconnect(250)
		return nil, fmt.Errorf("connect to the MQTT cluster at %s for vehicle messages: %w", opts.URL, err)
	}
	// Adopting routes hand-offs, which need the connections above.
	n.adoptLost(first)

	n.wg.Add(3)
	go n.heartbeats()
	go n.rebalancer()
	go n.saveImages()
	n.log.Info("cluster node started", "url", opts.URL, "group", opts.Group, "nodes_up", len(n.view.Load().up))
	return n, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// dataClientID is the client id of a node's data connection; the session
// behind it is persistent, so a node must keep its id across restarts.
func (n *Node) dataClientID(node string) string { return "hwtrack-" + n.opts.Group + "-" + node }

func (n *Node) clientOptions(clientID string) *paho.ClientOptions {
	return paho.NewClientOptions().
		AddBroker(n.opts.URL).
		SetClientID(clientID).
		SetUsername(n.opts.Username).
		SetPassword(n.opts.Password).
		SetTLSConfig(n.opts.TLSConfig).
		SetProtocolVersion(4).
		SetConnectTimeout(n.opts.ConnectTimeout).
		SetKeepAlive(30 * time.Second).
		SetMaxReconnectInterval(5 * time.Second)
}

// connectControl opens the control connection: membership records, release
// markers, state images and vehicle status. Its last will marks the node
// lost.
func (n *Node) connectControl() error {
	will, err := json.Marshal(nodeRecord{Node: n.id, Incarnation: n.incarnation, State: NodeStateLost})
	if err != nil {
		return fmt.Errorf("encode last will: %w", err)
	}
	opts := n.clientOptions(n.dataClientID(n.id)+"-ctl").
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetBinaryWill(n.topics.node(n.id), will, 1, true).
		// Records, images and membership changes of one topic must be
		// applied in the order they were published.
		SetOrderMatters(true).
		SetOnConnectHandler(func(c paho.Client) {
			filters := map[string]byte{
				n.topics.allNodes():    1,
				n.topics.allReleased(): 1,
				n.topics.allStates():   1,
				n.topics.allRecords():  1,
				statusFilter:           0,
			}
			if tok := c.SubscribeMultiple(filters, n.onControl); !tok.WaitTimeout(n.opts.ConnectTimeout) || tok.Error() != nil {
				n.log.Error("control subscriptions failed; reconnecting", "err", tokenError(tok))
				go c.Disconnect(0)
				return
			}
			// A will published while this connection was away marked
			// the node lost, so the record corrects that at once.
			n.publishRecord(n.selfState())
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			// The other nodes take this node for lost once its will
			// arrives, so it stops taking vehicle messages until it can
			// announce itself again.
			n.log.Warn("control connection to the MQTT cluster lost; pausing vehicle messages and reconnecting", "err", err)
			n.reconnectData()
		})
	n.ctl = paho.NewClient(opts)
	tok := n.ctl.Connect()
	if !tok.WaitTimeout(n.opts.ConnectTimeout) || tok.Error() != nil {
		n.ctl.Disconnect(0)
		return fmt.Errorf("connect to the MQTT cluster at %s: %w", n.opts.URL, tokenError(tok))
	}
	return nil
}

func tokenError(tok paho.Token) error {
	if err := tok.Error(); err != nil {
		return err
	}
	return errors.New("timed out")
}

func (n *Node) selfState() NodeState {
	if n.leaving.Load() {
		return NodeStateLeaving
	}
	return NodeStateUp
}

// publishRecord publishes this node's retained membership record.
func (n *Node) publishRecord(state NodeState) paho.Token {
	b, err := json.Marshal(nodeRecord{Node: n.id, Incarnation: n.incarnation, State: state, At: time.Now().UTC()})
	if err != nil {
		n.log.Error("membership record not encoded", "err", err)
		return nil
	}
	return n.ctl.Publish(n.topics.node(n.id), 1, true, b)
}

// join waits until this node's own up record has come back, so the view
// it installs first includes itself and the records that were retained.
func (n *Node) join() error {
	deadline := time.Now().Add(n.opts.ConnectTimeout)
	for {
		changes := n.members.changes()
		if rec, state, ok := n.members.record(n.id); ok && rec.Incarnation == n.incarnation && state == NodeStateUp {
			return nil
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return fmt.Errorf("join group %q at %s: own membership record did not come back within %s", n.opts.Group, n.opts.URL, n.opts.ConnectTimeout)
		}
		select {
		case <-changes:
		case <-time.After(wait):
		}
	}
}

// onControl handles a message on the control connection.
func (n *Node) onControl(_ paho.Client, m paho.Message) {
	topic := m.Topic()
	if id, isMarker, ok := n.topics.nodeOf(topic); ok {
		n.onMembership(id, isMarker, m.Payload())
		return
	}
	if terminal, ok := n.topics.terminalOfState(topic); ok {
		n.onImage(terminal, m.Payload())
		return
	}
	if kind, id, ok := n.topics.recordOf(topic); ok {
		n.onRecord(kind, id, m.Payload())
		return
	}
	if terminal, ok := vehicleTopic(topic); ok {
		n.onStatus(terminal, m.Payload())
	}
}

func (n *Node) onMembership(id string, isMarker bool, payload []byte) {
	if len(payload) == 0 {
		if !isMarker {
			n.members.forget(id)
			n.signalViewChange()
		}
		return
	}
	if isMarker {
		var mk releaseMarker
		if err := json.Unmarshal(payload, &mk); err != nil {
			n.log.Warn("release marker not readable", "from", id, "err", err)
			return
		}
		n.members.applyMarker(id, mk.View)
		return
	}
	var rec nodeRecord
	if err := json.Unmarshal(payload, &rec); err != nil || rec.Node != id {
		n.log.Warn("membership record not readable", "from", id, "err", err)
		return
	}
	n.members.apply(rec, time.Now())
	n.signalViewChange()
}

func (n *Node) onStatus(terminal string, payload []byte) {
	var st struct {
		Online *bool `json:"online"`
	}
	if err := json.Unmarshal(payload, &st); err != nil || st.Online == nil {
		return
	}
	n.onlineMu.Lock()
	n.online[terminal] = *st.Online
	n.onlineMu.Unlock()
}

// Online reports whether the vehicle's last status message had
// "online":true.
func (n *Node) Online(terminal string) bool {
	n.onlineMu.Lock()
	defer n.onlineMu.Unlock()
	return n.online[terminal]
}

func (n *Node) signalViewChange() {
	select {
	case n.viewChanged <- struct{}{}:
	default:
	}
}

// heartbeats republishes the membership record and takes silent nodes for
// lost, until Close.
func (n *Node) heartbeats() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n.publishRecord(n.selfState())
			if n.members.expire(time.Now()) {
				n.log.Warn("a node fell silent and is taken for lost")
				n.signalViewChange()
			}
		case <-n.stop:
			return
		}
	}
}

// rebalancer installs each new view, one at a time.
func (n *Node) rebalancer() {
	defer n.wg.Done()
	for {
		select {
		case <-n.viewChanged:
			v := n.members.current(time.Now())
			if v.signature != n.view.Load().signature {
				n.install(v, true)
			}
		case <-n.stop:
			return
		}
	}
}

// Publish sends payload to a vehicle topic in the MQTT cluster at QoS 0,
// such as a rejection notice.
func (n *Node) Publish(topic string, payload []byte) error {
	tok := n.data.client.Publish(topic, 0, false, payload)
	if tok.Wait() && tok.Error() != nil {
		return fmt.Errorf("publish to %s in the MQTT cluster: %w", topic, tok.Error())
	}
	return nil
}

// Connected reports whether every connection to the cluster is up.
func (n *Node) Connected() bool {
	return n.ctl.IsConnectionOpen() && n.out.IsConnectionOpen() && n.data.client.IsConnectionOpen()
}

// ID returns the node's id.
func (n *Node) ID() string { return n.id }

// Close hands every vehicle to the other nodes and leaves the group: it
// stops taking shared messages, saves the state of its vehicles for their
// next owners, routes what was still arriving and disconnects. Call it
// before the pipeline closes. Safe to call twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.leaving.Store(true)
		var errs []error
		if tok := n.data.client.Unsubscribe(sharedFilters(n.opts.Group)...); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			errs = append(errs, fmt.Errorf("unsubscribe from the shared subscriptions: %w", tokenError(tok)))
		}
		if tok := n.publishRecord(NodeStateLeaving); tok != nil && (!tok.WaitTimeout(5*time.Second) || tok.Error() != nil) {
			errs = append(errs, fmt.Errorf("announce leaving: %w", tokenError(tok)))
		}
		n.signalViewChange()
		n.waitLeft()

		close(n.stop)
		n.wg.Wait()
		n.data.close()
		n.out.Disconnect(250)
		n.releaseAll()

		if tok := n.publishRecord(NodeStateLeft); tok != nil && (!tok.WaitTimeout(5*time.Second) || tok.Error() != nil) {
			errs = append(errs, fmt.Errorf("announce leaving: %w", tokenError(tok)))
		}
		n.ctl.Disconnect(250)
		n.closeErr = errors.Join(errs...)
		n.log.Info("cluster node stopped", "err", n.closeErr)
	})
	return n.closeErr
}

// waitLeft waits until the view without this node is installed and no
// hand-off arrived for a while, so messages other nodes sent before they
// saw this node leave are routed on.
func (n *Node) waitLeft() {
	const quiet = 500 * time.Millisecond
	deadline := time.Now().Add(n.opts.NodeTimeout)
	for time.Now().Before(deadline) {
		v := n.view.Load()
		if !slices.Contains(v.up, n.id) && time.Since(n.data.lastMessage()) > quiet && n.data.unacked() == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	n.log.Warn("still receiving messages while leaving; closing anyway")
}
