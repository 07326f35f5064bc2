package video

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	rejected         *prometheus.CounterVec
	startFailures    *prometheus.CounterVec
	drops            *prometheus.CounterVec
	keyframeRequests prometheus.Counter
	packetsIn        prometheus.Counter
	bytesIn          prometheus.Counter
	packetsOut       prometheus.Counter
	badPackets       prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hwtrack_video_signalling_rejected_total",
			Help: "Camera signalling messages from vehicles that were rejected, by reason."}, []string{"reason"}),
		startFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hwtrack_video_start_failures_total",
			Help: "Camera streams that did not start, by reason."}, []string{"reason"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hwtrack_video_drops_total",
			Help: "Live camera streams that were lost, by reason."}, []string{"reason"}),
		keyframeRequests: prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_video_keyframe_requests_total",
			Help: "Keyframe requests (RTCP PLI) sent to vehicles."}),
		packetsIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_video_rtp_received_packets_total",
			Help: "RTP packets received from vehicles."}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_video_rtp_received_bytes_total",
			Help: "RTP bytes received from vehicles."}),
		packetsOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_video_rtp_sent_packets_total",
			Help: "RTP packets forwarded to viewers."}),
		badPackets: prometheus.NewCounter(prometheus.CounterOpts{Name: "hwtrack_video_rtp_invalid_packets_total",
			Help: "Packets from vehicles that were not valid RTP and were dropped."}),
	}
	// Every label value exists from the start, so a rate over it is
	// defined before the first rejection.
	for r := ReasonUnknown + 1; r < reasonCount; r++ {
		m.rejected.WithLabelValues(r.String())
	}
	for f := FailureUnknown + 1; f < failureCount; f++ {
		m.startFailures.WithLabelValues(f.String())
		m.drops.WithLabelValues(f.String())
	}
	return m
}

func (m *metrics) collectors(r *Relay) []prometheus.Collector {
	streams := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hwtrack_video_streams", Help: "Camera streams requested or running now."},
		func() float64 { n, _, _ := r.counts(); return float64(n) })
	live := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hwtrack_video_streams_live", Help: "Camera streams receiving video now."},
		func() float64 { _, n, _ := r.counts(); return float64(n) })
	viewers := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hwtrack_video_viewers", Help: "Viewers connected to camera streams now."},
		func() float64 { _, _, n := r.counts(); return float64(n) })
	return []prometheus.Collector{m.rejected, m.startFailures, m.drops, m.keyframeRequests,
		m.packetsIn, m.bytesIn, m.packetsOut, m.badPackets, streams, live, viewers}
}
