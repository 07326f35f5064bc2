package deviation

import (
	"slices"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// SetZonesAt replaces the zone set like SetZones, at time at, and returns
// the episodes of vehicles that a new restricted zone was drawn around.
// Such a vehicle did not enter the zone, so no entry should be reported
// later. Its episode opens at at instead, at its last position, with a
// text saying the vehicle was inside when the zone was created. A vehicle
// within the hysteresis margin of the new zone's edge is left to the
// usual hysteresis. New zones of other kinds raise nothing.
func (e *Engine) SetZonesAt(zones []*geofence.Zone, at time.Time) []model.Deviation {
	old := e.zones.Load()
	e.SetZones(zones)
	current := e.zones.Load()

	var out []model.Deviation
	for _, terminal := range e.Terminals() {
		v := e.vehicle(terminal, false)
		if v == nil {
			continue
		}
		v.mu.Lock()
		out = e.markInsideNewZones(v, old, current, at, out)
		v.mu.Unlock()
	}
	return out
}

// markInsideNewZones opens an episode for each restricted zone in current,
// but not in old, that contains v's last position. v.mu must be held.
func (e *Engine) markInsideNewZones(v *vehicle, old, current *geofence.Index, at time.Time, out []model.Deviation) []model.Deviation {
	if v.lastFix.IsZero() {
		return out
	}
	var created []*geofence.Zone
	current.Query(v.lastLat, v.lastLon, func(z *geofence.Zone) {
		if _, existed := old.Lookup(z.ID); existed || z.Kind != geofence.KindRestricted || !z.ActiveAt(at) {
			return
		}
		if z.DistanceToEdgeM(v.lastLat, v.lastLon) < e.cfg.gate(gateRestricted).MarginM {
			return
		}
		created = append(created, z)
	})
	slices.SortFunc(created, func(a, b *geofence.Zone) int { return strings.Compare(a.ID, b.ID) })

	for _, z := range created {
		key := trackerKey{Kind: model.KindRestrictedZone, Subject: z.ID}
		if _, tracked := v.trackers[key]; tracked {
			continue
		}
		subject := zoneSubject(z)
		ep := &episode{
			ID:        deviationID(v.terminal, key, at),
			StartedAt: at,
			Lat:       v.lastLat,
			Lon:       v.lastLon,
			Name:      subject.name,
			Severity:  subject.severity,
			Level:     subject.level,
			Initial:   true,
		}
		v.trackers[key] = &tracker{Alarm: true, Episode: ep}
		out = append(out, e.openedDeviation(v, key, ep, stamp{receivedAt: at}))
	}
	return out
}
