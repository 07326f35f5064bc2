package forwarder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hwtrack/hwtrack/model"
)

// Key layout of the outbox's pebble instance:
//
//	'q' + seq (8 bytes, big-endian)  -> encoded message, pending delivery
//	'i' + message id                 -> seq of the pending message with that id
//	'x' + seq (8 bytes, big-endian)  -> a pending record that failed to decode,
//	                                    kept for inspection instead of blocking the queue
//	'd' + seq (8 bytes, big-endian)  -> a message the regulator broker rejected
//	                                    permanently (see deadletter.go)
//
// Sequence numbers start at 1 and only grow, so iterating 'q' gives enqueue order.
const (
	prefixQueue     = 'q'
	prefixIndex     = 'i'
	prefixCorrupted = 'x'
)

// recordVersion is the first byte of every encoded record.
const recordVersion = 1

// errCorruptRecord marks a stored record that cannot be decoded.
var errCorruptRecord = errors.New("corrupt outbox record")

// record is one pending message with its position in the outbox.
type record struct {
	seq uint64
	msg Message
}

// outbox is the durable FIFO of messages waiting for a PUBACK. It is safe
// for concurrent use, but close must not run concurrently with any other
// method: the Forwarder guarantees that with its lifecycle lock.
type outbox struct {
	db  *pebble.DB
	log *slog.Logger

	// appendMu serializes sequence allocation and batch application, so a
	// reader never sees seq n+1 without seq n.
	appendMu sync.Mutex
	nextSeq  uint64 // guarded by appendMu

	depth atomic.Int64
	// dead is the number of records in the dead-letter store.
	dead atomic.Int64
}

// openOutbox opens or creates the outbox in dir and counts what is pending.
func openOutbox(dir string, log *slog.Logger) (*outbox, error) {
	if dir == "" {
		return nil, errors.New("open outbox: directory is empty")
	}
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebbleLogger{log}})
	if err != nil {
		return nil, fmt.Errorf("open outbox %s: %w", dir, err)
	}
	o := &outbox{db: db, log: log, nextSeq: 1}

	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixQueue}, UpperBound: []byte{prefixQueue + 1}})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("scan outbox %s: %w", dir, err)
	}
	var count int64
	for valid := it.First(); valid; valid = it.Next() {
		count++
	}
	if it.Last() {
		o.nextSeq = seqFromKey(it.Key()) + 1
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("scan outbox %s: %w", dir, err)
	}
	o.depth.Store(count)
	dead, err := o.countDead()
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	o.dead.Store(dead)
	return o, nil
}

// append stores msgs durably in order and returns how many were added. A
// message whose id is already pending, or repeats an earlier id in msgs, is
// skipped: it would be the same record delivered twice.
func (o *outbox) append(msgs []Message) (int, error) {
	if err := validateMessages(msgs); err != nil {
		return 0, err
	}

	added, err := o.applyAppend(msgs)
	if err != nil || added == 0 {
		return 0, err
	}

	// The batch is visible but may not be on disk yet. Syncing the WAL
	// here, outside appendMu, lets concurrent callers share one fsync
	// (pebble groups pending syncs), and syncs every earlier write too.
	if err := o.db.LogData(nil, pebble.Sync); err != nil {
		return 0, fmt.Errorf("sync outbox: %w", err)
	}
	return added, nil
}

func (o *outbox) applyAppend(msgs []Message) (int, error) {
	o.appendMu.Lock()
	defer o.appendMu.Unlock()

	b := o.db.NewBatch()
	defer b.Close()

	seen := make(map[string]struct{}, len(msgs))
	seq := o.nextSeq
	now := time.Now()
	for _, m := range msgs {
		if m.CreatedAt.IsZero() {
			m.CreatedAt = now
		}
		if _, dup := seen[m.ID]; dup {
			continue
		}
		seen[m.ID] = struct{}{}
		pending, err := o.pendingID(m.ID)
		if err != nil {
			return 0, err
		}
		if pending {
			o.log.Debug("message already pending, not added again", "message_id", m.ID)
			continue
		}
		if err := b.Set(queueKey(seq), encodeRecord(m), nil); err != nil {
			return 0, fmt.Errorf("stage message %s: %w", m.ID, err)
		}
		if err := b.Set(indexKey(m.ID), binary.BigEndian.AppendUint64(nil, seq), nil); err != nil {
			return 0, fmt.Errorf("stage index of message %s: %w", m.ID, err)
		}
		seq++
	}
	added := int(seq - o.nextSeq)
	if added == 0 {
		return 0, nil
	}
	if err := o.db.Apply(b, pebble.NoSync); err != nil {
		return 0, fmt.Errorf("write outbox: %w", err)
	}
	o.nextSeq = seq
	o.depth.Add(int64(added))
	return added, nil
}

// pendingID reports whether a message with id is waiting in the queue. An
// index entry whose record is gone (moved aside as corrupt) does not count.
func (o *outbox) pendingID(id string) (bool, error) {
	value, closer, err := o.db.Get(indexKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up message %s: %w", id, err)
	}
	valid := len(value) == 8
	var seq uint64
	if valid {
		seq = binary.BigEndian.Uint64(value)
	}
	_ = closer.Close()
	if !valid {
		return false, nil
	}

	_, closer, err = o.db.Get(queueKey(seq))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up message %s at seq %d: %w", id, seq, err)
	}
	_ = closer.Close()
	return true, nil
}

// readAfter returns up to limit pending records with a sequence number
// greater than after, in order. Records that fail to decode are moved to
// the 'x' keyspace and logged, so one bad record cannot stall delivery.
func (o *outbox) readAfter(after uint64, limit int) ([]record, error) {
	it, err := o.db.NewIter(&pebble.IterOptions{LowerBound: queueKey(after + 1), UpperBound: []byte{prefixQueue + 1}})
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	var out []record
	var corrupted []uint64
	for valid := it.First(); valid && len(out) < limit; valid = it.Next() {
		seq := seqFromKey(it.Key())
		msg, err := decodeRecord(it.Value())
		if err != nil {
			o.log.Error("outbox record cannot be decoded, moving it aside", "seq", seq, "err", err)
			corrupted = append(corrupted, seq)
			continue
		}
		out = append(out, record{seq: seq, msg: msg})
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	if len(corrupted) > 0 {
		if err := o.quarantine(corrupted); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (o *outbox) quarantine(seqs []uint64) error {
	b := o.db.NewBatch()
	defer b.Close()
	for _, seq := range seqs {
		value, closer, err := o.db.Get(queueKey(seq))
		if err != nil {
			return fmt.Errorf("read corrupt record %d: %w", seq, err)
		}
		valueCopy := append([]byte(nil), value...)
		_ = closer.Close()
		if err := errors.Join(b.Set(corruptedKey(seq), valueCopy, nil), b.Delete(queueKey(seq), nil)); err != nil {
			return fmt.Errorf("stage move of corrupt record %d: %w", seq, err)
		}
	}
	if err := o.db.Apply(b, pebble.Sync); err != nil {
		return fmt.Errorf("move corrupt records aside: %w", err)
	}
	o.depth.Add(-int64(len(seqs)))
	return nil
}

// remove deletes acknowledged records. It does not wait for an fsync: if
// the process dies before the deletion reaches disk, the record is sent
// again under the same id, which the receiver drops as a duplicate.
func (o *outbox) remove(recs []record) error {
	b := o.db.NewBatch()
	defer b.Close()
	for _, r := range recs {
		if err := errors.Join(b.Delete(queueKey(r.seq), nil), b.Delete(indexKey(r.msg.ID), nil)); err != nil {
			return fmt.Errorf("stage removal of message %s: %w", r.msg.ID, err)
		}
	}
	if err := o.db.Apply(b, pebble.NoSync); err != nil {
		return fmt.Errorf("remove delivered messages: %w", err)
	}
	o.depth.Add(-int64(len(recs)))
	return nil
}

// oldest returns the CreatedAt of the first pending message, and false when
// the outbox is empty.
func (o *outbox) oldest() (time.Time, bool, error) {
	recs, err := o.readAfter(0, 1)
	if err != nil || len(recs) == 0 {
		return time.Time{}, false, err
	}
	return recs[0].msg.CreatedAt, true, nil
}

func (o *outbox) close() error {
	if err := o.db.Close(); err != nil {
		return fmt.Errorf("close outbox: %w", err)
	}
	return nil
}

func validateMessages(msgs []Message) error {
	var verr model.ValidationError
	for i, m := range msgs {
		if m.ID == "" {
			verr.Add(fmt.Sprintf("msgs[%d].id", i), "missing")
		}
		switch {
		case m.Topic == "":
			verr.Add(fmt.Sprintf("msgs[%d].topic", i), "missing")
		case strings.ContainsAny(m.Topic, "+#\x00") || strings.HasPrefix(m.Topic, "/") || strings.HasSuffix(m.Topic, "/"):
			verr.Add(fmt.Sprintf("msgs[%d].topic", i), fmt.Sprintf("%q must not contain '+', '#' or NUL, nor start or end with '/'", m.Topic))
		}
	}
	return verr.Err()
}

func queueKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixQueue}, seq)
}

func corruptedKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixCorrupted}, seq)
}

func indexKey(id string) []byte {
	return append([]byte{prefixIndex}, id...)
}

func seqFromKey(key []byte) uint64 {
	return binary.BigEndian.Uint64(key[1:])
}

// encodeRecord lays a message out as: version byte, CreatedAt in Unix
// nanoseconds (varint), then ID, Topic and Key each as uvarint length plus
// bytes, then the payload to the end.
func encodeRecord(m Message) []byte {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64*4+len(m.ID)+len(m.Topic)+len(m.Key)+len(m.Payload))
	buf = append(buf, recordVersion)
	buf = binary.AppendVarint(buf, m.CreatedAt.UnixNano())
	for _, s := range []string{m.ID, m.Topic, m.Key} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	return append(buf, m.Payload...)
}

func decodeRecord(b []byte) (Message, error) {
	if len(b) == 0 || b[0] != recordVersion {
		return Message{}, fmt.Errorf("%w: unknown version", errCorruptRecord)
	}
	b = b[1:]
	nanos, n := binary.Varint(b)
	if n <= 0 {
		return Message{}, fmt.Errorf("%w: bad created_at", errCorruptRecord)
	}
	b = b[n:]
	var fields [3]string
	for i := range fields {
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return Message{}, fmt.Errorf("%w: bad field %d length", errCorruptRecord, i)
		}
		fields[i] = string(b[n : n+int(size)])
		b = b[n+int(size):]
	}
	return Message{
		ID:        fields[0],
		Topic:     fields[1],
		Key:       fields[2],
		Payload:   append([]byte(nil), b...),
		CreatedAt: time.Unix(0, nanos),
	}, nil
}

// pebbleLogger routes pebble's own messages to slog at Debug (Info-level
// chatter such as WAL recovery) and Error (fatal).
type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	l.log.Debug("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	l.log.Error("pebble: " + fmt.Sprintf(format, args...))
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	l.log.Error("pebble fatal: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
