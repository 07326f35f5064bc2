package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func testRecord(i int) *RawRecord {
	return &RawRecord{
		ReceivedAt: time.Date(2026, 12, 4, 8, 0, 0, i*1000, time.UTC),
		ClientID:   fmt.Sprintf("client-%d", i%7),
		Username:   fmt.Sprintf("T%04d", i%7),
		Topic:      fmt.Sprintf("hwtrack/v1/T%04d/fix", i%7),
		QoS:        byte(i % 3),
		Retain:     i%5 == 0,
		Payload:    []byte(fmt.Sprintf(`{"lat":28.9,"lon":120.0,"n":%d}`, i)),
	}
}

func replayAll(t *testing.T, s *Store, after uint64) []RawRecord {
	t.Helper()
	var out []RawRecord
	if err := s.ReplayRaw(after, func(r RawRecord) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("ReplayRaw(%d): %v", after, err)
	}
	return out
}

func sameRecord(a, b *RawRecord) bool {
	return a.Seq == b.Seq && a.ReceivedAt.Equal(b.ReceivedAt) && a.ClientID == b.ClientID &&
		a.Username == b.Username && a.Topic == b.Topic && a.QoS == b.QoS && a.Retain == b.Retain &&
		bytes.Equal(a.Payload, b.Payload)
}

func TestRawLogSeqContinuesAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	var want []RawRecord

	for round := 0; round < 3; round++ {
		s, err := Open(Options{Dir: dir, Logger: newTestLogger(&logBuffer{})})
		if err != nil {
			t.Fatalf("Open round %d: %v", round, err)
		}
		for i := 0; i < 10; i++ {
			rec := testRecord(round*10 + i)
			seq, err := s.AppendRaw(rec)
			if err != nil {
				t.Fatalf("AppendRaw: %v", err)
			}
			if wantSeq := uint64(round*10 + i + 1); seq != wantSeq {
				t.Fatalf("round %d record %d: seq %d, want %d", round, i, seq, wantSeq)
			}
			if rec.Seq != seq {
				t.Errorf("rec.Seq = %d, want %d", rec.Seq, seq)
			}
			want = append(want, *rec)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}

	s := openStore(t, Options{Dir: dir})
	got := replayAll(t, s, 0)
	if len(got) != len(want) {
		t.Fatalf("replayed %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameRecord(&got[i], &want[i]) {
			t.Errorf("record %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestRawLogReplayAfterSeq(t *testing.T) {
	s := openStore(t, Options{SegmentSizeBytes: 512})
	for i := 0; i < 50; i++ {
		if _, err := s.AppendRaw(testRecord(i)); err != nil {
			t.Fatalf("AppendRaw: %v", err)
		}
	}
	segs, err := listSegments(rawDir(s.opts.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 3 {
		t.Fatalf("got %d segments with a 512-byte cap, want several", len(segs))
	}

	tests := []struct {
		name  string
		after uint64
		want  int
	}{
		{"from start", 0, 50},
		{"middle", 17, 33},
		{"last", 49, 1},
		{"past end", 50, 0},
		{"far past end", 1 << 40, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := replayAll(t, s, tt.after)
			if len(got) != tt.want {
				t.Fatalf("got %d records, want %d", len(got), tt.want)
			}
			for i, r := range got {
				if r.Seq != tt.after+uint64(i)+1 {
					t.Fatalf("record %d has seq %d, want %d", i, r.Seq, tt.after+uint64(i)+1)
				}
			}
		})
	}

	t.Run("callback error stops replay", func(t *testing.T) {
		stop := errors.New("stop")
		calls := 0
		err := s.ReplayRaw(0, func(RawRecord) error {
			calls++
			if calls == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) {
			t.Fatalf("ReplayRaw error = %v, want %v", err, stop)
		}
		if calls != 3 {
			t.Fatalf("callback ran %d times, want 3", calls)
		}
	})
}

func TestRawLogGroupCommit(t *testing.T) {
	s := openStore(t, Options{})
	const writers, perWriter = 200, 20

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	seqs := make(chan uint64, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				seq, err := s.AppendRaw(testRecord(w*perWriter + i))
				if err != nil {
					errs <- err
					return
				}
				seqs <- seq
			}
		}()
	}
	wg.Wait()
	close(errs)
	close(seqs)
	for err := range errs {
		t.Fatalf("AppendRaw: %v", err)
	}

	seen := make(map[uint64]bool)
	for seq := range seqs {
		if seen[seq] {
			t.Fatalf("seq %d returned twice", seq)
		}
		seen[seq] = true
	}
	appends := writers * perWriter
	if len(seen) != appends {
		t.Fatalf("got %d distinct seqs, want %d", len(seen), appends)
	}
	fsyncs := s.RawFsyncs()
	t.Logf("%d appends, %d fsyncs", appends, fsyncs)
	if fsyncs == 0 || fsyncs > uint64(appends/4) {
		t.Fatalf("%d fsyncs for %d concurrent appends, want at most %d", fsyncs, appends, appends/4)
	}
	if got := len(replayAll(t, s, 0)); got != appends {
		t.Fatalf("replayed %d records, want %d", got, appends)
	}
}

func TestRawLogAppendAsync(t *testing.T) {
	s := openStore(t, Options{})
	const n = 100
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := make(map[uint64]bool)
	wg.Add(n)
	for i := 0; i < n; i++ {
		s.AppendRawAsync(testRecord(i), func(seq uint64, err error) {
			defer wg.Done()
			if err != nil {
				t.Errorf("async append: %v", err)
				return
			}
			mu.Lock()
			got[seq] = true
			mu.Unlock()
		})
	}
	wg.Wait()
	if len(got) != n {
		t.Fatalf("got %d distinct seqs, want %d", len(got), n)
	}

	var invalidErr error
	s.AppendRawAsync(&RawRecord{QoS: 3}, func(_ uint64, err error) { invalidErr = err })
	if invalidErr == nil {
		t.Fatal("invalid record: callback got no error")
	}
}

func TestRawLogTornTailTruncated(t *testing.T) {
	tests := []struct {
		name string
		// tear damages the segment, whose size with all records is full.
		tear func(t *testing.T, path string, full int64)
	}{
		{"half of last record", func(t *testing.T, path string, full int64) {
			lastLen := int64(len(appendRawFrame(nil, testRecord(4), 5, testRecord(4).ReceivedAt)))
			if err := os.Truncate(path, full-lastLen/2); err != nil {
				t.Fatal(err)
			}
		}},
		{"partial header", func(t *testing.T, path string, full int64) {
			appendBytes(t, path, []byte{0x30, 0, 0})
		}},
		{"garbage after records", func(t *testing.T, path string, full int64) {
			appendBytes(t, path, bytes.Repeat([]byte{0xAB}, 100))
		}},
		{"zeroed tail", func(t *testing.T, path string, full int64) {
			appendBytes(t, path, make([]byte, 4096))
		}},
		{"flipped byte in last record", func(t *testing.T, path string, full int64) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte{0xFF}, full-3); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(Options{Dir: dir, Logger: newTestLogger(&logBuffer{})})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 5; i++ {
				if _, err := s.AppendRaw(testRecord(i)); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			segs, err := listSegments(rawDir(dir))
			if err != nil {
				t.Fatal(err)
			}
			if len(segs) != 1 {
				t.Fatalf("got segments %v, want one", segs)
			}
			path := segmentPath(rawDir(dir), segs[0])
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.tear(t, path, info.Size())

			logs := &logBuffer{}
			s2 := openStore(t, Options{Dir: dir, Logger: newTestLogger(logs)})
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "torn tail") {
				t.Errorf("no torn-tail warning in log:\n%s", logs.String())
			}

			got := replayAll(t, s2, 0)
			wantKept := 5
			if tt.name == "half of last record" || tt.name == "flipped byte in last record" {
				wantKept = 4
			}
			if len(got) != wantKept {
				t.Fatalf("after recovery replayed %d records, want %d", len(got), wantKept)
			}

			seq, err := s2.AppendRaw(testRecord(99))
			if err != nil {
				t.Fatalf("append after recovery: %v", err)
			}
			if seq != uint64(wantKept+1) {
				t.Errorf("seq after recovery = %d, want %d", seq, wantKept+1)
			}
			if got := replayAll(t, s2, 0); len(got) != wantKept+1 {
				t.Errorf("replayed %d records after new append, want %d", len(got), wantKept+1)
			}
		})
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestRawLogDayRotationAndPrune(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, RawRetention: 10 * 24 * time.Hour, now: clock.Now})

	// One record on each of 30 days.
	for day := 0; day < 30; day++ {
		clock.Set(time.Date(2026, 1, 1+day, 12, 0, 0, 0, time.UTC))
		if _, err := s.AppendRaw(&RawRecord{Topic: "t", Payload: []byte{byte(day)}}); err != nil {
			t.Fatalf("day %d: %v", day, err)
		}
	}
	segs, err := listSegments(rawDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 30 {
		t.Fatalf("got %d segments for 30 days, want 30", len(segs))
	}

	// With now at the end of 2026-01-30 and 10 days retention, the cutoff is
	// 2026-01-20 23:00, so days 01-01 to 01-19 (ending by 01-20 00:00) go.
	now := time.Date(2026, 1, 30, 23, 0, 0, 0, time.UTC)
	stats, err := s.Prune(now)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if stats.RawSegments != 19 {
		t.Errorf("pruned %d segments, want 19", stats.RawSegments)
	}
	segs, err = listSegments(rawDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) != 11 {
		t.Fatalf("%d segments left, want 11", len(segs))
	}
	if first := segs[0].day.Format("2006-01-02"); first != "2026-01-20" {
		t.Errorf("oldest kept segment is from %s, want 2026-01-20", first)
	}
	got := replayAll(t, s, 0)
	if len(got) != 11 {
		t.Fatalf("after prune replayed %d records, want 11", len(got))
	}
	if got[0].Seq != 20 {
		t.Errorf("first record after prune has seq %d, want 20", got[0].Seq)
	}

	// The active segment survives even when it is older than retention.
	stats, err = s.Prune(now.Add(365 * 24 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if stats.RawSegments != 10 {
		t.Errorf("second prune removed %d segments, want 10", stats.RawSegments)
	}
	if _, err := s.AppendRaw(&RawRecord{Topic: "t"}); err != nil {
		t.Fatalf("append after pruning everything old: %v", err)
	}
}

func TestRawLogSizeRotation(t *testing.T) {
	s := openStore(t, Options{SegmentSizeBytes: 1024})
	for i := 0; i < 100; i++ {
		if _, err := s.AppendRaw(testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	segs, err := listSegments(rawDir(s.opts.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 5 {
		t.Fatalf("got %d segments, want at least 5 with a 1 KiB cap", len(segs))
	}
	for i := 1; i < len(segs); i++ {
		if segs[i].firstSeq <= segs[i-1].firstSeq {
			t.Errorf("segment %s does not start after %s", segs[i].name, segs[i-1].name)
		}
	}
	if got := replayAll(t, s, 0); len(got) != 100 {
		t.Fatalf("replayed %d, want 100", len(got))
	}
}

func TestOpenUnwritableDirectory(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "plain-file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		dir  string
	}{
		{"path under a regular file", filepath.Join(file, "data")},
		{"regular file as directory", file},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(Options{Dir: tt.dir, Logger: newTestLogger(&logBuffer{})})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) succeeded, want an error", tt.dir)
			}
			if !strings.Contains(err.Error(), tt.dir) {
				t.Errorf("error %q does not name the directory %s", err, tt.dir)
			}
		})
	}
}

func TestRawRecordValidation(t *testing.T) {
	s := openStore(t, Options{})
	tests := []struct {
		name string
		rec  RawRecord
	}{
		{"qos 3", RawRecord{QoS: 3}},
		{"topic too long", RawRecord{Topic: strings.Repeat("a", maxStringLen+1)}},
		{"receive time out of range", RawRecord{ReceivedAt: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.AppendRaw(&tt.rec); err == nil {
				t.Fatal("AppendRaw succeeded, want an error")
			}
		})
	}
}

func TestAppendRawAfterClose(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.AppendRaw(testRecord(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("AppendRaw after Close: %v, want ErrClosed", err)
	}
	if err := s.ReplayRaw(0, func(RawRecord) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("ReplayRaw after Close: %v, want ErrClosed", err)
	}
	if _, _, err := s.PutFixes(nil, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("PutFixes after Close: %v, want ErrClosed", err)
	}
}

// TestRawLogDiskFull mounts a 256 KiB tmpfs, fills it, and checks that
// every waiter gets ENOSPC, Healthy reports it, and a later append
// succeeds once space is freed.
func TestRawLogDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root with CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})

	// Keep pebble off the small filesystem: only the raw log goes there.
	s := openStore(t, Options{})
	raw, err := openRawLog(filepath.Join(mnt, "raw"), defaultSegmentSize, time.Now, s.log, s.metrics)
	if err != nil {
		t.Fatal(err)
	}
	s.raw.close()
	s.raw = raw

	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()

	const writers = 20
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := testRecord(w)
			rec.Payload = make([]byte, 8192)
			_, errs[w] = s.AppendRaw(rec)
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("writer %d: err = %v, want ENOSPC", w, err)
		}
	}
	if err := s.Healthy(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Healthy() = %v, want ENOSPC", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	seq, err := s.AppendRaw(testRecord(1))
	if err != nil {
		t.Fatalf("append after freeing space: %v", err)
	}
	if err := s.Healthy(); err != nil {
		t.Errorf("Healthy() after a successful append = %v, want nil", err)
	}
	got := replayAll(t, s, 0)
	if len(got) != 1 || got[0].Seq != seq {
		t.Fatalf("replay after disk full: %d records, want only seq %d", len(got), seq)
	}
}

// TestReplayRawCloseDuringCallback checks that Close does not deadlock
// with a replay whose callback writes fixes, as recovery does.
func TestReplayRawCloseDuringCallback(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.AppendRaw(testRecord(i)); err != nil {
			t.Fatal(err)
		}
	}

	closed := make(chan error, 1)
	replayed := make(chan error, 1)
	go func() {
		replayed <- s.ReplayRaw(0, func(r RawRecord) error {
			if r.Seq == 1 {
				go func() { closed <- s.Close() }()
				time.Sleep(50 * time.Millisecond) // let Close wait for the lock
			}
			_, _, err := s.PutFixes(nil, r.Seq)
			if err != nil && !errors.Is(err, ErrClosed) {
				return err
			}
			return nil
		})
	}()

	select {
	case err := <-replayed:
		if err != nil {
			t.Errorf("ReplayRaw: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("ReplayRaw did not return within 10 s: deadlock with Close")
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
}
