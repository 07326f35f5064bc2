package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hwtrack/hwtrack/broker"
)

// NodeState is a node's place in the membership.
type NodeState int

const (
	// NodeStateUnknown is the zero value, never sent.
	NodeStateUnknown NodeState = iota
	// NodeStateUp nodes own vehicles.
	NodeStateUp
	// NodeStateLeaving nodes are shutting down: they own nothing but are
	// still handing their vehicles over.
	NodeStateLeaving
	// NodeStateLeft nodes shut down cleanly.
	NodeStateLeft
	// NodeStateLost nodes died (their last will) or fell silent.
	NodeStateLost
)

var nodeStateNames = [...]string{"unknown", "up", "leaving", "left", "lost"}

func (s NodeState) String() string {
	if s < 0 || int(s) >= len(nodeStateNames) {
		return nodeStateNames[NodeStateUnknown]
	}
	return nodeStateNames[s]
}

// MarshalText encodes the state by name.
func (s NodeState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes a state name; an unknown name is an error.
func (s *NodeState) UnmarshalText(b []byte) error {
	for i, name := range nodeStateNames {
		if i > 0 && name == string(b) {
			*s = NodeState(i)
			return nil
		}
	}
	return fmt.Errorf("unknown node state %q", b)
}

// nodeRecord is a node's retained membership record.
type nodeRecord struct {
	Node string `json:"node"`
	// Incarnation tells one run of a node from the next: its start time
	// in Unix nanoseconds. A record of an older incarnation never
	// overrides a newer one, so the last will of a replaced connection
	// cannot mark a restarted node lost.
	Incarnation int64     `json:"incarnation"`
	State       NodeState `json:"state"`
	At          time.Time `json:"at"`
}

// releaseMarker says that a node has saved the state images of every
// vehicle it lost when the membership became View.
type releaseMarker struct {
	Node string `json:"node"`
	View string `json:"view"`
}

// stateImage is a vehicle's deviation state as the owning node saved it.
type stateImage struct {
	Terminal string    `json:"terminal"`
	Node     string    `json:"node"`
	SavedAt  time.Time `json:"saved_at"`
	// LastFix is the fix time of the newest fix the state includes. A
	// node restores an image only when it is newer than its own state.
	LastFix time.Time       `json:"last_fix"`
	Engine  json.RawMessage `json:"engine"`
}

// envelope carries a vehicle message handed to its owner, with what the
// receiving node knew of it.
type envelope struct {
	Topic      string    `json:"topic"`
	Payload    []byte    `json:"payload"`
	QoS        byte      `json:"qos"`
	Retain     bool      `json:"retain,omitempty"`
	ClientID   string    `json:"client_id,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
	From       string    `json:"from"`
	// Hops counts the hand-offs so far; nodes whose membership views
	// disagree cannot pass a message back and forth for ever.
	Hops int `json:"hops"`
}

func newEnvelope(msg broker.Message, from string, hops int) envelope {
	return envelope{
		Topic: msg.Topic, Payload: msg.Payload, QoS: msg.QoS, Retain: msg.Retain,
		ClientID: msg.ClientID, ReceivedAt: msg.ReceivedAt, From: from, Hops: hops,
	}
}

// message returns the vehicle message the envelope carries, after checking
// that its topic is a vehicle topic.
func (e envelope) message() (broker.Message, error) {
	terminal, ok := vehicleTopic(e.Topic)
	if !ok {
		return broker.Message{}, fmt.Errorf("handed-off message has topic %q, not a vehicle topic", e.Topic)
	}
	if e.ReceivedAt.IsZero() {
		return broker.Message{}, fmt.Errorf("handed-off message on %q has no receive time", e.Topic)
	}
	return broker.Message{
		ClientID: e.ClientID, Terminal: terminal, Topic: e.Topic, QoS: e.QoS,
		Retain: e.Retain, Payload: e.Payload, ReceivedAt: e.ReceivedAt,
	}, nil
}
