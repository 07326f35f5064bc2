package deviation

import (
	"fmt"
	"math"
	"strings"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// jurisdictionSubject ends the tracker subject of a trip's jurisdiction
// episode, "{trip ID}#jurisdiction". Trip IDs are MQTT topic levels on
// the regulator feed, where '#' is a wildcard the forwarder rejects, so the
// suffix does not collide with a forwardable trip's own route tracker.
const jurisdictionSubject = "#jurisdiction"

// routeSampleM is the spacing at which a trip's route is tested against
// the jurisdiction zones to decide whether the trip is local.
const routeSampleM = 50.0

// routeTripID returns the trip ID of a trip-scoped subject: the trip ID
// itself, or the trip ID followed by '#' and a qualifier such as
// jurisdictionSubject.
func routeTripID(subject string) string {
	id, _, _ := strings.Cut(subject, "#")
	return id
}

// jurisdictionCache is whether a trip's route stays inside the
// jurisdiction zones of one zone index. Zone sets are replaced as a whole,
// so a different index pointer means the answer must be computed again.
type jurisdictionCache struct {
	index *geofence.Index
	local bool
}

// local reports whether the trip's route stays inside the union of the
// jurisdiction zones of ix. The caller holds the live vehicle's mu.
func (c *compiledTrip) local(ix *geofence.Index) bool {
	if c.jurisdiction.index != ix {
		zones := ix.Jurisdictions()
		c.jurisdiction = jurisdictionCache{index: ix, local: len(zones) > 0 && geofence.RouteWithin(c.route, zones, routeSampleM)}
	}
	return c.jurisdiction.local
}

// jurisdictionRule raises a route_deviation episode when a vehicle on a
// local trip leaves every jurisdiction zone. A trip is local when its
// planned route stays inside the jurisdiction zones, sampled every
// routeSampleM. A trip planned to leave, and every trip while no
// jurisdiction zone exists, is exempt. The episode's zone is the nearest
// jurisdiction zone and its peak how far outside it the vehicle went. A
// jurisdiction zone outside its daily window counts as absent at that
// fix.
type jurisdictionRule struct{}

var _ rule = jurisdictionRule{}

func (jurisdictionRule) kind() model.DeviationKind { return model.KindRouteDeviation }

func (jurisdictionRule) evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	if v.trip == nil || !v.trip.trip.ActiveAt(f.Time) {
		// routeRule closes the trackers of a trip the vehicle left.
		return out
	}
	key := v.trip.jurisdictionKey
	t, tracked := v.trackers[key]
	if !v.trip.local(env.zones) {
		if !tracked {
			return out
		}
		// The zones changed under an open episode: it ends through the
		// usual hysteresis, as if the vehicle were back inside.
		return env.apply(v, key, t, f, observation{edgeM: math.Inf(1), gate: gateJurisdiction}, subjectInfo{}, out)
	}
	obs := observation{alarmSide: !env.insideKind(geofence.KindJurisdiction), gate: gateJurisdiction}
	if !tracked && !obs.alarmSide {
		return out
	}
	if t == nil {
		t = v.tracker(key)
	}
	var subject subjectInfo
	switch {
	case obs.alarmSide:
		nearest, distM := nearestJurisdiction(env.zones.Jurisdictions(), f)
		obs.edgeM, obs.offM = distM, distM
		subject = subjectInfo{name: nearest.Name, severity: "medium", zoneID: nearest.ID}
	case t.Alarm:
		// Back inside: the hysteresis needs the depth below the edge.
		for _, z := range env.inside {
			if z.Kind == geofence.KindJurisdiction {
				obs.edgeM = math.Max(obs.edgeM, z.DistanceToEdgeM(f.Lat, f.Lon))
			}
		}
	}
	return env.apply(v, key, t, f, obs, subject, out)
}

// nearestJurisdiction returns the zone among zones whose edge is nearest
// to f, and that distance in metres. zones must not be empty.
func nearestJurisdiction(zones []*geofence.Zone, f *model.Fix) (*geofence.Zone, float64) {
	best, bestM := zones[0], math.Inf(1)
	for _, z := range zones {
		if d := z.DistanceToEdgeM(f.Lat, f.Lon); d < bestM {
			best, bestM = z, d
		}
	}
	return best, bestM
}

// jurisdictionTexts returns the Chinese and English texts of a
// jurisdiction episode.
func jurisdictionTexts(ep *episode, open bool) (zh, en string) {
	if open {
		return "驶出管辖区域：" + ep.Name, "Left the jurisdiction: " + ep.Name
	}
	return fmt.Sprintf("回到管辖区域：%s，期间最远驶出 %.0f 米", ep.Name, ep.PeakM),
		fmt.Sprintf("Back in the jurisdiction: %s, after being up to %.0f m outside", ep.Name, ep.PeakM)
}
