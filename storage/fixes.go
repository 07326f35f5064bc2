package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hwtrack/hwtrack/model"
)

// smallBatch is the batch size up to which PutFixes finds duplicates
// inside the batch by a linear scan instead of a map.
const smallBatch = 32

// PutFixes stores fixes and raises the applied raw seq to appliedRawSeq in
// one pebble batch. A fix whose (terminal, fix time, seq) is already stored,
// or appears earlier in the same call, is counted as a duplicate and not
// written, so the first stored wins. The applied raw seq never moves back,
// and 0 leaves it unchanged. An invalid fix rejects the whole call with a
// *model.ValidationError and nothing is written.
func (s *Store) PutFixes(fixes []model.Fix, appliedRawSeq uint64) (stored, duplicates int, err error) {
	var verr model.ValidationError
	for i := range fixes {
		validateFix(&fixes[i], i, &verr)
	}
	if err := verr.Err(); err != nil {
		return 0, 0, err
	}

	if err := s.rlock(); err != nil {
		return 0, 0, err
	}
	defer s.closeMu.RUnlock()
	s.fixMu.Lock()
	defer s.fixMu.Unlock()

	b := s.db.NewBatch()
	defer b.Close()

	var (
		keys     [][]byte
		keySet   map[string]struct{}
		newTerms []string
		valueBuf []byte
		useMap   = len(fixes) > smallBatch
		// batchNewest is the largest key stored per terminal, raising
		// newestFixKey once the batch is committed.
		batchNewest = make(map[string][]byte, 1)
	)
	if useMap {
		keySet = make(map[string]struct{}, len(fixes))
	}
	for i := range fixes {
		f := &fixes[i]
		key := fixKey(f.Terminal, f.Time, f.Seq)
		if seenInBatch(key, keys, keySet) {
			duplicates++
			continue
		}
		exists, err := s.storedFix(f.Terminal, key)
		if err != nil {
			return 0, 0, err
		}
		if exists {
			duplicates++
			continue
		}
		if keySet != nil {
			keySet[string(key)] = struct{}{}
		} else {
			keys = append(keys, key)
		}

		valueBuf = appendFixValue(valueBuf[:0], f)
		if err := b.Set(key, valueBuf, nil); err != nil {
			return 0, 0, fmt.Errorf("add fix to batch: %w", err)
		}
		stored++
		if newest, ok := batchNewest[f.Terminal]; !ok || bytes.Compare(key, newest) > 0 {
			batchNewest[f.Terminal] = key
		}

		if _, ok := s.fixTerminals[f.Terminal]; !ok && !containsString(newTerms, f.Terminal) {
			newTerms = append(newTerms, f.Terminal)
			if err := b.Set(makeKey(prefixFixTerminal, f.Terminal), nil, nil); err != nil {
				return 0, 0, fmt.Errorf("add fix terminal to batch: %w", err)
			}
		}
	}

	if appliedRawSeq > 0 {
		current, err := s.appliedRawSeqLocked()
		if err != nil {
			return 0, 0, err
		}
		if appliedRawSeq > current {
			if err := b.Set([]byte(keyAppliedRawSeq), binary.BigEndian.AppendUint64(nil, appliedRawSeq), nil); err != nil {
				return 0, 0, fmt.Errorf("add applied raw seq to batch: %w", err)
			}
		}
	}

	if !b.Empty() {
		start := time.Now()
		if err := b.Commit(pebble.NoSync); err != nil {
			s.metrics.writeErrors.WithLabelValues("pebble").Inc()
			return 0, 0, fmt.Errorf("commit %d fixes: %w", stored, err)
		}
		s.metrics.pebbleCommit.WithLabelValues("fixes").Observe(time.Since(start).Seconds())
	}
	for _, t := range newTerms {
		s.fixTerminals[t] = struct{}{}
	}
	for terminal, key := range batchNewest {
		if bytes.Compare(key, s.newestFixKey[terminal]) > 0 {
			s.newestFixKey[terminal] = key
		}
	}
	s.metrics.fixesStored.Add(float64(stored))
	s.metrics.fixDuplicates.Add(float64(duplicates))
	return stored, duplicates, nil
}

func seenInBatch(key []byte, keys [][]byte, keySet map[string]struct{}) bool {
	if keySet != nil {
		_, ok := keySet[string(key)]
		return ok
	}
	for _, k := range keys {
		if string(k) == string(key) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// storedFix reports whether the fix key of terminal is stored. It looks
// the key up only when it is not above the newest key known for the
// terminal. Call with fixMu held.
func (s *Store) storedFix(terminal string, key []byte) (bool, error) {
	newest, ok := s.newestFixKey[terminal]
	if !ok {
		var err error
		if newest, err = s.loadNewestFixKey(terminal); err != nil {
			return false, err
		}
		s.newestFixKey[terminal] = newest
	}
	if bytes.Compare(key, newest) > 0 {
		return false, nil
	}
	return s.exists(key)
}

// loadNewestFixKey returns the largest stored fix key of terminal, or the
// terminal's key prefix, which every fix key of it sorts above, when it has
// none.
func (s *Store) loadNewestFixKey(terminal string) ([]byte, error) {
	prefix := terminalPrefix(prefixFix, terminal)
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("open fix iterator: %w", err)
	}
	defer iter.Close()
	if iter.Last() {
		return bytes.Clone(iter.Key()), iter.Error()
	}
	return prefix, iter.Error()
}

// exists reports whether key is stored.
func (s *Store) exists(key []byte) (bool, error) {
	_, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up key %q: %w", key, err)
	}
	_ = closer.Close()
	return true, nil
}

// AppliedRawSeq returns the highest raw seq recorded by PutFixes, 0 when
// none was. Replaying the raw log after it re-derives what a crash lost.
func (s *Store) AppliedRawSeq() (uint64, error) {
	if err := s.rlock(); err != nil {
		return 0, err
	}
	defer s.closeMu.RUnlock()
	return s.appliedRawSeqLocked()
}

func (s *Store) appliedRawSeqLocked() (uint64, error) {
	v, closer, err := s.db.Get([]byte(keyAppliedRawSeq))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read applied raw seq: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("read applied raw seq: value of %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Track returns terminal's fixes with from <= fix time < to in fix-time
// order (then seq), at most limit of them when limit > 0.
func (s *Store) Track(terminal string, from, to time.Time, limit int) ([]model.Fix, error) {
	if err := validateID("terminal", terminal); err != nil {
		return nil, err
	}
	from, to = clampNano(from), clampNano(to)
	if !to.After(from) {
		return nil, nil
	}
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()

	prefix := terminalPrefix(prefixFix, terminal)
	lower := appendTime(append([]byte(nil), prefix...), from)
	upper := appendTime(append([]byte(nil), prefix...), to)
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("open track iterator: %w", err)
	}
	defer iter.Close()

	var c fixCollector
	for valid := iter.First(); valid; valid = iter.Next() {
		if err := decodeFixAt(iter, terminal, len(prefix), c.next()); err != nil {
			return nil, err
		}
		if limit > 0 && c.len() == limit {
			break
		}
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("scan track of %s: %w", terminal, err)
	}
	return c.result(), nil
}

// fixCollector gathers decoded fixes in chunks of growing size and copies
// them once at the end. Appending to one slice instead re-copies a day's
// track (86,400 fixes of about 200 bytes) many times as it grows, which
// dominated Track's run time in BenchmarkTrack24h.
type fixCollector struct {
	full  [][]model.Fix
	cur   []model.Fix
	total int
}

const (
	firstFixChunk = 256
	maxFixChunk   = 16384
)

// next returns a zeroed slot for the next fix.
func (c *fixCollector) next() *model.Fix {
	if len(c.cur) == cap(c.cur) {
		size := firstFixChunk
		if c.cur != nil {
			c.full = append(c.full, c.cur)
			size = min(2*cap(c.cur), maxFixChunk)
		}
		c.cur = make([]model.Fix, 0, size)
	}
	c.cur = c.cur[:len(c.cur)+1]
	c.total++
	return &c.cur[len(c.cur)-1]
}

func (c *fixCollector) len() int { return c.total }

func (c *fixCollector) result() []model.Fix {
	if len(c.full) == 0 {
		return c.cur
	}
	out := make([]model.Fix, 0, c.total)
	for _, chunk := range c.full {
		out = append(out, chunk...)
	}
	return append(out, c.cur...)
}

// LastFixes returns terminal's n newest fixes by fix time, oldest first.
func (s *Store) LastFixes(terminal string, n int) ([]model.Fix, error) {
	if err := validateID("terminal", terminal); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()

	prefix := terminalPrefix(prefixFix, terminal)
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("open fix iterator: %w", err)
	}
	defer iter.Close()

	out := make([]model.Fix, 0, min(n, 4096))
	for valid := iter.Last(); valid && len(out) < n; valid = iter.Prev() {
		out = append(out, model.Fix{})
		if err := decodeFixAt(iter, terminal, len(prefix), &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("scan last fixes of %s: %w", terminal, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// LatestFix returns terminal's fix with the greatest fix time (the greatest
// seq among equal times), whatever order fixes were stored in.
func (s *Store) LatestFix(terminal string) (model.Fix, bool, error) {
	last, err := s.LastFixes(terminal, 1)
	if err != nil || len(last) == 0 {
		return model.Fix{}, false, err
	}
	return last[0], true, nil
}

func decodeFixAt(iter *pebble.Iterator, terminal string, prefixLen int, f *model.Fix) error {
	v, err := iter.ValueAndErr()
	if err != nil {
		return fmt.Errorf("read fix value: %w", err)
	}
	if err := decodeFix(terminal, iter.Key()[prefixLen:], v, f); err != nil {
		return fmt.Errorf("decode fix %q: %w", iter.Key(), err)
	}
	return nil
}
