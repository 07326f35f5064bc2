package api

import (
	"encoding/json"
	"fmt"

	"github.com/hwtrack/hwtrack/model"
)

// Bounds of the per-segment attributes of a trip's route.
const (
	// minSegmentLimitKmh and maxSegmentLimitKmh bound a segment's speed
	// limit. 120 km/h is the highest limit on Chinese expressways.
	minSegmentLimitKmh = 5
	maxSegmentLimitKmh = 120
	// maxSegmentTravelS bounds a segment's travel time bounds: one day.
	maxSegmentTravelS = 86400
)

// checkSegments records problems with the per-segment attributes of a
// trip. route is the route parseRoute accepted, or nil when it was
// invalid, in which case only the attribute ranges are checked.
func checkSegments(problems *model.ValidationError, segments []model.RouteSegment, route json.RawMessage) {
	if segments == nil {
		return
	}
	if route != nil {
		var line lineString
		if err := json.Unmarshal(route, &line); err == nil && len(segments) != len(line.Coordinates)-1 {
			problems.Add("segments", fmt.Sprintf("has %d entries but the route has %d segments; give one entry per segment or leave segments out", len(segments), len(line.Coordinates)-1))
		}
	}

	reported := 0
	add := func(field, reason string) {
		reported++
		if reported <= maxFieldProblems {
			problems.Add(field, reason)
		}
	}
	for i, seg := range segments {
		prefix := fmt.Sprintf("segments[%d].", i)
		if seg.WidthM != 0 && (seg.WidthM < minCorridorM || seg.WidthM > maxCorridorM) {
			add(prefix+"width_m", fmt.Sprintf("must be 0 (the trip's corridor_m) or a full corridor width from %d to %d metres", minCorridorM, maxCorridorM))
		}
		if seg.LimitKmh != 0 && (seg.LimitKmh < minSegmentLimitKmh || seg.LimitKmh > maxSegmentLimitKmh) {
			add(prefix+"limit_kmh", fmt.Sprintf("must be 0 (no segment limit) or from %d to %d km/h", minSegmentLimitKmh, maxSegmentLimitKmh))
		}
		if seg.MinTravelS < 0 || seg.MinTravelS > maxSegmentTravelS {
			add(prefix+"min_travel_s", fmt.Sprintf("must be from 0 (no minimum) to %d seconds", maxSegmentTravelS))
		}
		if seg.MaxTravelS < 0 || seg.MaxTravelS > maxSegmentTravelS {
			add(prefix+"max_travel_s", fmt.Sprintf("must be from 0 (no maximum) to %d seconds", maxSegmentTravelS))
		}
		if seg.MinTravelS > 0 && seg.MaxTravelS > 0 && seg.MinTravelS >= seg.MaxTravelS {
			add(prefix+"max_travel_s", "must be greater than min_travel_s")
		}
	}
	if reported > maxFieldProblems {
		problems.Add("segments", fmt.Sprintf("%d more segment attributes are invalid", reported-maxFieldProblems))
	}
}
