package deviation

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// stateVersion is bumped when the encoding of vehicleState changes.
const stateVersion = 1

// vehicleState is the restart image of one vehicle. The trip is not part
// of it: the caller sets trips again from storage with SetTrip, before or
// after RestoreState, and a trip with the same ID picks up its episode.
type vehicleState struct {
	Version  int            `json:"version"`
	Terminal string         `json:"terminal"`
	LastFix  time.Time      `json:"last_fix"`
	LastLat  float64        `json:"last_lat"`
	LastLon  float64        `json:"last_lon"`
	Trackers []trackerState `json:"trackers"`
}

type trackerState struct {
	Kind    model.DeviationKind `json:"kind"`
	Subject string              `json:"subject"`
	tracker
}

// MarshalState encodes terminal's hysteresis state, open episodes and last
// fix time as JSON, for RestoreState after a restart. It returns
// ErrUnknownTerminal for a terminal the engine holds no state for.
func (e *Engine) MarshalState(terminal string) ([]byte, error) {
	v := e.vehicle(terminal, false)
	if v == nil {
		return nil, fmt.Errorf("marshal deviation state of %q: %w", terminal, ErrUnknownTerminal)
	}
	v.mu.Lock()
	st := vehicleState{
		Version:  stateVersion,
		Terminal: terminal,
		LastFix:  v.lastFix,
		LastLat:  v.lastLat,
		LastLon:  v.lastLon,
		Trackers: make([]trackerState, 0, len(v.trackers)),
	}
	for _, kind := range []model.DeviationKind{model.KindRouteDeviation, model.KindRestrictedZone} {
		for _, key := range v.sortedKeys(kind) {
			t := v.trackers[key]
			st.Trackers = append(st.Trackers, trackerState{Kind: key.Kind, Subject: key.Subject, tracker: cloneTracker(t)})
		}
	}
	v.mu.Unlock()

	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("marshal deviation state of %q: %w", terminal, err)
	}
	return b, nil
}

func cloneTracker(t *tracker) tracker {
	c := tracker{Alarm: t.Alarm}
	if t.Run != nil {
		r := *t.Run
		c.Run = &r
	}
	if t.Episode != nil {
		ep := *t.Episode
		c.Episode = &ep
	}
	return c
}

// RestoreState replaces terminal's hysteresis state, open episodes and
// last fix time with an image from MarshalState. The vehicle's trip, if
// one is set, is kept.
func (e *Engine) RestoreState(terminal string, b []byte) error {
	var st vehicleState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("restore deviation state of %q: %w", terminal, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("restore deviation state of %q: unsupported version %d, expected %d", terminal, st.Version, stateVersion)
	}
	if st.Terminal != terminal {
		return fmt.Errorf("restore deviation state of %q: image belongs to terminal %q", terminal, st.Terminal)
	}
	trackers := make(map[trackerKey]*tracker, len(st.Trackers))
	for i, ts := range st.Trackers {
		if ts.Kind != model.KindRouteDeviation && ts.Kind != model.KindRestrictedZone {
			return fmt.Errorf("restore deviation state of %q: tracker %d has unsupported kind %s", terminal, i, ts.Kind)
		}
		if ts.Alarm && ts.Episode == nil {
			return fmt.Errorf("restore deviation state of %q: tracker %d is in alarm without an episode", terminal, i)
		}
		t := ts.tracker
		trackers[trackerKey{Kind: ts.Kind, Subject: ts.Subject}] = &t
	}

	v := e.vehicle(terminal, true)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastFix, v.lastLat, v.lastLon = st.LastFix, st.LastLat, st.LastLon
	v.trackers = trackers
	v.logger.Info("deviation state restored", "trackers", len(trackers), "last_fix_time", st.LastFix)
	return nil
}
