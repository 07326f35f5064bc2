package deviation

import (
	"errors"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// enterZone drives T1 into a restricted zone far enough to open an
// episode and returns the engine and the fixes.
func enterZone(t *testing.T) (*Engine, []*model.Fix) {
	t.Helper()
	e := New(DefaultConfig(), nil)
	e.SetZones([]*geofence.Zone{circleZone(t, "z1", "杨溪水库饮用水水源一级保护区", shLat, shLon, 200, "")})
	fixes := excursion("T1", []float64{400, 300, 190, 150, 100, 100, 100, 100})
	if devs := processAll(e, fixes); countState(devs, model.StateOpen) != 1 {
		t.Fatalf("setup: got %+v, want one opened episode", devs)
	}
	return e, fixes
}

func TestResetKeepsOnlyTheTrip(t *testing.T) {
	e, fixes := enterZone(t)
	trip := straightTrip("trip-1", "T1", shLat, shLon, 5000, 100)
	if _, err := e.SetTrip("T1", trip, t0); err != nil {
		t.Fatal(err)
	}

	e.Reset("T1")
	if got := e.LastFixTime("T1"); !got.IsZero() {
		t.Errorf("LastFixTime after Reset = %v, want zero", got)
	}
	image, err := e.MarshalState("T1")
	if err != nil {
		t.Fatal(err)
	}
	last, err := StateLastFix(image)
	if err != nil || !last.IsZero() {
		t.Errorf("StateLastFix of the reset state = %v, %v; want zero", last, err)
	}

	// The same fixes open the zone episode again: nothing was left of it.
	// (They also leave the trip's route, which runs east.)
	opened := 0
	for _, d := range processAll(e, fixes) {
		if d.Kind == model.KindRestrictedZone && d.State == model.StateOpen {
			opened++
		}
	}
	if opened != 1 {
		t.Errorf("after Reset the same fixes opened %d zone episodes, want 1", opened)
	}
	v := e.vehicle("T1", false)
	v.mu.Lock()
	keptTrip := v.trip != nil && v.trip.trip.ID == "trip-1"
	v.mu.Unlock()
	if !keptTrip {
		t.Error("Reset dropped the vehicle's trip")
	}
	e.Reset("never-seen") // must not create state
	if _, err := e.MarshalState("never-seen"); !errors.Is(err, ErrUnknownTerminal) {
		t.Errorf("MarshalState of a terminal only reset = %v, want ErrUnknownTerminal", err)
	}
}

func TestStateImageCarriesLastFix(t *testing.T) {
	e, fixes := enterZone(t)
	image, err := e.MarshalState("T1")
	if err != nil {
		t.Fatal(err)
	}
	last, err := StateLastFix(image)
	if err != nil {
		t.Fatal(err)
	}
	want := fixes[len(fixes)-1].Time
	if !last.Equal(want) || !e.LastFixTime("T1").Equal(want) {
		t.Errorf("StateLastFix = %v, LastFixTime = %v; want %v", last, e.LastFixTime("T1"), want)
	}
	if _, err := StateLastFix([]byte("{")); err == nil {
		t.Error("StateLastFix accepted a truncated image")
	}
}

func TestTickOwnedSkipsOtherVehicles(t *testing.T) {
	e := New(DefaultConfig(), nil)
	for _, terminal := range []string{"T1", "T2"} {
		trip := straightTrip("trip-"+terminal, terminal, shLat, shLon, 5000, 100)
		if _, err := e.SetTrip(terminal, trip, t0); err != nil {
			t.Fatal(err)
		}
		e.Process(newFix(terminal, t0, shLat, shLon))
	}
	now := t0.Add(time.Hour) // both silent far beyond the signal-loss threshold
	devs := e.TickOwned(now, func(terminal string) bool { return terminal == "T2" })
	if len(devs) == 0 {
		t.Fatal("TickOwned raised nothing for the silent vehicle it owns")
	}
	for _, d := range devs {
		if d.Terminal != "T2" {
			t.Errorf("TickOwned raised %s for %s, which it does not own", d.Kind, d.Terminal)
		}
	}
	if devs := e.TickOwned(now, nil); len(devs) == 0 || devs[0].Terminal != "T1" {
		t.Errorf("TickOwned with no filter = %+v, want T1's signal loss", devs)
	}
}
