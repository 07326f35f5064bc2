package console

import (
	"sync"
	"time"
)

// Limiter counts failed login attempts per key (a client IP or a username)
// in a sliding window and blocks a key that reached the maximum until its
// oldest failure leaves the window. It is safe for concurrent use.
type Limiter struct {
	maxFailures int
	window      time.Duration
	maxKeys     int
	now         func() time.Time

	mu sync.Mutex
	// failures holds, per key, the times of the failures still inside the
	// window, oldest first and at most maxFailures of them. Guarded by mu.
	failures map[string][]time.Time
}

// NewLimiter returns a limiter that blocks a key after maxFailures failures
// within window. It tracks at most maxKeys keys at once, so a flood of
// distinct keys cannot grow it without bound.
func NewLimiter(maxFailures int, window time.Duration, maxKeys int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		maxFailures: max(maxFailures, 1),
		window:      window,
		maxKeys:     max(maxKeys, 1),
		now:         now,
		failures:    map[string][]time.Time{},
	}
}

// RetryAfter returns how long key stays blocked, or 0 when it may try now.
func (l *Limiter) RetryAfter(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	times := l.live(key, now)
	if len(times) < l.maxFailures {
		return 0
	}
	return times[0].Add(l.window).Sub(now)
}

// Fail records one failed attempt of key.
func (l *Limiter) Fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	times := l.live(key, now)
	if times == nil && len(l.failures) >= l.maxKeys {
		l.makeRoom(now)
	}
	times = append(times, now)
	if len(times) > l.maxFailures {
		times = times[len(times)-l.maxFailures:]
	}
	l.failures[key] = times
}

// Reset deletes the recorded failures of key.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

// live drops the failures of key that left the window and returns the
// rest. The caller holds mu.
func (l *Limiter) live(key string, now time.Time) []time.Time {
	times := l.failures[key]
	cut := 0
	for cut < len(times) && !times[cut].Add(l.window).After(now) {
		cut++
	}
	if cut == len(times) {
		delete(l.failures, key)
		return nil
	}
	if cut > 0 {
		times = append(times[:0], times[cut:]...)
		l.failures[key] = times
	}
	return times
}

// makeRoom drops every expired key and, if the map is still full, the key
// whose latest failure is oldest. The caller holds mu.
// NOTE: under a flood of distinct keys the evicted key loses its count, so
// the per-username limit is what protects an account in that case.
func (l *Limiter) makeRoom(now time.Time) {
	var oldestKey string
	var oldest time.Time
	for key := range l.failures {
		times := l.live(key, now)
		if times == nil {
			continue
		}
		if last := times[len(times)-1]; oldestKey == "" || last.Before(oldest) {
			oldestKey, oldest = key, last
		}
	}
	if len(l.failures) >= l.maxKeys && oldestKey != "" {
		delete(l.failures, oldestKey)
	}
}
