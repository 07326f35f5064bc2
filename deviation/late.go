package deviation

import (
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// lateLaneIdle is the receive-time silence after which a late batch is
// over and its open episodes are closed at its newest fix.
const lateLaneIdle = time.Minute

// processLate handles a fix older than v's newest fix. A fix that fills a
// gap in the live coverage runs through the late lane: a shadow vehicle
// with its own hysteresis, jump screen and overspeed state, fed the late
// batch in fix-time order, whose deviations are flagged late. The live
// state never changes. v.mu must be held.
//
// NOTE: the late lane runs the restricted-zone, route and overspeed rules
// only, and is not part of MarshalState, so a restart drops a batch in
// progress.
func (e *Engine) processLate(v *vehicle, f *model.Fix) Result {
	if f.Time.Before(v.lastFix) && v.rs.Coverage.covers(f.Time, f.Source) {
		e.stats.stale.Add(1)
		v.logger.Debug("stale fix ignored", "fix_time", f.Time, "last_fix_time", v.lastFix)
		return Result{Verdict: VerdictStale}
	}

	var out []model.Deviation
	lane := v.late
	if lane != nil && !f.Time.After(lane.lastFix) {
		if f.Time.Equal(lane.lastFix) {
			e.stats.duplicate.Add(1)
			return Result{Verdict: VerdictDuplicate}
		}
		// An older fix starts a new batch.
		out = e.flushLateLane(v, f.ReceivedAt, out)
		lane = nil
	}
	if lane == nil {
		lane = newVehicle(v.terminal, v.logger.With("lane", "late"))
		lane.isLate = true
		lane.trip = v.trip
		if v.endedTripCovers(f.Time) {
			lane.trip = v.endedTrip
		}
		v.late = lane
	}

	e.stats.late.Add(1)
	lane.lastReceived = f.ReceivedAt
	res := e.processInOrder(lane, f, e.lateRules)
	if res.Verdict == VerdictAccepted {
		res.Verdict = VerdictLate
	}
	res.Deviations = append(out, res.Deviations...)
	return res
}

// flushIdleLateLane closes the late lane of v when its newest fix was
// received lateLaneIdle or longer before now. v.mu must be held.
func (e *Engine) flushIdleLateLane(v *vehicle, now time.Time, out []model.Deviation) []model.Deviation {
	if v.late == nil || now.IsZero() || now.Sub(v.late.lastReceived) < lateLaneIdle {
		return out
	}
	return e.flushLateLane(v, now, out)
}

// flushLateLane closes every open episode of v's late lane at the lane's
// newest fix and drops the lane. v.mu must be held.
func (e *Engine) flushLateLane(v *vehicle, receivedAt time.Time, out []model.Deviation) []model.Deviation {
	lane := v.late
	if lane == nil {
		return out
	}
	v.late = nil
	end := endPoint{at: lane.lastFix, lat: lane.lastLat, lon: lane.lastLon, stamp: stamp{receivedAt: receivedAt, late: true}}
	for _, kind := range []model.DeviationKind{model.KindRestrictedZone, model.KindRouteDeviation} {
		for _, key := range lane.sortedKeys(kind) {
			t := lane.trackers[key]
			if t.Alarm && t.Episode != nil {
				out = append(out, e.closedDeviation(lane, key, t.Episode, end))
			}
		}
	}
	if ep := lane.rs.Overspeed.Episode; ep != nil {
		out = append(out, e.closedDeviation(lane, trackerKey{Kind: model.KindOverspeed}, ep, end))
	}
	lane.logger.Debug("late batch closed", "last_fix_time", lane.lastFix)
	return out
}

// endedTripCovers reports whether a fix taken at t belongs to v's last
// completed trip rather than to its current one, if any. v.mu must be
// held.
func (v *vehicle) endedTripCovers(t time.Time) bool {
	return v.endedTrip != nil && v.endedTrip.trip.ActiveAt(t) && (v.trip == nil || !v.trip.trip.ActiveAt(t))
}
