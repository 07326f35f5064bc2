package ingest

import "github.com/prometheus/client_golang/prometheus"

type pipelineMetrics struct {
	messages      prometheus.Counter
	fixesAccepted prometheus.Counter
	fixesStored   prometheus.Counter
	duplicates    prometheus.Counter
	rejected      *prometheus.CounterVec
	dropped       *prometheus.CounterVec
	storeLatency  prometheus.Histogram
	noticeErrors  prometheus.Counter
	queueDepth    func() float64
}

func newPipelineMetrics() *pipelineMetrics {
	m := &pipelineMetrics{
		messages:      prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_ingest_messages_total", Help: "MQTT messages received from vehicles."}),
		fixesAccepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_fixes_accepted_total", Help: "Fixes that passed decoding and validation."}),
		fixesStored:   prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_fixes_stored_total", Help: "Fixes written to the store (duplicates excluded)."}),
		duplicates:    prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_fixes_duplicate_total", Help: "Fixes already stored under the same vehicle, fix time and seq."}),
		rejected:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hwtrack_fixes_rejected_total", Help: "Rejected fixes and payloads by reason."}, []string{"reason"}),
		dropped:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hwtrack_fix_fields_dropped_total", Help: "Optional fields left out of accepted fixes, by field and reason."}, []string{"field", "reason"}),
		storeLatency:  prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hwtrack_ingest_batch_seconds", Help: "Time to evaluate and store one worker batch.", Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
		noticeErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_ingest_notices_dropped_total", Help: "Rejection notices to vehicles that could not be published; the rejections themselves are counted and logged all the same."}),
	}
	for _, r := range Reasons() {
		m.rejected.WithLabelValues(r.String())
	}
	// Every series of the dropped-field counter exists from the start, at
	// zero, so a dashboard or an alert rule can use it before the first drop.
	for _, field := range []string{"alt", "speed", "heading", "sats", "hdop", "accuracy", "odometer", "acc", "vel", "cog"} {
		for _, r := range []Reason{ReasonWrongType, ReasonOutOfRange, ReasonNotFinite} {
			m.dropped.WithLabelValues(field, r.String())
		}
	}
	for _, field := range []string{"time", "tst"} {
		m.dropped.WithLabelValues(field, ReasonTimeCorrected.String())
	}
	return m
}

// Collectors returns the pipeline's Prometheus collectors.
func (p *Pipeline) Collectors() []prometheus.Collector {
	m := p.metrics
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hwtrack_ingest_queue_depth", Help: "Messages waiting in the vehicle workers' queues."}, m.queueDepth)
	return []prometheus.Collector{m.messages, m.fixesAccepted, m.fixesStored, m.duplicates, m.rejected, m.dropped, m.storeLatency, m.noticeErrors, depth}
}
