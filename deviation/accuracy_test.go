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
