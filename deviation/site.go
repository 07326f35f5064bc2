package deviation

import (
	"math"
	"slices"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// TripEventKind is a trip lifecycle event derived from fixes.
type TripEventKind uint8

const (
	TripEventUnknown TripEventKind = iota
	// TripEventArrived is a vehicle that dwelt in a site zone for
	// Config.SiteDwell.
	TripEventArrived
	// TripEventDeparted is a vehicle confirmed outside a site zone it had
	// arrived at.
	TripEventDeparted
)

// String returns the event name used on the regulator feed: "arrived" or
// "departed".
func (k TripEventKind) String() string {
	switch k {
	case TripEventArrived:
		return "arrived"
	case TripEventDeparted:
		return "departed"
	default:
		return "unknown"
	}
}

func (k TripEventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

func (k *TripEventKind) UnmarshalText(b []byte) error {
	switch string(b) {
	case "arrived":
		*k = TripEventArrived
	case "departed":
		*k = TripEventDeparted
	default:
		*k = TripEventUnknown
	}
	return nil
}

// TripEvent is an arrival at or a departure from a site zone during an
// active trip. At, Lat and Lon are the first fix of the confirmed run: the
// first fix inside the zone for an arrival, the first fix outside it for a
// departure.
type TripEvent struct {
	Terminal string        `json:"terminal"`
	TripID   string        `json:"trip_id"`
	Event    TripEventKind `json:"event"`
	ZoneID   string        `json:"zone_id"`
	ZoneName string        `json:"zone_name"`
	At       time.Time     `json:"at"`
	Lat      float64       `json:"lat"`
	Lon      float64       `json:"lon"`
}

// maxPendingTripEvents bounds the events a vehicle keeps until
// DrainTripEvents collects them. A caller that never drains loses the
// oldest events rather than growing the state without limit.
const maxPendingTripEvents = 64

// siteState is the site rule's memory of one vehicle. It is part of the
// saved state, so a dwell in progress and an arrival survive a restart.
type siteState struct {
	// TripID is the trip the visits belong to. Another trip starts with no
	// visits, and no departure is reported for the previous trip's sites.
	TripID string                `json:"trip_id,omitempty"`
	Visits map[string]*siteVisit `json:"visits,omitempty"` // by zone ID
	// Pending holds the events not yet collected by DrainTripEvents.
	Pending []TripEvent `json:"pending,omitempty"`
}

// siteVisit is one site zone the vehicle is dwelling in or has arrived at.
// Run is the current run of fixes towards the other state: inside the
// zone before the arrival, outside it after.
type siteVisit struct {
	Name    string `json:"name,omitempty"`
	Arrived bool   `json:"arrived,omitempty"`
	Run     *run   `json:"run,omitempty"`
}

// DrainTripEvents returns the arrivals and departures raised for terminal
// since the last call, oldest first, and clears the queue. The events stay in
// the saved state until drained, so a caller that drains after storing
// the fixes that raised them loses none across a restart.
func (e *Engine) DrainTripEvents(terminal string) []TripEvent {
	v := e.vehicle(terminal, false)
	if v == nil {
		return nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.rs.Site.Pending
	v.rs.Site.Pending = nil
	return out
}

// siteRule raises no deviations. It derives arrivals at and departures
// from site zones during an active trip. Arrival needs an unbroken run of
// fixes inside the zone spanning Config.SiteDwell, with at least MinFixes
// of them, the last included, deeper than the margin. Departure needs the
// same hysteresis as a zone exit: MinFixes fixes beyond the margin outside
// over Persistence, frozen while the truck is stationary near the edge.
// It runs on the live lane only, because the lifecycle follows the
// vehicle's present.
type siteRule struct{}

var _ rule = siteRule{}

// kind returns the zero kind: the rule raises no deviations.
func (siteRule) kind() model.DeviationKind { return model.KindUnknown }

func (siteRule) evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	st := &v.rs.Site
	tripID := ""
	if v.trip != nil && v.trip.trip.ActiveAt(f.Time) {
		tripID = v.trip.trip.ID
	}
	if st.TripID != tripID {
		st.TripID, st.Visits = tripID, nil
	}
	if tripID == "" {
		return out
	}

	for _, z := range env.inside {
		if z.Kind != geofence.KindSite {
			continue
		}
		if _, ok := st.Visits[z.ID]; !ok {
			if st.Visits == nil {
				st.Visits = make(map[string]*siteVisit)
			}
			st.Visits[z.ID] = &siteVisit{Name: z.Name}
		}
	}
	if len(st.Visits) == 0 {
		return out
	}

	cfg := &env.engine.cfg
	margin := math.Max(cfg.MarginM, cfg.accuracyM(f))
	// Visits are stepped in ID order, so trip events come out the same
	// after a restart; the scratch slice spares an allocation per fix.
	ids := v.siteScratch[:0]
	for id := range st.Visits {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	v.siteScratch = ids
	for _, id := range ids {
		visit := st.Visits[id]
		z, ok := env.zones.Lookup(id)
		if !ok || z.Kind != geofence.KindSite {
			// The zone was deleted or changed kind: forget the visit
			// without reporting a departure that did not happen.
			delete(st.Visits, id)
			continue
		}
		inside := slices.Contains(env.inside, z)
		depthM := z.DistanceToEdgeM(f.Lat, f.Lon)
		var ev TripEventKind
		if visit.Arrived {
			ev = stepDeparture(cfg, visit, f, inside, depthM, margin)
		} else {
			ev = stepArrival(cfg, visit, f, inside, depthM, margin)
		}
		switch {
		case ev != TripEventUnknown:
			r := visit.Run
			if v.pushTripEvent(TripEvent{
				Terminal: v.terminal, TripID: tripID, Event: ev,
				ZoneID: id, ZoneName: visit.Name,
				At: r.Start, Lat: r.Lat, Lon: r.Lon,
			}) {
				env.engine.stats.tripEventsDropped.Add(1)
			}
			visit.Run = nil
			visit.Arrived = ev == TripEventArrived
			if ev == TripEventDeparted {
				delete(st.Visits, id)
			}
		case !visit.Arrived && visit.Run == nil:
			delete(st.Visits, id)
		}
	}
	return out
}

// stepArrival applies one fix to a visit not yet arrived. A fix outside
// the zone beyond the margin ends the dwell, and one outside within the
// margin is edge jitter that neither ends nor extends it.
func stepArrival(cfg *Config, visit *siteVisit, f *model.Fix, inside bool, depthM, margin float64) TripEventKind {
	if !inside {
		if depthM >= margin {
			visit.Run = nil
		}
		return TripEventUnknown
	}
	if visit.Run == nil {
		visit.Run = &run{Start: f.Time, Lat: f.Lat, Lon: f.Lon}
	}
	r := visit.Run
	r.Fixes++
	if depthM < margin {
		return TripEventUnknown
	}
	r.Beyond++
	if r.Beyond < cfg.MinFixes || f.Time.Sub(r.Start) < cfg.SiteDwell {
		return TripEventUnknown
	}
	return TripEventArrived
}

// stepDeparture applies one fix to a visit that has arrived.
func stepDeparture(cfg *Config, visit *siteVisit, f *model.Fix, inside bool, depthM, margin float64) TripEventKind {
	stationary := f.Has&model.HasSpeed != 0 && f.SpeedKmh < cfg.StationaryKmh
	if stationary && !(!inside && depthM > cfg.StationaryBreakM) {
		return TripEventUnknown
	}
	if inside {
		visit.Run = nil
		return TripEventUnknown
	}
	if visit.Run == nil {
		visit.Run = &run{Start: f.Time, Lat: f.Lat, Lon: f.Lon}
	}
	r := visit.Run
	r.Fixes++
	if depthM < margin {
		return TripEventUnknown
	}
	r.Beyond++
	if r.Beyond < cfg.MinFixes || f.Time.Sub(r.Start) < cfg.Persistence {
		return TripEventUnknown
	}
	return TripEventDeparted
}

// pushTripEvent queues ev for DrainTripEvents, dropping the oldest event
// when the queue is full, and reports whether it dropped one. v.mu must be
// held.
func (v *vehicle) pushTripEvent(ev TripEvent) (dropped bool) {
	st := &v.rs.Site
	if len(st.Pending) >= maxPendingTripEvents {
		v.logger.Warn("trip event queue full, dropping the oldest event", "trip_id", st.Pending[0].TripID, "zone_id", st.Pending[0].ZoneID)
		st.Pending = slices.Delete(st.Pending, 0, 1)
		dropped = true
	}
	st.Pending = append(st.Pending, ev)
	v.logger.Info("trip event", "event", ev.Event.String(), "trip_id", ev.TripID, "zone_id", ev.ZoneID, "at", ev.At)
	return dropped
}
