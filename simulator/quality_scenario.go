package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/paulmach/orb"

	"github.com/hwtrack/hwtrack/deviation"
	"github.com/hwtrack/hwtrack/model"
)

// Suite groups the scenarios of a quality run.
type Suite uint8

const (
	SuiteUnknown Suite = iota
	// SuiteInjected is a real track with one labelled condition injected.
	SuiteInjected
	// SuiteNoise is a real track replayed unchanged; every episode without
	// an excuse is a false alarm.
	SuiteNoise
	// SuiteField is a synthetic fix sequence that reproduces a known
	// failure of tracking systems in the field.
	SuiteField
)

func (s Suite) String() string {
	switch s {
	case SuiteInjected:
		return "injected"
	case SuiteNoise:
		return "noise"
	case SuiteField:
		return "field"
	default:
		return "unknown"
	}
}

// MarshalJSON encodes the suite by name.
func (s Suite) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// Label is one episode the server must raise: of Kind, covering the fix
// times Start to End.
type Label struct {
	Kind  model.DeviationKind `json:"kind"`
	Start time.Time           `json:"start"`
	End   time.Time           `json:"end"`
	Note  string              `json:"note,omitempty"`
}

// Excuse is a stretch of a real track where the recording itself meets
// the condition of Kind, such as a 12-minute pause in a GeoLife file. An
// episode of Kind that overlaps it is neither a hit nor a false alarm.
type Excuse struct {
	Kind   model.DeviationKind `json:"kind"`
	Start  time.Time           `json:"start"`
	End    time.Time           `json:"end"`
	Reason string              `json:"reason"`
}

// CircleZone is a circular zone a scenario creates through the API.
type CircleZone struct {
	Name    string    `json:"name"`
	Kind    string    `json:"kind"`
	Center  orb.Point `json:"center"`
	RadiusM float64   `json:"radius_m"`
}

// Message is one MQTT publish of a scenario: one fix, or several as a
// JSON array. Reconnect closes the connection and opens a new one before
// the message is sent.
type Message struct {
	Fixes     []model.Fix
	Batch     bool
	Reconnect bool
}

// Scenario is one vehicle of a quality run: its fixes, trip, zones and
// the episodes it must raise.
type Scenario struct {
	Name        string
	Suite       Suite
	Source      string // track file or field-failure case
	Description string
	// Fixes is the vehicle's track in fix-time order; it sets the trip
	// window and the report interval.
	Fixes []model.Fix
	// Messages are the publishes in order. Nil means one message per fix
	// of Fixes.
	Messages  []Message
	Route     orb.LineString
	CorridorM float64
	// Segments, when set, gives the trip's route segments their own
	// corridor widths and limits (one entry per segment of Route).
	Segments     []model.RouteSegment
	PlannedStart time.Time
	PlannedEnd   time.Time
	Zones        []CircleZone
	Labels       []Label
	Excuses      []Excuse
	// LiveFrom, when set, is the fix time that is aligned with the run's
	// start instead of the newest fix. Fixes after it lie in the future
	// and are published when the wall clock reaches their fix time.
	LiveFrom time.Time
}

// Thresholds are the engine settings that labels and delay bounds are
// derived from.
type Thresholds struct {
	MarginM              float64       `json:"margin_m"`
	Persistence          time.Duration `json:"persistence_ns"`
	DefaultLimitKmh      float64       `json:"default_limit_kmh"`
	OverspeedMinDuration time.Duration `json:"overspeed_min_duration_ns"`
	OverspeedEndMargin   float64       `json:"overspeed_end_margin_kmh"`
	LongStop             time.Duration `json:"long_stop_ns"`
	StopRadiusM          float64       `json:"stop_radius_m"`
	SignalLoss           time.Duration `json:"signal_loss_ns"`
	TripOvertimeGrace    time.Duration `json:"trip_overtime_grace_ns"`
}

// ThresholdsFrom takes the thresholds from an engine configuration.
func ThresholdsFrom(cfg deviation.Config) Thresholds {
	return Thresholds{
		MarginM:              cfg.MarginM,
		Persistence:          cfg.Persistence,
		DefaultLimitKmh:      cfg.DefaultLimitKmh,
		OverspeedMinDuration: cfg.OverspeedMinDuration,
		OverspeedEndMargin:   cfg.OverspeedEndMarginKmh,
		LongStop:             cfg.LongStop,
		StopRadiusM:          cfg.StopRadiusM,
		SignalLoss:           cfg.SignalLoss,
		TripOvertimeGrace:    cfg.TripOvertimeGrace,
	}
}

// ServerTickEvery is the period of the hwtrack server's timer for the
// engine's time-based rules (tickEvery in server/engine.go). A live signal
// loss or trip overtime is raised up to this long after its threshold.
const ServerTickEvery = 15 * time.Second

// persistence returns how much fix time after a condition starts the
// engine needs before it may raise it.
func (t Thresholds) persistence(kind model.DeviationKind) time.Duration {
	switch kind {
	case model.KindRouteDeviation, model.KindRestrictedZone:
		return t.Persistence
	case model.KindOverspeed:
		return t.OverspeedMinDuration
	case model.KindLongStop:
		return t.LongStop
	case model.KindSignalLoss:
		return t.SignalLoss
	default:
		return 0
	}
}

// delayBound returns the longest detection delay, in fix time, that the
// thresholds allow for l: from its start to the first report that carries
// a fix at least the persistence of its kind later. With reports one
// interval apart that is the persistence plus at most one interval, and
// it grows by any gap the recording itself has there. The server
// decides a signal loss and a trip overtime on its own clock, checked
// once a tick, so their bound is the threshold plus one server tick.
func (s *Scenario) delayBound(l Label, th Thresholds) time.Duration {
	due := l.Start.Add(th.persistence(l.Kind))
	if l.Kind == model.KindSignalLoss || l.Kind == model.KindTripOvertime {
		return due.Add(ServerTickEvery).Sub(l.Start)
	}
	newest := time.Time{}
	for _, m := range s.messages() {
		for _, f := range m.Fixes {
			if f.Time.After(newest) {
				newest = f.Time
			}
		}
		if !newest.Before(due) {
			return newest.Sub(l.Start)
		}
	}
	return due.Sub(l.Start) + s.interval()
}

// interval returns the scenario's report interval: the median advance in
// newest fix time from one message to the next, so a batch of six fixes
// taken 10 s apart reports once a minute. It is 10 s for fewer than two
// messages.
func (s *Scenario) interval() time.Duration {
	var gaps []time.Duration
	newest := time.Time{}
	for _, m := range s.messages() {
		latest := newest
		for _, f := range m.Fixes {
			if f.Time.After(latest) {
				latest = f.Time
			}
		}
		if !newest.IsZero() && latest.After(newest) {
			gaps = append(gaps, latest.Sub(newest))
		}
		newest = latest
	}
	if len(gaps) == 0 {
		return 10 * time.Second
	}
	slices.Sort(gaps)
	return gaps[len(gaps)/2]
}

// messages returns what to publish, one message per fix when Messages is
// nil.
func (s *Scenario) messages() []Message {
	if s.Messages != nil {
		return s.Messages
	}
	out := make([]Message, len(s.Fixes))
	for i := range s.Fixes {
		out[i] = Message{Fixes: s.Fixes[i : i+1]}
	}
	return out
}

// numberFixes gives every fix its position in fix-time order as its unit
// sequence number, so a re-sent copy carries the same number.
func numberFixes(fixes []model.Fix) {
	for i := range fixes {
		fixes[i].Seq = uint64(i + 1)
		fixes[i].Has |= model.HasSeq
	}
}

// shift moves every time of the scenario by d.
func (s *Scenario) shift(d time.Duration) {
	s.detachMessages()
	shiftFixes(s.Fixes, d)
	for i := range s.Messages {
		shiftFixes(s.Messages[i].Fixes, d)
	}
	s.PlannedStart, s.PlannedEnd = s.PlannedStart.Add(d), s.PlannedEnd.Add(d)
	if !s.LiveFrom.IsZero() {
		s.LiveFrom = s.LiveFrom.Add(d)
	}
	for i := range s.Labels {
		s.Labels[i].Start, s.Labels[i].End = s.Labels[i].Start.Add(d), s.Labels[i].End.Add(d)
	}
	for i := range s.Excuses {
		s.Excuses[i].Start, s.Excuses[i].End = s.Excuses[i].Start.Add(d), s.Excuses[i].End.Add(d)
	}
}

// detachMessages copies the fixes of every message, which may share
// backing arrays with Fixes, so changing one never changes the other.
func (s *Scenario) detachMessages() {
	for i := range s.Messages {
		s.Messages[i].Fixes = slices.Clone(s.Messages[i].Fixes)
	}
}

func shiftFixes(fixes []model.Fix, d time.Duration) {
	for i := range fixes {
		fixes[i].Time = fixes[i].Time.Add(d)
	}
}

// endAt shifts the scenario so its newest fix time is end, or its
// LiveFrom when set.
func (s *Scenario) endAt(end time.Time) {
	if !s.LiveFrom.IsZero() {
		s.shift(end.Sub(s.LiveFrom))
		return
	}
	newest := time.Time{}
	for _, m := range s.messages() {
		for _, f := range m.Fixes {
			if f.Time.After(newest) {
				newest = f.Time
			}
		}
	}
	if !newest.IsZero() {
		s.shift(end.Sub(newest))
	}
}

// moveEast moves every position of the scenario by dLonDeg degrees of
// longitude. A rotation about the Earth's axis keeps every distance,
// speed and heading, so the moved track is as physical as the original.
func (s *Scenario) moveEast(dLonDeg float64) {
	move := func(fixes []model.Fix) {
		for i := range fixes {
			if fixes[i].Lat == 0 && fixes[i].Lon == 0 {
				continue // a no-fix report stays at (0, 0)
			}
			fixes[i].Lon += dLonDeg
		}
	}
	s.detachMessages()
	move(s.Fixes)
	for i := range s.Messages {
		move(s.Messages[i].Fixes)
	}
	for i := range s.Route {
		s.Route[i][0] += dLonDeg
	}
	for i := range s.Zones {
		s.Zones[i].Center[0] += dLonDeg
	}
}

// bound returns the bounding box of the scenario's valid positions and
// zones.
func (s *Scenario) bound() (orb.Bound, bool) {
	var b orb.Bound
	found := false
	add := func(p orb.Point) {
		if !found {
			b, found = orb.Bound{Min: p, Max: p}, true
			return
		}
		b = b.Extend(p)
	}
	for _, m := range s.messages() {
		for _, f := range m.Fixes {
			if f.Valid && (f.Lat != 0 || f.Lon != 0) {
				add(fixPoint(f))
			}
		}
	}
	for _, z := range s.Zones {
		pad := z.RadiusM / metresPerDegreeLat
		padLon := pad / math.Max(math.Cos(z.Center.Lat()*math.Pi/180), 0.01)
		add(orb.Point{z.Center.Lon() - padLon, z.Center.Lat() - pad})
		add(orb.Point{z.Center.Lon() + padLon, z.Center.Lat() + pad})
	}
	return b, found
}

// laneGapDeg is the least longitude between a scenario that creates zones
// and any other scenario, about 40 km at 40° latitude.
const laneGapDeg = 0.5

// separateZoneScenarios moves every scenario that creates zones east or
// west, whole, until its box is at least laneGapDeg of longitude from
// every other scenario. Zones apply to every vehicle, so without this a
// zone made for one scenario would raise episodes on the others.
func separateZoneScenarios(scenarios []*Scenario) error {
	var placed []orb.Bound
	for _, s := range scenarios {
		if len(s.Zones) > 0 {
			continue
		}
		if b, ok := s.bound(); ok {
			placed = append(placed, b)
		}
	}
	clear := func(b orb.Bound) bool {
		if b.Min.Lon() < -179 || b.Max.Lon() > 179 {
			return false
		}
		for _, p := range placed {
			if b.Max.Lon()+laneGapDeg > p.Min.Lon() && b.Min.Lon()-laneGapDeg < p.Max.Lon() &&
				b.Max.Lat()+laneGapDeg > p.Min.Lat() && b.Min.Lat()-laneGapDeg < p.Max.Lat() {
				return false
			}
		}
		return true
	}
	for _, s := range scenarios {
		if len(s.Zones) == 0 {
			continue
		}
		b, ok := s.bound()
		if !ok {
			return fmt.Errorf("scenario %s: no valid position", s.Name)
		}
		width := b.Max.Lon() - b.Min.Lon()
		step := width + laneGapDeg
		moved := false
		for k := 0; k < int(360/step) && !moved; k++ {
			for _, d := range []float64{float64(k) * step, -float64(k) * step} {
				cand := orb.Bound{Min: orb.Point{b.Min.Lon() + d, b.Min.Lat()}, Max: orb.Point{b.Max.Lon() + d, b.Max.Lat()}}
				if clear(cand) {
					if d != 0 {
						s.moveEast(d)
					}
					placed = append(placed, cand)
					moved = true
					break
				}
			}
		}
		if !moved {
			return fmt.Errorf("scenario %s: no free longitude for its zones", s.Name)
		}
	}
	return nil
}
