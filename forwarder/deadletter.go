package forwarder

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// DefaultMaxDeliveryFailures is the number of consecutive upstream
// sessions in which a message, sent alone, may go unacknowledged before it
// is moved to the dead-letter store.
const DefaultMaxDeliveryFailures = 3

// prefixDead keys the dead-letter store in the outbox's pebble instance:
// 'd' + seq (8 bytes, big-endian) -> the encoded message, kept for an
// operator and never sent again.
const prefixDead = 'd'

func deadKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixDead}, seq)
}

// Dead-letter rule. MQTT 3.1.1 has no negative PUBACK, so a broker that
// will never accept a message (larger than its maximum packet size, say)
// can only close the connection. When a session ends with a message
// unacknowledged, the PUBACKs of the messages sent just before it may be
// lost with the connection too, so the first unacknowledged message is
// only a suspect. The next session sends the suspect alone and waits for
// its PUBACK before sending more. A suspect that goes unacknowledged alone
// in MaxDeliveryFailures sessions in a row is treated as permanently
// rejected and moved aside, so the messages behind it are delivered
// instead of the forwarder reconnecting forever.
//
// NOTE: a broker that acknowledges and then drops a message (mosquitto 2.0
// does this for MQTT 3.1.1 publishes its ACL denies) cannot be detected
// here, because the PUBACK looks like a delivery.

// failureTracker follows the suspect message across sessions. Only the
// run goroutine uses it.
type failureTracker struct {
	// id is the suspect's message id, empty when there is none.
	id string
	// count is the number of consecutive sessions in which the suspect,
	// sent alone, was not acknowledged.
	count int
}

// probing reports whether the next session must send its first message
// alone, because that message is the suspect.
func (t *failureTracker) probing() bool { return t.id != "" }

// observe records how a session ended: head is the first record without a
// PUBACK, or nil when every publish was acknowledged. probed is true when
// the session sent its first message alone. It returns true when
// head has now gone unacknowledged alone limit sessions in a row.
func (t *failureTracker) observe(head *record, probed bool, limit int) bool {
	switch {
	case head == nil:
		t.id, t.count = "", 0
		return false
	case !probed || head.msg.ID != t.id:
		// A new suspect: the next session sends it alone.
		t.id, t.count = head.msg.ID, 0
		return false
	}
	t.count++
	if t.count < limit {
		return false
	}
	t.id, t.count = "", 0
	return true
}

// deadLetter moves a pending record from the queue to the dead-letter
// store and syncs the move to disk.
func (o *outbox) deadLetter(r record) error {
	b := o.db.NewBatch()
	defer b.Close()
	err := errors.Join(
		b.Set(deadKey(r.seq), encodeRecord(r.msg), nil),
		b.Delete(queueKey(r.seq), nil),
		b.Delete(indexKey(r.msg.ID), nil),
	)
	if err != nil {
		return fmt.Errorf("stage dead letter %s: %w", r.msg.ID, err)
	}
	if err := o.db.Apply(b, pebble.Sync); err != nil {
		return fmt.Errorf("move message %s to the dead-letter store: %w", r.msg.ID, err)
	}
	o.depth.Add(-1)
	o.dead.Add(1)
	return nil
}

// countDead returns the number of records in the dead-letter store.
func (o *outbox) countDead() (int64, error) {
	it, err := o.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDead}, UpperBound: []byte{prefixDead + 1}})
	if err != nil {
		return 0, fmt.Errorf("scan dead letters: %w", err)
	}
	var n int64
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return 0, fmt.Errorf("scan dead letters: %w", err)
	}
	return n, nil
}

// deadLetters returns the messages in the dead-letter store, oldest first.
func (o *outbox) deadLetters() ([]Message, error) {
	it, err := o.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixDead}, UpperBound: []byte{prefixDead + 1}})
	if err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	var out []Message
	for valid := it.First(); valid; valid = it.Next() {
		msg, err := decodeRecord(it.Value())
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("dead letter %d: %w", seqFromKey(it.Key()), err)
		}
		out = append(out, msg)
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("read dead letters: %w", err)
	}
	return out, nil
}

// DeadLetters returns the messages the regulator broker rejected
// permanently, oldest first. They stay until an operator removes the
// outbox's dead-letter records; the server never sends them again.
func (f *Forwarder) DeadLetters() ([]Message, error) {
	f.lifeMu.RLock()
	defer f.lifeMu.RUnlock()
	if f.boxClosed {
		return nil, ErrClosed
	}
	return f.box.deadLetters()
}

// DeadLetterCount returns the number of messages in the dead-letter store.
func (f *Forwarder) DeadLetterCount() int { return int(f.box.dead.Load()) }

// retire moves head to the dead-letter store after it failed
// MaxDeliveryFailures sessions in a row, and raises the operator alert.
func (f *Forwarder) retire(head record, cause error) {
	f.lifeMu.RLock()
	defer f.lifeMu.RUnlock()
	if f.boxClosed {
		return
	}
	if err := f.box.deadLetter(head); err != nil {
		f.metrics.errors.WithLabelValues(stageStore).Inc()
		f.log.Error("move rejected message to the dead-letter store failed; it stays pending", "message_id", head.msg.ID, "err", err)
		return
	}
	f.metrics.deadLetters.Inc()
	f.log.Error("regulator broker rejected a message repeatedly; moved to the dead-letter store",
		"message_id", head.msg.ID, "topic", head.msg.Topic, "payload_bytes", len(head.msg.Payload),
		"failed_sessions", f.opts.MaxDeliveryFailures, "last_err", cause)
}
