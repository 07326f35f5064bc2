package storage

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// BenchmarkAppendRawParallel measures synchronous appends of 200-byte
// payloads from many goroutines. Each append waits for its fdatasync.
func BenchmarkAppendRawParallel(b *testing.B) {
	for _, perCPU := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("goroutines_per_cpu=%d", perCPU), func(b *testing.B) {
			s := openStore(b, Options{})
			payload := bytes.Repeat([]byte{'x'}, 200)
			var next atomic.Int64
			b.SetParallelism(perCPU)
			b.SetBytes(int64(len(payload)))
			b.ResetTimer()
			start := time.Now()
			fsyncsBefore := s.RawFsyncs()

			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rec := &RawRecord{
						ClientID: "client", Username: "T0001", Topic: "hwtrack/v1/T0001/fix",
						QoS: 1, Payload: payload, ReceivedAt: time.Unix(0, next.Add(1)),
					}
					if _, err := s.AppendRaw(rec); err != nil {
						b.Error(err)
						return
					}
				}
			})

			elapsed := time.Since(start)
			fsyncs := s.RawFsyncs() - fsyncsBefore
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
			b.ReportMetric(float64(fsyncs), "fsyncs")
			if fsyncs > 0 {
				b.ReportMetric(float64(b.N)/float64(fsyncs), "appends/fsync")
			}
		})
	}
}

// BenchmarkPutFixes measures PutFixes with fresh fixes (no duplicates).
func BenchmarkPutFixes(b *testing.B) {
	for _, batchSize := range []int{1, 16} {
		b.Run(fmt.Sprintf("batch=%d", batchSize), func(b *testing.B) {
			s := openStore(b, Options{})
			batch := make([]model.Fix, batchSize)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range batch {
					n := i*batchSize + j
					batch[j] = benchFix(fmt.Sprintf("T%04d", n%500), t0.Add(time.Duration(n/500)*time.Second), uint64(n))
				}
				if _, _, err := s.PutFixes(batch, uint64(i+1)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "fixes/s")
		})
	}
}

// BenchmarkTrack24h reads back one terminal's day at 1 Hz (86,400 fixes)
// after the data has been flushed from the memtable to sstables.
func BenchmarkTrack24h(b *testing.B) {
	s := openStore(b, Options{})
	const perDay = 86400
	batch := make([]model.Fix, 0, 1000)
	for i := 0; i < perDay; i++ {
		batch = append(batch, benchFix("T0001", t0.Add(time.Duration(i)*time.Second), uint64(i)))
		if len(batch) == cap(batch) {
			if _, _, err := s.PutFixes(batch, 0); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if _, _, err := s.PutFixes(batch, 0); err != nil {
		b.Fatal(err)
	}
	// A neighbour terminal so the scan has to respect its bounds.
	if _, _, err := s.PutFixes([]model.Fix{benchFix("T0002", t0, 1)}, 0); err != nil {
		b.Fatal(err)
	}
	if err := s.db.Flush(); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		track, err := s.Track("T0001", t0, t0.Add(24*time.Hour), 0)
		if err != nil {
			b.Fatal(err)
		}
		if len(track) != perDay {
			b.Fatalf("track has %d fixes, want %d", len(track), perDay)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/track")
}

func benchFix(terminal string, at time.Time, seq uint64) model.Fix {
	return model.Fix{
		Terminal: terminal, Time: at, ReceivedAt: at.Add(1500 * time.Millisecond),
		Lat: 28.9 + float64(seq%1000)*1e-5, Lon: 120.05 + float64(seq%777)*1e-5,
		AltM: 110.5, SpeedKmh: 42.5, HeadingDeg: float64(seq % 360), Valid: true, Sats: 12, HDOP: 0.9,
		ACC: true, OdometerKm: 10234.5, Status: 0x3, Source: model.SourceRealtime, Seq: seq,
		Has: model.HasAlt | model.HasSpeed | model.HasHeading | model.HasSats | model.HasHDOP |
			model.HasACC | model.HasOdometer | model.HasStatus | model.HasSeq,
		RawSeq: seq + 1,
	}
}

// FuzzRawSegment feeds arbitrary bytes to the segment reader and record
// decoder, which must reject them without panicking.
func FuzzRawSegment(f *testing.F) {
	rec := testRecord(1)
	f.Add(appendRawFrame(nil, rec, 1, rec.ReceivedAt))
	f.Add(appendRawFrame(appendRawFrame(nil, rec, 1, rec.ReceivedAt), rec, 2, rec.ReceivedAt)[:40])
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newSegmentReader(bytes.NewReader(data), int64(len(data)), 0)
		for {
			body, err := r.next()
			if err != nil {
				return
			}
			_, _ = decodeRawBody(body)
		}
	})
}
