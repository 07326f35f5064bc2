package deviation

import (
	"fmt"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// segmentTravelState is the segment travel time rule's memory of one
// vehicle.
type segmentTravelState struct {
	// TripID is the trip the state belongs to, "" when no trip with
	// travel time bounds is active.
	TripID string `json:"trip_id,omitempty"`
	// Segment is the 0-based route segment the vehicle is on, -1 before
	// the first fix inside the corridor. EnteredAt is the first fix on it.
	Segment    int       `json:"segment"`
	EnteredAt  time.Time `json:"entered_at,omitzero"`
	EnteredLat float64   `json:"entered_lat,omitempty"`
	EnteredLon float64   `json:"entered_lon,omitempty"`
	// Whole reports that the vehicle entered Segment from the segment
	// before it, so its travel time covers the whole segment.
	Whole bool `json:"whole,omitempty"`
	// Slow is the open trip_overtime episode of a segment driven too
	// slowly.
	Slow *episode `json:"slow,omitempty"`
}

// segmentTravelRule checks each route segment's travel time bounds. A
// segment left sooner than its minimum raises an overspeed episode that
// opens and closes at once, and staying on a segment past its maximum
// opens a trip_overtime episode that closes when the vehicle moves on.
// The stable kinds have none for segment times, so the texts name the
// segment. The vehicle's segment is the nearest one while it is inside
// the corridor and only moves forward, so GNSS noise near a vertex
// does not count as leaving a segment. Leaving is seen at the first fix on
// the next segment, so a travel time is long by up to one report
// interval: too-fast errs towards silence, too-slow towards raising. It
// runs on the live lane only.
//
// NOTE: an open too-slow episode closes at the next fix after its trip
// is replaced or completed, not when SetTrip is called.
type segmentTravelRule struct{}

var _ rule = segmentTravelRule{}

func (segmentTravelRule) kind() model.DeviationKind { return model.KindTripOvertime }

func (segmentTravelRule) evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	e := env.engine
	st := &v.rs.Travel
	tripID := ""
	if v.trip != nil && v.trip.trip.ActiveAt(f.Time) && hasTravelBounds(v.trip.trip.Segments) {
		tripID = v.trip.trip.ID
	}
	if st.TripID != tripID {
		out = closeSlowSegment(e, v, st, endPoint{at: f.Time, lat: f.Lat, lon: f.Lon, stamp: env.stamp}, out)
		*st = segmentTravelState{TripID: tripID, Segment: -1}
	}
	if tripID == "" {
		return out
	}
	corridor := v.trip.corridor
	if offsetM, _, _ := corridor.Offset(f.Lat, f.Lon); offsetM > 0 {
		return out
	}
	_, seg := corridor.Distance(f.Lat, f.Lon)
	segments := v.trip.trip.Segments

	switch {
	case st.Segment < 0:
		st.enter(f, seg, seg == 0)
	case seg < st.Segment:
		// Backwards: noise near a vertex, or a U-turn, which the route
		// rule judges.
	case seg == st.Segment:
		bound := segments[seg].MaxTravelS
		if bound > 0 && st.Slow == nil && f.Time.Sub(st.EnteredAt) > time.Duration(bound)*time.Second {
			key := trackerKey{Kind: model.KindTripOvertime, Subject: fmt.Sprintf("%s#segment%d", tripID, seg)}
			ep := newEpisode(v, key, st.EnteredAt, st.EnteredLat, st.EnteredLon, "medium")
			ep.RouteSegment, ep.BoundS = seg+1, bound
			st.Slow = ep
			out = append(out, e.openedDeviation(v, key, ep, env.stamp))
		}
	default:
		prev := st.Segment
		end := endPoint{at: f.Time, lat: f.Lat, lon: f.Lon, stamp: env.stamp}
		out = closeSlowSegment(e, v, st, end, out)
		travel := f.Time.Sub(st.EnteredAt)
		if bound := segments[prev].MinTravelS; st.Whole && seg == prev+1 && bound > 0 && travel < time.Duration(bound)*time.Second {
			key := trackerKey{Kind: model.KindOverspeed, Subject: fmt.Sprintf("%s#segment%d", tripID, prev)}
			ep := newEpisode(v, key, st.EnteredAt, st.EnteredLat, st.EnteredLon, "medium")
			lengthM := corridor.SegmentLengthM(prev)
			ep.RouteSegment, ep.BoundS, ep.TravelS = prev+1, bound, travel.Seconds()
			ep.Peak = lengthM / travel.Seconds() * 3.6
			ep.LimitKmh = lengthM / float64(bound) * 3.6
			out = append(out, e.openedDeviation(v, key, ep, env.stamp), e.closedDeviation(v, key, ep, end))
		}
		st.enter(f, seg, seg == prev+1)
	}
	return out
}

func (st *segmentTravelState) enter(f *model.Fix, seg int, whole bool) {
	st.Segment, st.Whole = seg, whole
	st.EnteredAt, st.EnteredLat, st.EnteredLon = f.Time, f.Lat, f.Lon
}

// closeSlowSegment closes st's open too-slow episode at end.
func closeSlowSegment(e *Engine, v *vehicle, st *segmentTravelState, end endPoint, out []model.Deviation) []model.Deviation {
	if st.Slow == nil {
		return out
	}
	ep := st.Slow
	st.Slow = nil
	ep.Peak = end.at.Sub(ep.StartedAt).Seconds()
	key := trackerKey{Kind: model.KindTripOvertime, Subject: fmt.Sprintf("%s#segment%d", st.TripID, ep.RouteSegment-1)}
	return append(out, e.closedDeviation(v, key, ep, end))
}

func hasTravelBounds(segments []model.RouteSegment) bool {
	for _, s := range segments {
		if s.MinTravelS > 0 || s.MaxTravelS > 0 {
			return true
		}
	}
	return false
}

// segmentFastTexts returns the texts of a route segment driven faster than
// its minimum travel time.
func segmentFastTexts(ep *episode, open bool) (zh, en string) {
	travel := time.Duration(ep.TravelS * float64(time.Second))
	bound := time.Duration(ep.BoundS) * time.Second
	if open {
		return fmt.Sprintf("路线第 %d 段行驶过快：用时 %s，最短 %s", ep.RouteSegment, durationZH(travel), durationZH(bound)),
			fmt.Sprintf("Route segment %d driven too fast: %s, minimum %s", ep.RouteSegment, durationEN(travel), durationEN(bound))
	}
	return fmt.Sprintf("路线第 %d 段行驶过快：已驶离该段", ep.RouteSegment),
		fmt.Sprintf("Route segment %d driven too fast: segment left", ep.RouteSegment)
}

// segmentSlowTexts returns the texts of a route segment driven slower than
// its maximum travel time; duration is the travel time when it closes.
func segmentSlowTexts(ep *episode, open bool, duration time.Duration) (zh, en string) {
	bound := time.Duration(ep.BoundS) * time.Second
	if open {
		return fmt.Sprintf("路线第 %d 段行驶超时：超过最长用时 %s", ep.RouteSegment, durationZH(bound)),
			fmt.Sprintf("Route segment %d overdue: past its maximum of %s", ep.RouteSegment, durationEN(bound))
	}
	return fmt.Sprintf("路线第 %d 段行驶超时结束：用时 %s，最长 %s", ep.RouteSegment, durationZH(duration), durationZH(bound)),
		fmt.Sprintf("Route segment %d left after %s, maximum %s", ep.RouteSegment, durationEN(duration), durationEN(bound))
}
