package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/deviation"
)

// install makes v the view messages are routed by. It hands the vehicles
// this node no longer owns to their new owners, clears the state of other
// vehicles it does not own and publishes its release marker for v. With
// adopt set it also adopts the sessions of lost nodes that fall to it.
func (n *Node) install(v *view, adopt bool) {
	n.mu.Lock()
	n.view.Store(v)
	var lost []string
	for t := range n.held {
		if v.owner(t) != n.id {
			lost = append(lost, t)
			delete(n.held, t)
			n.releasing[t] = struct{}{}
		}
	}
	n.mu.Unlock()

	n.metrics.viewChanges.Inc()
	n.log.Info("membership changed", "nodes_up", v.up, "nodes_lost", len(v.lost), "vehicles_released", len(lost))
	n.release(lost)
	n.resetUnowned(v)
	n.publishMarker(v)
	if adopt {
		n.adoptLost(v)
	}
}

// releaseWait bounds how long a release waits for records in flight.
const releaseWait = 10 * time.Second

// release hands vehicles to their new owners. Once their records in flight
// are evaluated, it saves each one's state image, waits for the cluster to
// acknowledge the images and clears the state here.
func (n *Node) release(terminals []string) {
	if len(terminals) == 0 {
		return
	}
	deadline := time.Now().Add(releaseWait)
	var synced sync.WaitGroup
	for _, t := range terminals {
		for n.pendingCount(t) > 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		synced.Go(func() { n.opts.Recorder.Sync(t) })
	}
	synced.Wait()

	n.imgMu.Lock()
	tokens := make([]paho.Token, 0, len(terminals))
	for _, t := range terminals {
		if tok := n.publishImage(t); tok != nil {
			tokens = append(tokens, tok)
		}
	}
	n.imgMu.Unlock()
	n.awaitImages(tokens)

	n.mu.Lock()
	for _, t := range terminals {
		n.opts.Engine.Reset(t)
		delete(n.releasing, t)
		delete(n.dirty, t)
	}
	n.mu.Unlock()
	n.metrics.released.Add(float64(len(terminals)))
}

func (n *Node) pendingCount(terminal string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pending[terminal]
}

// releaseAll hands over every held vehicle, at the end of Close.
func (n *Node) releaseAll() {
	n.mu.Lock()
	terminals := make([]string, 0, len(n.held))
	for t := range n.held {
		terminals = append(terminals, t)
		delete(n.held, t)
		n.releasing[t] = struct{}{}
	}
	n.mu.Unlock()
	n.release(terminals)
}

// resetUnowned clears the state of every vehicle this node neither holds
// nor owns in v, such as state recovered from the raw log for a vehicle
// that moved while the node was down. Zone changes and the timed rules then
// raise nothing for it here.
func (n *Node) resetUnowned(v *view) {
	for _, t := range n.opts.Engine.Terminals() {
		if v.owner(t) == n.id {
			continue
		}
		n.mu.Lock()
		_, held := n.held[t]
		_, busy := n.releasing[t]
		if !held && !busy && n.view.Load() == v {
			n.opts.Engine.Reset(t)
		}
		n.mu.Unlock()
	}
}

// publishMarker announces to the other nodes that this node has saved the
// state of every vehicle it lost in v.
func (n *Node) publishMarker(v *view) {
	b, err := json.Marshal(releaseMarker{Node: n.id, View: v.key})
	if err != nil {
		n.log.Error("release marker not encoded", "err", err)
		return
	}
	tok := n.ctl.Publish(n.topics.released(n.id), 1, true, b)
	if !tok.WaitTimeout(n.opts.ConnectTimeout) || tok.Error() != nil {
		n.log.Warn("release marker not published; the new owners wait for the settle timeout", "err", tokenError(tok))
	}
}

// acquireLocked starts holding terminal: it restores the newest image of
// the vehicle's state when that image includes fixes newer than the state
// here. n.mu must be held.
func (n *Node) acquireLocked(terminal string) {
	n.held[terminal] = struct{}{}
	n.metrics.acquired.Inc()
	img, ok := n.images[terminal]
	if !ok || !img.LastFix.After(n.opts.Engine.LastFixTime(terminal)) {
		return
	}
	if err := n.opts.Engine.RestoreState(terminal, img.Engine); err != nil {
		n.log.Warn("vehicle state image not restored; evaluating from the state here", "vehicle_id", terminal, "from", img.Node, "err", err)
		return
	}
	n.metrics.restored.Inc()
	n.log.Debug("vehicle state restored", "vehicle_id", terminal, "from", img.Node, "last_fix_time", img.LastFix)
}

// onImage keeps the newest state image of a vehicle.
func (n *Node) onImage(terminal string, payload []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(payload) == 0 {
		delete(n.images, terminal)
		return
	}
	var img stateImage
	if err := json.Unmarshal(payload, &img); err != nil || img.Terminal != terminal {
		n.log.Warn("vehicle state image not readable", "vehicle_id", terminal, "err", err)
		return
	}
	n.images[terminal] = img
}

// publishImage saves terminal's state as a retained image, returning nil
// when there is nothing to save. n.imgMu must be held.
func (n *Node) publishImage(terminal string) paho.Token {
	state, err := n.opts.Engine.MarshalState(terminal)
	if errors.Is(err, deviation.ErrUnknownTerminal) {
		return nil
	}
	var b []byte
	if err == nil {
		var last time.Time
		if last, err = deviation.StateLastFix(state); err == nil {
			b, err = json.Marshal(stateImage{Terminal: terminal, Node: n.id, SavedAt: time.Now().UTC(), LastFix: last, Engine: state})
		}
	}
	if err != nil {
		n.metrics.imageErrors.Inc()
		n.log.Error("vehicle state image not saved", "vehicle_id", terminal, "err", err)
		return nil
	}
	n.metrics.images.Inc()
	return n.ctl.Publish(n.topics.state(terminal), 1, true, b)
}

// awaitImages waits for the cluster to acknowledge saved images and counts
// the failures.
func (n *Node) awaitImages(tokens []paho.Token) {
	for _, tok := range tokens {
		if !tok.WaitTimeout(n.opts.ConnectTimeout) || tok.Error() != nil {
			n.metrics.imageErrors.Inc()
			n.log.Warn("vehicle state image not acknowledged by the MQTT cluster", "err", tokenError(tok))
		}
	}
}

// saveWait bounds how long SaveState waits for the cluster.
const saveWait = 2 * time.Second

// SaveState saves the state image of terminal now, when this node holds
// the vehicle, and waits up to 2 s until the cluster acknowledged it. The
// caller must not be a handler of the control connection, which reads
// that acknowledgement.
func (n *Node) SaveState(terminal string) error {
	n.imgMu.Lock()
	if !n.isHeld(terminal) {
		n.imgMu.Unlock()
		return nil
	}
	tok := n.publishImage(terminal)
	n.imgMu.Unlock()
	if tok == nil {
		return nil
	}
	if !tok.WaitTimeout(saveWait) || tok.Error() != nil {
		n.metrics.imageErrors.Inc()
		return fmt.Errorf("save state image of %s: %w", terminal, tokenError(tok))
	}
	return nil
}

// NoteDeviation requests an image of terminal soon, because a deviation
// opened or closed: a node that takes the vehicle over after a crash then
// has the episode.
func (n *Node) NoteDeviation(terminal string) {
	select {
	case n.urgent <- terminal:
	default:
		n.mu.Lock()
		n.dirty[terminal] = struct{}{}
		n.mu.Unlock()
	}
}

// saveImages saves the images of held vehicles that received fixes, every
// state interval, and those asked for by NoteDeviation at once, until
// Close.
func (n *Node) saveImages() {
	defer n.wg.Done()
	t := time.NewTicker(n.opts.StateInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			n.mu.Lock()
			var due []string
			for terminal := range n.dirty {
				if _, ok := n.held[terminal]; ok {
					due = append(due, terminal)
				}
			}
			clear(n.dirty)
			n.mu.Unlock()
			n.saveHeld(due)
		case terminal := <-n.urgent:
			n.saveHeld([]string{terminal})
		case <-n.stop:
			return
		}
	}
}

// saveHeld saves the images of the terminals still held.
func (n *Node) saveHeld(terminals []string) {
	if len(terminals) == 0 {
		return
	}
	n.imgMu.Lock()
	tokens := make([]paho.Token, 0, len(terminals))
	for _, t := range terminals {
		if !n.isHeld(t) {
			continue
		}
		if tok := n.publishImage(t); tok != nil {
			tokens = append(tokens, tok)
		}
	}
	n.imgMu.Unlock()
	n.awaitImages(tokens)
}

// Owned returns how many vehicles this node evaluates now.
func (n *Node) Owned() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.held)
}

func (n *Node) unacked() int64 { return n.unackedTotal.Load() }
