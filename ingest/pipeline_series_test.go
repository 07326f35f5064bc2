package ingest_test

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/broker"
	"github.com/hwtrack/hwtrack/deviation"
	"github.com/hwtrack/hwtrack/ingest"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
)

// heldSeries is a series writer that keeps every fix in memory until
// release, the state a real writer is in before its batch is written or
// spooled.
type heldSeries struct {
	mu       sync.Mutex
	held     []model.Fix
	received []model.Fix
}

func (h *heldSeries) WriteFixes(fixes []model.Fix) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = append(h.held, fixes...)
	h.received = append(h.received, fixes...)
}

func (h *heldSeries) PendingFrom() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var low uint64
	for _, f := range h.held {
		if low == 0 || f.RawSeq < low {
			low = f.RawSeq
		}
	}
	return low
}

func (h *heldSeries) Flush() error {
	if h.PendingFrom() != 0 {
		return errors.New("held fixes not written")
	}
	return nil
}

func (h *heldSeries) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.held = nil
}

func (h *heldSeries) seqs() map[uint64]bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[uint64]bool{}
	for _, f := range h.received {
		out[f.Seq] = true
	}
	return out
}

type discardSink struct{}

func (discardSink) HandleDeviations(string, []model.Deviation) {}

func newSeriesPipeline(t *testing.T, store *storage.Store, series ingest.SeriesWriter) *ingest.Pipeline {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	p, err := ingest.NewPipeline(ingest.PipelineOptions{
		Raw: store, Store: store, Engine: deviation.New(deviation.DefaultConfig(), log),
		Sink: discardSink{}, Series: series, Limits: ingest.DefaultLimits(), Workers: 2, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func publishFix(t *testing.T, p *ingest.Pipeline, terminal string, at time.Time, seq int) {
	t.Helper()
	payload := fmt.Sprintf(`{"time":%d,"lat":28.85,"lon":120.05,"seq":%d}`, at.UnixMilli(), seq)
	msg := broker.Message{ClientID: terminal, Terminal: terminal, Topic: broker.FixTopic(terminal), QoS: 1, Payload: []byte(payload), ReceivedAt: time.Now()}
	if err := p.HandlePublish(msg); err != nil {
		t.Fatalf("publish fix %d: %v", seq, err)
	}
}

func TestRecoveryPointWaitsForSeriesWriter(t *testing.T) {
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	start := time.Now().Add(-time.Hour).Truncate(time.Second)

	first := &heldSeries{}
	p := newSeriesPipeline(t, store, first)
	for i := range 5 {
		publishFix(t, p, "T1", start.Add(time.Duration(i)*time.Second), i)
	}
	p.Drain()
	first.release() // written: the recovery point may pass these
	if w := p.Watermark(); w != 5 {
		t.Fatalf("watermark with nothing held = %d, want 5", w)
	}
	for i := 5; i < 10; i++ {
		publishFix(t, p, "T1", start.Add(time.Duration(i)*time.Second), i)
	}
	p.Drain()
	if w := p.Watermark(); w != 5 {
		t.Fatalf("watermark with fixes 6 to 10 held by the writer = %d, want 5", w)
	}

	// Stop without the writer having written them, as a crash would.
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	second := &heldSeries{}
	p2 := newSeriesPipeline(t, store, second)
	defer p2.Close()
	if _, err := p2.Recover([]string{"T1"}); err != nil {
		t.Fatal(err)
	}
	got := second.seqs()
	for seq := uint64(5); seq < 10; seq++ {
		if !got[seq] {
			t.Errorf("fix seq %d, held by the writer at the stop, did not reach it again after restart", seq)
		}
	}
	for seq := uint64(0); seq < 5; seq++ {
		if got[seq] {
			t.Errorf("fix seq %d, written before the stop, was replayed", seq)
		}
	}
}
