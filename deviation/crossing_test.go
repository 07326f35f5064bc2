package deviation

import (
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// crossingFixes returns fixes interval apart along a line due east at
// speedKmh, starting startM metres west of (shLat, shLon) and offset
// northM metres north of it.
func crossingFixes(startM, northM, speedKmh float64, interval time.Duration, n int) []*model.Fix {
	fixes := make([]*model.Fix, n)
	for i := range n {
		eastM := -startM + speedKmh/3.6*interval.Seconds()*float64(i)
		lat, lon := offsetM(shLat, shLon, northM, eastM)
		fixes[i] = newFix("T1", t0.Add(time.Duration(i)*interval), lat, lon, speed(speedKmh))
	}
	return fixes
}

// TestCrossingInferred covers restricted-zone crossings the persistence
// alone would miss: fixes too sparse to land inside, and a drive through
// shorter than the persistence. A line that only grazes the edge, and
// stray fixes that come back to where the vehicle was, stay silent.
func TestCrossingInferred(t *testing.T) {
	cases := []struct {
		name      string
		fixes     []*model.Fix
		want      bool
		from, to  time.Duration // expected start and end after t0, when want
		tolerance time.Duration
	}{
		{"sparse fixes straddle the zone", crossingFixes(1200, 0, 24, 120*time.Second, 4), true, 135 * time.Second, 225 * time.Second, 5 * time.Second},
		{"one fix inside between sparse ones", crossingFixes(1000, 0, 18, 120*time.Second, 4), true, 240 * time.Second, 360 * time.Second, 5 * time.Second},
		{"drive through in 28 s", crossingFixes(600, 0, 72, 5*time.Second, 20), true, 15 * time.Second, 45 * time.Second, 5 * time.Second},
		{"line grazes the edge", crossingFixes(1200, 290, 24, 120*time.Second, 4), false, 0, 0, 0},
		{"drive past 10 m inside the edge", crossingFixes(600, 290, 72, 5*time.Second, 20), false, 0, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(DefaultConfig(), nil)
			e.SetZones([]*geofence.Zone{circleZone(t, "z1", "饮用水水源保护区", shLat, shLon, 300, "")})
			devs := ofKind(processAll(e, tc.fixes), model.KindRestrictedZone)
			if !tc.want {
				if len(devs) != 0 {
					t.Errorf("got %+v, want nothing", devs)
				}
				return
			}
			if len(devs) != 2 || devs[0].State != model.StateOpen || devs[1].State != model.StateClosed || devs[0].ID != devs[1].ID {
				t.Fatalf("got %+v, want one episode opened and closed", devs)
			}
			closed := devs[1]
			if d := closed.StartedAt.Sub(t0) - tc.from; d < -tc.tolerance || d > tc.tolerance {
				t.Errorf("started %v after t0, want about %v", closed.StartedAt.Sub(t0), tc.from)
			}
			if d := closed.EndedAt.Sub(t0) - tc.to; d < -tc.tolerance || d > tc.tolerance {
				t.Errorf("ended %v after t0, want about %v", closed.EndedAt.Sub(t0), tc.to)
			}
			if closed.ZoneID != "z1" || closed.TextZH == "" {
				t.Errorf("episode lacks its zone or text: %+v", closed)
			}
		})
	}
}
