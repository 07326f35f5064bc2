package deviation

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// Process for different terminals, SetZones, SetTrip and MarshalState run
// at once; run with -race. Each terminal's episode count must still come
// out exactly as when run alone.
func TestConcurrentUse(t *testing.T) {
	e := New(DefaultConfig(), nil)
	zone := circleZone(t, "z1", "zone", ykLat+0.5, ykLon, 200, "")
	e.SetZones([]*geofence.Zone{zone})

	const terminals = 8
	var wg sync.WaitGroup
	results := make([][]model.Deviation, terminals)
	for i := range terminals {
		term := fmt.Sprintf("T%d", i)
		if _, err := e.SetTrip(term, straightTrip("trip-"+term, term, ykLat, ykLon, 10000, 200), t0); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = processAll(e, routeExcursion(term, 600))
		}()
	}

	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Add(1)
	go func() {
		defer side.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			e.SetZones([]*geofence.Zone{zone})
			for i := range terminals {
				term := fmt.Sprintf("T%d", i)
				// Same trip again: must keep any open episode.
				if _, err := e.SetTrip(term, straightTrip("trip-"+term, term, ykLat, ykLon, 10000, 200), t0); err != nil {
					t.Error(err)
					return
				}
				if _, err := e.MarshalState(term); err != nil {
					t.Error(err)
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(stop)
	side.Wait()

	for i, devs := range results {
		if len(devs) != 2 || devs[0].State != model.StateOpen || devs[1].State != model.StateClosed {
			t.Errorf("terminal T%d: got %+v, want one open and one close", i, devs)
		}
	}
}
