package forwarder

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

func openTestOutbox(t testing.TB, dir string) *outbox {
	t.Helper()
	o, err := openOutbox(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open outbox: %v", err)
	}
	return o
}

func readAll(t *testing.T, o *outbox) []record {
	t.Helper()
	recs, err := o.readAfter(0, 1<<20)
	if err != nil {
		t.Fatalf("readAfter: %v", err)
	}
	return recs
}

func recordIDs(recs []record) []string {
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.msg.ID
	}
	return ids
}

func TestOutboxDurableAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	msgs := testMessages("durable", 25, 3)
	msgs[0].CreatedAt = time.Date(2026, 12, 4, 9, 30, 5, 123456789, time.UTC)

	o := openTestOutbox(t, dir)
	for chunk := range slices.Chunk(msgs, 10) {
		if _, err := o.append(chunk); err != nil {
			t.Fatalf("append: %v", err)
		}
	}
	if err := o.close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	o = openTestOutbox(t, dir)
	defer o.close()
	if d := o.depth.Load(); d != int64(len(msgs)) {
		t.Fatalf("depth after reopen = %d, want %d", d, len(msgs))
	}
	recs := readAll(t, o)
	if len(recs) != len(msgs) {
		t.Fatalf("read %d records, want %d", len(recs), len(msgs))
	}
	for i, r := range recs {
		m := msgs[i]
		if r.msg.ID != m.ID || r.msg.Topic != m.Topic || r.msg.Key != m.Key || !bytes.Equal(r.msg.Payload, m.Payload) {
			t.Errorf("record %d = %+v, want %+v", i, r.msg, m)
		}
		if i > 0 && r.seq <= recs[i-1].seq {
			t.Errorf("record %d seq %d not after %d", i, r.seq, recs[i-1].seq)
		}
	}
	if !recs[0].msg.CreatedAt.Equal(msgs[0].CreatedAt) {
		t.Errorf("CreatedAt = %s, want %s", recs[0].msg.CreatedAt, msgs[0].CreatedAt)
	}
	if recs[1].msg.CreatedAt.IsZero() {
		t.Error("zero CreatedAt was not set on append")
	}
}

func TestOutboxRemovalOnlyOnAck(t *testing.T) {
	dir := t.TempDir()
	msgs := testMessages("ack", 5, 1)
	o := openTestOutbox(t, dir)
	if _, err := o.append(msgs); err != nil {
		t.Fatalf("append: %v", err)
	}

	// Reading is not consuming.
	first := readAll(t, o)
	second := readAll(t, o)
	if !slices.Equal(recordIDs(first), recordIDs(second)) || len(first) != len(msgs) {
		t.Fatalf("repeated reads differ: %v then %v", recordIDs(first), recordIDs(second))
	}

	if err := o.remove(first[:2]); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if d := o.depth.Load(); d != 3 {
		t.Errorf("depth after removing 2 of 5 = %d, want 3", d)
	}
	if err := o.close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	o = openTestOutbox(t, dir)
	defer o.close()
	if got, want := recordIDs(readAll(t, o)), messageIDs(msgs[2:]); !slices.Equal(got, want) {
		t.Errorf("after reopen = %v, want %v", got, want)
	}
	after, err := o.readAfter(first[2].seq, 10)
	if err != nil {
		t.Fatalf("readAfter: %v", err)
	}
	if got, want := recordIDs(after), messageIDs(msgs[3:]); !slices.Equal(got, want) {
		t.Errorf("readAfter(seq of third) = %v, want %v", got, want)
	}
}

func TestOutboxSequenceContinuesAfterReopen(t *testing.T) {
	dir := t.TempDir()
	msgs := testMessages("seq", 3, 1)
	o := openTestOutbox(t, dir)
	if _, err := o.append(msgs[:2]); err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := o.remove(readAll(t, o)[:1]); err != nil {
		t.Fatalf("remove: %v", err)
	}
	_ = o.close()

	o = openTestOutbox(t, dir)
	defer o.close()
	if _, err := o.append(msgs[2:]); err != nil {
		t.Fatalf("append after reopen: %v", err)
	}
	if got, want := recordIDs(readAll(t, o)), messageIDs(msgs[1:]); !slices.Equal(got, want) {
		t.Errorf("order = %v, want %v", got, want)
	}
}

func TestOutboxDuplicateIDs(t *testing.T) {
	msgs := testMessages("dup", 2, 1)
	tests := []struct {
		name      string
		calls     [][]Message
		wantAdded []int
		wantIDs   []string
	}{
		{"same id in one call", [][]Message{{msgs[0], msgs[0], msgs[1]}}, []int{2}, messageIDs(msgs)},
		{"id already pending", [][]Message{{msgs[0]}, {msgs[0], msgs[1]}}, []int{1, 1}, messageIDs(msgs)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := openTestOutbox(t, t.TempDir())
			defer o.close()
			for i, call := range tt.calls {
				added, err := o.append(call)
				if err != nil {
					t.Fatalf("append %d: %v", i, err)
				}
				if added != tt.wantAdded[i] {
					t.Errorf("append %d added %d, want %d", i, added, tt.wantAdded[i])
				}
			}
			if got := recordIDs(readAll(t, o)); !slices.Equal(got, tt.wantIDs) {
				t.Errorf("ids = %v, want %v", got, tt.wantIDs)
			}
		})
	}
}

func TestOutboxAcceptsIDAgainAfterDelivery(t *testing.T) {
	o := openTestOutbox(t, t.TempDir())
	defer o.close()
	msg := testMessages("again", 1, 1)
	if _, err := o.append(msg); err != nil {
		t.Fatalf("append: %v", err)
	}
	if err := o.remove(readAll(t, o)); err != nil {
		t.Fatalf("remove: %v", err)
	}
	added, err := o.append(msg)
	if err != nil {
		t.Fatalf("append after delivery: %v", err)
	}
	if added != 1 {
		t.Errorf("added = %d after the earlier copy was delivered, want 1", added)
	}
}

func TestOutboxQuarantinesCorruptRecord(t *testing.T) {
	o := openTestOutbox(t, t.TempDir())
	defer o.close()
	msgs := testMessages("corrupt", 3, 1)
	if _, err := o.append(msgs); err != nil {
		t.Fatalf("append: %v", err)
	}
	bad := readAll(t, o)[1]
	if err := o.db.Set(queueKey(bad.seq), []byte{recordVersion, 0x02, 0xff}, pebble.Sync); err != nil {
		t.Fatalf("corrupt record: %v", err)
	}

	got := recordIDs(readAll(t, o))
	if want := []string{msgs[0].ID, msgs[2].ID}; !slices.Equal(got, want) {
		t.Errorf("ids = %v, want %v", got, want)
	}
	if d := o.depth.Load(); d != 2 {
		t.Errorf("depth = %d, want 2", d)
	}
	if _, closer, err := o.db.Get(corruptedKey(bad.seq)); err != nil {
		t.Errorf("corrupt record not kept aside: %v", err)
	} else {
		_ = closer.Close()
	}

	// The corrupt record no longer blocks its id.
	added, err := o.append(msgs[1:2])
	if err != nil {
		t.Fatalf("append after quarantine: %v", err)
	}
	if added != 1 {
		t.Errorf("added = %d for the id of a quarantined record, want 1", added)
	}
}

func TestOutboxConcurrentAppendKeepsOrderVisible(t *testing.T) {
	o := openTestOutbox(t, t.TempDir())
	defer o.close()
	const writers, perWriter = 4, 50
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for _, m := range testMessages(fmt.Sprintf("w%d", w), perWriter, 1) {
				if _, err := o.append([]Message{m}); err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()

	recs := readAll(t, o)
	if len(recs) != writers*perWriter {
		t.Fatalf("read %d records, want %d", len(recs), writers*perWriter)
	}
	// Each writer's own messages keep their order.
	last := map[string]string{}
	for _, r := range recs {
		writer := r.msg.ID[:2]
		if prev, ok := last[writer]; ok && r.msg.ID < prev {
			t.Errorf("writer %s: %s after %s", writer, r.msg.ID, prev)
		}
		last[writer] = r.msg.ID
	}
}

func TestRecordEncodingRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{"full", Message{ID: "d1:open", Topic: "deviations/013800000001", Key: "013800000001", Payload: []byte(`{"a":"浙G·A1234"}`), CreatedAt: time.Unix(1733300000, 5)}},
		{"empty key and payload", Message{ID: "x", Topic: "trips/t", CreatedAt: time.Unix(0, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecord(encodeRecord(tt.msg))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.ID != tt.msg.ID || got.Topic != tt.msg.Topic || got.Key != tt.msg.Key || !bytes.Equal(got.Payload, tt.msg.Payload) || !got.CreatedAt.Equal(tt.msg.CreatedAt) {
				t.Errorf("round trip = %+v, want %+v", got, tt.msg)
			}
		})
	}
	for _, bad := range [][]byte{nil, {9}, {recordVersion}, {recordVersion, 0, 5, 'a'}} {
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("decodeRecord(%v) = nil error, want one", bad)
		}
	}
}

func BenchmarkEnqueue(b *testing.B) {
	payload := bytes.Repeat([]byte("x"), 2048) // about the size of a deviation with two bookings
	newMessages := func(prefix string, n int) []Message {
		msgs := make([]Message, n)
		for i := range msgs {
			msgs[i] = Message{ID: fmt.Sprintf("%s-%d", prefix, i), Topic: "deviations/T001", Key: "T001", Payload: payload}
		}
		return msgs
	}
	for _, batch := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			f, err := New(Options{Dir: b.TempDir()})
			if err != nil {
				b.Fatalf("New: %v", err)
			}
			defer f.Close()
			msgs := newMessages("m", b.N*batch)
			b.SetBytes(int64(len(payload) * batch))
			b.ResetTimer()
			for i := range b.N {
				if err := f.Enqueue(msgs[i*batch : (i+1)*batch]...); err != nil {
					b.Fatalf("Enqueue: %v", err)
				}
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		f, err := New(Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatalf("New: %v", err)
		}
		defer f.Close()
		var next sync.Mutex
		n := 0
		b.SetBytes(int64(len(payload)))
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				next.Lock()
				n++
				id := fmt.Sprintf("p-%d", n)
				next.Unlock()
				if err := f.Enqueue(Message{ID: id, Topic: "deviations/T001", Key: "T001", Payload: payload}); err != nil {
					b.Errorf("Enqueue: %v", err)
					return
				}
			}
		})
	})
}
