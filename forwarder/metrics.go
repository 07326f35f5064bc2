package forwarder

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Message kinds, the label values of hwtrack_forwarded_total.
const (
	kindDeviation = "deviation"
	kindTrip      = "trip"
	kindOther     = "other"
)

// Error stages, the label values of hwtrack_forward_errors_total.
const (
	stageConnect = "connect"
	stagePublish = "publish"
	stageStore   = "store"
	stageStall   = "stall"
)

type metrics struct {
	forwarded *prometheus.CounterVec
	errors    *prometheus.CounterVec
	delay     prometheus.Histogram
	// deadLetters is the operator alert: any increase means the regulator
	// broker rejected a message for good.
	deadLetters prometheus.Counter
	gauges      []prometheus.Collector
}

func newMetrics(f *Forwarder) *metrics {
	m := &metrics{
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hwtrack_forwarded_total",
			Help: "Messages acknowledged (PUBACK) by the regulator broker, by kind.",
		}, []string{"kind"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hwtrack_forward_errors_total",
			Help: "Forwarding failures by stage: connect, publish (token error), store (outbox read or removal), stall (watchdog recreated the client).",
		}, []string{"stage"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hwtrack_forward_delay_seconds",
			Help:    "Time from building a message to its PUBACK, in seconds.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 21600, 86400},
		}),
	}
	m.deadLetters = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "hwtrack_forward_dead_letters_total",
		Help: "Messages moved to the dead-letter store after the regulator broker rejected them in consecutive sessions; alert on any increase.",
	})
	for _, kind := range []string{kindDeviation, kindTrip, kindOther} {
		m.forwarded.WithLabelValues(kind)
	}
	for _, stage := range []string{stageConnect, stagePublish, stageStore, stageStall} {
		m.errors.WithLabelValues(stage)
	}
	m.gauges = []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_outbox_depth",
			Help: "Messages in the outbox waiting for a PUBACK.",
		}, func() float64 { return float64(f.Depth()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_outbox_oldest_age_seconds",
			Help: "Age of the oldest message in the outbox, in seconds; 0 when it is empty.",
		}, func() float64 { return f.oldestAge().Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_outbox_dead_letters",
			Help: "Messages in the dead-letter store, never to be sent again without an operator.",
		}, func() float64 { return float64(f.DeadLetterCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_upstream_connected",
			Help: "1 while the forwarder is connected to the regulator broker, else 0.",
		}, func() float64 {
			if f.Connected() {
				return 1
			}
			return 0
		}),
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return append([]prometheus.Collector{m.forwarded, m.errors, m.delay, m.deadLetters}, m.gauges...)
}

func (m *metrics) observeAck(msg Message, now time.Time) {
	m.forwarded.WithLabelValues(messageKind(msg.Topic)).Inc()
	m.delay.Observe(now.Sub(msg.CreatedAt).Seconds())
}

// messageKind derives the metric kind from the topic root.
func messageKind(topic string) string {
	root, _, _ := strings.Cut(topic, "/")
	switch root {
	case deviationTopicRoot:
		return kindDeviation
	case tripTopicRoot:
		return kindTrip
	default:
		return kindOther
	}
}
