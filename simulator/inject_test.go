package simulator

import (
	"math"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// denseDistanceM measures the distance from p to route independently of
// DistanceToRouteM: it samples every segment every 5 m and takes the
// smallest haversine distance, so it overestimates by at most 2.5 m.
// Segments that cannot be nearer than the best so far are skipped.
func denseDistanceM(p orb.Point, route orb.LineString) float64 {
	best := math.Inf(1)
	for i := 0; i+1 < len(route); i++ {
		a, b := route[i], route[i+1]
		segM := geo.Distance(a, b)
		// By the triangle inequality every point of the segment is at
		// least this far from p, so a far segment cannot be the nearest.
		if lower := geo.Distance(p, a) - segM; lower > best {
			continue
		}
		n := int(segM/5) + 1
		for k := 0; k <= n; k++ {
			f := float64(k) / float64(n)
			q := orb.Point{a.Lon() + f*(b.Lon()-a.Lon()), a.Lat() + f*(b.Lat()-a.Lat())}
			best = min(best, geo.Distance(p, q))
		}
	}
	return best
}

// checkInjection checks the Injection contract on out against in.
func checkInjection(t *testing.T, in, out []model.Fix, inj Injection, route orb.LineString) {
	t.Helper()
	if len(out) != len(in) {
		t.Fatalf("output has %d fixes, input %d", len(out), len(in))
	}
	if inj.Kind != model.KindRouteDeviation {
		t.Errorf("kind = %s, want route_deviation", inj.Kind)
	}

	// Exactly one contiguous stretch moved, and it is First..Last.
	firstMoved, lastMoved, moved := -1, -1, 0
	for i := range in {
		if !in[i].Time.Equal(out[i].Time) {
			t.Fatalf("fix %d time changed", i)
		}
		if in[i].Lat != out[i].Lat || in[i].Lon != out[i].Lon {
			if firstMoved < 0 {
				firstMoved = i
			}
			lastMoved = i
			moved++
		}
	}
	if firstMoved != inj.First || lastMoved != inj.Last {
		t.Errorf("moved fixes %d..%d, injection says %d..%d", firstMoved, lastMoved, inj.First, inj.Last)
	}
	if moved != lastMoved-firstMoved+1 {
		t.Errorf("moved %d fixes in %d..%d: not one contiguous stretch", moved, firstMoved, lastMoved)
	}
	if !(inj.First < inj.CoreFirst && inj.CoreFirst < inj.CoreLast && inj.CoreLast < inj.Last) {
		t.Errorf("ranges out of order: %+v", inj)
	}

	core := inj.CoreLast - inj.CoreFirst + 1
	if core < injectMinFixes {
		t.Errorf("core has %d fixes, want at least %d", core, injectMinFixes)
	}
	if span := inj.End.Sub(inj.Start); span < 3*time.Minute || span > 5*time.Minute {
		t.Errorf("core spans %v, want 3 to 5 minutes", span)
	}
	for k := inj.CoreFirst; k <= inj.CoreLast; k++ {
		if d := denseDistanceM(fixPoint(out[k]), route); d < MinDeviationM {
			t.Errorf("core fix %d is %.0f m from the route, want at least %.0f m", k, d, MinDeviationM)
		}
	}
	if inj.MinRouteDistanceM < MinDeviationM || inj.MaxOffsetM < inj.MinRouteDistanceM-50 {
		t.Errorf("reported min distance %.0f m, max offset %.0f m", inj.MinRouteDistanceM, inj.MaxOffsetM)
	}

	// A moved fix with a speed reports at least the speed along the moved
	// path up to the ramps' sideways speed, and never more than that or
	// its recorded speed, so the detour neither looks parked nor speeds.
	rampKmh := injectSidewaysMs * 3.6
	for k := inj.First; k <= inj.Last; k++ {
		if out[k].Has&model.HasSpeed == 0 {
			continue
		}
		dt := out[k].Time.Sub(out[k-1].Time).Seconds()
		pathKmh := geo.Distance(fixPoint(out[k-1]), fixPoint(out[k])) / dt * 3.6
		if got, floor := out[k].SpeedKmh, min(pathKmh, rampKmh); got < floor-0.01 || got > max(in[k].SpeedKmh, rampKmh)+0.01 {
			t.Errorf("fix %d reports %.1f km/h; path %.1f km/h, recorded %.1f km/h", k, got, pathKmh, in[k].SpeedKmh)
		}
	}

	// The ramps move at most 60 km/h sideways, so the detour is drivable.
	for k := inj.First; k <= inj.Last+1; k++ {
		dt := out[k].Time.Sub(out[k-1].Time).Seconds()
		shiftBefore := geo.Distance(fixPoint(in[k-1]), fixPoint(out[k-1]))
		shiftAfter := geo.Distance(fixPoint(in[k]), fixPoint(out[k]))
		if sideways := math.Abs(shiftAfter-shiftBefore) / dt * 3.6; sideways > 60 && (k <= inj.CoreFirst || k > inj.CoreLast) {
			t.Errorf("fix %d moves sideways at %.0f km/h", k, sideways)
		}
	}
}

func TestInjectRouteDeviationRealTracks(t *testing.T) {
	files := []string{
		"trajectories/geolife/008/20081024132624.plt",
		"trajectories/geolife/001/20081026081229.plt",
		"trajectories/gpsbabel/sbn-v13.gpx",
		"trajectories/gpsbabel/dg100.gpx",
		"trajectories/gpsbabel/iblue747_csv.gpx",
		"nmea/gpsbabel/backfilldate.nmea",
	}
	for _, rel := range files {
		t.Run(rel, func(t *testing.T) {
			fixes, _, _, err := ReadTrack(sharedData(t, rel))
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			fixes = Retime(fixes, time.Now(), DefaultMaxGap)
			route := PlannedRoute(fixes)
			out, inj, err := InjectRouteDeviation(fixes, route)
			if err != nil {
				t.Fatalf("inject: %v", err)
			}
			checkInjection(t, fixes, out, inj, route)
		})
	}
}

func TestInjectRouteDeviationLoop(t *testing.T) {
	// An out-and-back track on two parallel streets 800 m apart: the
	// detour of the eastbound leg must not go north, where it would come
	// within 600 m of the westbound leg.
	north := 800 / metresPerDegreeLat
	route := orb.LineString{{120.00, 28.90}, {120.08, 28.90}, {120.08, 28.90 + north}, {120.00, 28.90 + north}}
	fixes := DriveAlong(route, time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC), 40, 2*time.Second)
	out, inj, err := InjectRouteDeviation(fixes, route)
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	checkInjection(t, fixes, out, inj, route)
}

func TestInjectRouteDeviationNoStretch(t *testing.T) {
	cases := []struct {
		name  string
		fixes []model.Fix
	}{
		{"empty", nil},
		// One fix every 2 minutes cannot give 8 fixes in 5 minutes.
		{"sparse", DriveAlong(yongkangRoute, time.Now(), 40, 2*time.Minute)},
		{"parked", func() []model.Fix {
			var out []model.Fix
			for i := range 600 {
				out = append(out, model.Fix{Time: time.Unix(int64(i), 0), Lat: 28.89, Lon: 120.04, Valid: true})
			}
			return out
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := InjectRouteDeviation(tc.fixes, yongkangRoute); err != ErrNoInjectionStretch {
				t.Errorf("error = %v, want ErrNoInjectionStretch", err)
			}
		})
	}
}

func TestDistanceToRouteM(t *testing.T) {
	cases := []struct {
		name string
		p    orb.Point
		want float64
	}{
		{"on the line", orb.Point{120.05, 28.8908}, 0},
		{"1 km south", orb.Point{120.05, 28.8908 - 1000/metresPerDegreeLat}, 1000},
		{"beyond the end", orb.Point{120.0630, 28.9008 + 500/metresPerDegreeLat}, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := DistanceToRouteM(tc.p, yongkangRoute)
			if math.Abs(got-tc.want) > 1 {
				t.Errorf("distance = %.2f m, want %.0f m", got, tc.want)
			}
			if dense := denseDistanceM(tc.p, yongkangRoute); math.Abs(got-dense) > 3 {
				t.Errorf("distance = %.2f m, dense sampling %.2f m", got, dense)
			}
		})
	}
}

func TestPlannedRoute(t *testing.T) {
	fixes, _, _, err := ReadTrack(sharedData(t, "trajectories/gpsbabel/dg100.gpx"))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	fixes = Retime(fixes, time.Now(), DefaultMaxGap)
	route := PlannedRoute(fixes)
	if len(route) < 2 || len(route) > routeMaxVertices {
		t.Fatalf("route has %d vertices, want 2..%d", len(route), routeMaxVertices)
	}
	worst := 0.0
	for i, f := range fixes {
		if i%10 == 0 && f.Valid {
			worst = max(worst, DistanceToRouteM(fixPoint(f), route))
		}
	}
	// The tolerance grows past 10 m only to meet the vertex limit; on a
	// 318 km highway track it stays well under 100 m.
	if worst > 100 {
		t.Errorf("a fix is %.0f m from the simplified route", worst)
	}
	t.Logf("route: %d vertices, worst sampled fix %.1f m off", len(route), worst)
}
