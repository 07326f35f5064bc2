package deviation

import (
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

func TestB04ZoneCreatedAroundParkedTruck(t *testing.T) {
	// The truck is parked at C from 09:00. At 10:05 a zone of 300 m is
	// drawn around C; the next fix, at 12:05, has the same coordinates.
	at := func(h, m int) time.Time { return time.Date(2026, 12, 4, h, m, 0, 0, cst) }
	cases := []struct {
		name     string
		kind     string
		offsetM  float64 // of the truck from the zone's centre
		wantOpen bool
	}{
		{"restricted zone", "restricted", 0, true},
		{"site zone", "site", 0, false},
		{"restricted zone edge within the margin", "restricted", 290, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			truckLat, truckLon := offsetM(shLat, shLon, tc.offsetM, 0)
			processAll(e, parked("T1", at(9, 0), time.Minute, 6, truckLat, truckLon))

			opened := e.SetZonesAt([]*geofence.Zone{kindZone(t, "new", tc.kind, shLat, shLon, 300, "")}, at(10, 5))
			later := e.Process(newFix("T1", at(12, 5), truckLat, truckLon, speed(0)))
			later = append(later, e.Process(newFix("T1", at(12, 6), truckLat, truckLon, speed(0)))...)
			if len(later) != 0 {
				t.Errorf("fixes after the zone was created raised %+v, want nothing", later)
			}
			if !tc.wantOpen {
				if len(opened) != 0 {
					t.Errorf("SetZonesAt returned %+v, want nothing", opened)
				}
				return
			}
			if len(opened) != 1 || opened[0].State != model.StateOpen || opened[0].Kind != model.KindRestrictedZone {
				t.Fatalf("SetZonesAt returned %+v, want one restricted_zone opening", opened)
			}
			if !opened[0].StartedAt.Equal(at(10, 5)) {
				t.Errorf("StartedAt = %v, want 10:05", opened[0].StartedAt)
			}
			if opened[0].TextEN != "Inside restricted zone when it was created: new" {
				t.Errorf("TextEN = %q", opened[0].TextEN)
			}
		})
	}
}

func TestSetZonesAtKeepsExistingZones(t *testing.T) {
	// Re-setting a zone the truck already entered reports nothing new.
	e := New(DefaultConfig(), nil)
	zone := circleZone(t, "z1", "zone", shLat, shLon, 300, "")
	e.SetZones([]*geofence.Zone{zone})
	if opened := processAll(e, parked("T1", t0, 10*time.Second, 6, shLat, shLon, speed(10))); len(opened) != 1 {
		t.Fatalf("setup: got %+v, want one opening", opened)
	}
	if devs := e.SetZonesAt([]*geofence.Zone{zone}, t0.Add(time.Hour)); len(devs) != 0 {
		t.Errorf("SetZonesAt returned %+v, want nothing", devs)
	}
}
