package deviation

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// Reset forgets everything the engine learnt from terminal's fixes: the
// last fix, the hysteresis trackers, open episodes, the rule state and a
// late batch in progress. The trip set with SetTrip stays. A server that
// hands a vehicle to another server calls it after saving the state with
// MarshalState, so the timed rules here stop raising alarms for a vehicle
// whose fixes now go elsewhere. A terminal the engine has never seen is
// left alone.
func (e *Engine) Reset(terminal string) {
	v := e.vehicle(terminal, false)
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastFix = time.Time{}
	v.lastLat, v.lastLon = 0, 0
	v.lastReceived = time.Time{}
	v.trackers = make(map[trackerKey]*tracker)
	v.rs = ruleState{}
	v.late = nil
}

// TickOwned is Tick limited to the terminals for which owned returns true.
// A nil owned includes every terminal. owned is called without any engine
// lock held.
func (e *Engine) TickOwned(now time.Time, owned func(terminal string) bool) []model.Deviation {
	var out []model.Deviation
	for _, terminal := range e.Terminals() {
		if owned != nil && !owned(terminal) {
			continue
		}
		v := e.vehicle(terminal, false)
		if v == nil {
			continue
		}
		v.mu.Lock()
		out = e.flushIdleLateLane(v, now, out)
		out = e.tickSignal(v, now, out)
		out = e.checkOvertime(v, now, v.lastLat, v.lastLon, stamp{receivedAt: now}, out)
		v.mu.Unlock()
	}
	return out
}

// StateLastFix returns the fix time of the newest fix recorded in a
// MarshalState image, or the zero time for an image of a vehicle that has
// sent no fix yet.
func StateLastFix(image []byte) (time.Time, error) {
	var st struct {
		LastFix time.Time `json:"last_fix"`
	}
	if err := json.Unmarshal(image, &st); err != nil {
		return time.Time{}, fmt.Errorf("read last fix time of a deviation state image: %w", err)
	}
	return st.LastFix, nil
}

// LastFixTime returns the fix time of terminal's newest evaluated fix, or
// the zero time when the engine holds none.
func (e *Engine) LastFixTime(terminal string) time.Time {
	v := e.vehicle(terminal, false)
	if v == nil {
		return time.Time{}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.lastFix
}
