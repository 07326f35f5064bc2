package cluster

import (
	"slices"
	"testing"
	"time"
)

func TestViewCountsUpLeavingAndLost(t *testing.T) {
	now := time.Now()
	m := newMembership("a", 10*time.Second)
	m.apply(nodeRecord{Node: "a", Incarnation: 1, State: NodeStateUp}, now)
	m.apply(nodeRecord{Node: "b", Incarnation: 2, State: NodeStateUp}, now)
	m.apply(nodeRecord{Node: "c", Incarnation: 3, State: NodeStateLeaving}, now)
	m.apply(nodeRecord{Node: "d", Incarnation: 4, State: NodeStateLost}, now)
	m.apply(nodeRecord{Node: "e", Incarnation: 5, State: NodeStateLeft}, now)

	v := m.current(now)
	if want := []string{"a", "b"}; !slices.Equal(v.up, want) {
		t.Errorf("up = %v, want %v", v.up, want)
	}
	if want := []string{"b", "c"}; !slices.Equal(v.waitFor, want) {
		t.Errorf("waitFor = %v, want %v (other nodes that release vehicles)", v.waitFor, want)
	}
	if len(v.lost) != 1 || v.lost["d"] != 4 {
		t.Errorf("lost = %v, want d with incarnation 4", v.lost)
	}
	if v.key != "a@1,b@2" {
		t.Errorf("key = %q, want a@1,b@2", v.key)
	}
}

func TestViewKeyChangesWhenANodeRestarts(t *testing.T) {
	now := time.Now()
	m := newMembership("a", 10*time.Second)
	m.apply(nodeRecord{Node: "a", Incarnation: 1, State: NodeStateUp}, now)
	m.apply(nodeRecord{Node: "b", Incarnation: 2, State: NodeStateUp}, now)
	before := m.current(now)
	m.apply(nodeRecord{Node: "b", Incarnation: 7, State: NodeStateUp}, now)
	after := m.current(now)
	if before.key == after.key || before.signature == after.signature {
		t.Errorf("view key %q did not change when b restarted", after.key)
	}
}

func TestOlderIncarnationIsIgnored(t *testing.T) {
	now := time.Now()
	m := newMembership("a", 10*time.Second)
	m.apply(nodeRecord{Node: "b", Incarnation: 7, State: NodeStateUp}, now)
	// The last will of b's previous run arrives late.
	m.apply(nodeRecord{Node: "b", Incarnation: 2, State: NodeStateLost}, now)
	if _, st, _ := m.record("b"); st != NodeStateUp {
		t.Errorf("b is %s after an old will, want up", st)
	}
	// The same run's will counts.
	m.apply(nodeRecord{Node: "b", Incarnation: 7, State: NodeStateLost}, now)
	if _, st, _ := m.record("b"); st != NodeStateLost {
		t.Errorf("b is %s after its own will, want lost", st)
	}
}

func TestSilentNodeIsLost(t *testing.T) {
	start := time.Now()
	m := newMembership("a", 10*time.Second)
	m.apply(nodeRecord{Node: "a", Incarnation: 1, State: NodeStateUp}, start)
	m.apply(nodeRecord{Node: "b", Incarnation: 2, State: NodeStateUp}, start)
	if m.expire(start.Add(9 * time.Second)) {
		t.Fatal("b expired before the timeout")
	}
	if !m.expire(start.Add(11 * time.Second)) {
		t.Fatal("b did not expire after the timeout")
	}
	v := m.current(start.Add(11 * time.Second))
	if !slices.Equal(v.up, []string{"a"}) || v.lost["b"] != 2 {
		t.Errorf("after b fell silent: up %v, lost %v", v.up, v.lost)
	}
	// Never itself, however long its own records take.
	if _, st, _ := m.record("a"); st != NodeStateUp {
		t.Errorf("own state %s, want up", st)
	}
	// A heartbeat brings b back.
	m.apply(nodeRecord{Node: "b", Incarnation: 2, State: NodeStateUp}, start.Add(12*time.Second))
	if v := m.current(start.Add(12 * time.Second)); !slices.Equal(v.up, []string{"a", "b"}) {
		t.Errorf("after b's heartbeat: up %v", v.up)
	}
}

func TestSettledNeedsEveryMarker(t *testing.T) {
	now := time.Now()
	m := newMembership("a", 10*time.Second)
	for i, id := range []string{"a", "b", "c"} {
		m.apply(nodeRecord{Node: id, Incarnation: int64(i + 1), State: NodeStateUp}, now)
	}
	v := m.current(now)
	if m.settled(v) {
		t.Fatal("settled without markers")
	}
	changed := m.changes()
	m.applyMarker("b", v.key)
	select {
	case <-changed:
	default:
		t.Error("a marker did not signal a change")
	}
	if m.settled(v) {
		t.Fatal("settled with b's marker only")
	}
	m.applyMarker("c", "an older view")
	if m.settled(v) {
		t.Fatal("settled with c's marker for another view")
	}
	m.applyMarker("c", v.key)
	if !m.settled(v) {
		t.Fatal("not settled with every marker")
	}
}
