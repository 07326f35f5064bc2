package geofence

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/paulmach/orb"

	"github.com/hwtrack/hwtrack/model"
)

// winding returns a route of n points starting at Yongkang centre that
// heads east in steps of about stepM metres with a slow north-south swing.
func winding(n int, stepM float64) orb.LineString {
	route := make(orb.LineString, n)
	for i := range n {
		east := float64(i) * stepM
		north := 3000 * math.Sin(float64(i)/300)
		lat, lon := offsetM(28.8908, 120.0425, north, east)
		route[i] = orb.Point{lon, lat}
	}
	return route
}

func bruteDistance(c *Corridor, lat, lon float64) (float64, int) {
	px, py := c.plane.project(lat, lon)
	best, seg := math.Inf(1), -1
	for s := 0; s+1 < len(c.xs); s++ {
		if d := segmentDistance(px, py, c.xs[s], c.ys[s], c.xs[s+1], c.ys[s+1]); d < best {
			best, seg = d, s
		}
	}
	return best, seg
}

func TestCorridorDistanceMatchesBruteForce(t *testing.T) {
	cases := []struct {
		name   string
		route  orb.LineString
		radius float64 // metres around the route start where points are drawn
	}{
		{"two points", orb.LineString{{120.04, 28.89}, {120.06, 28.89}}, 5000},
		{"winding 2000 points", winding(2000, 25), 60000},
		{"far points", winding(500, 25), 400000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCorridor(tc.route, 200)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for range 3000 {
				lat, lon := offsetM(28.8908, 120.0425, (rng.Float64()*2-1)*tc.radius, (rng.Float64()*2-1)*tc.radius)
				got, gotSeg := c.Distance(lat, lon)
				want, _ := bruteDistance(c, lat, lon)
				if math.Abs(got-want) > 1e-6 {
					t.Fatalf("Distance(%.6f, %.6f) = %.3f m (segment %d), brute force %.3f m", lat, lon, got, gotSeg, want)
				}
			}
		})
	}
}

func TestCorridorStraightRoute(t *testing.T) {
	// A 5 km route due east from Yongkang centre, 200 m corridor.
	startLat, startLon := 28.8908, 120.0425
	endLat, endLon := offsetM(startLat, startLon, 0, 5000)
	c, err := NewCorridor(orb.LineString{{startLon, startLat}, {endLon, endLat}}, 200)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name        string
		north, east float64
		wantM       float64
		inside      bool
	}{
		{"on the line", 0, 2500, 0, true},
		{"99 m north", 99, 2500, 99, true},
		{"101 m south", -101, 2500, 101, false},
		{"600 m north", 600, 1000, 600, false},
		{"300 m before the start", 0, -300, 300, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lat, lon := offsetM(startLat, startLon, tc.north, tc.east)
			d, seg := c.Distance(lat, lon)
			if math.Abs(d-tc.wantM) > 0.5 {
				t.Errorf("Distance = %.2f m, want %.0f m", d, tc.wantM)
			}
			if seg != 0 {
				t.Errorf("segment = %d, want 0", seg)
			}
			if got := c.Contains(lat, lon); got != tc.inside {
				t.Errorf("Contains = %v, want %v", got, tc.inside)
			}
		})
	}
}

func TestNewCorridorErrors(t *testing.T) {
	cases := []struct {
		name   string
		route  orb.LineString
		widthM float64
		want   string
	}{
		{"one point", orb.LineString{{120, 28}}, 200, "needs at least 2"},
		{"zero width", orb.LineString{{120, 28}, {120.1, 28}}, 0, "out of range"},
		{"swapped point", orb.LineString{{28, 120}, {28.1, 120}}, 200, "not a valid [lon, lat]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewCorridor(tc.route, tc.widthM)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewCorridor error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestParseRoute(t *testing.T) {
	cases := []struct {
		name      string
		raw       string
		wantLen   int
		wantField string
	}{
		{"line string", `{"type":"LineString","coordinates":[[120.04,28.89],[120.05,28.89],[120.06,28.90]]}`, 3, ""},
		{"feature", `{"type":"Feature","properties":{},"geometry":{"type":"LineString","coordinates":[[120.04,28.89],[120.05,28.89]]}}`, 2, ""},
		{"swapped", `{"type":"LineString","coordinates":[[28.89,120.04],[28.89,120.05]]}`, 0, "route.coordinates[0]"},
		{"one point", `{"type":"LineString","coordinates":[[120.04,28.89]]}`, 0, "route.coordinates"},
		{"polygon", `{"type":"Polygon","coordinates":[]}`, 0, "route.type"},
		{"antimeridian segment", `{"type":"LineString","coordinates":[[179.99,0.5],[-179.99,0.5]]}`, 0, "route.coordinates[1]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line, err := ParseRoute([]byte(tc.raw))
			if tc.wantField == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(line) != tc.wantLen {
					t.Errorf("len = %d, want %d", len(line), tc.wantLen)
				}
				return
			}
			var verr *model.ValidationError
			if !errors.As(err, &verr) || verr.Fields[0].Field != tc.wantField {
				t.Errorf("error = %v, want a validation error on %s", err, tc.wantField)
			}
		})
	}
}

// Shanghai bus line 71 (about 600 vertices) as a real route shape: points
// on its own vertices are on the route, and the grid search agrees with a
// full scan everywhere around it.
func TestCorridorBusLine(t *testing.T) {
	path := filepath.Join("..", "..", "shared", "data", "boundaries", "transbigdata_shanghai_bus71_line.geojson")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("sample route not available (%v); it lives in ../shared/data beside the checkout", err)
	}
	var fc struct {
		Features []struct {
			Geometry json.RawMessage `json:"geometry"`
		} `json:"features"`
	}
	if err := json.Unmarshal(raw, &fc); err != nil || len(fc.Features) == 0 {
		t.Fatalf("decode %s: %v", path, err)
	}
	route, err := ParseRoute(fc.Features[0].Geometry)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCorridor(route, 100)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("vertices on route", func(t *testing.T) {
		for i, p := range route {
			if d, _ := c.Distance(p[1], p[0]); d > 1e-6 {
				t.Fatalf("vertex %d is %.6f m off its own route", i, d)
			}
		}
	})
	t.Run("matches brute force", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		b := route.Bound()
		for range 2000 {
			lat := b.Min[1] - 0.01 + rng.Float64()*(b.Max[1]-b.Min[1]+0.02)
			lon := b.Min[0] - 0.01 + rng.Float64()*(b.Max[0]-b.Min[0]+0.02)
			got, _ := c.Distance(lat, lon)
			want, _ := bruteDistance(c, lat, lon)
			if math.Abs(got-want) > 1e-6 {
				t.Fatalf("Distance(%.6f, %.6f) = %.3f, brute force %.3f", lat, lon, got, want)
			}
		}
	})
}

func BenchmarkCorridorDistance(b *testing.B) {
	route := winding(10_000, 20)
	c, err := NewCorridor(route, 200)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name   string
		offset float64 // metres north of a route vertex
	}{
		{"on_route", 30},
		{"600m_off", 600},
		{"5km_off", 5000},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(9, 9))
			const points = 4096
			lats, lons := make([]float64, points), make([]float64, points)
			for i := range points {
				v := route[rng.IntN(len(route))]
				lats[i], lons[i] = offsetM(v[1], v[0], tc.offset, 0)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				c.Distance(lats[i%points], lons[i%points])
			}
		})
	}
}
