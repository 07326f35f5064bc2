package server

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hwtrack/hwtrack/broker"
)

// publishCounter is the broker handler of broker-only mode. It counts each
// publish and lets the broker acknowledge it at once: no raw log, no
// decoding, no rules and no store. The broker in front of it keeps its
// authentication, topic ACL and limits, so the acknowledged rate it allows
// is the ceiling the full pipeline is compared with.
type publishCounter struct {
	messages    prometheus.Counter
	fixMessages prometheus.Counter
	bytes       prometheus.Counter
}

var _ broker.Handler = (*publishCounter)(nil)

func newPublishCounter() *publishCounter {
	return &publishCounter{
		messages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_broker_only_messages_total",
			Help: "Publishes counted in broker-only mode (the server records nothing).",
		}),
		fixMessages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_broker_only_fix_messages_total",
			Help: "Publishes to hwt/v1/{terminal}/fix counted in broker-only mode.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_broker_only_payload_bytes_total",
			Help: "Payload bytes of the publishes counted in broker-only mode.",
		}),
	}
}

// HandlePublish counts msg. The ACL has already confined the topic to the
// vehicle's own prefix, so the suffix alone identifies a fix message.
func (c *publishCounter) HandlePublish(msg broker.Message) error {
	c.messages.Inc()
	if strings.HasSuffix(msg.Topic, "/fix") {
		c.fixMessages.Inc()
	}
	c.bytes.Add(float64(len(msg.Payload)))
	return nil
}

func (c *publishCounter) collectors() []prometheus.Collector {
	return []prometheus.Collector{c.messages, c.fixMessages, c.bytes}
}
