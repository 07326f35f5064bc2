package cluster

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// view is one membership as a node installed it. It is immutable.
type view struct {
	// key names the set of up nodes, each with its incarnation, so a node
	// that restarted makes a different key. Release markers carry it.
	key string
	// up are the ids of the nodes that own vehicles, sorted.
	up []string
	// waitFor are the other nodes that hand vehicles over when this view
	// is installed: up or leaving, not lost.
	waitFor []string
	// lost maps each lost node to its incarnation.
	lost map[string]int64
	// signature changes whenever up, waitFor or lost do.
	signature string
	installed time.Time
	// timedOut is set once a wait for the release markers of this view
	// timed out, so the timeout is counted and logged once.
	timedOut atomic.Bool
	// backlog is closed once the sessions of lost nodes this node adopts
	// in this view have delivered what they held (see adoptLost).
	backlog chan struct{}
}

// owner returns the node that owns terminal in this view, or "" when no
// node is up.
func (v *view) owner(terminal string) string { return Owner(terminal, v.up) }

// member is the last known record of one node, this node included.
type member struct {
	record nodeRecord
	// seen is the local time the last record arrived; an up node silent
	// for the timeout counts as lost.
	seen   time.Time
	silent bool
}

// state returns the member's state, counting a silent node as lost.
func (m *member) state() NodeState {
	if m.silent && (m.record.State == NodeStateUp || m.record.State == NodeStateLeaving) {
		return NodeStateLost
	}
	return m.record.State
}

// membership tracks the records and release markers of every node of the
// group. mu guards members, markers and changed.
type membership struct {
	self    string
	timeout time.Duration

	mu      sync.Mutex
	members map[string]*member
	// markers maps a node to the view key of its last release marker.
	markers map[string]string
	// changed is closed and replaced whenever a record or marker arrives
	// or a node falls silent, to wake the goroutines waiting in settle.
	changed chan struct{}
}

func newMembership(self string, timeout time.Duration) *membership {
	return &membership{
		self:    self,
		timeout: timeout,
		members: map[string]*member{},
		markers: map[string]string{},
		changed: make(chan struct{}),
	}
}

// apply records a membership record received at now. A record of an
// older incarnation than the one known is ignored.
func (m *membership) apply(rec nodeRecord, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.members[rec.Node]
	if ok && rec.Incarnation < cur.record.Incarnation {
		return
	}
	m.members[rec.Node] = &member{record: rec, seen: now}
	m.notifyLocked()
}

// forget drops a node whose retained record was cleared.
func (m *membership) forget(node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.members, node)
	delete(m.markers, node)
	m.notifyLocked()
}

// applyMarker records a node's release marker.
func (m *membership) applyMarker(node, viewKey string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.markers[node] = viewKey
	m.notifyLocked()
}

// expire marks every up or leaving node other than self silent when no
// record of it arrived for the timeout, and reports whether any was.
func (m *membership) expire(now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	expired := false
	for id, mem := range m.members {
		if id == m.self || mem.silent {
			continue
		}
		st := mem.record.State
		if (st == NodeStateUp || st == NodeStateLeaving) && now.Sub(mem.seen) > m.timeout {
			mem.silent = true
			expired = true
		}
	}
	if expired {
		m.notifyLocked()
	}
	return expired
}

func (m *membership) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// changes returns a channel closed at the next change.
func (m *membership) changes() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// current builds the view of the membership now.
func (m *membership) current(now time.Time) *view {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := &view{lost: map[string]int64{}, installed: now, backlog: make(chan struct{})}
	var keyParts []string
	for id, mem := range m.members {
		switch mem.state() {
		case NodeStateUp:
			v.up = append(v.up, id)
			keyParts = append(keyParts, id+"@"+strconv.FormatInt(mem.record.Incarnation, 10))
			if id != m.self {
				v.waitFor = append(v.waitFor, id)
			}
		case NodeStateLeaving:
			if id != m.self {
				v.waitFor = append(v.waitFor, id)
			}
		case NodeStateLost:
			if id != m.self {
				v.lost[id] = mem.record.Incarnation
			}
		}
	}
	slices.Sort(v.up)
	slices.Sort(v.waitFor)
	slices.Sort(keyParts)
	v.key = strings.Join(keyParts, ",")

	lost := make([]string, 0, len(v.lost))
	for id, inc := range v.lost {
		lost = append(lost, id+"@"+strconv.FormatInt(inc, 10))
	}
	slices.Sort(lost)
	v.signature = v.key + "|" + strings.Join(v.waitFor, ",") + "|" + strings.Join(lost, ",")
	return v
}

// settled reports whether every node v waits for has published its
// release marker for v.
func (m *membership) settled(v *view) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range v.waitFor {
		if m.markers[id] != v.key {
			return false
		}
	}
	return true
}

// record returns the last record of node.
func (m *membership) record(node string) (nodeRecord, NodeState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, ok := m.members[node]
	if !ok {
		return nodeRecord{}, NodeStateUnknown, false
	}
	return mem.record, mem.state(), true
}

// counts returns how many nodes are in each state.
func (m *membership) counts() map[NodeState]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[NodeState]int{}
	for _, mem := range m.members {
		out[mem.state()]++
	}
	return out
}
