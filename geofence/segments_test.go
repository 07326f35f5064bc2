package geofence

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
)

// zigzagRoute returns n+1 points heading east in 400 m steps, alternating
// 300 m north and south.
func zigzagRoute(n int) orb.LineString {
	route := make(orb.LineString, n+1)
	for i := range route {
		north := 0.0
		if i%2 == 1 {
			north = 300
		}
		lat, lon := offsetM(28.9, 120.0, north, float64(i)*400)
		route[i] = orb.Point{lon, lat}
	}
	return route
}

func TestCorridorOffsetMatchesBruteForce(t *testing.T) {
	route := zigzagRoute(40)
	widths := make([]float64, 40)
	for i := range widths {
		widths[i] = []float64{0, 40, 1000, 150}[i%4]
	}
	tests := []struct {
		name   string
		widths []float64
	}{
		{"uniform", nil},
		{"per segment", widths},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCorridorWidths(route, 200, tc.widths)
			if err != nil {
				t.Fatalf("NewCorridorWidths: %v", err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 2000 {
				lat, lon := offsetM(28.9, 120.0, rng.Float64()*4000-2000, rng.Float64()*20000-2000)
				gotOff, gotDist, gotSeg := c.Offset(lat, lon)

				px, py := c.plane.project(lat, lon)
				wantOff := math.Inf(1)
				for s := range c.Segments() {
					d := segmentDistance(px, py, c.xs[s], c.ys[s], c.xs[s+1], c.ys[s+1])
					wantOff = math.Min(wantOff, d-c.SegmentWidthM(s)/2)
				}
				if math.Abs(gotOff-wantOff) > 1e-6 {
					t.Fatalf("Offset(%f, %f) = %f, want %f", lat, lon, gotOff, wantOff)
				}
				if math.Abs(gotDist-c.SegmentWidthM(gotSeg)/2-gotOff) > 1e-6 {
					t.Fatalf("Offset(%f, %f): distance %f to segment %d does not match offset %f", lat, lon, gotDist, gotSeg, gotOff)
				}
				if c.Contains(lat, lon) != (wantOff <= 0) {
					t.Fatalf("Contains(%f, %f) = %v with offset %f", lat, lon, c.Contains(lat, lon), wantOff)
				}
			}
		})
	}
}

func TestNewCorridorWidthsRejects(t *testing.T) {
	route := zigzagRoute(3)
	tests := []struct {
		name   string
		widths []float64
	}{
		{"too few widths", []float64{100, 100}},
		{"too many widths", []float64{100, 100, 100, 100}},
		{"width too narrow", []float64{100, 5, 100}},
		{"width not a number", []float64{100, math.NaN(), 100}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewCorridorWidths(route, 200, tc.widths); err == nil {
				t.Errorf("NewCorridorWidths accepted %v", tc.widths)
			}
		})
	}
}
