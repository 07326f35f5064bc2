package cluster

import (
	"sync"
	"time"
)

// adoptLost adopts the session of every lost node that rendezvous hashing
// assigns to this node in v, once per incarnation of the lost node, and
// closes v.backlog once those sessions have delivered what they held.
func (n *Node) adoptLost(v *view) {
	// A node seen up again may be lost again later, with the same
	// incarnation after a control connection failure.
	n.adoptMu.Lock()
	for _, id := range v.up {
		delete(n.adopted, id)
	}
	n.adoptMu.Unlock()

	var backlog sync.WaitGroup
	for id, incarnation := range v.lost {
		if Owner("adopt/"+id, v.up) != n.id {
			continue
		}
		n.adoptMu.Lock()
		done := n.adopted[id] == incarnation
		n.adopted[id] = incarnation
		n.adoptMu.Unlock()
		if done {
			continue
		}
		backlog.Add(1)
		n.wg.Add(1)
		go n.adopt(id, incarnation, sync.OnceFunc(backlog.Done))
	}
	go func() {
		backlog.Wait()
		close(v.backlog)
	}()
}

// Adopted sessions are taken to have delivered their backlog once they
// stayed silent for backlogQuiet, and are let go once silent for
// adoptQuiet after the node timeout.
const (
	backlogQuiet = 200 * time.Millisecond
	adoptQuiet   = time.Second
)

// adopt connects with the lost node's client id, so the cluster delivers
// this node the messages the session held, and routes them like any
// other. It first drops the session's shared subscriptions, so new
// messages go to live nodes only. It keeps the inbox subscription for the
// node timeout, because a node that has not yet noticed the loss may still
// hand the lost node a message. Then it disconnects and leaves the session
// to its owner's return, and a hand-off arriving later waits there.
// delivered is called once the backlog is routed, or when adoption fails.
func (n *Node) adopt(lost string, incarnation int64, delivered func()) {
	defer n.wg.Done()
	defer delivered()
	c := n.newConn(n.dataClientID(lost), lost, sourceAdopted, false)
	connected := time.Now()
	if err := c.connect(n.opts.ConnectTimeout); err != nil {
		n.log.Warn("session of a lost node not adopted; its unacknowledged messages wait for its return", "lost_node", lost, "err", err)
		return
	}
	defer c.close()
	n.metrics.adoptions.Inc()
	n.log.Info("adopted the session of a lost node", "lost_node", lost)
	if tok := c.client.Unsubscribe(sharedFilters(n.opts.Group)...); !tok.WaitTimeout(n.opts.ConnectTimeout) || tok.Error() != nil {
		n.log.Warn("shared subscriptions of a lost node's session not dropped", "lost_node", lost, "err", tokenError(tok))
	}

	hold := time.Now().Add(n.opts.NodeTimeout)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		silentSince := c.lastMessage()
		if silentSince.Before(connected) {
			silentSince = connected
		}
		if time.Since(silentSince) > backlogQuiet && c.unacked() == 0 {
			delivered()
		}
		if !c.client.IsConnectionOpen() {
			n.log.Info("adopted session taken back", "lost_node", lost)
			return
		}
		if rec, state, ok := n.members.record(lost); ok && rec.Incarnation > incarnation && state == NodeStateUp {
			n.log.Info("lost node is back; leaving its session to it", "lost_node", lost)
			return
		}
		if time.Now().After(hold) && time.Since(silentSince) > adoptQuiet && c.unacked() == 0 {
			n.log.Info("adopted session drained", "lost_node", lost)
			return
		}
	}
}
