package deviation

import (
	"math"
	"slices"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
	"github.com/paulmach/orb"
)

// rule is one alarm kind. evaluate applies a fix to the vehicle's trackers
// for that kind and appends the deviations it opened or closed. The caller
// holds v.mu.
type rule interface {
	kind() model.DeviationKind
	evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation
}

// evalEnv is the context one fix shares with its rules.
type evalEnv struct {
	engine *Engine
	zones  *geofence.Index
	// inside lists the zones that contain the fix and are in their daily
	// window; it aliases the vehicle's scratch slice.
	inside []*geofence.Zone
	motion motion
	stamp  stamp
	// segmentLimit is the speed limit of the trip's route segment at the
	// fix. The route rule sets it, and its kmh is 0 when none applies.
	segmentLimit speedLimit
	// prevAt, prevLat and prevLon are the vehicle's previous evaluated
	// fix in this lane; prevAt is zero for its first.
	prevAt           time.Time
	prevLat, prevLon float64
}

// stamp is the receive time and late flag of the deviations one fix
// decides.
type stamp struct {
	receivedAt time.Time
	late       bool
}

// endPoint is the place and time an episode ended, with the stamp of the
// fix or call that decided it.
type endPoint struct {
	at       time.Time
	lat, lon float64
	stamp    stamp
}

// queryZones fills env.inside with the active zones containing f. It is
// the only zone index query per fix.
func (env *evalEnv) queryZones(v *vehicle, f *model.Fix) {
	inside := v.scratch[:0]
	env.zones.Query(f.Lat, f.Lon, func(z *geofence.Zone) {
		if z.ActiveAt(f.Time) {
			inside = append(inside, z)
		}
	})
	v.scratch = inside
	env.inside = inside
}

// insideKind reports whether an active zone of kind contains the fix.
func (env *evalEnv) insideKind(kind geofence.Kind) bool {
	for _, z := range env.inside {
		if z.Kind == kind {
			return true
		}
	}
	return false
}

// apply steps one tracker and turns a transition into a deviation.
func (env *evalEnv) apply(v *vehicle, key trackerKey, t *tracker, f *model.Fix, obs observation, subject subjectInfo, out []model.Deviation) []model.Deviation {
	e := env.engine
	tr, confirmed := t.step(&e.cfg, f, obs)
	switch tr {
	case transitionOpened:
		t.Episode = &episode{
			ID:        deviationID(v.terminal, key, confirmed.Start),
			StartedAt: confirmed.Start,
			Lat:       confirmed.Lat,
			Lon:       confirmed.Lon,
			PeakM:     confirmed.PeakM,
			Segment:   confirmed.PeakAt,
			Name:      subject.name,
			Severity:  subject.severity,
			Level:     subject.level,
			ZoneID:    subject.zoneID,
		}
		out = append(out, e.openedDeviation(v, key, t.Episode, env.stamp))
	case transitionCrossed:
		out = append(out, env.crossed(v, key, subject, confirmed.Start, confirmed.Lat, confirmed.Lon, endPoint{at: f.Time, lat: f.Lat, lon: f.Lon, stamp: env.stamp})...)
	case transitionClosed:
		if t.Episode != nil {
			end := endPoint{at: confirmed.Start, lat: confirmed.Lat, lon: confirmed.Lon, stamp: env.stamp}
			out = append(out, e.closedDeviation(v, key, t.Episode, end))
		}
		t.Episode = nil
	}
	if t.idle() {
		delete(v.trackers, key)
	}
	return out
}

// crossed returns a whole episode, opened and closed at once, for a
// crossing the vehicle has already left: from start at (lat, lon) to end.
func (env *evalEnv) crossed(v *vehicle, key trackerKey, subject subjectInfo, start time.Time, lat, lon float64, end endPoint) []model.Deviation {
	ep := &episode{
		ID:        deviationID(v.terminal, key, start),
		StartedAt: start,
		Lat:       lat,
		Lon:       lon,
		Name:      subject.name,
		Severity:  subject.severity,
		Level:     subject.level,
		ZoneID:    subject.zoneID,
	}
	e := env.engine
	return []model.Deviation{e.openedDeviation(v, key, ep, env.stamp), e.closedDeviation(v, key, ep, end)}
}

// subjectInfo describes what an episode is about, for its texts.
type subjectInfo struct {
	name     string
	severity string
	level    int
	// zoneID is set for subjects whose tracker key does not name the
	// zone, such as a jurisdiction left during a trip.
	zoneID string
}

func (v *vehicle) tracker(key trackerKey) *tracker {
	t := v.trackers[key]
	if t == nil {
		t = &tracker{}
		v.trackers[key] = t
	}
	return t
}

// restrictedZoneRule raises restricted_zone episodes: a vehicle inside a
// zone of kind restricted during the zone's daily window.
type restrictedZoneRule struct{}

var _ rule = restrictedZoneRule{}

func (restrictedZoneRule) kind() model.DeviationKind { return model.KindRestrictedZone }

func (r restrictedZoneRule) evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	inside := v.restrictedScratch[:0]
	for _, z := range env.inside {
		if z.Kind == geofence.KindRestricted {
			inside = append(inside, z)
			v.tracker(trackerKey{Kind: model.KindRestrictedZone, Subject: z.ID})
		}
	}
	v.restrictedScratch = inside
	out = r.sparseCrossings(env, v, f, out)

	// Walk every restricted tracker, inside or not, in a stable order so a
	// fix that changes several zones reports them the same way each time.
	for _, key := range v.sortedKeys(model.KindRestrictedZone) {
		t := v.trackers[key]
		obs, subject := r.observe(env, key.Subject, inside, t, f)
		out = env.apply(v, key, t, f, obs, subject, out)
	}
	return out
}

// sparseCrossings reports the restricted zones the vehicle crossed
// between its previous fix and f without a fix inside: fixes a minute
// apart can straddle a zone the truck drove straight through. The entry
// and exit times are interpolated along the straight line.
func (restrictedZoneRule) sparseCrossings(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	if env.prevAt.IsZero() || !f.Time.After(env.prevAt) {
		return out
	}
	depthM := env.engine.cfg.gate(gateRestricted).MarginM + crossingDepthM
	lengthM := distanceM(env.prevLat, env.prevLon, f.Lat, f.Lon)
	if lengthM < 2*depthM || lengthM > maxChordM {
		return out
	}
	b := orb.LineString{{env.prevLon, env.prevLat}, {f.Lon, f.Lat}}.Bound()
	env.zones.Overlapping(b, func(z *geofence.Zone) {
		if z.Kind != geofence.KindRestricted || !z.ActiveAt(f.Time) || slices.Contains(env.inside, z) ||
			z.Contains(env.prevLat, env.prevLon) {
			return
		}
		key := trackerKey{Kind: model.KindRestrictedZone, Subject: z.ID}
		if t := v.trackers[key]; t != nil && (t.Alarm || t.Run != nil) {
			return
		}
		enter, leave, ok := chordThrough(z, env.prevLat, env.prevLon, f.Lat, f.Lon, depthM)
		if !ok {
			return
		}
		dt := f.Time.Sub(env.prevAt)
		at := func(frac float64) (time.Time, float64, float64) {
			return env.prevAt.Add(time.Duration(frac * float64(dt))).Truncate(time.Second),
				env.prevLat + frac*(f.Lat-env.prevLat), env.prevLon + frac*(f.Lon-env.prevLon)
		}
		start, lat, lon := at(enter)
		endAt, endLat, endLon := at(leave)
		out = append(out, env.crossed(v, key, zoneSubject(z), start, lat, lon, endPoint{at: endAt, lat: endLat, lon: endLon, stamp: env.stamp})...)
	})
	return out
}

// observe measures the fix against one zone. A zone that was deleted or is
// outside its window counts as infinitely far outside.
func (restrictedZoneRule) observe(env *evalEnv, zoneID string, inside []*geofence.Zone, t *tracker, f *model.Fix) (observation, subjectInfo) {
	for _, z := range inside {
		if z.ID != zoneID {
			continue
		}
		obs := observation{alarmSide: true, crossing: z, prevLat: env.prevLat, prevLon: env.prevLon, gate: gateRestricted}
		if !t.Alarm {
			obs.edgeM = z.DistanceToEdgeM(f.Lat, f.Lon)
		}
		return obs, zoneSubject(z)
	}

	z, ok := env.zones.Lookup(zoneID)
	if !ok || z.Kind != geofence.KindRestricted || !z.ActiveAt(f.Time) {
		return observation{edgeM: math.Inf(1), gate: gateRestricted}, subjectInfo{}
	}
	obs := observation{crossing: z, gate: gateRestricted}
	if t.Alarm {
		obs.edgeM = z.DistanceToEdgeM(f.Lat, f.Lon)
	}
	return obs, zoneSubject(z)
}

func zoneSubject(z *geofence.Zone) subjectInfo {
	severity := "medium"
	if z.Level == 1 {
		severity = "high"
	}
	return subjectInfo{name: z.Name, severity: severity, level: z.Level}
}

// routeRule raises route_deviation episodes: a vehicle on an active trip
// farther than half its width from every segment of the planned route.
type routeRule struct{}

var _ rule = routeRule{}

func (routeRule) kind() model.DeviationKind { return model.KindRouteDeviation }

func (routeRule) evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	activeID := ""
	if v.trip != nil {
		activeID = v.trip.trip.ID
	}
	// An episode restored for a trip the vehicle is no longer on ends here.
	if v.hasOtherRouteTracker(activeID) {
		end := endPoint{at: f.Time, lat: f.Lat, lon: f.Lon, stamp: env.stamp}
		out = append(out, env.engine.closeRouteTrackers(v, activeID, end)...)
	}
	if v.trip == nil || !v.trip.trip.ActiveAt(f.Time) {
		return out
	}

	offsetM, distM, segment := v.trip.corridor.Offset(f.Lat, f.Lon)
	obs := observation{
		gate:      gateRoute,
		alarmSide: offsetM > 0,
		edgeM:     math.Abs(offsetM),
		offM:      distM,
		segment:   segment,
	}
	if segments := v.trip.trip.Segments; offsetM <= 0 && len(segments) > 0 {
		// Inside a wide segment's corridor the vehicle may already drive
		// on the next segment, so the limit is the nearest segment's.
		_, nearest := v.trip.corridor.Distance(f.Lat, f.Lon)
		if nearest < len(segments) && segments[nearest].LimitKmh > 0 {
			env.segmentLimit = speedLimit{kmh: segments[nearest].LimitKmh, routeSegment: nearest + 1}
		}
	}
	key := trackerKey{Kind: model.KindRouteDeviation, Subject: activeID}
	t := v.tracker(key)
	return env.apply(v, key, t, f, obs, subjectInfo{severity: "medium"}, out)
}
