package ingest_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/deviation"
	"github.com/hwtrack/hwtrack/ingest"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
)

// TestMarkDirtySavesTimerEpisodes opens a signal loss with the engine's
// timer, outside the workers, and checks that a vehicle marked dirty has
// that episode in the next checkpoint: after a restart the timer must not
// open it a second time.
func TestMarkDirtySavesTimerEpisodes(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	store, err := storage.Open(storage.Options{Dir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now().Truncate(time.Second)
	trip := &model.Trip{
		ID: "trip-9", Terminal: "T9", State: model.TripDispatched, CorridorM: 200,
		Route:        []byte(`{"type":"LineString","coordinates":[[120.05,28.85],[120.06,28.85]]}`),
		PlannedStart: now.Add(-time.Hour), PlannedEnd: now.Add(time.Hour),
	}
	start := func() (*deviation.Engine, *ingest.Pipeline) {
		e := deviation.New(deviation.DefaultConfig(), log)
		if _, err := e.SetTrip("T9", trip, now.Add(-10*time.Minute)); err != nil {
			t.Fatal(err)
		}
		p, err := ingest.NewPipeline(ingest.PipelineOptions{
			Raw: store, Store: store, Engine: e, Sink: discardSink{}, Limits: ingest.DefaultLimits(), Workers: 2, Logger: log,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Recover([]string{"T9"}); err != nil {
			t.Fatal(err)
		}
		return e, p
	}

	e, p := start()
	if got := e.Tick(now); len(got) != 1 || got[0].Kind != model.KindSignalLoss {
		t.Fatalf("first tick raised %+v, want one signal_loss", got)
	}
	p.MarkDirty("T9")
	if err := p.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	e2, p2 := start()
	defer p2.Close()
	if got := e2.Tick(now.Add(15 * time.Second)); len(got) != 0 {
		t.Errorf("tick after the restart raised %+v, want the restored episode to continue", got)
	}
}
