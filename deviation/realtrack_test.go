package deviation

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// geolifeDir holds real GPS tracks (GeoLife 1.3, Beijing) beside the
// checkout; tests only read them.
const geolifeDir = "../../shared/data/trajectories/geolife"

// readPLT reads a GeoLife .plt track: six header lines, then
// "lat,lon,0,altitude_ft,days,date,time" per fix, times in UTC.
func readPLT(t *testing.T, path string) []*model.Fix {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open track: %v", err)
	}
	defer f.Close()

	var fixes []*model.Fix
	scanner := bufio.NewScanner(f)
	for line := 1; scanner.Scan(); line++ {
		if line <= 6 {
			continue
		}
		fields := strings.Split(strings.TrimSpace(scanner.Text()), ",")
		if len(fields) != 7 {
			t.Fatalf("%s:%d: got %d fields, want 7", path, line, len(fields))
		}
		lat, errLat := strconv.ParseFloat(fields[0], 64)
		lon, errLon := strconv.ParseFloat(fields[1], 64)
		at, errTime := time.Parse("2006-01-02 15:04:05", fields[5]+" "+fields[6])
		if errLat != nil || errLon != nil || errTime != nil {
			t.Fatalf("%s:%d: invalid fix %q", path, line, scanner.Text())
		}
		fixes = append(fixes, &model.Fix{Terminal: "T1", Time: at, ReceivedAt: at.Add(time.Second), Lat: lat, Lon: lon, Valid: true})
	}
	if err := scanner.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return fixes
}

// The real-noise suite: each real track is replayed as its own planned
// route, so every route_deviation it raises is a false alarm caused by
// GNSS noise, jumps or the engine.
func TestRealTracksRaiseNoRouteDeviation(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(geolifeDir, "*", "*.plt"))
	if len(paths) == 0 {
		t.Skipf("no GeoLife tracks under %s; the shared test data is absent", geolifeDir)
	}
	for _, path := range paths {
		t.Run(filepath.Base(filepath.Dir(path))+"/"+filepath.Base(path), func(t *testing.T) {
			fixes := readPLT(t, path)
			coords := make([]string, len(fixes))
			for i, f := range fixes {
				coords[i] = fmt.Sprintf("[%.7f,%.7f]", f.Lon, f.Lat)
			}
			trip := &model.Trip{
				ID:           "real",
				Route:        []byte(`{"type":"LineString","coordinates":[` + strings.Join(coords, ",") + `]}`),
				CorridorM:    200,
				PlannedStart: fixes[0].Time,
				State:        model.TripDispatched,
			}
			e := New(DefaultConfig(), nil)
			if _, err := e.SetTrip("T1", trip, fixes[0].Time); err != nil {
				t.Fatal(err)
			}
			devs := processAll(e, fixes)
			if got := ofKind(devs, model.KindRouteDeviation); len(got) != 0 {
				t.Errorf("got %d route deviations on the track's own route: %+v", len(got), got)
			}
			if got := ofKind(devs, model.KindOverspeed); len(got) != 0 {
				t.Errorf("got overspeed %+v from fixes without speed", got)
			}
			// A vehicle frozen on a bad point would leave most fixes
			// unevaluated.
			st := e.Stats()
			if minFixes := uint64(len(fixes)) * 95 / 100; st.Processed < minFixes {
				t.Errorf("evaluated %d of %d fixes, want at least %d", st.Processed, len(fixes), minFixes)
			}
			t.Logf("%d fixes: %d jumps held, %d re-anchored, %d stops, %d signal losses",
				len(fixes), st.Jump, st.Reanchored, len(ofKind(devs, model.KindLongStop))/2, len(ofKind(devs, model.KindSignalLoss))/2)
		})
	}
}
