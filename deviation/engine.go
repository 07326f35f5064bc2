package deviation

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// ErrUnknownTerminal is returned by MarshalState for a terminal the engine
// has never seen.
var ErrUnknownTerminal = errors.New("unknown terminal")

// Engine evaluates fixes against zones and trip routes and reports
// deviation episodes. See the package documentation for its locking.
type Engine struct {
	cfg    Config
	logger *slog.Logger
	rules  []rule

	zones atomic.Pointer[geofence.Index]

	mu       sync.RWMutex
	vehicles map[string]*vehicle // guarded by mu

	stats counters
}

// vehicle is the state of one terminal. mu guards every field below it.
type vehicle struct {
	mu       sync.Mutex
	terminal string
	logger   *slog.Logger

	lastFix          time.Time
	lastLat, lastLon float64
	trip             *compiledTrip
	trackers         map[trackerKey]*tracker

	// scratch and keyScratch are reused within one call to save
	// allocations per fix.
	scratch    []*geofence.Zone
	keyScratch []trackerKey
}

// trackerKey names one tracker: a rule kind and the subject it watches,
// such as a zone ID or a trip ID.
type trackerKey struct {
	Kind    model.DeviationKind
	Subject string
}

// compiledTrip is a trip with its route compiled into a corridor.
type compiledTrip struct {
	trip     *model.Trip
	corridor *geofence.Corridor
}

// Stats counts what Process did with the fixes it received.
type Stats struct {
	Processed uint64 // fixes evaluated by the rules
	Invalid   uint64 // fixes flagged invalid by the unit, with impossible coordinates or no terminal
	Zero      uint64 // fixes at (0, 0), a common receiver fault
	Stale     uint64 // fixes older than the vehicle's last processed fix
	Duplicate uint64 // fixes with the same time as the last processed fix
	Opened    uint64
	Closed    uint64
}

type counters struct {
	processed, invalid, zero, stale, duplicate, opened, closed atomic.Uint64
}

// New returns an engine with no zones and no trips. Zero or negative
// fields of cfg take their DefaultConfig values. A nil logger discards.
func New(cfg Config, logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:      cfg.withDefaults(),
		logger:   logger.With("component", "deviation"),
		rules:    []rule{restrictedZoneRule{}, routeRule{}},
		vehicles: make(map[string]*vehicle),
	}
	e.zones.Store(geofence.NewIndex(nil))
	return e
}

// SetZones replaces the zone set. Fixes processed after it returns use the
// new zones. An episode in a zone that is gone closes through the usual
// hysteresis, as if the vehicle had left the zone.
func (e *Engine) SetZones(zones []*geofence.Zone) {
	e.zones.Store(geofence.NewIndex(zones))
	e.logger.Info("zones replaced", "zones", len(zones))
}

// vehicle returns the state of terminal, creating it when create is set.
func (e *Engine) vehicle(terminal string, create bool) *vehicle {
	e.mu.RLock()
	v := e.vehicles[terminal]
	e.mu.RUnlock()
	if v != nil || !create {
		return v
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if v = e.vehicles[terminal]; v == nil {
		v = &vehicle{
			terminal: terminal,
			logger:   e.logger.With("vehicle_id", terminal),
			trackers: make(map[trackerKey]*tracker),
		}
		e.vehicles[terminal] = v
	}
	return v
}

// Terminals returns the terminals the engine holds state for, sorted.
func (e *Engine) Terminals() []string {
	e.mu.RLock()
	out := make([]string, 0, len(e.vehicles))
	for t := range e.vehicles {
		out = append(out, t)
	}
	e.mu.RUnlock()
	slices.Sort(out)
	return out
}

// Stats returns the counters since New.
func (e *Engine) Stats() Stats {
	return Stats{
		Processed: e.stats.processed.Load(),
		Invalid:   e.stats.invalid.Load(),
		Zero:      e.stats.zero.Load(),
		Stale:     e.stats.stale.Load(),
		Duplicate: e.stats.duplicate.Load(),
		Opened:    e.stats.opened.Load(),
		Closed:    e.stats.closed.Load(),
	}
}

// SetTrip sets the trip terminal is on. The trip's Route (a GeoJSON
// LineString) is compiled into a corridor CorridorM wide, or
// Config.DefaultCorridorM wide when CorridorM is 0. A nil or completed
// trip clears it. Replacing or clearing a trip closes its open
// route_deviation episode at time at, and the closing deviations are
// returned. Setting the same trip again (by ID) keeps its episode.
func (e *Engine) SetTrip(terminal string, trip *model.Trip, at time.Time) ([]model.Deviation, error) {
	var compiled *compiledTrip
	if trip != nil && trip.State != model.TripCompleted {
		route, err := geofence.ParseRoute(trip.Route)
		if err != nil {
			return nil, fmt.Errorf("set trip %q for terminal %q: %w", trip.ID, terminal, err)
		}
		widthM := trip.CorridorM
		if widthM == 0 {
			widthM = e.cfg.DefaultCorridorM
		}
		corridor, err := geofence.NewCorridor(route, widthM)
		if err != nil {
			return nil, fmt.Errorf("set trip %q for terminal %q: %w", trip.ID, terminal, err)
		}
		compiled = &compiledTrip{trip: trip, corridor: corridor}
	}

	v := e.vehicle(terminal, compiled != nil)
	if v == nil {
		return nil, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()

	keepID := ""
	if compiled != nil {
		keepID = compiled.trip.ID
	}
	out := e.closeRouteTrackers(v, keepID, at, at, v.lastLat, v.lastLon)
	v.trip = compiled
	if compiled != nil {
		v.logger.Info("trip set", "trip_id", compiled.trip.ID, "segments", compiled.corridor.Segments(), "corridor_m", compiled.corridor.WidthM())
	} else {
		v.logger.Info("trip cleared")
	}
	return out, nil
}

// closeRouteTrackers drops the route trackers of every trip other than
// keepID and closes their open episodes at endedAt. v.mu must be held.
func (e *Engine) closeRouteTrackers(v *vehicle, keepID string, endedAt, receivedAt time.Time, lat, lon float64) []model.Deviation {
	var out []model.Deviation
	for _, key := range v.sortedKeys(model.KindRouteDeviation) {
		if key.Subject == keepID {
			continue
		}
		t := v.trackers[key]
		delete(v.trackers, key)
		if !t.Alarm || t.Episode == nil {
			continue
		}
		d := e.closedDeviation(v, key, t.Episode, run{Start: endedAt, Lat: lat, Lon: lon}, receivedAt)
		out = append(out, d)
	}
	return out
}

// Process evaluates one fix and returns the episodes it opened or closed,
// in a stable order. Fixes that are invalid, at (0, 0), or not newer than
// the vehicle's last processed fix change nothing and are only counted.
func (e *Engine) Process(f *model.Fix) []model.Deviation {
	switch {
	case !f.Valid || f.Terminal == "" || math.IsNaN(f.Lat) || math.IsNaN(f.Lon) || math.Abs(f.Lat) > 90 || math.Abs(f.Lon) > 180:
		e.stats.invalid.Add(1)
		return nil
	case f.Lat == 0 && f.Lon == 0:
		e.stats.zero.Add(1)
		return nil
	}

	v := e.vehicle(f.Terminal, true)
	v.mu.Lock()
	defer v.mu.Unlock()

	if !v.lastFix.IsZero() {
		// NOTE: late fixes are skipped, not evaluated; their own lane with
		// Late episodes is still to be built.
		if f.Time.Before(v.lastFix) {
			e.stats.stale.Add(1)
			v.logger.Debug("stale fix ignored", "fix_time", f.Time, "last_fix_time", v.lastFix)
			return nil
		}
		if f.Time.Equal(v.lastFix) {
			e.stats.duplicate.Add(1)
			return nil
		}
	}
	v.lastFix, v.lastLat, v.lastLon = f.Time, f.Lat, f.Lon
	e.stats.processed.Add(1)

	env := evalEnv{engine: e, zones: e.zones.Load()}
	var out []model.Deviation
	for _, r := range e.rules {
		out = r.evaluate(&env, v, f, out)
	}
	return out
}

// sortedKeys returns the keys of v's trackers of one kind, sorted by
// subject. The slice is reused by the next call. v.mu must be held.
func (v *vehicle) sortedKeys(kind model.DeviationKind) []trackerKey {
	keys := v.keyScratch[:0]
	for k := range v.trackers {
		if k.Kind == kind {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b trackerKey) int { return strings.Compare(a.Subject, b.Subject) })
	v.keyScratch = keys
	return keys
}

// hasOtherRouteTracker reports whether v tracks a route other than tripID.
func (v *vehicle) hasOtherRouteTracker(tripID string) bool {
	for k := range v.trackers {
		if k.Kind == model.KindRouteDeviation && k.Subject != tripID {
			return true
		}
	}
	return false
}
