package timeseries

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testBatch(i int) *batch {
	body := fmt.Sprintf("fix,terminal=T%d lat=28.9,lon=120.0,valid=true,source=\"realtime\" %d\n", i, int64(i+1)*int64(time.Second))
	return &batch{body: []byte(body), points: 1, minSeq: uint64(i + 1), created: time.Unix(int64(1_700_000_000+i), 0)}
}

func openTestSpool(t *testing.T, dir string, maxBytes int64) *spool {
	t.Helper()
	s, err := openSpool(dir, maxBytes, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open spool: %v", err)
	}
	t.Cleanup(func() { s.close() })
	return s
}

// drain reads and acknowledges every batch and returns their bodies.
func drain(t *testing.T, s *spool) []string {
	t.Helper()
	var out []string
	for {
		rec, ok, err := s.peek()
		if err != nil {
			t.Fatalf("peek: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, string(rec.body))
		if err := s.ack(rec); err != nil {
			t.Fatalf("ack: %v", err)
		}
	}
}

func TestSpoolOrderAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20)
	// A small segment size makes the batches span several files.
	s.segmentBytes = 200
	var want []*batch
	for i := range 10 {
		want = append(want, testBatch(i))
	}
	if n, err := s.append(want); n != len(want) || err != nil {
		t.Fatalf("append = %d, %v", n, err)
	}
	if st := s.stats(); st.batches != 10 || !st.oldest.Equal(want[0].created) {
		t.Fatalf("stats = %+v, want 10 batches, oldest %s", st, want[0].created)
	}

	// Write out three, then reopen: the rest come back in order.
	for range 3 {
		rec, _, err := s.peek()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ack(rec); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	s = openTestSpool(t, dir, 1<<20)
	if st := s.stats(); st.batches != 7 || !st.oldest.Equal(want[3].created) {
		t.Fatalf("stats after reopen = %+v, want 7 batches, oldest %s", st, want[3].created)
	}
	got := drain(t, s)
	if len(got) != 7 {
		t.Fatalf("read %d batches after reopen, want 7", len(got))
	}
	for i, body := range got {
		if body != string(want[i+3].body) {
			t.Errorf("batch %d = %q, want %q", i, body, want[i+3].body)
		}
	}
	if st := s.stats(); st.batches != 0 || st.bytes != 0 || !st.oldest.IsZero() {
		t.Errorf("stats after draining = %+v, want empty", st)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+spoolExt))
	if len(segs) > 1 {
		t.Errorf("%d segment files left after draining, want at most 1: %v", len(segs), segs)
	}
}

func TestSpoolFull(t *testing.T) {
	size := func(i int) int64 { return int64(frameHeaderLen + frameMetaLen + len(testBatch(i).body)) }
	s := openTestSpool(t, t.TempDir(), size(0)+size(1)+size(2))
	n, err := s.append([]*batch{testBatch(0), testBatch(1), testBatch(2), testBatch(3)})
	if n != 3 || !errors.Is(err, errSpoolFull) {
		t.Fatalf("append = %d, %v; want 3, errSpoolFull", n, err)
	}
	rec, _, _ := s.peek()
	if err := s.ack(rec); err != nil {
		t.Fatal(err)
	}
	if n, err := s.append([]*batch{testBatch(3)}); n != 1 || err != nil {
		t.Fatalf("append after one was written = %d, %v; want room for one", n, err)
	}
}

func TestSpoolTornTailCut(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20)
	if _, err := s.append([]*batch{testBatch(0), testBatch(1)}); err != nil {
		t.Fatal(err)
	}
	s.close()

	// A crash in the middle of the next append leaves half a frame.
	seg := filepath.Join(dir, fmt.Sprintf("%020d%s", 1, spoolExt))
	frame := appendFrame(nil, testBatch(2))
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(frame[:len(frame)/2])
	f.Close()

	s = openTestSpool(t, dir, 1<<20)
	if got := drain(t, s); len(got) != 2 {
		t.Fatalf("read %d batches, want the 2 complete ones", len(got))
	}
	if st := s.stats(); st.corruptFrames != 0 {
		t.Errorf("corrupt frames = %d, want 0: a torn tail is not corruption", st.corruptFrames)
	}
	// Appends continue after the cut without a gap.
	if _, err := s.append([]*batch{testBatch(3)}); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s); len(got) != 1 || got[0] != string(testBatch(3).body) {
		t.Errorf("after the cut read %q, want batch 3", got)
	}
}

func TestSpoolCorruptSegmentKept(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20)
	s.segmentBytes = 1 // one batch a segment
	if _, err := s.append([]*batch{testBatch(0), testBatch(1), testBatch(2)}); err != nil {
		t.Fatal(err)
	}
	s.close()

	// Flip a byte inside the first segment's body.
	seg := filepath.Join(dir, fmt.Sprintf("%020d%s", 1, spoolExt))
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	data[frameHeaderLen+frameMetaLen+3] ^= 0xff
	if err := os.WriteFile(seg, data, 0o640); err != nil {
		t.Fatal(err)
	}

	s = openTestSpool(t, dir, 1<<20)
	if st := s.stats(); st.corruptFrames != 1 || st.batches != 2 {
		t.Fatalf("stats = %+v, want 1 corrupt frame and 2 good batches", st)
	}
	got := drain(t, s)
	if len(got) != 2 || got[0] != string(testBatch(1).body) {
		t.Fatalf("read %q, want batches 1 and 2", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "corrupt-"+filepath.Base(seg))); err != nil {
		t.Errorf("corrupt segment not kept for inspection: %v", err)
	}
}

func TestSpoolRejectFile(t *testing.T) {
	dir := t.TempDir()
	s := openTestSpool(t, dir, 1<<20)
	at := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	if err := s.reject([]byte("fix,terminal=T1 source=1i 1\n"), 400, "partial write:\nfield type conflict", at); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, rejectFile))
	if err != nil {
		t.Fatal(err)
	}
	want := "# rejected 2026-12-04T09:30:00Z status 400: partial write: field type conflict\nfix,terminal=T1 source=1i 1\n"
	if string(data) != want {
		t.Errorf("reject file = %q, want %q", data, want)
	}
	if strings.Count(string(data), "\n# ") != 0 {
		t.Errorf("reason spans lines: %q", data)
	}
}
