package broker

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	connects        prometheus.Counter
	disconnects     prometheus.Counter
	authFailures    prometheus.Counter
	aclDenials      prometheus.Counter
	publishFailures prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		connects:        prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_connects_total", Help: "MQTT sessions established."}),
		disconnects:     prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_disconnects_total", Help: "MQTT client disconnections."}),
		authFailures:    prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_auth_failures_total", Help: "MQTT connections rejected for bad credentials."}),
		aclDenials:      prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_acl_denials_total", Help: "Publishes or subscriptions refused because the topic is outside the vehicle's prefix."}),
		publishFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_publish_unrecorded_total", Help: "Publishes whose acknowledgement was withheld because they could not be recorded."}),
	}
}

// Collectors returns the broker's Prometheus collectors, including a gauge
// of connected clients read from mochi.
func (b *Broker) Collectors() []prometheus.Collector {
	m := b.metrics
	clients := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hwtrack_mqtt_clients_connected", Help: "MQTT clients connected now."},
		func() float64 { return float64(atomic.LoadInt64(&b.server.Info.ClientsConnected)) })
	return []prometheus.Collector{m.connects, m.disconnects, m.authFailures, m.aclDenials, m.publishFailures, clients}
}
