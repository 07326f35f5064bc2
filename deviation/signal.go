package deviation

import (
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// maxCoverageGaps is how many gaps in live coverage a vehicle remembers
// for the late lane.
const maxCoverageGaps = 32

// coverageState records which fix times the live lane has seen.
type coverageState struct {
	// FirstFix is the oldest fix time the live lane accepted.
	FirstFix time.Time `json:"first_fix,omitzero"`
	// IntervalS is a moving average of the reporting interval in seconds
	// with the ignition on, fed only by gaps shorter than the signal-loss
	// threshold.
	IntervalS float64 `json:"interval_s,omitempty"`
	// Gaps are the newest stretches between two consecutive live fixes
	// that were at least LateLaneMinGap apart, oldest first.
	Gaps []timeSpan `json:"gaps,omitempty"`
	// IgnitionOff reports that the newest live fix had the ignition off.
	IgnitionOff bool `json:"ignition_off,omitempty"`
}

type timeSpan struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// signalState is the signal-loss memory of one vehicle.
type signalState struct {
	// Live is the episode Tick opened because no fix has arrived for too
	// long; the next accepted fix closes it.
	Live *episode `json:"live,omitempty"`
}

// signalLossThreshold returns the gap in fix time after the newest fix
// that counts as signal loss: SignalLoss, or SignalLossIgnitionOff when
// that fix had the ignition off, or three reporting intervals if that is
// longer.
func (v *vehicle) signalLossThreshold(cfg *Config) time.Duration {
	threshold := cfg.SignalLoss
	if v.rs.Coverage.IgnitionOff {
		threshold = cfg.SignalLossIgnitionOff
	}
	if three := time.Duration(3 * v.rs.Coverage.IntervalS * float64(time.Second)); three > threshold {
		threshold = three
	}
	return threshold
}

// covers reports whether the live lane saw the stretch around t, so a late
// fix at t would only repeat it. Blind-area fixes from before the first
// live fix are evaluated; other fixes from then are taken as repeats.
func (c *coverageState) covers(t time.Time, source model.Source) bool {
	if t.Before(c.FirstFix) {
		return source != model.SourceBlind
	}
	for _, g := range c.Gaps {
		if t.After(g.From) && t.Before(g.To) {
			return false
		}
	}
	return true
}

// checkCoverage runs before f becomes the vehicle's last fix. It closes a
// live signal_loss episode, or raises a late one when f reveals a gap in
// fix time and reception during an active trip, and records the gap for
// the late lane.
func (e *Engine) checkCoverage(v *vehicle, f *model.Fix, env *evalEnv, out []model.Deviation) []model.Deviation {
	cov := &v.rs.Coverage
	prev := v.lastFix
	if cov.FirstFix.IsZero() {
		cov.FirstFix = f.Time
	}
	key := trackerKey{Kind: model.KindSignalLoss}

	if ep := v.rs.Signal.Live; ep != nil {
		endedAt := f.ReceivedAt
		if endedAt.IsZero() || endedAt.Before(f.Time) {
			endedAt = f.Time
		}
		ep.Peak = endedAt.Sub(ep.StartedAt).Seconds()
		// The arrival itself ends a live loss, so the close is never late,
		// even when the fix that arrived is old.
		end := endPoint{at: endedAt, lat: f.Lat, lon: f.Lon, stamp: stamp{receivedAt: f.ReceivedAt}}
		out = append(out, e.closedDeviation(v, key, ep, end))
		v.rs.Signal.Live = nil
	} else if !prev.IsZero() && v.trip != nil && v.trip.trip.ActiveAt(f.Time) {
		start := prev
		if ps := v.trip.trip.PlannedStart; start.Before(ps) {
			start = ps
		}
		// The gap must also be a gap in reception. A unit that uploads its
		// backlog before fresh fixes leaves a hole in fix time after the
		// backlog, but data kept arriving, so no outage caused it.
		silentSince := start
		if v.lastReceived.After(silentSince) {
			silentSince = v.lastReceived
		}
		threshold := v.signalLossThreshold(&e.cfg)
		if f.Time.Sub(start) > threshold && f.Time.Sub(silentSince) > threshold {
			ep := newEpisode(v, key, start, v.lastLat, v.lastLon, "medium")
			ep.Peak = f.Time.Sub(start).Seconds()
			st := stamp{receivedAt: f.ReceivedAt, late: true}
			out = append(out, e.openedDeviation(v, key, ep, st))
			out = append(out, e.closedDeviation(v, key, ep, endPoint{at: f.Time, lat: f.Lat, lon: f.Lon, stamp: st}))
		}
	}

	threshold := v.signalLossThreshold(&e.cfg)
	sleeping := cov.IgnitionOff
	cov.IgnitionOff = f.Has&model.HasACC != 0 && !f.ACC
	if prev.IsZero() {
		return out
	}
	// Only gaps after a fix with the ignition on feed the interval, so a
	// sleep interval never stretches the threshold for driving.
	gap := f.Time.Sub(prev)
	if gap <= threshold && !sleeping {
		const weight = 0.2
		if cov.IntervalS == 0 {
			cov.IntervalS = gap.Seconds()
		} else {
			cov.IntervalS += weight * (gap.Seconds() - cov.IntervalS)
		}
	}
	if gap >= e.cfg.LateLaneMinGap {
		cov.Gaps = append(cov.Gaps, timeSpan{From: prev, To: f.Time})
		if len(cov.Gaps) > maxCoverageGaps {
			cov.Gaps = cov.Gaps[len(cov.Gaps)-maxCoverageGaps:]
		}
	}
	return out
}

// Tick checks every vehicle against the wall clock now and returns the
// episodes it opened or closed, ordered by terminal. It opens a live
// signal_loss episode for a vehicle on an active trip when its newest fix
// time and that fix's receive time are both older than the signal-loss
// threshold. A vehicle still uploading a backlog is therefore not lost. It opens trip_overtime episodes, and closes late-lane episodes
// whose batch has been idle for a minute. Call it on a timer, every 10 to
// 30 seconds; it never changes the live state of the rules that follow
// fixes.
func (e *Engine) Tick(now time.Time) []model.Deviation {
	return e.TickOwned(now, nil)
}

func (e *Engine) tickSignal(v *vehicle, now time.Time, out []model.Deviation) []model.Deviation {
	if v.rs.Signal.Live != nil || v.trip == nil || !v.trip.trip.ActiveAt(now) {
		return out
	}
	threshold := v.signalLossThreshold(&e.cfg)
	// A unit that has not reported since it got its trip is as silent as
	// one that stopped: counted from the assignment, placed at the
	// route's start.
	start, lat, lon := v.lastFix, v.lastLat, v.lastLon
	if start.IsZero() {
		start = v.trip.assignedAt
		if len(v.trip.route) > 0 {
			lat, lon = v.trip.route[0].Lat(), v.trip.route[0].Lon()
		}
	}
	if ps := v.trip.trip.PlannedStart; start.Before(ps) {
		start = ps
	}
	if now.Sub(start) <= threshold || (!v.lastReceived.IsZero() && now.Sub(v.lastReceived) <= threshold) {
		return out
	}
	key := trackerKey{Kind: model.KindSignalLoss}
	ep := newEpisode(v, key, start, lat, lon, "medium")
	ep.Peak = now.Sub(start).Seconds()
	v.rs.Signal.Live = ep
	return append(out, e.openedDeviation(v, key, ep, stamp{receivedAt: now}))
}

// tripOvertimeRule raises trip_overtime while a trip is still active
// TripOvertimeGrace after its planned end. SetTrip closes the episode when
// the trip completes, is replaced, or gets a later planned end.
type tripOvertimeRule struct{}

var _ rule = tripOvertimeRule{}

func (tripOvertimeRule) kind() model.DeviationKind { return model.KindTripOvertime }

func (tripOvertimeRule) evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	return env.engine.checkOvertime(v, f.Time, f.Lat, f.Lon, env.stamp, out)
}

// checkOvertime opens the trip_overtime episode of v's trip when at is
// past its planned end plus the grace. v.mu must be held.
func (e *Engine) checkOvertime(v *vehicle, at time.Time, lat, lon float64, st stamp, out []model.Deviation) []model.Deviation {
	if v.trip == nil {
		return out
	}
	trip := v.trip.trip
	if trip.PlannedEnd.IsZero() || trip.State == model.TripCompleted {
		return out
	}
	due := trip.PlannedEnd.Add(e.cfg.TripOvertimeGrace)
	if at.Before(due) {
		return out
	}
	if ep := v.rs.Overtime[trip.ID]; ep != nil {
		ep.Peak = at.Sub(trip.PlannedEnd).Seconds()
		return out
	}
	key := trackerKey{Kind: model.KindTripOvertime, Subject: trip.ID}
	ep := newEpisode(v, key, due, lat, lon, "medium")
	ep.PlannedEnd = trip.PlannedEnd
	ep.Peak = at.Sub(trip.PlannedEnd).Seconds()
	if v.rs.Overtime == nil {
		v.rs.Overtime = make(map[string]*episode)
	}
	v.rs.Overtime[trip.ID] = ep
	return append(out, e.openedDeviation(v, key, ep, st))
}

// closeTripEpisodes closes, when v's trip changes to next, the episodes
// that only mean something during the old trip: long_stop, live
// signal_loss and the trip_overtime episodes of other trips or of a trip
// whose planned end moved past end.at. v.mu must be held.
func (e *Engine) closeTripEpisodes(v *vehicle, next *compiledTrip, end endPoint, out []model.Deviation) []model.Deviation {
	// Episodes are matched to the next trip by the trip ID they recorded,
	// so setting the trip again after RestoreState keeps them.
	keeps := func(ep *episode) bool { return next != nil && ep.TripID == next.trip.ID }
	if ep := v.rs.Stop.Episode; ep != nil && !keeps(ep) {
		ep.Peak = end.at.Sub(ep.StartedAt).Seconds()
		out = append(out, e.closedDeviation(v, trackerKey{Kind: model.KindLongStop}, ep, end))
		v.rs.Stop.Episode = nil
	}
	if ep := v.rs.Signal.Live; ep != nil && !keeps(ep) {
		ep.Peak = end.at.Sub(ep.StartedAt).Seconds()
		out = append(out, e.closedDeviation(v, trackerKey{Kind: model.KindSignalLoss}, ep, end))
		v.rs.Signal.Live = nil
	}

	for _, tripID := range sortedEpisodeKeys(v.rs.Overtime) {
		ep := v.rs.Overtime[tripID]
		if next != nil && next.trip.ID == tripID && !end.at.Before(next.trip.PlannedEnd.Add(e.cfg.TripOvertimeGrace)) {
			continue
		}
		out = append(out, e.closedDeviation(v, trackerKey{Kind: model.KindTripOvertime, Subject: tripID}, ep, end))
		delete(v.rs.Overtime, tripID)
	}
	return out
}
