package storage

import (
	"encoding/json"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hwtrack/hwtrack/model"
)

// prefixHandling keys deviation handling records: "h/" + deviation id →
// model.Handling JSON. Handling is kept apart from the deviation record,
// which the rules engine rewrites when the episode closes.
const prefixHandling = "h/"

// Handling returns the handling record of the deviation with id.
func (s *Store) Handling(deviationID string) (model.Handling, bool, error) {
	var h model.Handling
	ok, err := s.getJSON("deviation handling", makeKey(prefixHandling, deviationID), &h)
	return h, ok, err
}

// UpdateHandling applies update to the handling record of the deviation
// with id and stores the result. update receives the stored record, or a
// record with status new when none exists. When update returns an error,
// nothing is written and that error is returned. The read, the update and
// the write are atomic with respect to other UpdateHandling calls.
func (s *Store) UpdateHandling(deviationID string, update func(h *model.Handling) error) (model.Handling, error) {
	if err := validateID("deviation id", deviationID); err != nil {
		return model.Handling{}, err
	}
	if err := s.rlock(); err != nil {
		return model.Handling{}, err
	}
	defer s.closeMu.RUnlock()
	s.entityMu.Lock()
	defer s.entityMu.Unlock()

	key := makeKey(prefixHandling, deviationID)
	var h model.Handling
	found, err := s.getJSONLocked("deviation handling", key, &h)
	if err != nil {
		return model.Handling{}, err
	}
	if !found {
		h = model.Handling{Status: model.HandlingNew}
	}
	if err := update(&h); err != nil {
		return model.Handling{}, err
	}
	data, err := json.Marshal(h)
	if err != nil {
		return model.Handling{}, fmt.Errorf("encode handling of deviation %q: %w", deviationID, err)
	}
	if err := s.db.Set(key, data, pebble.Sync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return model.Handling{}, fmt.Errorf("store handling of deviation %q: %w", deviationID, err)
	}
	return h, nil
}

// Deviation returns the deviation with id, without its handling record.
func (s *Store) Deviation(id string) (model.Deviation, bool, error) {
	var d model.Deviation
	ok, err := s.getJSON("deviation", makeKey(prefixDeviation, id), &d)
	return d, ok, err
}
