package storage

import (
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

var t0 = time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)

func simpleFix(terminal string, at time.Time, seq uint64) model.Fix {
	return model.Fix{
		Terminal: terminal, Time: at, ReceivedAt: at.Add(2 * time.Second),
		Lat: 28.9 + float64(seq)*1e-5, Lon: 120.05, Valid: true,
		SpeedKmh: 40, Source: model.SourceRealtime, Seq: seq,
		Has: model.HasSpeed | model.HasSeq,
	}
}

func TestFixCodecRoundTrip(t *testing.T) {
	full := model.Fix{
		Terminal:   "T0001",
		Time:       time.Date(2026, 12, 4, 8, 30, 15, 123456789, time.UTC),
		ReceivedAt: time.Date(2026, 12, 4, 8, 30, 14, 999, time.UTC), // before Time: clock skew
		Lat:        28.901234567, Lon: 120.041234567, AltM: -12.25,
		SpeedKmh: 63.7, HeadingDeg: 359.9, Valid: true, Sats: 17, HDOP: 0.8,
		AccuracyM: 3.5, ACC: true, OdometerKm: 123456.789, Alarm: 0xFFFFFFFF,
		Status: 0x80000003, Source: model.SourceBlind, Seq: math.MaxUint64,
		Has: model.HasAlt | model.HasSpeed | model.HasHeading | model.HasSats | model.HasHDOP |
			model.HasAccuracy | model.HasACC | model.HasOdometer | model.HasAlarm | model.HasStatus | model.HasSeq,
		RawSeq: 1 << 40,
	}
	tests := []struct {
		name string
		fix  model.Fix
	}{
		{"every field", full},
		{"only position", model.Fix{Terminal: "T2", Time: t0, Lat: -33.5, Lon: -70.25, Source: model.SourceUnknown}},
		{"negative time", model.Fix{Terminal: "T3", Time: time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC), Lat: 0.5, Has: model.HasSpeed, SpeedKmh: 0}},
		{"batch source and zero has", model.Fix{Terminal: "T4", Time: t0, Source: model.SourceBatch, Valid: false, ACC: true, Seq: 7}},
		{"extreme values", model.Fix{Terminal: "T5", Time: t0, Lat: -90, Lon: 180, Has: model.HasAlt | model.HasOdometer, AltM: math.MaxFloat64, OdometerKm: math.SmallestNonzeroFloat64}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := fixKey(tt.fix.Terminal, tt.fix.Time, tt.fix.Seq)
			prefixLen := len(terminalPrefix(prefixFix, tt.fix.Terminal))
			value := appendFixValue(nil, &tt.fix)

			var got model.Fix
			if err := decodeFix(tt.fix.Terminal, key[prefixLen:], value, &got); err != nil {
				t.Fatalf("decodeFix: %v", err)
			}
			if !reflect.DeepEqual(got, tt.fix) {
				t.Fatalf("round trip mismatch\n got %+v\nwant %+v", got, tt.fix)
			}
			t.Logf("value is %d bytes", len(value))
		})
	}

	t.Run("field without has bit decodes as zero", func(t *testing.T) {
		f := model.Fix{Terminal: "T6", Time: t0, AltM: 99, SpeedKmh: 50, Has: model.HasSpeed}
		key := fixKey(f.Terminal, f.Time, f.Seq)
		var got model.Fix
		if err := decodeFix(f.Terminal, key[len(terminalPrefix(prefixFix, "T6")):], appendFixValue(nil, &f), &got); err != nil {
			t.Fatal(err)
		}
		if got.AltM != 0 {
			t.Errorf("AltM = %v without HasAlt, want 0", got.AltM)
		}
		if got.SpeedKmh != 50 {
			t.Errorf("SpeedKmh = %v, want 50", got.SpeedKmh)
		}
	})

	t.Run("truncated value is an error", func(t *testing.T) {
		key := fixKey(full.Terminal, full.Time, full.Seq)
		value := appendFixValue(nil, &full)
		suffix := key[len(terminalPrefix(prefixFix, full.Terminal)):]
		for n := 0; n < len(value); n++ {
			var got model.Fix
			if err := decodeFix(full.Terminal, suffix, value[:n], &got); err == nil {
				t.Fatalf("decoding %d of %d bytes succeeded", n, len(value))
			}
		}
	})
}

func FuzzDecodeFix(f *testing.F) {
	fix := simpleFix("T1", t0, 3)
	key := fixKey("T1", t0, 3)
	f.Add(key[len(terminalPrefix(prefixFix, "T1")):], appendFixValue(nil, &fix))
	f.Fuzz(func(t *testing.T, suffix, value []byte) {
		var got model.Fix
		_ = decodeFix("T1", suffix, value, &got)
	})
}

func TestPutFixesValidation(t *testing.T) {
	s := openStore(t, Options{})
	tests := []struct {
		name  string
		fix   model.Fix
		field string
	}{
		{"empty terminal", model.Fix{Time: t0}, "fixes[0].terminal"},
		{"NUL in terminal", model.Fix{Terminal: "T\x00", Time: t0}, "fixes[0].terminal"},
		{"zero time", model.Fix{Terminal: "T1"}, "fixes[0].time"},
		{"NaN latitude", model.Fix{Terminal: "T1", Time: t0, Lat: math.NaN()}, "fixes[0].lat"},
		{"infinite speed", model.Fix{Terminal: "T1", Time: t0, SpeedKmh: math.Inf(1)}, "fixes[0].speed"},
		{"negative sats", model.Fix{Terminal: "T1", Time: t0, Sats: -1}, "fixes[0].sats"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.PutFixes([]model.Fix{tt.fix}, 0)
			var verr *model.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want *model.ValidationError", err)
			}
			if len(verr.Fields) != 1 || verr.Fields[0].Field != tt.field {
				t.Fatalf("fields = %+v, want one for %s", verr.Fields, tt.field)
			}
		})
	}
}

func TestPutFixesDuplicatesFirstWins(t *testing.T) {
	s := openStore(t, Options{})

	first := simpleFix("T1", t0, 10)
	first.Lat = 28.1
	stored, dups, err := s.PutFixes([]model.Fix{first, simpleFix("T1", t0.Add(time.Second), 11)}, 5)
	if err != nil {
		t.Fatal(err)
	}
	if stored != 2 || dups != 0 {
		t.Fatalf("first PutFixes = %d stored, %d duplicates; want 2, 0", stored, dups)
	}

	resent := first
	resent.Lat = 99 // same key, different content: must not overwrite
	inBatchTwice := simpleFix("T1", t0.Add(2*time.Second), 12)
	sameTimeOtherSeq := simpleFix("T1", t0, 13)
	stored, dups, err = s.PutFixes([]model.Fix{resent, inBatchTwice, inBatchTwice, sameTimeOtherSeq}, 6)
	if err != nil {
		t.Fatal(err)
	}
	if stored != 2 || dups != 2 {
		t.Fatalf("second PutFixes = %d stored, %d duplicates; want 2, 2", stored, dups)
	}

	track, err := s.Track("T1", t0, t0.Add(time.Hour), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(track) != 4 {
		t.Fatalf("track has %d fixes, want 4", len(track))
	}
	if track[0].Seq != 10 || track[0].Lat != 28.1 {
		t.Errorf("first fix = seq %d lat %v, want seq 10 lat 28.1 (first stored wins)", track[0].Seq, track[0].Lat)
	}
	if track[1].Seq != 13 {
		t.Errorf("second fix seq = %d, want 13 (same time, higher seq)", track[1].Seq)
	}

	t.Run("large batch uses map", func(t *testing.T) {
		batch := make([]model.Fix, 0, 100)
		for i := 0; i < 50; i++ {
			f := simpleFix("T2", t0.Add(time.Duration(i)*time.Second), uint64(i))
			batch = append(batch, f, f)
		}
		stored, dups, err := s.PutFixes(batch, 0)
		if err != nil {
			t.Fatal(err)
		}
		if stored != 50 || dups != 50 {
			t.Fatalf("PutFixes = %d stored, %d duplicates; want 50, 50", stored, dups)
		}
	})
}

func TestAppliedRawSeq(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	steps := []struct {
		name    string
		applied uint64
		want    uint64
	}{
		{"initial zero", 0, 0},
		{"raised", 100, 100},
		{"never moves back", 50, 100},
		{"raised again", 101, 101},
	}
	for i, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if _, _, err := s.PutFixes([]model.Fix{simpleFix("T1", t0.Add(time.Duration(i)*time.Second), 1)}, st.applied); err != nil {
				t.Fatal(err)
			}
			got, err := s.AppliedRawSeq()
			if err != nil {
				t.Fatal(err)
			}
			if got != st.want {
				t.Fatalf("AppliedRawSeq = %d, want %d", got, st.want)
			}
		})
	}

	t.Run("recorded even when every fix is a duplicate", func(t *testing.T) {
		if _, _, err := s.PutFixes([]model.Fix{simpleFix("T1", t0, 1)}, 200); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AppliedRawSeq(); got != 200 {
			t.Fatalf("AppliedRawSeq = %d, want 200", got)
		}
	})

	t.Run("survives reopen", func(t *testing.T) {
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s2 := openStore(t, Options{Dir: dir})
		got, err := s2.AppliedRawSeq()
		if err != nil {
			t.Fatal(err)
		}
		if got != 200 {
			t.Fatalf("AppliedRawSeq after reopen = %d, want 200", got)
		}
		track, err := s2.Track("T1", t0, t0.Add(time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(track) != 4 {
			t.Fatalf("track after reopen has %d fixes, want 4", len(track))
		}
	})
}

func TestTrackBounds(t *testing.T) {
	s := openStore(t, Options{})
	var batch []model.Fix
	for i := 0; i < 10; i++ {
		batch = append(batch, simpleFix("T1", t0.Add(time.Duration(i)*time.Minute), uint64(i)))
	}
	// Neighbours that must never show up in T1's track.
	batch = append(batch, simpleFix("T10", t0.Add(time.Minute), 1), simpleFix("T", t0.Add(time.Minute), 1))
	if _, _, err := s.PutFixes(batch, 0); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		from, to time.Time
		limit    int
		wantSeqs []uint64
	}{
		{"all", t0, t0.Add(time.Hour), 0, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{"from inclusive to exclusive", t0.Add(2 * time.Minute), t0.Add(5 * time.Minute), 0, []uint64{2, 3, 4}},
		{"nanosecond after from", t0.Add(2*time.Minute + 1), t0.Add(5*time.Minute + 1), 0, []uint64{3, 4, 5}},
		{"limit", t0, t0.Add(time.Hour), 3, []uint64{0, 1, 2}},
		{"empty range", t0.Add(5 * time.Minute), t0.Add(5 * time.Minute), 0, nil},
		{"reversed range", t0.Add(5 * time.Minute), t0, 0, nil},
		{"zero from", time.Time{}, t0.Add(2 * time.Minute), 0, []uint64{0, 1}},
		{"far future to", t0.Add(8 * time.Minute), time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 0, []uint64{8, 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Track("T1", tt.from, tt.to, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, f := range got {
				if f.Terminal != "T1" {
					t.Fatalf("fix of terminal %q in T1's track", f.Terminal)
				}
				seqs = append(seqs, f.Seq)
			}
			if !reflect.DeepEqual(seqs, tt.wantSeqs) {
				t.Fatalf("seqs = %v, want %v", seqs, tt.wantSeqs)
			}
		})
	}
}

func TestLatestAndLastFixes(t *testing.T) {
	s := openStore(t, Options{})
	if _, ok, err := s.LatestFix("T1"); ok || err != nil {
		t.Fatalf("LatestFix on empty store = %v, %v; want not found", ok, err)
	}

	newer := simpleFix("T1", t0.Add(10*time.Minute), 2)
	older := simpleFix("T1", t0, 1) // a blind-area fix that arrives later
	older.Source = model.SourceBlind
	for _, f := range []model.Fix{newer, older} {
		if _, _, err := s.PutFixes([]model.Fix{f}, 0); err != nil {
			t.Fatal(err)
		}
	}

	latest, ok, err := s.LatestFix("T1")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Fatal("LatestFix found nothing")
	}
	if !latest.Time.Equal(newer.Time) {
		t.Errorf("LatestFix time = %s, want %s (max fix time, not last inserted)", latest.Time, newer.Time)
	}

	for i := 0; i < 5; i++ {
		if _, _, err := s.PutFixes([]model.Fix{simpleFix("T1", t0.Add(time.Duration(i+1)*time.Minute), uint64(10+i))}, 0); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		n        int
		wantSeqs []uint64
	}{
		{"three newest oldest first", 3, []uint64{13, 14, 2}},
		{"more than stored", 100, []uint64{1, 10, 11, 12, 13, 14, 2}},
		{"zero", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.LastFixes("T1", tt.n)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []uint64
			for _, f := range got {
				seqs = append(seqs, f.Seq)
			}
			if !reflect.DeepEqual(seqs, tt.wantSeqs) {
				t.Fatalf("seqs = %v, want %v", seqs, tt.wantSeqs)
			}
		})
	}
}
