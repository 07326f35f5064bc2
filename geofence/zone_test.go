package geofence

import (
	"math"
	"testing"
)

func TestCircleContains(t *testing.T) {
	const cLat, cLon = 31.2304, 121.4737
	z := mustParse(t, `{"type":"Feature","properties":{"name":"c","kind":"restricted","radius_m":500},"geometry":{"type":"Point","coordinates":[121.4737,31.2304]}}`)
	cases := []struct {
		name          string
		north, east   float64
		want          bool
		wantEdgeDistM float64
	}{
		{"centre", 0, 0, true, 500},
		{"400 m north", 400, 0, true, 100},
		{"400 m east", 0, 400, true, 100},
		{"400 m south-west", -283, -283, true, 100},
		{"600 m north", 600, 0, false, 100},
		{"600 m west", 0, -600, false, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lat, lon := offsetM(cLat, cLon, tc.north, tc.east)
			if got := z.Contains(lat, lon); got != tc.want {
				t.Errorf("Contains = %v, want %v", got, tc.want)
			}
			if d := z.DistanceToEdgeM(lat, lon); math.Abs(d-tc.wantEdgeDistM) > 1 {
				t.Errorf("DistanceToEdgeM = %.2f m, want %.0f ± 1 m", d, tc.wantEdgeDistM)
			}
		})
	}
}

func TestPolygonDistanceToEdge(t *testing.T) {
	z := mustParse(t, squareWithHole)
	// The outer square spans 120.04-120.05 E and 28.88-28.89 N; the hole
	// 120.044-120.046 E and 28.884-28.886 N.
	cases := []struct {
		name     string
		lat, lon float64
		wantM    float64
	}{
		{"100 m inside the south edge", 28.88 + 100/metresPerDegLat, 120.042, 100},
		{"100 m outside the north edge", 28.89 + 100/metresPerDegLat, 120.045, 100},
		{"in the hole next to its edge", 28.885, 120.0455, 0.0005 * metresPerDegLat * math.Cos(28.885*degToRad)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if d := z.DistanceToEdgeM(tc.lat, tc.lon); math.Abs(d-tc.wantM) > 0.01*tc.wantM+0.5 {
				t.Errorf("DistanceToEdgeM = %.2f m, want %.2f m", d, tc.wantM)
			}
		})
	}
}

func TestZoneActiveAtWindow(t *testing.T) {
	z := mustParse(t, squareWithHole)
	if !z.Window.IsSet() {
		t.Fatal("window not set")
	}
}
