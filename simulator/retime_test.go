package simulator

import (
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func TestRetime(t *testing.T) {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(sec int, lat float64) model.Fix {
		return model.Fix{Time: base.Add(time.Duration(sec) * time.Second), Lat: lat, Valid: true}
	}
	end := time.Date(2026, 12, 4, 1, 30, 0, 0, time.FixedZone("CST", 8*3600))
	cases := []struct {
		name    string
		in      []model.Fix
		maxGap  time.Duration
		wantLat []float64
		wantOff []time.Duration // offsets from the first output fix
	}{
		{
			name:    "duplicates and backwards times",
			in:      []model.Fix{at(0, 1), at(1, 2), at(1, 3), at(3, 4), at(2, 5), at(3, 6)},
			wantLat: []float64{1, 2, 5, 4},
			wantOff: []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second},
		},
		{
			name:    "overnight gap capped",
			in:      []model.Fix{at(0, 1), at(10, 2), at(10+11*3600, 3), at(10+11*3600+5, 4)},
			maxGap:  5 * time.Minute,
			wantLat: []float64{1, 2, 3, 4},
			wantOff: []time.Duration{0, 10 * time.Second, 10*time.Second + 5*time.Minute, 15*time.Second + 5*time.Minute},
		},
		{
			name:    "default gap is ten minutes",
			in:      []model.Fix{at(0, 1), at(3600, 2)},
			wantLat: []float64{1, 2},
			wantOff: []time.Duration{0, 10 * time.Minute},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := Retime(tc.in, end, tc.maxGap)
			if len(out) != len(tc.wantLat) {
				t.Fatalf("fixes = %d, want %d", len(out), len(tc.wantLat))
			}
			if !out[len(out)-1].Time.Equal(end) {
				t.Errorf("last time = %v, want %v", out[len(out)-1].Time, end)
			}
			for i := range out {
				if out[i].Lat != tc.wantLat[i] {
					t.Errorf("fix %d lat = %v, want %v", i, out[i].Lat, tc.wantLat[i])
				}
				if off := out[i].Time.Sub(out[0].Time); off != tc.wantOff[i] {
					t.Errorf("fix %d offset = %v, want %v", i, off, tc.wantOff[i])
				}
				if out[i].Time.Location() != time.UTC {
					t.Errorf("fix %d time %v not in UTC", i, out[i].Time)
				}
			}
			if tc.in[0].Time != base {
				t.Error("input slice was modified")
			}
		})
	}
}

func TestRetimeRealTracks(t *testing.T) {
	cases := []struct {
		rel       string
		maxGap    time.Duration
		wantFixes int
	}{
		// The second track repeats the first 164 points with the same times.
		{"trajectories/gpsbabel/garmin_xt_strk.gpx", DefaultMaxGap, 958 - 164},
		// Has an 11-hour overnight gap.
		{"trajectories/geolife/001/20081026081229.plt", DefaultMaxGap, 3236},
		{"trajectories/geolife/010/20070905163053.plt", time.Minute, 0},
	}
	end := time.Now()
	for _, tc := range cases {
		t.Run(tc.rel, func(t *testing.T) {
			fixes, _, _, err := ReadTrack(sharedData(t, tc.rel))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			out := Retime(fixes, end, tc.maxGap)
			if tc.wantFixes > 0 && len(out) != tc.wantFixes {
				t.Errorf("fixes = %d, want %d", len(out), tc.wantFixes)
			}
			if !out[len(out)-1].Time.Equal(end) {
				t.Errorf("last time = %v, want %v", out[len(out)-1].Time, end)
			}
			for i := 1; i < len(out); i++ {
				gap := out[i].Time.Sub(out[i-1].Time)
				if gap <= 0 {
					t.Fatalf("fix %d time %v not after %v", i, out[i].Time, out[i-1].Time)
				}
				if gap > tc.maxGap {
					t.Fatalf("fix %d gap %v longer than %v", i, gap, tc.maxGap)
				}
			}
		})
	}
}

func TestRetimeEmpty(t *testing.T) {
	if out := Retime(nil, time.Now(), 0); out != nil {
		t.Errorf("Retime(nil) = %v, want nil", out)
	}
}
