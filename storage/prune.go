package storage

import (
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hwtrack/hwtrack/model"
)

// PruneStats counts what one Prune removed.
type PruneStats struct {
	RawSegments, Fixes, Deviations int
}

// Prune applies retention relative to now: sealed raw log segments whose
// whole UTC day is older than RawRetention, fixes with a fix time older
// than FixRetention, and closed deviations that ended (or, without an end
// time, started) before DeviationRetention. Open deviations are kept
// whatever their age. Errors of one kind do not stop the others.
func (s *Store) Prune(now time.Time) (PruneStats, error) {
	if err := s.rlock(); err != nil {
		return PruneStats{}, err
	}
	defer s.closeMu.RUnlock()

	var stats PruneStats
	var errs []error
	var err error

	stats.RawSegments, err = s.raw.prune(now.Add(-s.opts.RawRetention))
	if err != nil {
		errs = append(errs, fmt.Errorf("prune raw log: %w", err))
	}
	stats.Fixes, err = s.pruneFixes(now.Add(-s.opts.FixRetention))
	if err != nil {
		errs = append(errs, fmt.Errorf("prune fixes: %w", err))
	}
	stats.Deviations, err = s.pruneDeviations(now.Add(-s.opts.DeviationRetention))
	if err != nil {
		errs = append(errs, fmt.Errorf("prune deviations: %w", err))
	}

	s.log.Info("pruned storage", "raw_segments", stats.RawSegments,
		"fixes", stats.Fixes, "deviations", stats.Deviations)
	return stats, errors.Join(errs...)
}

// pruneFixes deletes, for every terminal with fixes, those with a fix time
// before cutoff. It counts them first because a range deletion does not
// report what it removed.
func (s *Store) pruneFixes(cutoff time.Time) (int, error) {
	s.fixMu.Lock()
	defer s.fixMu.Unlock()

	terminals, err := s.fixTerminalList()
	if err != nil {
		return 0, err
	}
	cutoff = clampNano(cutoff)

	b := s.db.NewBatch()
	defer b.Close()
	total := 0
	for _, terminal := range terminals {
		lower := terminalPrefix(prefixFix, terminal)
		upper := appendTime(append([]byte(nil), lower...), cutoff)
		n, err := s.countKeys(lower, upper)
		if err != nil {
			return 0, err
		}
		if n == 0 {
			continue
		}
		total += n
		if err := b.DeleteRange(lower, upper, nil); err != nil {
			return 0, fmt.Errorf("add fix range deletion for %s: %w", terminal, err)
		}
	}
	if b.Empty() {
		return 0, nil
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return 0, fmt.Errorf("commit fix deletions: %w", err)
	}
	return total, nil
}

func (s *Store) fixTerminalList() ([]string, error) {
	p := []byte(prefixFixTerminal)
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("open fix terminal iterator: %w", err)
	}
	defer iter.Close()
	var out []string
	for valid := iter.First(); valid; valid = iter.Next() {
		out = append(out, string(iter.Key()[len(p):]))
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("scan fix terminals: %w", err)
	}
	return out, nil
}

func (s *Store) countKeys(lower, upper []byte) (int, error) {
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return 0, fmt.Errorf("open count iterator: %w", err)
	}
	defer iter.Close()
	n := 0
	for valid := iter.First(); valid; valid = iter.Next() {
		n++
	}
	if err := iter.Error(); err != nil {
		return 0, fmt.Errorf("count keys: %w", err)
	}
	return n, nil
}

// pruneDeviations deletes closed deviations that ended before cutoff. Only
// deviations that started before cutoff can qualify, so it scans the
// start-time index up to cutoff.
func (s *Store) pruneDeviations(cutoff time.Time) (int, error) {
	s.entityMu.Lock()
	defer s.entityMu.Unlock()

	prefix := []byte(prefixDevByStart)
	upper := appendTime(append([]byte(nil), prefix...), clampNano(cutoff))
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return 0, fmt.Errorf("open deviation index iterator: %w", err)
	}
	defer iter.Close()

	b := s.db.NewBatch()
	defer b.Close()
	n := 0
	for valid := iter.First(); valid; valid = iter.Next() {
		id := string(iter.Key()[len(prefix)+8:])
		var d model.Deviation
		found, err := s.getJSONLocked("deviation", makeKey(prefixDeviation, id), &d)
		if err != nil {
			return 0, err
		}
		if !found {
			_ = b.Delete(append([]byte(nil), iter.Key()...), nil)
			continue
		}
		end := d.EndedAt
		if end.IsZero() {
			end = d.StartedAt
		}
		if d.State == model.StateOpen || !end.Before(cutoff) {
			continue
		}
		_ = b.Delete(makeKey(prefixDeviation, id), nil)
		_ = b.Delete(devByStartKey(d.StartedAt, id), nil)
		_ = b.Delete(devByTerminalKey(d.Terminal, d.StartedAt, id), nil)
		n++
	}
	if err := iter.Error(); err != nil {
		return 0, fmt.Errorf("scan deviation index: %w", err)
	}
	if b.Empty() {
		return 0, nil
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return 0, fmt.Errorf("commit deviation deletions: %w", err)
	}
	return n, nil
}
