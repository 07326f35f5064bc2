package cluster

import "github.com/prometheus/client_golang/prometheus"

// Message sources, the label values of hwtrack_cluster_messages_total.
const (
	sourceShared  = "shared"  // the shared subscription
	sourceHandoff = "handoff" // another node's hand-off to this node's inbox
	sourceAdopted = "adopted" // the session of a lost node this node adopted
	sourceLocal   = "local"   // the embedded broker of this node
)

// Drop reasons, the label values of hwtrack_cluster_dropped_total.
const (
	dropTopic    = "topic"    // not a vehicle topic
	dropEnvelope = "envelope" // a hand-off that cannot be decoded
)

type metrics struct {
	messages        *prometheus.CounterVec
	dropped         *prometheus.CounterVec
	handoffs        prometheus.Counter
	handoffFailures prometheus.Counter
	handoffSeconds  prometheus.Histogram
	misrouted       prometheus.Counter
	acquired        prometheus.Counter
	released        prometheus.Counter
	restored        prometheus.Counter
	images          prometheus.Counter
	imageErrors     prometheus.Counter
	viewChanges     prometheus.Counter
	settleTimeouts  prometheus.Counter
	adoptions       prometheus.Counter
	recordErrors    prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hwtrack_cluster_messages_total",
			Help: "Vehicle messages this node received, by source: shared (subscription), handoff (from another node), adopted (a lost node's session), local (embedded broker).",
		}, []string{"source"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hwtrack_cluster_dropped_total",
			Help: "Messages acknowledged without being recorded, by reason: topic (not a vehicle topic), envelope (a hand-off that cannot be decoded).",
		}, []string{"reason"}),
		handoffs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_handoffs_total",
			Help: "Vehicle messages this node passed to the node that owns the vehicle.",
		}),
		handoffFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_handoff_failures_total",
			Help: "Hand-offs the cluster did not acknowledge; the original stays unacknowledged and is delivered again.",
		}),
		handoffSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hwtrack_cluster_handoff_seconds",
			Help:    "Time from publishing a hand-off until the cluster acknowledged it, in seconds.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		misrouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_misrouted_total",
			Help: "Messages recorded here although another node owns the vehicle, after too many hand-offs between nodes whose membership views disagreed.",
		}),
		acquired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_vehicles_acquired_total",
			Help: "Vehicles this node started evaluating after the membership changed.",
		}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_vehicles_released_total",
			Help: "Vehicles this node handed to another node, with their deviation state.",
		}),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_state_restored_total",
			Help: "Vehicles whose deviation state this node restored from an image another node saved.",
		}),
		images: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_state_images_total",
			Help: "Deviation state images this node saved to the cluster.",
		}),
		imageErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_state_image_errors_total",
			Help: "State images not saved; the next owner of the vehicle starts from an older image.",
		}),
		viewChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_view_changes_total",
			Help: "Membership changes this node installed.",
		}),
		settleTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_settle_timeouts_total",
			Help: "Membership changes after which this node stopped waiting for the release markers of the other nodes.",
		}),
		adoptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_adoptions_total",
			Help: "Sessions of lost nodes this node adopted to route the messages they held.",
		}),
		recordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hwtrack_cluster_record_errors_total",
			Help: "Vehicle, trip, booking or zone records that could not be shared with the other nodes; those nodes lack the change until it is made again.",
		}),
	}
	for _, s := range []string{sourceShared, sourceHandoff, sourceAdopted, sourceLocal} {
		m.messages.WithLabelValues(s)
	}
	for _, r := range []string{dropTopic, dropEnvelope} {
		m.dropped.WithLabelValues(r)
	}
	return m
}

// Collectors returns the node's Prometheus collectors, with gauges of the
// membership, the owned vehicles, the unacknowledged messages and the
// connections.
func (n *Node) Collectors() []prometheus.Collector {
	m := n.metrics
	cs := []prometheus.Collector{
		m.messages, m.dropped, m.handoffs, m.handoffFailures, m.handoffSeconds, m.misrouted,
		m.acquired, m.released, m.restored, m.images, m.imageErrors, m.viewChanges,
		m.settleTimeouts, m.adoptions, m.recordErrors,
		nodeCollector{n: n, desc: prometheus.NewDesc("hwtrack_cluster_nodes",
			"Nodes of the group as this node sees them, by state (up, leaving, left, lost).", []string{"state"}, nil)},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_cluster_owned_vehicles",
			Help: "Vehicles this node evaluates now.",
		}, func() float64 { return float64(n.Owned()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_cluster_unacked_messages",
			Help: "Messages received from the cluster and not yet acknowledged: waiting for the raw log or a hand-off.",
		}, func() float64 { return float64(n.unacked()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hwtrack_cluster_connected",
			Help: "1 while the node's control, data and hand-off connections to the cluster are all up, else 0.",
		}, func() float64 {
			if n.Connected() {
				return 1
			}
			return 0
		}),
	}
	return cs
}

// nodeCollector reports how many nodes of the group are in each state.
type nodeCollector struct {
	n    *Node
	desc *prometheus.Desc
}

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	counts := c.n.members.counts()
	for _, st := range []NodeState{NodeStateUp, NodeStateLeaving, NodeStateLeft, NodeStateLost} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[st]), st.String())
	}
}
