package broker

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	connects         prometheus.Counter
	disconnects      prometheus.Counter
	authFailures     prometheus.Counter
	aclDenials       prometheus.Counter
	publishFailures  prometheus.Counter
	connectsRejected *prometheus.CounterVec
	takeovers        prometheus.Counter
	bans             prometheus.Counter
	acceptErrors     prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		connects:         prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_connects_total", Help: "MQTT sessions established."}),
		acceptErrors:     prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_accept_errors_total", Help: "Failed accepts on the MQTT listeners, such as running out of file descriptors; the listener retries."}),
		disconnects:      prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_disconnects_total", Help: "MQTT client disconnections."}),
		authFailures:     prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_auth_failures_total", Help: "MQTT connections rejected for bad credentials."}),
		aclDenials:       prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_acl_denials_total", Help: "Publishes or subscriptions refused because the topic is outside the vehicle's prefix."}),
		publishFailures:  prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_publish_unrecorded_total", Help: "Publishes whose acknowledgement was withheld because they could not be recorded."}),
		connectsRejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hwtrack_mqtt_connects_rejected_total", Help: "CONNECT packets rejected before authentication or for a client id in use, by reason (rate, banned, client_id_in_use)."}, []string{"reason"}),
		takeovers:        prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_takeovers_total", Help: "Live sessions replaced by a new connection with the same client id."}),
		bans:             prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_mqtt_terminal_bans_total", Help: "Terminals banned because their client id kept being taken over; alert on any increase."}),
	}
	for _, reason := range []string{"rate", "banned", "client_id_in_use"} {
		m.connectsRejected.WithLabelValues(reason)
	}
	return m
}

// Collectors returns the broker's Prometheus collectors, including a gauge
// of connected clients read from mochi.
func (b *Broker) Collectors() []prometheus.Collector {
	m := b.metrics
	clients := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hwtrack_mqtt_clients_connected", Help: "MQTT clients connected now."},
		func() float64 { return float64(atomic.LoadInt64(&b.server.Info.ClientsConnected)) })
	banned := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hwtrack_mqtt_terminals_banned", Help: "Terminals banned now for sharing a client id."},
		func() float64 { return float64(b.guard.bannedCount(time.Now())) })
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hwtrack_mqtt_messages_dropped_total", Help: "Messages mochi dropped for subscribers whose queue was full, read from mochi."},
		func() float64 { return float64(atomic.LoadInt64(&b.server.Info.MessagesDropped)) })
	inflight := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hwtrack_mqtt_inflight_messages", Help: "QoS 1 and 2 messages the broker holds for clients unacknowledged, read from mochi."},
		func() float64 { return float64(atomic.LoadInt64(&b.server.Info.Inflight)) })
	return []prometheus.Collector{m.connects, m.disconnects, m.authFailures, m.aclDenials, m.publishFailures,
		m.connectsRejected, m.takeovers, m.bans, m.acceptErrors, clients, banned, dropped, inflight}
}
