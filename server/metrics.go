package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/hwtrack/hwtrack/deviation"
	"github.com/hwtrack/hwtrack/model"
)

// deviationCounter counts the deviation transitions the server stored and
// queued for the regulator.
type deviationCounter struct {
	transitions *prometheus.CounterVec
}

func newDeviationCounter() *deviationCounter {
	c := &deviationCounter{transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hwtrack_deviations_total",
		Help: "Deviation episodes opened and closed, by kind and state (open, closed).",
	}, []string{"kind", "state"})}
	for k := model.KindRouteDeviation; k <= model.KindVideoLoss; k++ {
		for _, st := range []model.DeviationState{model.StateOpen, model.StateClosed} {
			c.transitions.WithLabelValues(k.String(), st.String())
		}
	}
	return c
}

func (c *deviationCounter) observe(d model.Deviation) {
	c.transitions.WithLabelValues(d.Kind.String(), d.State.String()).Inc()
}

// engineVerdicts are the label values of hwtrack_engine_fixes_total, each
// with the engine counter it reads.
var engineVerdicts = []struct {
	verdict string
	value   func(deviation.Stats) uint64
}{
	{"evaluated", func(s deviation.Stats) uint64 { return s.Processed }},
	{"late", func(s deviation.Stats) uint64 { return s.Late }},
	{"invalid", func(s deviation.Stats) uint64 { return s.Invalid }},
	{"zero_position", func(s deviation.Stats) uint64 { return s.Zero }},
	{"stale", func(s deviation.Stats) uint64 { return s.Stale }},
	{"duplicate_time", func(s deviation.Stats) uint64 { return s.Duplicate }},
	{"jump_held", func(s deviation.Stats) uint64 { return s.Jump }},
	{"speed_ignored", func(s deviation.Stats) uint64 { return s.SpeedRejected }},
}

// serverCollectors returns the collectors of the deviation transitions, of
// what the engine did with each fix, and of the console's live feed.
func (s *Server) serverCollectors() []prometheus.Collector {
	engineDesc := prometheus.NewDesc("hwtrack_engine_fixes_total",
		"Fixes the deviation engine received, by verdict: evaluated or late (run through the rules), or left out of the rules as invalid, zero_position, stale (older than what was evaluated), duplicate_time, jump_held (held back as an implausible jump) and speed_ignored (evaluated with the reported speed ignored).",
		[]string{"verdict"}, nil)
	tripEvents := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "hwtrack_engine_trip_events_dropped_total",
		Help: "Site arrivals and departures dropped from a vehicle's full queue before they were forwarded.",
	}, func() float64 { return float64(s.engine.Stats().TripEventsDropped) })
	livePublished := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "hwtrack_live_events_total",
		Help: "Events published to the console's live feed.",
	}, func() float64 {
		published, _ := s.ui.live.Stats()
		return float64(published)
	})
	liveDropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "hwtrack_live_subscribers_dropped_total",
		Help: "Live feed subscribers dropped because they fell behind; the browser reconnects.",
	}, func() float64 {
		_, dropped := s.ui.live.Stats()
		return float64(dropped)
	})
	return []prometheus.Collector{
		s.deviations.transitions,
		engineCollector{s: s, desc: engineDesc},
		tripEvents, livePublished, liveDropped,
	}
}

// engineCollector reads the engine's counters at scrape time.
type engineCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func (c engineCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.s.engine.Stats()
	for _, v := range engineVerdicts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(v.value(stats)), v.verdict)
	}
}
