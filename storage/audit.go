package storage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hwtrack/hwtrack/model"
)

// prefixAudit keys the audit log: "al/" + at (8 bytes, time order) + a
// sequence number (8 bytes) → model.AuditEntry JSON. The sequence keeps two
// entries written in the same nanosecond apart.
const prefixAudit = "al/"

// auditSeq numbers audit entries. It starts from the wall clock so that
// entries written after a restart do not reuse a key of the same instant.
var auditSeq atomic.Uint64

func init() {
	auditSeq.Store(uint64(time.Now().UnixNano()))
}

func auditKey(at time.Time, seq uint64) []byte {
	k := appendTime([]byte(prefixAudit), at)
	return binary.BigEndian.AppendUint64(k, seq)
}

// AppendAudit writes one audit log entry. The write is synced, because an
// audit trail that loses its last lines on a crash cannot be trusted.
func (s *Store) AppendAudit(e model.AuditEntry) error {
	var verr model.ValidationError
	if e.At.IsZero() || !inNanoRange(e.At) {
		verr.Add("at", "missing or outside years 1678 to 2261")
	}
	if e.Action == "" {
		verr.Add("action", "missing")
	}
	if err := verr.Err(); err != nil {
		return err
	}
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode audit entry: %w", err)
	}

	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	if err := s.db.Set(auditKey(e.At, auditSeq.Add(1)), data, pebble.Sync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return fmt.Errorf("store audit entry %s: %w", e.Action, err)
	}
	return nil
}

// Audit returns the audit entries with from <= At < to, newest first, at
// most limit of them when limit > 0. A zero from or to leaves that end
// open.
func (s *Store) Audit(from, to time.Time, limit int) ([]model.AuditEntry, error) {
	prefix := []byte(prefixAudit)
	lower, upper := prefix, prefixEnd(prefix)
	if !from.IsZero() {
		lower = appendTime([]byte(prefixAudit), clampNano(from))
	}
	if !to.IsZero() {
		upper = appendTime([]byte(prefixAudit), clampNano(to))
	}

	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()

	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("open audit iterator: %w", err)
	}
	defer iter.Close()

	var out []model.AuditEntry
	for valid := iter.Last(); valid; valid = iter.Prev() {
		data, err := iter.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("read audit entry: %w", err)
		}
		var e model.AuditEntry
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("decode audit entry %x: %w", iter.Key(), err)
		}
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("scan audit log: %w", err)
	}
	return out, nil
}
