package broker

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// guard decides which CONNECT packets the broker accepts before it spends a
// password hash on them. It applies a token bucket to all CONNECT packets
// and bans a terminal whose client id keeps being taken over by a second
// live connection: two units configured with the same id and credentials
// take turns kicking each other off, and their fixes would otherwise
// interleave into one impossible track.
type guard struct {
	limiter *rate.Limiter

	takeovers int
	window    time.Duration
	banFor    time.Duration

	// mu guards recent and banned.
	mu sync.Mutex
	// recent maps a terminal to the times of its live takeovers within the
	// window, oldest first.
	recent map[string][]time.Time
	// banned maps a terminal to the end of its ban.
	banned map[string]time.Time
}

func newGuard(connectRate float64, connectBurst, takeovers int, window, banFor time.Duration) *guard {
	return &guard{
		limiter:   rate.NewLimiter(rate.Limit(connectRate), connectBurst),
		takeovers: takeovers,
		window:    window,
		banFor:    banFor,
		recent:    map[string][]time.Time{},
		banned:    map[string]time.Time{},
	}
}

// allowConnect takes one token from the CONNECT bucket.
func (g *guard) allowConnect() bool { return g.limiter.Allow() }

// bannedUntil returns the end of the terminal's ban, or the zero time when
// it is not banned at now.
func (g *guard) bannedUntil(terminal string, now time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.banned[terminal]
	if !ok {
		return time.Time{}
	}
	if !now.Before(until) {
		delete(g.banned, terminal)
		return time.Time{}
	}
	return until
}

// recordTakeover notes that a new connection of terminal replaced a live
// one at now. It returns the end of the ban it starts when this takeover
// is the configured number within the window, or the zero time.
func (g *guard) recordTakeover(terminal string, now time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()

	times := g.recent[terminal]
	kept := times[:0]
	for _, at := range times {
		if now.Sub(at) < g.window {
			kept = append(kept, at)
		}
	}
	kept = append(kept, now)
	if len(kept) < g.takeovers {
		g.recent[terminal] = kept
		return time.Time{}
	}

	delete(g.recent, terminal)
	until := now.Add(g.banFor)
	g.banned[terminal] = until
	return until
}

// bannedCount returns how many terminals are banned at now.
func (g *guard) bannedCount(now time.Time) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for terminal, until := range g.banned {
		if now.Before(until) {
			n++
		} else {
			delete(g.banned, terminal)
		}
	}
	return n
}
