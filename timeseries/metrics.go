package timeseries

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a point is not written, the label values of
// hwtrack_timeseries_points_rejected_total.
const (
	// rejectInfluxDB: InfluxDB responded 4xx; the batch is in the reject file.
	rejectInfluxDB = "influxdb"
	// rejectEncode: the fix has no line protocol form.
	rejectEncode = "encode"
)

type writerMetrics struct {
	pointsWritten  prometheus.Counter
	pointsRejected *prometheus.CounterVec
	pointsDeferred prometheus.Counter
	pointsDropped  prometheus.Counter
	writeErrors    *prometheus.CounterVec
	writeSeconds   prometheus.Histogram
	// pendingPoints is the number of points in memory, neither written
	// nor spooled.
	pendingPoints atomic.Int64
	gauges        []prometheus.Collector
}

func newWriterMetrics(w *Writer) *writerMetrics {
	m := &writerMetrics{
		pointsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_timeseries_points_written_total",
			Help: "Points InfluxDB accepted, counting a point again when a batch is written twice.",
		}),
		pointsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hwtrack_timeseries_points_rejected_total",
			Help: "Points not written for good, by reason: influxdb (4xx answer; saved in the spool's reject file) or encode.",
		}, []string{"reason"}),
		pointsDeferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_timeseries_points_deferred_total",
			Help: "Points the full spool could not take; they stay in the raw log and are written after the next start. Alert on any increase.",
		}),
		pointsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_timeseries_points_dropped_total",
			Help: "Points lost because neither InfluxDB nor the spool took them and no raw log record holds them.",
		}),
		writeErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hwtrack_timeseries_write_errors_total",
			Help: "Failed write requests by class: network, server (5xx), throttled (429), config (401, 403, 404), rejected (other 4xx), unknown.",
		}, []string{"class"}),
		writeSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hwtrack_timeseries_write_seconds",
			Help:    "Duration of one write request to InfluxDB, in seconds.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
	}
	for _, r := range []string{rejectInfluxDB, rejectEncode} {
		m.pointsRejected.WithLabelValues(r)
	}
	for _, c := range errorClasses {
		m.writeErrors.WithLabelValues(c.String())
	}
	m.gauges = []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_timeseries_spool_bytes",
			Help: "Bytes of batches in the spool waiting to be written.",
		}, func() float64 { return float64(w.spool.stats().bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_timeseries_spool_batches",
			Help: "Batches in the spool waiting to be written.",
		}, func() float64 { return float64(w.spool.stats().batches) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_timeseries_spool_oldest_age_seconds",
			Help: "Age of the oldest batch in the spool, in seconds; 0 when the spool is empty.",
		}, func() float64 {
			oldest := w.spool.stats().oldest
			if oldest.IsZero() {
				return 0
			}
			return time.Since(oldest).Seconds()
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_timeseries_spool_corrupt_frames",
			Help: "Spool frames found corrupt since start; their segment is kept as corrupt-* for inspection.",
		}, func() float64 { return float64(w.spool.stats().corruptFrames) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_timeseries_pending_points",
			Help: "Points in memory, neither written nor spooled.",
		}, func() float64 { return float64(m.pendingPoints.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_timeseries_up",
			Help: "0 from a failed write to InfluxDB until the next one succeeds, else 1.",
		}, func() float64 {
			if w.outage.Load() {
				return 0
			}
			return 1
		}),
	}
	return m
}

// Collectors returns the writer's Prometheus collectors.
func (w *Writer) Collectors() []prometheus.Collector {
	m := w.metrics
	return append([]prometheus.Collector{m.pointsWritten, m.pointsRejected, m.pointsDeferred, m.pointsDropped, m.writeErrors, m.writeSeconds}, m.gauges...)
}
