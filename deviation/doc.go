// Package deviation turns a vehicle's fixes into alarm episodes: a
// model.Deviation that opens once, when the condition is confirmed, and
// closes once, when it is confirmed gone.
//
// # Alarm kinds
//
//   - restricted_zone and route_deviation are geometric. Every change of
//     side goes through one hysteresis tracker, so a single stray fix,
//     GNSS jitter at an edge or a parked truck never opens or closes an
//     episode.
//   - Leaving the jurisdiction is reported as route_deviation, because
//     the stable kinds have none of its own. A trip is local when its
//     planned route stays inside the union of the jurisdiction zones,
//     sampled every 50 m. A vehicle on a local trip outside every
//     jurisdiction zone opens an episode through the same hysteresis,
//     with the nearest jurisdiction zone as its zone, its distance
//     outside as peak and the texts 驶出管辖区域：{name} and "Left the
//     jurisdiction: {name}". A trip planned to leave raises none, and
//     neither does any trip while no jurisdiction zone exists.
//   - Route segments may carry their own corridor width and speed limit
//     (model.Trip.Segments). A fix is inside the corridor when it is
//     within half the width of some segment. Where the vehicle is inside
//     the corridor, the nearest segment's limit applies if it is lower
//     than the zone limits, or if no zone sets one, and its overspeed
//     texts name the segment. Segment travel times have no kind of their
//     own: a segment driven faster than its minimum time is reported as
//     overspeed, and one driven slower than its maximum as trip_overtime,
//     both with the segment number in the texts.
//   - overspeed: one episode per speeding stretch, with a minimum
//     duration and an end hysteresis. The limit comes from speed_limit
//     zones, else from the dangerous-goods defaults (80 km/h inside an
//     expressway zone, 60 km/h elsewhere).
//   - long_stop: staying within a radius of one place outside every site
//     during an active trip, measured by displacement and fix time.
//   - signal_loss: a gap in fix time during an active trip, raised late by
//     the fix that reveals it, or live by Tick while no fix arrives.
//   - trip_overtime: an active trip past its planned end plus a grace.
//   - device_alarm: the JT/T 808 alarm word decoded bit by bit.
//
// # Site arrival and departure
//
// Sites raise no deviations. A vehicle on an active trip has arrived at a
// zone of kind site once it has stayed inside it for Config.SiteDwell of
// fix time, with MinFixes fixes deeper than the margin. Driving through
// does not count. It has departed once the usual hysteresis confirms it
// outside. The engine queues these events with the vehicle's saved state
// until the caller collects them with DrainTripEvents, after it has
// stored the fixes. They run on the live lane only.
//
// Config documents every threshold and its default.
//
// # Fix quality
//
// Before the rules run, ProcessFix drops invalid and (0, 0) fixes and
// repeated fix times. It holds back fixes that imply an impossible speed
// until later fixes confirm them. It ignores reported speeds that disagree
// with the point-to-point speed, and treats a truck with the ignition off
// or unchanged coordinates as stopped. Its Result carries a Verdict the
// caller can store with the raw record.
//
// # Late fixes
//
// The live lane evaluates each vehicle in fix-time order. A fix older than
// the newest one that fills a gap in the live coverage goes through the
// late lane: a shadow state that evaluates the late batch with the
// restricted-zone, route and overspeed rules and flags its episodes late,
// without touching the live state. Other old fixes repeat what the live
// lane saw and are only counted.
//
// # Wiring
//
// The caller sets zones with SetZones and trips with SetTrip, feeds fixes
// to Process or ProcessFix, and calls Tick on a timer (every 10 to 30
// seconds) for live signal loss, trip overtime and idle late batches.
// MarshalState and RestoreState carry the state across a restart.
//
// # Concurrency
//
// The pipeline calls Engine.Process for one terminal from one goroutine at
// a time, and for different terminals concurrently. SetTrip, SetZones,
// Tick, MarshalState and RestoreState may come from any goroutine. State
// is guarded like this:
//
//   - Engine.mu guards only the vehicles map and is held just long enough
//     to find or add a vehicle.
//   - vehicle.mu guards everything in one vehicle's state: its trackers,
//     rule state, last fix, trip and late lane. The late lane's own mutex
//     is unused. vehicle.mu is never held while taking Engine.mu.
//   - The zone index is swapped atomically; Process uses the index that
//     was current when it started.
//
// The Engine starts no goroutines and holds no external resources, so it
// has no Close.
package deviation
