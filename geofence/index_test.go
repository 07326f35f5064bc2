package geofence

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

// cityZones returns n zones spread uniformly over a 30 km × 30 km square
// around Yongkang: half circles, half irregular polygons of 5 to 12
// corners, 30 m to 300 m in radius like enterprise sites and protection
// zones. Up to five of them are 6 km in radius and stand for a
// jurisdiction or catchment boundary.
func cityZones(tb testing.TB, n int, seed uint64) []*Zone {
	tb.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	const cLat, cLon, halfSpanM = 28.8908, 120.0425, 15000.0
	zones := make([]*Zone, 0, n)
	for i := range n {
		lat, lon := offsetM(cLat, cLon, (rng.Float64()*2-1)*halfSpanM, (rng.Float64()*2-1)*halfSpanM)
		sizeM := 30 + rng.Float64()*270
		if i%1000 == 999 && i < 5000 {
			sizeM = 6000
		}
		var raw string
		if i%2 == 0 {
			raw = fmt.Sprintf(`{"type":"Feature","id":"z%d","properties":{"name":"zone %d","kind":"restricted","radius_m":%.1f},"geometry":{"type":"Point","coordinates":[%.7f,%.7f]}}`,
				i, i, sizeM, lon, lat)
		} else {
			corners := 5 + rng.IntN(8)
			var b strings.Builder
			var first string
			for c := range corners {
				angle := 2 * math.Pi * float64(c) / float64(corners)
				r := sizeM * (0.6 + 0.4*rng.Float64())
				pLat, pLon := offsetM(lat, lon, r*math.Sin(angle), r*math.Cos(angle))
				pos := fmt.Sprintf("[%.7f,%.7f]", pLon, pLat)
				if c == 0 {
					first = pos
				}
				b.WriteString(pos + ",")
			}
			b.WriteString(first)
			raw = fmt.Sprintf(`{"type":"Feature","id":"z%d","properties":{"name":"zone %d","kind":"site"},"geometry":{"type":"Polygon","coordinates":[[%s]]}}`,
				i, i, b.String())
		}
		zones = append(zones, mustParse(tb, raw))
	}
	return zones
}

func queryIDs(ix *Index, lat, lon float64) []string {
	var ids []string
	ix.Query(lat, lon, func(z *Zone) { ids = append(ids, z.ID) })
	sort.Strings(ids)
	return ids
}

func bruteIDs(zones []*Zone, lat, lon float64) []string {
	var ids []string
	for _, z := range zones {
		if z.Contains(lat, lon) {
			ids = append(ids, z.ID)
		}
	}
	sort.Strings(ids)
	return ids
}

func TestIndexMatchesBruteForce(t *testing.T) {
	cases := []struct {
		name  string
		zones int
	}{
		{"single zone", 1},
		{"100 zones", 100},
		{"5000 zones", 5000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			zones := cityZones(t, tc.zones, 7)
			ix := NewIndex(zones)
			if ix.Len() != tc.zones {
				t.Fatalf("Len = %d, want %d", ix.Len(), tc.zones)
			}
			rng := rand.New(rand.NewPCG(11, 2))
			hits := 0
			for range 20000 {
				// Cover the area and a margin around it, where nothing matches.
				lat, lon := offsetM(28.8908, 120.0425, (rng.Float64()*2-1)*17000, (rng.Float64()*2-1)*17000)
				got, want := queryIDs(ix, lat, lon), bruteIDs(zones, lat, lon)
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Fatalf("Query(%.6f, %.6f) = %v, brute force = %v", lat, lon, got, want)
				}
				hits += len(got)
			}
			if tc.zones >= 100 && hits == 0 {
				t.Fatal("no query point hit any zone: the test does not exercise matches")
			}
		})
	}
}

func TestIndexEmptyAndNil(t *testing.T) {
	cases := []struct {
		name  string
		zones []*Zone
	}{
		{"nil slice", nil},
		{"only nil zones", []*Zone{nil, nil}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ix := NewIndex(tc.zones)
			if ix.Len() != 0 {
				t.Errorf("Len = %d, want 0", ix.Len())
			}
			ix.Query(28.89, 120.04, func(z *Zone) { t.Errorf("Query called fn with %q on an empty index", z.ID) })
		})
	}
}

func TestIndexLookup(t *testing.T) {
	zones := cityZones(t, 10, 3)
	ix := NewIndex(zones)
	z, ok := ix.Lookup("z4")
	if !ok || z != zones[4] {
		t.Errorf("Lookup(z4) = %v, %v; want zones[4], true", z, ok)
	}
	if _, ok := ix.Lookup("missing"); ok {
		t.Error("Lookup(missing) found a zone")
	}
}

func BenchmarkIndexQuery(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("zones=%d", n), func(b *testing.B) {
			ix := NewIndex(cityZones(b, n, 42))
			rng := rand.New(rand.NewPCG(5, 6))
			const points = 4096
			lats, lons := make([]float64, points), make([]float64, points)
			for i := range points {
				lats[i], lons[i] = offsetM(28.8908, 120.0425, (rng.Float64()*2-1)*15000, (rng.Float64()*2-1)*15000)
			}
			matches := 0
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				j := i % points
				ix.Query(lats[j], lons[j], func(*Zone) { matches++ })
			}
			b.ReportMetric(float64(matches)/float64(b.N), "matches/op")
		})
	}
}
