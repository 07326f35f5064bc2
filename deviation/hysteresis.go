package deviation

import (
	"math"
	"time"

	"github.com/hwtrack/hwtrack/geofence"

	"github.com/hwtrack/hwtrack/model"
)

// observation is a rule's measurement of one fix against one subject, such
// as a zone or a route.
type observation struct {
	// alarmSide reports whether the fix is geometrically on the alarm side:
	// inside a restricted zone, outside a corridor.
	alarmSide bool
	// edgeM is how far the fix lies beyond the edge, on whichever side it
	// is. +Inf stands for "not applicable", such as a zone outside its
	// daily window or a zone that was deleted.
	edgeM float64
	// offM and segment feed an episode's peak; only the route rule sets
	// them.
	offM    float64
	segment int
	// crossing, set by the restricted-zone rule, is the zone whose short
	// visits count when the vehicle passed through it. Such a visit is a
	// run on the alarm side that ends before the persistence ran out. It
	// is reported when the straight line from the fix before the run to
	// the fix after it runs deep through the zone (see chordThrough). A
	// stray fix, which comes back to where the vehicle was, never does.
	crossing *geofence.Zone
	// prevLat and prevLon are the vehicle's position before this fix.
	prevLat, prevLon float64
	// gate selects the hysteresis settings of the boundary's kind.
	gate gateKind
}

// transition is the change one fix caused in a tracker.
type transition uint8

const (
	transitionNone transition = iota
	transitionOpened
	transitionClosed
	// transitionCrossed is a whole episode within one run: opened at the
	// run's start and closed by the fix that ended it.
	transitionCrossed
)

// run is an unbroken sequence of fixes on the side opposite the
// tracker's confirmed state. It becomes a state change once it is
// persistent.
type run struct {
	Start  time.Time `json:"start"`
	Lat    float64   `json:"lat"`
	Lon    float64   `json:"lon"`
	Fixes  int       `json:"fixes"`
	Beyond int       `json:"beyond"` // fixes beyond the margin
	// FromLat and FromLon are where the vehicle was before the run, kept
	// for observations of restricted zones, whose crossings count.
	FromLat float64 `json:"from_lat,omitempty"`
	FromLon float64 `json:"from_lon,omitempty"`
	PeakM   float64 `json:"peak_m,omitempty"`
	PeakAt  int     `json:"peak_segment,omitempty"`
}

// episode is the open alarm of a tracker.
type episode struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"started_at"`
	Lat       float64   `json:"lat"`
	Lon       float64   `json:"lon"`
	PeakM     float64   `json:"peak_m,omitempty"`
	Segment   int       `json:"segment,omitempty"`
	// Name and Severity are copied from the subject when the episode
	// opens, so the closing message reads the same even if the zone was
	// renamed or deleted meanwhile.
	Name     string `json:"name,omitempty"`
	Severity string `json:"severity,omitempty"`
	Level    int    `json:"level,omitempty"`
	// Initial marks a restricted-zone episode opened because the zone was
	// created around the vehicle, not because the vehicle entered it.
	Initial bool `json:"initial,omitempty"`

	// The fields below belong to the kinds without a hysteresis tracker.
	// TripID is the trip during which the episode began. ZoneID is the
	// zone whose limit an overspeed episode broke and LimitKmh that limit.
	// Peak is the episode's extreme: km/h for overspeed, seconds for a
	// stop, a signal loss or an overtime. Bit is the JT/T 808 alarm bit,
	// and PlannedEnd the planned end of an overtime trip.
	TripID     string    `json:"trip_id,omitempty"`
	ZoneID     string    `json:"zone_id,omitempty"`
	Peak       float64   `json:"peak,omitempty"`
	LimitKmh   float64   `json:"limit_kmh,omitempty"`
	Bit        int       `json:"bit,omitempty"`
	PlannedEnd time.Time `json:"planned_end,omitzero"`
	// RouteSegment is the 1-based route segment whose speed limit an
	// overspeed episode broke, 0 for a zone or default limit.
	RouteSegment int `json:"route_segment,omitempty"`
	// BoundS is the travel time bound in seconds of a route segment
	// driven too fast (overspeed) or too slowly (trip_overtime), and
	// TravelS the travel time of a segment driven too fast.
	BoundS  int     `json:"bound_s,omitempty"`
	TravelS float64 `json:"travel_s,omitempty"`
}

// tracker is the hysteresis state of one rule for one subject on one
// vehicle. Every rule uses it, so all alarm kinds debounce alike.
type tracker struct {
	Alarm   bool     `json:"alarm"`
	Run     *run     `json:"run,omitempty"`
	Episode *episode `json:"episode,omitempty"`
}

// idle reports whether the tracker holds nothing worth keeping.
func (t *tracker) idle() bool { return !t.Alarm && t.Run == nil }

// step applies one fix's observation. It returns the transition and, for
// opened or closed, the run whose first fix is the episode's start or end.
func (t *tracker) step(cfg *Config, f *model.Fix, obs observation) (transition, run) {
	if t.Alarm && obs.alarmSide && t.Episode != nil && obs.offM > t.Episode.PeakM {
		t.Episode.PeakM, t.Episode.Segment = obs.offM, obs.segment
	}

	candidate := obs.alarmSide != t.Alarm
	stationary := f.Has&model.HasSpeed != 0 && f.SpeedKmh < cfg.StationaryKmh
	if stationary && !(candidate && obs.edgeM > cfg.StationaryBreakM) {
		return transitionNone, run{}
	}
	if !candidate {
		r := t.Run
		t.Run = nil
		if z := obs.crossing; z != nil && !t.Alarm && r != nil && r.Beyond > 0 {
			if _, _, ok := chordThrough(z, r.FromLat, r.FromLon, f.Lat, f.Lon, cfg.gate(obs.gate).MarginM+crossingDepthM); ok {
				return transitionCrossed, *r
			}
		}
		return transitionNone, run{}
	}

	if t.Run == nil {
		t.Run = &run{Start: f.Time, Lat: f.Lat, Lon: f.Lon, FromLat: obs.prevLat, FromLon: obs.prevLon}
	}
	r := t.Run
	r.Fixes++
	g := cfg.gate(obs.gate)
	margin := math.Max(g.MarginM, cfg.accuracyM(f))
	beyond := obs.edgeM >= margin
	if beyond {
		r.Beyond++
	}
	if obs.alarmSide && obs.offM > r.PeakM {
		r.PeakM, r.PeakAt = obs.offM, obs.segment
	}

	if !beyond || r.Beyond < g.MinFixes || f.Time.Sub(r.Start) < g.Persistence {
		return transitionNone, run{}
	}
	confirmed := *r
	t.Run = nil
	t.Alarm = !t.Alarm
	if t.Alarm {
		return transitionOpened, confirmed
	}
	return transitionClosed, confirmed
}

// crossingDepthM is how far beyond the margin the straight line between
// two fixes must run inside a restricted zone for the vehicle to count
// as having crossed it.
const crossingDepthM = 30.0

// maxChordM is the longest straight line between two fixes that a
// crossing is inferred from; over a longer gap the vehicle's path is
// unknown.
const maxChordM = 5000.0

// chordThrough reports whether the straight line from (lat1, lon1) to
// (lat2, lon2) runs inside z at least depthM from its edge somewhere,
// and returns the fractions of the line where it enters and leaves z.
// It samples the line every 10 m at most.
func chordThrough(z *geofence.Zone, lat1, lon1, lat2, lon2, depthM float64) (enter, leave float64, ok bool) {
	lengthM := distanceM(lat1, lon1, lat2, lon2)
	if lengthM < 2*depthM || lengthM > maxChordM {
		return 0, 0, false
	}
	n := int(lengthM/10) + 1
	enter, leave = -1, -1
	deepest := 0.0
	for k := 0; k <= n; k++ {
		frac := float64(k) / float64(n)
		lat, lon := lat1+frac*(lat2-lat1), lon1+frac*(lon2-lon1)
		if !z.Contains(lat, lon) {
			continue
		}
		if enter < 0 {
			enter = frac
		}
		leave = frac
		deepest = max(deepest, z.DistanceToEdgeM(lat, lon))
	}
	return enter, leave, enter >= 0 && deepest >= depthM
}
