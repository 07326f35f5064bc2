package deviation

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// stateVersion is bumped when the encoding of vehicleState changes.
// Version 1 images, from before the timed kinds, restore with empty rule
// state.
const stateVersion = 2

// ruleState is the memory of the fix quality checks and of the rules that
// do not use the hysteresis tracker. It is plain data, so MarshalState
// encodes it as it is.
type ruleState struct {
	Motion    motionState         `json:"motion"`
	Coverage  coverageState       `json:"coverage"`
	Overspeed overspeedState      `json:"overspeed"`
	Stop      stopState           `json:"stop"`
	Signal    signalState         `json:"signal"`
	Overtime  map[string]*episode `json:"overtime,omitempty"` // by trip ID
	Alarm     alarmState          `json:"alarm"`
	Site      siteState           `json:"site,omitzero"`
	Travel    segmentTravelState  `json:"travel,omitzero"`
}

// vehicleState is the restart image of one vehicle. The trip is not part
// of it: the caller sets trips again from storage with SetTrip, before or
// after RestoreState, and a trip with the same ID picks up its episode.
type vehicleState struct {
	Version  int       `json:"version"`
	Terminal string    `json:"terminal"`
	LastFix  time.Time `json:"last_fix"`
	LastLat  float64   `json:"last_lat"`
	LastLon  float64   `json:"last_lon"`
	// LastReceived is the receive time of the newest accepted fix.
	LastReceived time.Time      `json:"last_received,omitzero"`
	Trackers     []trackerState `json:"trackers"`
	// Rules is absent in version 1 images.
	Rules json.RawMessage `json:"rules,omitempty"`
}

type trackerState struct {
	Kind    model.DeviationKind `json:"kind"`
	Subject string              `json:"subject"`
	tracker
}

// MarshalState encodes terminal's hysteresis state, rule state, open
// episodes and last fix time as JSON, for RestoreState after a restart.
// It returns ErrUnknownTerminal for a terminal the engine holds no state
// for.
func (e *Engine) MarshalState(terminal string) ([]byte, error) {
	v := e.vehicle(terminal, false)
	if v == nil {
		return nil, fmt.Errorf("marshal deviation state of %q: %w", terminal, ErrUnknownTerminal)
	}
	v.mu.Lock()
	rules, err := json.Marshal(&v.rs)
	if err != nil {
		v.mu.Unlock()
		return nil, fmt.Errorf("marshal deviation state of %q: %w", terminal, err)
	}
	st := vehicleState{
		Version:      stateVersion,
		Terminal:     terminal,
		LastFix:      v.lastFix,
		LastLat:      v.lastLat,
		LastLon:      v.lastLon,
		LastReceived: v.lastReceived,
		Trackers:     make([]trackerState, 0, len(v.trackers)),
		Rules:        rules,
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

// RestoreState replaces terminal's hysteresis state, rule state, open
// episodes and last fix time with an image from MarshalState. The
// vehicle's trip, if one is set, is kept. A late batch in progress is
// dropped.
func (e *Engine) RestoreState(terminal string, b []byte) error {
	var st vehicleState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("restore deviation state of %q: %w", terminal, err)
	}
	if st.Version != 1 && st.Version != stateVersion {
		return fmt.Errorf("restore deviation state of %q: unsupported version %d, expected 1 to %d", terminal, st.Version, stateVersion)
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

	var rules ruleState
	if len(st.Rules) > 0 {
		if err := json.Unmarshal(st.Rules, &rules); err != nil {
			return fmt.Errorf("restore deviation state of %q: rules: %w", terminal, err)
		}
	}

	v := e.vehicle(terminal, true)
	v.mu.Lock()
	defer v.mu.Unlock()
	v.lastFix, v.lastLat, v.lastLon = st.LastFix, st.LastLat, st.LastLon
	v.lastReceived = st.LastReceived
	v.trackers = trackers
	v.rs = rules
	v.late = nil
	v.logger.Info("deviation state restored", "trackers", len(trackers), "last_fix_time", st.LastFix)
	return nil
}
