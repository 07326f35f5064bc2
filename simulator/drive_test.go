package simulator

import (
	"math"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// yongkangRoute runs east from the city centre for about 2 km, then north
// for about 1.1 km.
var yongkangRoute = orb.LineString{{120.0425, 28.8908}, {120.0630, 28.8908}, {120.0630, 28.9008}}

func TestDriveAlong(t *testing.T) {
	start := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		speedKmh float64
		interval time.Duration
	}{
		{"40 kmh every second", 40, time.Second},
		{"80 kmh every 5 s", 80, 5 * time.Second},
		{"30 kmh every 30 s", 30, 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fixes := DriveAlong(yongkangRoute, start, tc.speedKmh, tc.interval)
			if len(fixes) < 3 {
				t.Fatalf("fixes = %d, want at least 3", len(fixes))
			}
			stepM := tc.speedKmh / 3.6 * tc.interval.Seconds()
			for i := 1; i < len(fixes)-1; i++ {
				if dt := fixes[i].Time.Sub(fixes[i-1].Time); dt != tc.interval {
					t.Fatalf("fix %d interval = %v, want %v", i, dt, tc.interval)
				}
				a, b := fixPoint(fixes[i-1]), fixPoint(fixes[i])
				// A step that cuts the corner is shorter, never longer.
				if d := geo.Distance(a, b); d > stepM*1.01 || d < stepM*0.7 {
					t.Fatalf("fix %d step = %.1f m, want about %.1f m", i, d, stepM)
				}
			}
			last := fixes[len(fixes)-1]
			if d := geo.Distance(fixPoint(last), yongkangRoute[2]); d > 0.01 {
				t.Errorf("last fix %.2f m from the route end", d)
			}
			length := geo.Length(yongkangRoute)
			wantEnd := start.Add(time.Duration(length / (tc.speedKmh / 3.6) * float64(time.Second)))
			if dt := last.Time.Sub(wantEnd); dt > time.Millisecond || dt < -time.Millisecond {
				t.Errorf("last time = %v, want %v", last.Time, wantEnd)
			}
			if h := fixes[0].HeadingDeg; math.Abs(h-90) > 0.5 {
				t.Errorf("first heading = %.2f, want east (90)", h)
			}
			if h := fixes[len(fixes)-2].HeadingDeg; math.Abs(h) > 0.5 && math.Abs(h-360) > 0.5 {
				t.Errorf("heading on the second leg = %.2f, want north (0)", h)
			}
			for i, f := range fixes {
				if !f.Valid || f.SpeedKmh != tc.speedKmh {
					t.Fatalf("fix %d valid=%v speed=%v", i, f.Valid, f.SpeedKmh)
				}
				if d := DistanceToRouteM(fixPoint(f), yongkangRoute); d > 0.5 {
					t.Fatalf("fix %d is %.2f m off the route without noise", i, d)
				}
			}
		})
	}
}

func TestDriveAlongNoise(t *testing.T) {
	start := time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)
	a := DriveAlong(yongkangRoute, start, 40, time.Second, WithNoise(5, 42))
	b := DriveAlong(yongkangRoute, start, 40, time.Second, WithNoise(5, 42))
	c := DriveAlong(yongkangRoute, start, 40, time.Second, WithNoise(5, 43))
	if len(a) != len(b) {
		t.Fatalf("same seed gave %d and %d fixes", len(a), len(b))
	}
	sumSq, differs := 0.0, false
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("same seed differs at fix %d", i)
		}
		if a[i].Lat != c[i].Lat {
			differs = true
		}
		d := DistanceToRouteM(fixPoint(a[i]), yongkangRoute)
		sumSq += d * d
	}
	if !differs {
		t.Error("different seeds gave the same fixes")
	}
	// Noise of 5 m per axis puts fixes about 5 m off the line (RMS of the
	// cross-track component); allow a wide band.
	if rms := math.Sqrt(sumSq / float64(len(a))); rms < 3 || rms > 8 {
		t.Errorf("RMS distance from the route = %.2f m, want about 5 m", rms)
	}
}

func TestDriveAlongRejectsBadInput(t *testing.T) {
	start := time.Now()
	cases := []struct {
		name     string
		route    orb.LineString
		speed    float64
		interval time.Duration
	}{
		{"one point", orb.LineString{{120, 28}}, 40, time.Second},
		{"zero speed", yongkangRoute, 0, time.Second},
		{"NaN speed", yongkangRoute, math.NaN(), time.Second},
		{"zero interval", yongkangRoute, 40, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := DriveAlong(tc.route, start, tc.speed, tc.interval); got != nil {
				t.Errorf("got %d fixes, want nil", len(got))
			}
		})
	}
}
