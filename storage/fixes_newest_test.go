package storage

import (
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// TestPutFixesDuplicatesAfterReopen checks the duplicate detection that
// skips the look-up for fixes newer than any stored: after a reopen the
// newest key comes from disk, and older fixes are still looked up.
func TestPutFixesDuplicatesAfterReopen(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(Options{Dir: dir, Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := first.PutFixes([]model.Fix{
		simpleFix("T1", t0.Add(10*time.Second), 1),
		simpleFix("T1", t0.Add(20*time.Second), 2),
	}, 0); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	s := openStore(t, Options{Dir: dir})
	cases := []struct {
		name       string
		fix        model.Fix
		wantStored int
	}{
		{name: "newest again", fix: simpleFix("T1", t0.Add(20*time.Second), 2), wantStored: 0},
		{name: "older than newest", fix: simpleFix("T1", t0.Add(15*time.Second), 3), wantStored: 1},
		{name: "older one again", fix: simpleFix("T1", t0.Add(15*time.Second), 3), wantStored: 0},
		{name: "newer than newest", fix: simpleFix("T1", t0.Add(30*time.Second), 4), wantStored: 1},
		{name: "newer one again", fix: simpleFix("T1", t0.Add(30*time.Second), 4), wantStored: 0},
		{name: "first of another vehicle", fix: simpleFix("T2", t0, 1), wantStored: 1},
	}
	for _, tc := range cases {
		stored, dups, err := s.PutFixes([]model.Fix{tc.fix}, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if stored != tc.wantStored || dups != 1-tc.wantStored {
			t.Errorf("%s: %d stored, %d duplicates; want %d stored", tc.name, stored, dups, tc.wantStored)
		}
	}

	track, err := s.Track("T1", t0, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(track) != 4 {
		t.Errorf("track has %d fixes, want 4", len(track))
	}
}
