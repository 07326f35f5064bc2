package storage

import "github.com/prometheus/client_golang/prometheus"

// metrics are the collectors of one Store. They are not registered
// anywhere, because the caller registers Store.Collectors.
type metrics struct {
	appendLatency prometheus.Histogram
	fsyncBatch    prometheus.Histogram
	fsyncLatency  prometheus.Histogram
	pebbleCommit  *prometheus.HistogramVec
	rawBytes      prometheus.Counter
	fixesStored   prometheus.Counter
	fixDuplicates prometheus.Counter
	writeErrors   *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		appendLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hwtrack",
			Subsystem: "storage",
			Name:      "raw_append_seconds",
			Help:      "Time from a raw log append until its record is fsynced, in seconds.",
			Buckets:   prometheus.ExponentialBuckets(0.0001, 2, 16), // 100 µs to about 3.3 s
		}),
		fsyncBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hwtrack",
			Subsystem: "storage",
			Name:      "raw_fsync_batch_records",
			Help:      "Records committed by one raw log fdatasync.",
			Buckets:   prometheus.ExponentialBuckets(1, 2, 14), // 1 to 8192
		}),
		fsyncLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "hwtrack",
			Subsystem: "storage",
			Name:      "raw_fsync_seconds",
			Help:      "Time to write and fdatasync one raw log commit group, in seconds.",
			Buckets:   prometheus.ExponentialBuckets(0.0001, 2, 16), // 100 µs to about 3.3 s
		}),
		pebbleCommit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "hwtrack",
			Subsystem: "storage",
			Name:      "pebble_commit_seconds",
			Help:      "Time to commit one batch of derived data to the embedded store, in seconds, by batch: fixes or deviations.",
			Buckets:   prometheus.ExponentialBuckets(0.00001, 2, 18), // 10 µs to about 1.3 s
		}, []string{"batch"}),
		rawBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hwtrack",
			Subsystem: "storage",
			Name:      "raw_appended_bytes_total",
			Help:      "Bytes of framed records written to the raw log and synced.",
		}),
		fixesStored: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hwtrack",
			Subsystem: "storage",
			Name:      "fixes_stored_total",
			Help:      "Fixes written to the fix store.",
		}),
		fixDuplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "hwtrack",
			Subsystem: "storage",
			Name:      "fix_duplicates_total",
			Help:      "Fixes not written because the same terminal, fix time and seq was already stored.",
		}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "hwtrack",
			Subsystem: "storage",
			Name:      "write_errors_total",
			Help:      "Failed writes by target: raw (a raw log commit batch) or pebble (a derived-data batch).",
		}, []string{"target"}),
	}
	for _, batch := range []string{"fixes", "deviations"} {
		m.pebbleCommit.WithLabelValues(batch)
	}
	for _, target := range []string{"raw", "pebble"} {
		m.writeErrors.WithLabelValues(target)
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{
		m.appendLatency, m.fsyncBatch, m.fsyncLatency, m.pebbleCommit, m.rawBytes, m.fixesStored, m.fixDuplicates, m.writeErrors,
	}
}
