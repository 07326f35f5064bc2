package ingest_test

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/broker"
	"github.com/hwtrack/hwtrack/ingest"
	"github.com/hwtrack/hwtrack/storage"
)

// newPipeline runs a pipeline on a real store and engine in a temporary
// directory.
func newPipeline(t *testing.T) (*ingest.Pipeline, *storage.Store) {
	t.Helper()
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	p := newSeriesPipeline(t, store, nil)
	t.Cleanup(func() { p.Close() })
	return p, store
}

func TestRecordThenSyncStoresEveryFix(t *testing.T) {
	p, store := newPipeline(t)
	const terminal, n = "013300789001", 300
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	recorded := make(chan error, n)
	for i := range n {
		p.Record(broker.Message{
			Terminal: terminal, Topic: broker.FixTopic(terminal), QoS: 1, ReceivedAt: time.Now(),
			Payload: fmt.Appendf(nil, `{"time":%d,"lat":28.85,"lon":120.05,"seq":%d}`, start.Add(time.Duration(i)*time.Second).UnixMilli(), i),
		}, func(err error) { recorded <- err })
	}
	for range n {
		if err := <-recorded; err != nil {
			t.Fatalf("record: %v", err)
		}
	}

	p.Sync(terminal)
	fixes, err := store.Track(terminal, start, start.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(fixes) != n {
		t.Errorf("after Sync the store holds %d fixes, want all %d recorded", len(fixes), n)
	}
}

func TestSyncReturnsOnceClosed(t *testing.T) {
	p, _ := newPipeline(t)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		p.Sync("013300789001")
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Sync blocked on a closed pipeline")
	}
}
