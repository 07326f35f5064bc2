package live

import (
	"sync"
	"time"
)

// Newest remembers the time of each vehicle's newest fix, so the live feed
// shows a fix only when it moves the vehicle forward in time: a late fix
// (sent after newer ones) never moves the live marker back. It is safe for
// concurrent use.
type Newest struct {
	mu sync.Mutex
	// times maps a terminal id to its newest fix time; guarded by mu.
	times map[string]time.Time
}

// NewNewest returns an empty tracker.
func NewNewest() *Newest {
	return &Newest{times: map[string]time.Time{}}
}

// Advance records t for terminal and reports whether it is newer than every
// time recorded for terminal before. known, when set, is called for a
// terminal seen for the first time and returns its newest stored fix time
// (zero for none), so a restart does not treat an old fix as newest.
func (n *Newest) Advance(terminal string, t time.Time, known func(terminal string) time.Time) bool {
	n.mu.Lock()
	prev, seen := n.times[terminal]
	n.mu.Unlock()

	if !seen && known != nil {
		// Looked up outside the lock; a concurrent Advance for the same
		// terminal is resolved by the comparison below.
		prev = known(terminal)
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if cur, ok := n.times[terminal]; ok {
		// Another call recorded the terminal meanwhile; its time wins.
		prev, seen = cur, true
	}
	if t.Before(prev) || (seen && t.Equal(prev)) {
		if !seen {
			n.times[terminal] = prev
		}
		return false
	}
	n.times[terminal] = t
	return true
}
