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

	"github.com/paulmach/orb"

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
	// rules run on the live lane, lateRules on the late lane. Rules that
	// need the vehicle's present (stops, trip time, alarm edges) are live
	// only.
	rules     []rule
	lateRules []rule

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
	// lastReceived is the receive time of the newest accepted fix.
	lastReceived time.Time
	trip         *compiledTrip
	// endedTrip is the vehicle's last completed trip, which the late lane
	// checks fixes from before its completion against.
	endedTrip *compiledTrip
	trackers  map[trackerKey]*tracker
	rs        ruleState

	// late is the late lane: a shadow vehicle that evaluates fixes older
	// than lastFix without touching this state. It is nil when no late
	// batch is in progress; isLate marks the shadow itself.
	late   *vehicle
	isLate bool

	// The scratch fields are reused within one call to save allocations
	// per fix.
	scratch           []*geofence.Zone
	restrictedScratch []*geofence.Zone
	keyScratch        []trackerKey
	siteScratch       []string
	fixScratch        model.Fix
	envScratch        evalEnv
}

func newVehicle(terminal string, logger *slog.Logger) *vehicle {
	return &vehicle{
		terminal: terminal,
		logger:   logger,
		trackers: make(map[trackerKey]*tracker),
	}
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
	route    orb.LineString
	corridor *geofence.Corridor
	// assignedAt is when SetTrip gave the vehicle this trip: a unit that
	// has never reported is silent from then, not from a planned start
	// that may lie hours earlier.
	assignedAt time.Time
	// jurisdictionKey is the tracker key of the trip's jurisdiction
	// episode, built once rather than for every fix.
	jurisdictionKey trackerKey
	// jurisdiction caches whether the route stays inside the jurisdiction
	// zones of one zone index; see local.
	jurisdiction jurisdictionCache
}

// Stats counts what Process did with the fixes it received.
type Stats struct {
	Processed     uint64 // fixes evaluated by the rules of the live lane
	Invalid       uint64 // fixes flagged invalid by the unit, with impossible coordinates or no terminal
	Zero          uint64 // fixes at (0, 0), a common receiver fault
	Stale         uint64 // fixes older than the vehicle's last processed fix, in time the live lane covered
	Duplicate     uint64 // fixes with the same time as the last processed fix
	Late          uint64 // fixes older than the last processed fix, evaluated in the late lane
	Jump          uint64 // fixes held back as implausible jumps
	Reanchored    uint64 // runs of held-back fixes accepted because later fixes confirmed them
	SpeedRejected uint64 // fixes whose reported speed was ignored as a spike
	Opened        uint64
	Closed        uint64
	// TripEventsDropped counts site arrivals and departures dropped from
	// a vehicle's full queue before the server collected them.
	TripEventsDropped uint64
}

type counters struct {
	processed, invalid, zero, stale, duplicate, late, jump, reanchored, speedRejected, opened, closed atomic.Uint64
	tripEventsDropped                                                                                 atomic.Uint64
}

// New returns an engine with no zones and no trips. Zero or negative
// fields of cfg take their DefaultConfig values. A nil logger discards.
func New(cfg Config, logger *slog.Logger) *Engine {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		cfg:       cfg.withDefaults(),
		logger:    logger.With("component", "deviation"),
		rules:     []rule{restrictedZoneRule{}, routeRule{}, jurisdictionRule{}, overspeedRule{}, longStopRule{}, tripOvertimeRule{}, segmentTravelRule{}, deviceAlarmRule{}, siteRule{}},
		lateRules: []rule{restrictedZoneRule{}, routeRule{}, jurisdictionRule{}, overspeedRule{}},
		vehicles:  make(map[string]*vehicle),
	}
	e.zones.Store(geofence.NewIndex(nil))
	return e
}

// SetZones replaces the zone set. Fixes processed after it returns use the
// new zones. An episode in a zone that is gone closes through the usual
// hysteresis, as if the vehicle had left the zone. A vehicle that a new
// restricted zone was drawn around is reported as entering it once the
// hysteresis confirms; SetZonesAt reports it as already inside instead.
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
		v = newVehicle(terminal, e.logger.With("vehicle_id", terminal))
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
		Processed:     e.stats.processed.Load(),
		Invalid:       e.stats.invalid.Load(),
		Zero:          e.stats.zero.Load(),
		Stale:         e.stats.stale.Load(),
		Duplicate:     e.stats.duplicate.Load(),
		Late:          e.stats.late.Load(),
		Jump:          e.stats.jump.Load(),
		Reanchored:    e.stats.reanchored.Load(),
		SpeedRejected: e.stats.speedRejected.Load(),
		Opened:        e.stats.opened.Load(),
		Closed:        e.stats.closed.Load(),

		TripEventsDropped: e.stats.tripEventsDropped.Load(),
	}
}

// SetTrip sets the trip terminal is on. The trip's Route (a GeoJSON
// LineString) is compiled into a corridor CorridorM wide, or
// Config.DefaultCorridorM wide when CorridorM is 0. A nil or completed
// trip clears it. Replacing or clearing a trip closes its open
// route_deviation, long_stop, signal_loss and trip_overtime episodes at
// time at, and the closing deviations are returned. Setting the same trip
// again (by ID) keeps its episodes, except a trip_overtime episode whose
// new planned end lies after at.
func (e *Engine) SetTrip(terminal string, trip *model.Trip, at time.Time) ([]model.Deviation, error) {
	var compiled *compiledTrip
	if trip != nil {
		route, err := geofence.ParseRoute(trip.Route)
		if err != nil {
			return nil, fmt.Errorf("set trip %q for terminal %q: %w", trip.ID, terminal, err)
		}
		widthM := trip.CorridorM
		if widthM == 0 {
			widthM = e.cfg.DefaultCorridorM
		}
		var segmentWidthsM []float64
		if trip.Segments != nil {
			segmentWidthsM = make([]float64, len(trip.Segments))
			for i, seg := range trip.Segments {
				segmentWidthsM[i] = seg.WidthM
			}
		}
		corridor, err := geofence.NewCorridorWidths(route, widthM, segmentWidthsM)
		if err != nil {
			return nil, fmt.Errorf("set trip %q for terminal %q: %w", trip.ID, terminal, err)
		}
		compiled = &compiledTrip{trip: trip, route: route, corridor: corridor, assignedAt: at,
			jurisdictionKey: trackerKey{Kind: model.KindRouteDeviation, Subject: trip.ID + jurisdictionSubject}}
	}

	// A completed trip is kept for the late lane only: fixes from before
	// its completion that arrive afterwards are still checked against it.
	var ended *compiledTrip
	if compiled != nil && trip.State == model.TripCompleted {
		ended, compiled = compiled, nil
	}

	v := e.vehicle(terminal, compiled != nil || ended != nil)
	if v == nil {
		return nil, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if ended != nil {
		v.endedTrip = ended
	}

	keepID := ""
	if compiled != nil {
		keepID = compiled.trip.ID
	}
	end := endPoint{at: at, lat: v.lastLat, lon: v.lastLon, stamp: stamp{receivedAt: at}}
	out := e.closeRouteTrackers(v, keepID, end)
	out = e.closeTripEpisodes(v, compiled, end, out)
	v.trip = compiled
	if v.late != nil && compiled != nil {
		v.late.trip = compiled
	}
	if compiled != nil {
		v.logger.Info("trip set", "trip_id", compiled.trip.ID, "segments", compiled.corridor.Segments(), "corridor_m", compiled.corridor.WidthM())
	} else {
		v.logger.Info("trip cleared")
	}
	return out, nil
}

// closeRouteTrackers drops the route trackers of every trip other than
// keepID and closes their open episodes at end. v.mu must be held.
func (e *Engine) closeRouteTrackers(v *vehicle, keepID string, end endPoint) []model.Deviation {
	var out []model.Deviation
	for _, key := range v.sortedKeys(model.KindRouteDeviation) {
		if routeTripID(key.Subject) == keepID {
			continue
		}
		t := v.trackers[key]
		delete(v.trackers, key)
		if !t.Alarm || t.Episode == nil {
			continue
		}
		out = append(out, e.closedDeviation(v, key, t.Episode, end))
	}
	return out
}

// Process evaluates one fix and returns the episodes it opened or closed,
// in a stable order. It is ProcessFix without the verdict.
func (e *Engine) Process(f *model.Fix) []model.Deviation {
	return e.ProcessFix(f).Deviations
}

// ProcessFix evaluates one fix and returns the episodes it opened or
// closed, in a stable order, with what it did with the fix.
//
// Fixes that are invalid, at (0, 0) or repeat the newest fix time change
// nothing. A fix implausibly far from the last accepted one is held back
// (VerdictJump), and is evaluated only if the next Config.ReanchorFixes
// fixes confirm the new place. A fix older than the newest one goes to the late lane when it
// fills a gap in the live coverage, and is otherwise stale.
func (e *Engine) ProcessFix(f *model.Fix) Result {
	switch {
	case !f.Valid || f.Terminal == "" || math.IsNaN(f.Lat) || math.IsNaN(f.Lon) || math.Abs(f.Lat) > 90 || math.Abs(f.Lon) > 180:
		e.stats.invalid.Add(1)
		return Result{Verdict: VerdictInvalid}
	case f.Lat == 0 && f.Lon == 0:
		e.stats.zero.Add(1)
		return Result{Verdict: VerdictZero}
	}

	v := e.vehicle(f.Terminal, true)
	v.mu.Lock()
	defer v.mu.Unlock()

	if !v.lastFix.IsZero() {
		if f.Time.Before(v.lastFix) {
			return e.processLate(v, f)
		}
		if f.Time.Equal(v.lastFix) {
			e.stats.duplicate.Add(1)
			return Result{Verdict: VerdictDuplicate}
		}
	}
	if v.endedTripCovers(f.Time) {
		// Taken during a trip completed since, such as a blind-area batch
		// uploaded after the dispatcher closed the trip: checked against
		// that trip in the late lane.
		return e.processLate(v, f)
	}
	out := e.flushIdleLateLane(v, f.ReceivedAt, nil)
	res := e.processInOrder(v, f, e.rules)
	res.Deviations = append(out, res.Deviations...)
	return res
}

// processInOrder runs one fix that is newer than v's last fix through the
// jump screen and the rules. v is the live vehicle or a late-lane shadow.
// v.mu of the live vehicle must be held.
func (e *Engine) processInOrder(v *vehicle, f *model.Fix, rules []rule) Result {
	confirmed, held := v.screenJump(&e.cfg, f)
	if held {
		e.stats.jump.Add(1)
		v.logger.Debug("fix held back as a jump", "fix_time", f.Time, "last_fix_time", v.lastFix)
		return Result{Verdict: VerdictJump}
	}

	res := Result{Verdict: VerdictAccepted}
	if len(confirmed) > 0 {
		e.stats.reanchored.Add(1)
		v.logger.Info("fixes held back as a jump were confirmed, accepting the new position", "fix_time", confirmed[0].Time, "fixes", len(confirmed))
		res.Reanchored = true
		for i, c := range confirmed {
			res.Deviations = e.evaluate(v, c, i == 0, rules, res.Deviations)
		}
	}
	m := v.judgeMotion(&e.cfg, f, false)
	if m.speedRejected {
		e.stats.speedRejected.Add(1)
		res.SpeedRejected = true
		v.logger.Debug("reported speed ignored as a spike", "fix_time", f.Time, "speed_kmh", f.SpeedKmh)
	}
	res.Deviations = e.evaluateJudged(v, f, m, rules, res.Deviations)
	return res
}

// evaluate judges f's motion and runs the rules on it.
func (e *Engine) evaluate(v *vehicle, f *model.Fix, afterJump bool, rules []rule, out []model.Deviation) []model.Deviation {
	m := v.judgeMotion(&e.cfg, f, afterJump)
	return e.evaluateJudged(v, f, m, rules, out)
}

// evaluateJudged makes f the vehicle's last fix and runs the rules on it.
func (e *Engine) evaluateJudged(v *vehicle, f *model.Fix, m motion, rules []rule, out []model.Deviation) []model.Deviation {
	// The effective fix and the environment live in the vehicle, so
	// handing them to the rules allocates nothing.
	ef := &v.fixScratch
	*ef = effectiveFix(f, m)
	env := &v.envScratch
	*env = evalEnv{
		engine: e,
		zones:  e.zones.Load(),
		motion: m,
		stamp:  e.stampOf(v, f),
	}
	if !v.isLate {
		e.stats.processed.Add(1)
		out = e.checkCoverage(v, ef, env, out)
		v.lastReceived = f.ReceivedAt
	}
	env.prevAt, env.prevLat, env.prevLon = v.lastFix, v.lastLat, v.lastLon
	v.lastFix, v.lastLat, v.lastLon = f.Time, f.Lat, f.Lon

	env.queryZones(v, ef)
	for _, r := range rules {
		out = r.evaluate(env, v, ef, out)
	}
	clear(v.scratch)
	clear(v.restrictedScratch)
	*env = evalEnv{}
	return out
}

// stampOf returns the receive time and late flag of deviations decided
// by f.
func (e *Engine) stampOf(v *vehicle, f *model.Fix) stamp {
	late := v.isLate || f.Source == model.SourceBlind
	if !f.ReceivedAt.IsZero() && f.ReceivedAt.Sub(f.Time) > e.cfg.LateAfter {
		late = true
	}
	return stamp{receivedAt: f.ReceivedAt, late: late}
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
		if k.Kind == model.KindRouteDeviation && routeTripID(k.Subject) != tripID {
			return true
		}
	}
	return false
}
