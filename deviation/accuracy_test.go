package deviation

import (
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// TestCoarseAccuracyKeepsAlarms drives straight through a restricted
// circle of 1 km, and along a trip for 13 minutes, with every fix
// reporting an accuracy of 2-3 km, as a phone on network location does.
// The accuracy counts only up to MaxAccuracyM, so the zone is still
// reported and the moving truck is not taken for a stopped one.
func TestCoarseAccuracyKeepsAlarms(t *testing.T) {
	t.Run("zone crossing", func(t *testing.T) {
		e := New(DefaultConfig(), nil)
		zLat, zLon := offsetM(ykLat, ykLon, 0, 1500)
		e.SetZones([]*geofence.Zone{kindZone(t, "water-1", "restricted", zLat, zLon, 1000, "")})
		speeds := make([]float64, 60)
		for i := range speeds {
			speeds[i] = 36
		}
		devs := ofKind(processAll(e, drive("T1", t0, 5*time.Second, ykLat, ykLon, speeds, accuracy(2000))), model.KindRestrictedZone)
		if len(devs) != 2 || devs[0].State != model.StateOpen || devs[1].State != model.StateClosed {
			t.Errorf("got %+v, want the crossing opened and closed", devs)
		}
	})
	t.Run("moving truck", func(t *testing.T) {
		e := stopEngine(t, t0)
		speeds := make([]float64, 156)
		for i := range speeds {
			speeds[i] = 14.4
		}
		if devs := ofKind(processAll(e, drive("T1", t0, 5*time.Second, ykLat, ykLon, speeds, accuracy(3000))), model.KindLongStop); len(devs) != 0 {
			t.Errorf("got %+v, want no stop for a truck driving at 14.4 km/h", devs)
		}
	})
}

// TestOverspeedEndsPastLowerLimit crosses a 30 km/h speed-limit circle at
// 50 km/h and drives on at 50 km/h where the limit is 60: the episode
// must close after the zone, not stay open at the zone's limit.
func TestOverspeedEndsPastLowerLimit(t *testing.T) {
	e := New(DefaultConfig(), nil)
	zLat, zLon := offsetM(ykLat, ykLon, 0, 1000)
	e.SetZones([]*geofence.Zone{kindZone(t, "school-1", "speed_limit", zLat, zLon, 500, `,"speed_limit_kmh":30`)})
	speeds := make([]float64, 200)
	for i := range speeds {
		speeds[i] = 50
	}
	fixes := drive("T1", t0, 5*time.Second, ykLat, ykLon, speeds)
	devs := ofKind(processAll(e, fixes), model.KindOverspeed)
	if len(devs) != 2 || devs[1].State != model.StateClosed {
		t.Fatalf("got %+v, want one episode opened and closed", devs)
	}
	// The zone's far edge is 1.5 km east, which the truck reaches 108 s
	// after the start at 50 km/h. The end then needs 10 s below the level.
	if end := devs[1].EndedAt.Sub(t0); end < 100*time.Second || end > 150*time.Second {
		t.Errorf("episode ended %v after the start, want soon after the zone's far edge at about 108 s", end)
	}
}

// TestGateOverridesPerKind gives restricted zones a persistence of 10 s
// while routes keep the shared 30 s: the same stay inside a restricted
// zone opens two fixes sooner.
func TestGateOverridesPerKind(t *testing.T) {
	dist := []float64{400, 150, 150, 150, 150, 150, 150, 150}
	opened := func(cfg Config) time.Time {
		e := New(cfg, nil)
		e.SetZones([]*geofence.Zone{circleZone(t, "z1", "zone", shLat, shLon, 200, "")})
		for _, d := range processAll(e, excursion("T1", dist)) {
			if d.Kind == model.KindRestrictedZone && d.State == model.StateOpen {
				return d.ReceivedAt
			}
		}
		t.Fatal("no restricted_zone opened")
		return time.Time{}
	}
	shared := opened(DefaultConfig())
	cfg := DefaultConfig()
	cfg.Restricted.Persistence = 10 * time.Second
	quick := opened(cfg)
	if got := shared.Sub(quick); got != 20*time.Second {
		t.Errorf("the override opened %v sooner, want 20s (shared %v, override %v)", got, shared, quick)
	}
	if g := cfg.gate(gateRoute); g.Persistence != 30*time.Second || g.MarginM != 20 || g.MinFixes != 2 {
		t.Errorf("route gate = %+v, want the shared values", g)
	}
}
