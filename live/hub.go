// Package live fans server events out to live-feed subscribers (the
// console's Server-Sent Events stream). Publishing never blocks: each
// subscriber has a bounded buffer, and a subscriber whose buffer is full is
// dropped, so one slow browser cannot hold up ingestion.
package live

import (
	"sync"
	"sync/atomic"
)

// Event is one live-feed event: Name is the SSE event name ("position",
// "deviation", "vehicle") and Data its JSON payload, encoded once and shared
// by every subscriber, which must not modify it.
type Event struct {
	Name string
	Data []byte
}

// DefaultBuffer is the per-subscriber buffer Subscribe uses for a
// non-positive size.
const DefaultBuffer = 256

// Hub delivers published events to every current subscriber. It is safe for
// concurrent use and starts no goroutines.
type Hub struct {
	mu sync.RWMutex
	// subs is the set of live subscribers and closed is set once by Close;
	// both are guarded by mu.
	subs   map[*Subscription]struct{}
	closed bool

	published atomic.Uint64
	dropped   atomic.Uint64
}

// NewHub returns a hub with no subscribers.
func NewHub() *Hub {
	return &Hub{subs: map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's view of the hub. Read events from C
// until Done is closed, then stop: Done closes when the subscriber was
// dropped for being slow, when it called Close, or when the hub closed.
type Subscription struct {
	hub    *Hub
	events chan Event
	done   chan struct{}
	once   sync.Once
	slow   atomic.Bool
}

// Subscribe adds a subscriber with room for buffer undelivered events. On
// a closed hub the returned subscription is already done.
func (h *Hub) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	sub := &Subscription{hub: h, events: make(chan Event, buffer), done: make(chan struct{})}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		sub.finish()
		return sub
	}
	h.subs[sub] = struct{}{}
	return sub
}

// C returns the channel events arrive on.
func (s *Subscription) C() <-chan Event { return s.events }

// Done returns a channel that is closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Dropped reports whether the hub ended the subscription because its
// buffer was full.
func (s *Subscription) Dropped() bool { return s.slow.Load() }

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
	s.finish()
}

func (s *Subscription) finish() {
	s.once.Do(func() { close(s.done) })
}

// Publish offers ev to every subscriber without waiting. A subscriber whose
// buffer is full is removed and its Done channel closed.
func (h *Hub) Publish(ev Event) {
	h.published.Add(1)
	var slow []*Subscription

	h.mu.RLock()
	for sub := range h.subs {
		select {
		case sub.events <- ev:
		default:
			slow = append(slow, sub)
		}
	}
	h.mu.RUnlock()

	if len(slow) == 0 {
		return
	}
	h.mu.Lock()
	for _, sub := range slow {
		if _, ok := h.subs[sub]; ok {
			delete(h.subs, sub)
			sub.slow.Store(true)
			sub.finish()
			h.dropped.Add(1)
		}
	}
	h.mu.Unlock()
}

// Subscribers returns the number of current subscribers.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// Stats returns how many events were published and how many subscribers
// were dropped for being slow since the hub was created.
func (h *Hub) Stats() (published, dropped uint64) {
	return h.published.Load(), h.dropped.Load()
}

// Close ends every subscription and makes later subscriptions end at once.
// It is safe to call more than once.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for sub := range h.subs {
		delete(h.subs, sub)
		sub.finish()
	}
}
