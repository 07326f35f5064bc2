package timeseries

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/model"
)

const testDB = "hwtrack_test"

// testOptions are small batches and short waits, so tests see several
// batches and quick retries.
func testOptions(t *testing.T, url string) Options {
	level := slog.LevelError
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	return Options{
		URL:              url,
		Bucket:           testDB,
		BatchSize:        50,
		FlushInterval:    50 * time.Millisecond,
		SpoolDir:         filepath.Join(t.TempDir(), "spool"),
		WriteTimeout:     2 * time.Second,
		MaxRetryInterval: 200 * time.Millisecond,
		Logger:           slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	}
}

func startWriter(t *testing.T, opts Options) *Writer {
	t.Helper()
	w, err := NewWriter(opts)
	if err != nil {
		t.Fatalf("start writer: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// makeFixes returns n fixes one second apart from start with raw seqs from
// firstRawSeq; every other fix carries every optional field.
func makeFixes(terminal string, start time.Time, n int, firstRawSeq uint64) []model.Fix {
	fixes := make([]model.Fix, n)
	for i := range fixes {
		at := start.Add(time.Duration(i) * time.Second)
		f := model.Fix{
			Terminal: terminal, Time: at, ReceivedAt: at.Add(1500 * time.Millisecond).UTC(),
			Lat: 28.89 + float64(i)*1e-5, Lon: 120.04 - float64(i)*1e-5,
			Valid: i%7 != 0, Source: model.SourceRealtime, RawSeq: firstRawSeq + uint64(i),
		}
		if i%2 == 0 {
			f.AltM, f.SpeedKmh, f.HeadingDeg = 96.5, 42.25, 270
			f.Sats, f.HDOP, f.AccuracyM, f.ACC = 11, 0.9, 5, true
			f.OdometerKm, f.Alarm, f.Status = 12345.6, 1<<31|2, 3
			f.Seq = uint64(1<<63) + uint64(i) // above MaxInt64: stored with the same bits
			f.Source = model.SourceBlind
			f.Has = model.HasAlt | model.HasSpeed | model.HasHeading | model.HasSats | model.HasHDOP |
				model.HasAccuracy | model.HasACC | model.HasOdometer | model.HasAlarm | model.HasStatus | model.HasSeq
		}
		fixes[i] = f
	}
	return fixes
}

func fixJSON(t *testing.T, f model.Fix) string {
	t.Helper()
	b, err := json.Marshal(f.JSON())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countPoints returns the number of points of terminal in the test
// database, read with InfluxQL rather than the Reader under test.
func countPoints(t *testing.T, d *testenv.InfluxD, terminal string) int {
	t.Helper()
	series, err := d.Query(testDB, fmt.Sprintf(`SELECT count(lat) FROM fix WHERE terminal = '%s'`, terminal))
	if err != nil {
		return -1 // not reachable yet
	}
	if len(series) == 0 || len(series[0].Values) == 0 {
		return 0
	}
	var n int
	fmt.Sscan(fmt.Sprint(series[0].Values[0][1]), &n)
	return n
}

func TestWriterRoundTrip(t *testing.T) {
	d := testenv.StartInfluxD(t, testDB)
	opts := testOptions(t, d.URL())
	w := startWriter(t, opts)
	start := time.Date(2026, 12, 4, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	fixes := makeFixes("013300784001", start, 250, 1)

	w.WriteFixes(fixes[:120])
	w.WriteFixes(fixes[120:])
	if err := w.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	if got := w.PendingFrom(); got != 0 {
		t.Errorf("PendingFrom after flush = %d, want 0", got)
	}
	// Flush leaves batches either written or spooled; five batches are
	// more than MemoryBatches, so some may go through the spool.
	waitFor(t, 10*time.Second, "every point written", func() bool {
		return testutil.ToFloat64(w.metrics.pointsWritten) == 250 && w.spool.stats().batches == 0
	})

	r := NewReader(opts)
	defer r.Close()
	ctx := context.Background()
	cases := []struct {
		name     string
		from, to time.Time
		limit    int
		want     []model.Fix
	}{
		{"whole track", start, start.Add(time.Hour), 0, fixes},
		{"limit", start, start.Add(time.Hour), 10, fixes[:10]},
		{"end excluded", start.Add(10 * time.Second), start.Add(20 * time.Second), 0, fixes[10:20]},
		{"empty range", start.Add(-time.Hour), start, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := r.Track(ctx, "013300784001", c.from, c.to, c.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("read %d fixes, want %d", len(got), len(c.want))
			}
			for i := range got {
				if g, w := fixJSON(t, got[i]), fixJSON(t, c.want[i]); g != w {
					t.Fatalf("fix %d:\n got %s\nwant %s", i, g, w)
				}
			}
		})
	}

	other, err := r.Track(ctx, "013300784002", start, start.Add(time.Hour), 0)
	if err != nil || len(other) != 0 {
		t.Errorf("track of another vehicle = %d fixes, %v; want none", len(other), err)
	}
}

func TestWriterOutageSpoolsThenWritesInOrder(t *testing.T) {
	d := testenv.StartInfluxD(t, testDB)
	w := startWriter(t, testOptions(t, d.URL()))
	start := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	fixes := makeFixes("T2", start, 400, 1000)

	w.WriteFixes(fixes[:100])
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	d.Stop()

	w.WriteFixes(fixes[100:])
	if got := w.PendingFrom(); got < 1100 || got > 1399 {
		t.Errorf("PendingFrom with fixes in memory = %d, want the lowest raw seq held, 1100 to 1399", got)
	}
	waitFor(t, 10*time.Second, "every batch in the spool", func() bool {
		return w.PendingFrom() == 0 && w.spool.stats().batches == 6
	})
	if got := testutil.ToFloat64(w.metrics.writeErrors.WithLabelValues("network")); got == 0 {
		t.Error("no network write error counted during the outage")
	}
	if w.outage.Load() != true {
		t.Error("writer does not report the outage")
	}

	d.Start()
	waitFor(t, 20*time.Second, "the spooled batches written", func() bool {
		return w.spool.stats().batches == 0 && countPoints(t, d, "T2") == 400
	})

	series, err := d.Query(testDB, `SELECT lat FROM fix WHERE terminal = 'T2'`)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, row := range series[0].Values {
		seen[fmt.Sprint(row[0])]++
	}
	for _, f := range fixes {
		if n := seen[fmt.Sprint(f.Time.UnixNano())]; n != 1 {
			t.Fatalf("fix at %s stored %d times, want once", f.Time, n)
		}
	}
}

func TestWriterCloseSpoolsForNextRun(t *testing.T) {
	d := testenv.NewInfluxD(t) // not started: every write fails
	opts := testOptions(t, d.URL())
	w, err := NewWriter(opts)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 4, 11, 0, 0, 0, time.UTC)
	w.WriteFixes(makeFixes("T3", start, 120, 1))
	if err := w.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := w.PendingFrom(); got != 0 {
		t.Errorf("PendingFrom after close = %d, want 0: every batch spooled", got)
	}

	d.Start()
	d.CreateDatabase(testDB)
	w2 := startWriter(t, opts)
	waitFor(t, 20*time.Second, "the spool of the earlier run written", func() bool {
		return countPoints(t, d, "T3") == 120
	})
	waitFor(t, 5*time.Second, "an empty spool", func() bool { return w2.spool.stats().batches == 0 })
}

func TestWriterRejectedBatchNotRetried(t *testing.T) {
	d := testenv.StartInfluxD(t, testDB)
	// source as an integer in the shard of 2020 makes every fix written
	// there a field type conflict.
	old := time.Date(2020, 1, 6, 0, 0, 0, 0, time.UTC)
	if err := d.Write(testDB, fmt.Sprintf("fix,terminal=P source=1i %d\n", old.UnixNano())); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(t, d.URL())
	w := startWriter(t, opts)

	w.WriteFixes(makeFixes("R1", old.Add(time.Hour), 10, 1))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	w.WriteFixes(makeFixes("R1", time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), 10, 11))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	if got := testutil.ToFloat64(w.metrics.pointsRejected.WithLabelValues(rejectInfluxDB)); got != 10 {
		t.Errorf("points rejected = %v, want 10", got)
	}
	if got := testutil.ToFloat64(w.metrics.writeErrors.WithLabelValues("rejected")); got != 1 {
		t.Errorf("rejected write errors = %v, want 1: a rejected batch is not retried", got)
	}
	if got := countPoints(t, d, "R1"); got != 10 {
		t.Errorf("stored %d points of R1, want the 10 of 2026", got)
	}
	data, err := os.ReadFile(filepath.Join(opts.SpoolDir, rejectFile))
	if err != nil {
		t.Fatalf("reject file: %v", err)
	}
	text := string(data)
	if !strings.HasPrefix(text, "# rejected ") || !strings.Contains(text, "status 400") || !strings.Contains(text, "field type conflict") {
		t.Errorf("reject file header does not give status and reason:\n%s", text)
	}
	if n := strings.Count(text, "fix,terminal=R1 "); n != 10 {
		t.Errorf("reject file holds %d points, want 10", n)
	}
	if w.spool.stats().batches != 0 {
		t.Error("rejected batch left in the spool")
	}
}

func TestWriterSpoolFullHoldsRecoveryPoint(t *testing.T) {
	d := testenv.NewInfluxD(t) // never started
	opts := testOptions(t, d.URL())
	opts.SpoolMaxBytes = 24 << 10 // room for two or three batches of 50
	w := startWriter(t, opts)

	start := time.Date(2026, 12, 4, 13, 0, 0, 0, time.UTC)
	fixes := makeFixes("S1", start, 500, 1)
	w.WriteFixes(fixes)
	waitFor(t, 10*time.Second, "the full spool to defer batches", func() bool {
		return testutil.ToFloat64(w.metrics.pointsDeferred) > 0 && w.metrics.pendingPoints.Load() == 0
	})
	spooled := w.spool.stats().batches
	deferred := int(testutil.ToFloat64(w.metrics.pointsDeferred))
	if spooled*opts.BatchSize+deferred != len(fixes) {
		t.Errorf("%d batches spooled and %d points deferred; want all %d points accounted for", spooled, deferred, len(fixes))
	}
	from := w.PendingFrom()
	if from == 0 || from > uint64(len(fixes)) {
		t.Fatalf("PendingFrom = %d, want the raw seq of the first deferred fix", from)
	}
	if got := testutil.ToFloat64(w.metrics.pointsDropped); got != 0 {
		t.Errorf("points dropped = %v, want 0: every fix has a raw seq", got)
	}
}
