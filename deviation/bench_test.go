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

// BenchmarkProcess measures one fix through both rules with 10,000 zones
// (circles of 30 m to 300 m over 30 km × 30 km around Yongkang, half of
// them restricted) and an active trip on a 2,000-vertex route. The
// vehicle drives along the route and swings 0 to 400 m off it.
func BenchmarkProcess(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	zones := make([]*geofence.Zone, 0, 10_000)
	for i := range 10_000 {
		lat, lon := offsetM(ykLat, ykLon, (rng.Float64()*2-1)*15000, (rng.Float64()*2-1)*15000)
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
