package simulator

import (
	"math"
	"sync/atomic"
	"time"
)

// Latency histogram buckets grow by 4 % from 10 µs, so a percentile read
// from them is within 4 % of the true value. The last bucket holds
// everything from about 2 minutes up.
const (
	histMin     = 10 * time.Microsecond
	histGrowth  = 1.04
	histBuckets = 420
)

var histLogGrowth = math.Log(histGrowth)

// latencyHist counts durations in log-spaced buckets. Add is safe for
// concurrent use; readers call it after the writers are done or accept a
// count that is a moment old.
type latencyHist struct {
	counts [histBuckets]atomic.Uint64
	maxNs  atomic.Int64
}

func histBucket(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(histMin))/histLogGrowth) + 1
	return min(i, histBuckets-1)
}

// histUpper returns the upper edge of bucket i.
func histUpper(i int) time.Duration {
	return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i)))
}

func (h *latencyHist) Add(d time.Duration) {
	h.counts[histBucket(d)].Add(1)
	for {
		cur := h.maxNs.Load()
		if int64(d) <= cur || h.maxNs.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}

// merge adds o's counts to h.
func (h *latencyHist) merge(o *latencyHist) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
		}
	}
	if m := o.maxNs.Load(); m > h.maxNs.Load() {
		h.maxNs.Store(m)
	}
}

func (h *latencyHist) count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// quantile returns the upper edge of the bucket holding quantile q (0..1),
// capped at the largest value seen, or 0 for an empty histogram.
func (h *latencyHist) quantile(q float64) time.Duration {
	total := h.count()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return min(histUpper(i), time.Duration(h.maxNs.Load()))
		}
	}
	return time.Duration(h.maxNs.Load())
}

// LatencySummary is a latency distribution in milliseconds.
type LatencySummary struct {
	Count uint64  `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
}

func (h *latencyHist) summary() LatencySummary {
	return LatencySummary{
		Count: h.count(),
		P50Ms: ms(h.quantile(0.50)),
		P90Ms: ms(h.quantile(0.90)),
		P99Ms: ms(h.quantile(0.99)),
		MaxMs: ms(time.Duration(h.maxNs.Load())),
	}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// secondSlot holds what happened in one second of a run.
type secondSlot struct {
	sentFixes  atomic.Int64
	ackedFixes atomic.Int64
	ackLatency latencyHist
}

// timeline is one slot per second from the start of a run. Seconds past
// its end go to the last slot.
type timeline struct {
	start time.Time
	slots []secondSlot
}

func newTimeline(start time.Time, d time.Duration) *timeline {
	return &timeline{start: start, slots: make([]secondSlot, int(d/time.Second)+1)}
}

func (t *timeline) slot(at time.Time) *secondSlot {
	i := int(at.Sub(t.start) / time.Second)
	return &t.slots[max(0, min(i, len(t.slots)-1))]
}

// SecondStats is one second of a run in the report and charts.
type SecondStats struct {
	// Second counts from the start of publishing.
	Second     int     `json:"second"`
	SentFixes  int64   `json:"sent_fixes"`
	AckedFixes int64   `json:"acked_fixes"`
	AckP50Ms   float64 `json:"ack_p50_ms"`
	AckP99Ms   float64 `json:"ack_p99_ms"`
	AckMaxMs   float64 `json:"ack_max_ms"`
}
