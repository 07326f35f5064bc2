// Package deviation turns a vehicle's fixes into alarm episodes: a
// model.Deviation that opens once, when the condition is confirmed, and
// closes once, when it is confirmed gone.
//
// Each alarm kind is one rule type behind the small rule interface. All
// rules share one hysteresis tracker, so a single stray fix, GNSS jitter at
// an edge or a parked truck never opens or closes an episode.
//
// # Concurrency
//
// The pipeline calls Engine.Process for one terminal from one goroutine at
// a time, and for different terminals concurrently. SetTrip, SetZones,
// MarshalState and RestoreState may come from any goroutine. State is
// guarded like this:
//
//   - Engine.mu guards only the vehicles map and is held just long enough
//     to find or add a vehicle.
//   - vehicle.mu guards everything in one vehicle's state: its trackers,
//     last fix and trip. It is never held while taking Engine.mu.
//   - The zone index is swapped atomically; Process uses the index that
//     was current when it started.
//
// The Engine starts no goroutines and holds no external resources, so it
// has no Close.
package deviation
