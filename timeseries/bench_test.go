package timeseries

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hwtrack/hwtrack/internal/testenv"
)

// BenchmarkEncodeFix is the line protocol encoding of one fix with every
// optional field.
func BenchmarkEncodeFix(b *testing.B) {
	fixes := makeFixes("013300784001", time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC), 2, 1)
	e := newPointEncoder("fix")
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = e.appendFix(buf[:0], &fixes[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchOptions(b *testing.B, url string) Options {
	return Options{
		URL: url, Bucket: testDB, BatchSize: 5000, FlushInterval: time.Second,
		SpoolDir: filepath.Join(b.TempDir(), "spool"), Logger: slog.New(slog.DiscardHandler),
	}
}

// BenchmarkWriteFixes is the cost per point of WriteFixes (encoding and
// queueing) in runs of 256 fixes, as a pipeline worker hands them over,
// while the write goroutine sends the batches to a local influxd.
func BenchmarkWriteFixes(b *testing.B) {
	d := testenv.StartInfluxD(b, testDB)
	w, err := NewWriter(benchOptions(b, d.URL()))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	const run = 256
	fixes := makeFixes("013300784001", time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC), 86_400, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += run {
		start := i % (len(fixes) - run)
		w.WriteFixes(fixes[start : start+min(run, b.N-i)])
	}
	b.StopTimer()
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriterThroughput writes b.N points and waits until influxd has
// accepted all of them; points/s is the sustained write rate.
func BenchmarkWriterThroughput(b *testing.B) {
	d := testenv.StartInfluxD(b, testDB)
	w, err := NewWriter(benchOptions(b, d.URL()))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	// Distinct vehicles and times, so every point is a new one.
	const perVehicle = 10_000
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	b.ResetTimer()
	began := time.Now()
	for i := 0; i < b.N; i += perVehicle {
		n := min(perVehicle, b.N-i)
		w.WriteFixes(makeFixes(fmt.Sprintf("V%07d", i), start, n, uint64(i+1)))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	for testutil.ToFloat64(w.metrics.pointsWritten) < float64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "points/s")
}

// BenchmarkTrack24h reads a day at one fix per second (86,400 points) of
// one vehicle back from a local influxd.
func BenchmarkTrack24h(b *testing.B) {
	d := testenv.StartInfluxD(b, testDB)
	opts := benchOptions(b, d.URL())
	w, err := NewWriter(opts)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	w.WriteFixes(makeFixes("013300784001", start, 86_400, 1))
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	for testutil.ToFloat64(w.metrics.pointsWritten) < 86_400 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	r := NewReader(opts)
	defer r.Close()
	b.ResetTimer()
	for b.Loop() {
		fixes, err := r.Track(context.Background(), "013300784001", start, start.Add(24*time.Hour), 100_001)
		if err != nil {
			b.Fatal(err)
		}
		if len(fixes) != 86_400 {
			b.Fatalf("read %d fixes, want 86400", len(fixes))
		}
	}
}
