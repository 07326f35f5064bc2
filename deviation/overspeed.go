package deviation

import (
	"math"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// maxSpeedSampleGap is the longest time between two speed samples that an
// unconfirmed over-limit stretch survives. Across a longer gap nothing is
// known about the speed in between.
const maxSpeedSampleGap = time.Minute

// overspeedState is the overspeed rule's memory of one vehicle.
type overspeedState struct {
	// Stretch is the current over-limit stretch, confirmed (Episode set)
	// or not.
	Stretch    *speedStretch `json:"stretch,omitempty"`
	Episode    *episode      `json:"episode,omitempty"`
	LastSample time.Time     `json:"last_sample,omitzero"`
}

// speedStretch runs from the first sample over the limit until the speed
// has stayed below the end level for the end hold.
type speedStretch struct {
	Start    time.Time `json:"start"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	PeakKmh  float64   `json:"peak_kmh"`
	LimitKmh float64   `json:"limit_kmh"`
	ZoneID   string    `json:"zone_id,omitempty"`
	ZoneName string    `json:"zone_name,omitempty"`
	// RouteSegment is the 1-based route segment whose limit applies, 0
	// when the limit comes from a zone or the defaults.
	RouteSegment int `json:"route_segment,omitempty"`
	// BelowSince is the time of the first sample of the current run below
	// the end level; zero when the speed is not below it.
	BelowSince time.Time `json:"below_since,omitzero"`
}

// speedLimit is the limit that applies at a fix and the zone that sets
// it, if any.
type speedLimit struct {
	kmh          float64
	zoneID       string
	zoneName     string
	routeSegment int // 1-based; 0 when the limit is not a route segment's
}

// limitAt returns the speed limit at the fix: the lowest of the limits of
// the active zones containing it and of the trip's route segment it lies
// on, else the expressway default inside an
// expressway zone, else the default for dangerous goods on other roads.
func (env *evalEnv) limitAt() speedLimit {
	cfg := &env.engine.cfg
	best := speedLimit{kmh: math.Inf(1)}
	expressway := false
	for _, z := range env.inside {
		if z.SpeedLimitKmh > 0 && z.SpeedLimitKmh < best.kmh {
			best = speedLimit{kmh: z.SpeedLimitKmh, zoneID: z.ID, zoneName: z.Name}
		}
		expressway = expressway || z.Expressway
	}
	if env.segmentLimit.kmh > 0 && env.segmentLimit.kmh < best.kmh {
		best = env.segmentLimit
	}
	switch {
	case !math.IsInf(best.kmh, 1):
		return best
	case expressway:
		return speedLimit{kmh: cfg.ExpresswayLimitKmh}
	}
	return speedLimit{kmh: cfg.DefaultLimitKmh}
}

// overspeedRule raises one overspeed episode per speeding stretch. A
// stretch starts at the first sample over the limit and is confirmed once
// it has lasted OverspeedMinDuration while the speed stays at or above
// limit − OverspeedEndMarginKmh. It ends once the speed has stayed below
// that level for OverspeedEndHold; the episode's end is that moment.
// Samples without a trusted speed (a spike, no speed reported) are
// skipped; a stopped vehicle counts as 0 km/h.
type overspeedRule struct{}

var _ rule = overspeedRule{}

func (overspeedRule) kind() model.DeviationKind { return model.KindOverspeed }

func (overspeedRule) evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	if !env.motion.speedKnown {
		return out
	}
	cfg := &env.engine.cfg
	st := &v.rs.Overspeed
	speedKmh := env.motion.speedKmh
	if st.Episode == nil && st.Stretch != nil && f.Time.Sub(st.LastSample) > maxSpeedSampleGap {
		st.Stretch = nil
	}
	st.LastSample = f.Time

	limit := env.limitAt()
	if st.Stretch == nil {
		if speedKmh > limit.kmh {
			st.Stretch = &speedStretch{
				Start: f.Time, Lat: f.Lat, Lon: f.Lon, PeakKmh: speedKmh,
				LimitKmh: limit.kmh, ZoneID: limit.zoneID, ZoneName: limit.zoneName,
				RouteSegment: limit.routeSegment,
			}
		}
		return out
	}

	s := st.Stretch
	s.PeakKmh = math.Max(s.PeakKmh, speedKmh)
	key := trackerKey{Kind: model.KindOverspeed}
	// The end level follows the limit that applies now: a truck that
	// sped through a 30 km/h zone and drives on at a legal 50 km/h beyond
	// it has stopped speeding.
	endLevel := limit.kmh - cfg.OverspeedEndMarginKmh
	if speedKmh < endLevel {
		if st.Episode == nil {
			st.Stretch = nil
			return out
		}
		if s.BelowSince.IsZero() {
			s.BelowSince = f.Time
		}
		if f.Time.Sub(s.BelowSince) < cfg.OverspeedEndHold {
			return out
		}
		end := endPoint{at: f.Time, lat: f.Lat, lon: f.Lon, stamp: env.stamp}
		out = append(out, env.engine.closedDeviation(v, key, st.Episode, end))
		st.Stretch, st.Episode = nil, nil
		return out
	}

	s.BelowSince = time.Time{}
	if st.Episode != nil {
		st.Episode.Peak = s.PeakKmh
		return out
	}
	if f.Time.Sub(s.Start) < cfg.OverspeedMinDuration {
		return out
	}
	ep := newEpisode(v, key, s.Start, s.Lat, s.Lon, "medium")
	ep.Peak, ep.LimitKmh, ep.ZoneID, ep.Name = s.PeakKmh, s.LimitKmh, s.ZoneID, s.ZoneName
	ep.RouteSegment = s.RouteSegment
	if s.PeakKmh >= s.LimitKmh*1.2 {
		ep.Severity = "high"
	}
	st.Episode = ep
	return append(out, env.engine.openedDeviation(v, key, ep, env.stamp))
}
