package deviation

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// BenchmarkProcess measures one fix through every rule with 1,000,
// 10,000 and 100,000 zones and an active trip on a 2,000-vertex route.
// The zones are circles of 30 m to 300 m, half of them restricted, at a
// constant density of 10,000 per 30 km × 30 km around Yongkang, so the
// area grows with the count. The vehicle drives along the route at
// 40 km/h and swings 0 to 400 m off it.
func BenchmarkProcess(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("zones=%d", n), func(b *testing.B) { benchmarkProcess(b, n) })
	}
}

func benchmarkProcess(b *testing.B, zoneCount int) {
	rng := rand.New(rand.NewPCG(1, 1))
	halfSideM := 15000 * math.Sqrt(float64(zoneCount)/10_000)
	zones := make([]*geofence.Zone, 0, zoneCount)
	for i := range zoneCount {
		lat, lon := offsetM(ykLat, ykLon, (rng.Float64()*2-1)*halfSideM, (rng.Float64()*2-1)*halfSideM)
		kind := "site"
		if i%2 == 0 {
			kind = "restricted"
		}
		raw := fmt.Sprintf(`{"type":"Feature","id":"z%d","properties":{"name":"zone %d","kind":%q,"radius_m":%.1f},"geometry":{"type":"Point","coordinates":[%.7f,%.7f]}}`,
			i, i, kind, 30+rng.Float64()*270, lon, lat)
		z, err := geofence.ParseFeature([]byte(raw))
		if err != nil {
			b.Fatal(err)
		}
		zones = append(zones, z)
	}

	// A 20 km route: west to east across the area with a 3 km swing.
	const vertices = 2000
	var coords []string
	route := make([][2]float64, vertices)
	for i := range vertices {
		east := -10000 + float64(i)*10
		north := 3000 * math.Sin(east/3000)
		lat, lon := offsetM(ykLat, ykLon, north, east)
		route[i] = [2]float64{lat, lon}
		coords = append(coords, fmt.Sprintf("[%.8f,%.8f]", lon, lat))
	}
	trip := &model.Trip{
		ID:           "trip-bench",
		Route:        []byte(`{"type":"LineString","coordinates":[` + strings.Join(coords, ",") + `]}`),
		CorridorM:    200,
		PlannedStart: t0.Add(-time.Hour),
		PlannedEnd:   t0.Add(24 * time.Hour),
		State:        model.TripDispatched,
	}

	e := New(DefaultConfig(), nil)
	e.SetZones(zones)
	if _, err := e.SetTrip("T1", trip, t0); err != nil {
		b.Fatal(err)
	}

	const points = 8192
	fixes := make([]model.Fix, points)
	for i := range points {
		v := route[i%vertices]
		off := 400 * math.Max(0, math.Sin(float64(i)/50))
		lat, lon := offsetM(v[0], v[1], off, 0)
		fixes[i] = *newFix("T1", time.Time{}, lat, lon, speed(40), accuracy(5))
	}

	deviations := 0
	start := t0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		f := &fixes[i%points]
		f.Time = start.Add(time.Duration(i) * 5 * time.Second)
		deviations += len(e.Process(f))
	}
	b.ReportMetric(float64(deviations)/float64(b.N), "deviations/op")
}
