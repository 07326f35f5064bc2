package storage

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hwtrack/hwtrack/model"
)

// DeviationQuery selects deviations. Zero fields do not filter. From
// (inclusive) and To (exclusive) bound StartedAt, and Limit > 0 caps the
// count.
type DeviationQuery struct {
	Terminal string
	Kind     model.DeviationKind
	State    model.DeviationState
	From, To time.Time
	Limit    int
}

func devByStartKey(started time.Time, id string) []byte {
	k := appendTime([]byte(prefixDevByStart), started)
	return append(k, id...)
}

func devByTerminalKey(terminal string, started time.Time, id string) []byte {
	k := appendTime(terminalPrefix(prefixDevByTerminal, terminal), started)
	return append(k, id...)
}

// PutDeviation inserts or replaces the deviation with d.ID, so an episode
// is stored when it opens and overwritten when the same ID closes.
func (s *Store) PutDeviation(d model.Deviation) error {
	var verr model.ValidationError
	if err := validateID("deviation id", d.ID); err != nil {
		verr.Add("id", err.Error())
	}
	if err := validateID("terminal", d.Terminal); err != nil {
		verr.Add("terminal", err.Error())
	}
	if d.StartedAt.IsZero() || !inNanoRange(d.StartedAt) {
		verr.Add("started_at", "missing or outside years 1678 to 2261")
	}
	if err := verr.Err(); err != nil {
		return err
	}
	data, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode deviation %q: %w", d.ID, err)
	}

	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	s.entityMu.Lock()
	defer s.entityMu.Unlock()

	key := makeKey(prefixDeviation, d.ID)
	var old model.Deviation
	found, err := s.getJSONLocked("deviation", key, &old)
	if err != nil {
		return err
	}

	b := s.db.NewBatch()
	defer b.Close()
	if found && (old.Terminal != d.Terminal || !old.StartedAt.Equal(d.StartedAt)) {
		_ = b.Delete(devByStartKey(old.StartedAt, d.ID), nil)
		_ = b.Delete(devByTerminalKey(old.Terminal, old.StartedAt, d.ID), nil)
	}
	_ = b.Set(key, data, nil)
	_ = b.Set(devByStartKey(d.StartedAt, d.ID), nil, nil)
	_ = b.Set(devByTerminalKey(d.Terminal, d.StartedAt, d.ID), nil, nil)
	start := time.Now()
	if err := b.Commit(pebble.NoSync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return fmt.Errorf("store deviation %q: %w", d.ID, err)
	}
	s.metrics.pebbleCommit.WithLabelValues("deviations").Observe(time.Since(start).Seconds())
	return nil
}

// Deviations returns the deviations matching q, newest StartedAt first.
func (s *Store) Deviations(q DeviationQuery) ([]model.Deviation, error) {
	var prefix []byte
	if q.Terminal != "" {
		if err := validateID("terminal", q.Terminal); err != nil {
			return nil, err
		}
		prefix = terminalPrefix(prefixDevByTerminal, q.Terminal)
	} else {
		prefix = []byte(prefixDevByStart)
	}
	lower, upper := prefix, prefixEnd(prefix)
	if !q.From.IsZero() {
		lower = appendTime(append([]byte(nil), prefix...), clampNano(q.From))
	}
	if !q.To.IsZero() {
		upper = appendTime(append([]byte(nil), prefix...), clampNano(q.To))
	}

	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()

	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("open deviation index iterator: %w", err)
	}
	defer iter.Close()

	var out []model.Deviation
	for valid := iter.Last(); valid; valid = iter.Prev() {
		id := string(iter.Key()[len(prefix)+8:])
		var d model.Deviation
		found, err := s.getJSONLocked("deviation", makeKey(prefixDeviation, id), &d)
		if err != nil {
			return nil, err
		}
		if !found {
			continue
		}
		if q.Kind != model.KindUnknown && d.Kind != q.Kind {
			continue
		}
		if q.State != model.StateUnknown && d.State != q.State {
			continue
		}
		out = append(out, d)
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("scan deviations: %w", err)
	}
	return out, nil
}
