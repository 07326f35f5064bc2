package deviation

import (
	"math"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// stopOdometerKm is the odometer advance, between two fixes at the same
// place, that shows the truck drove away and came back in between.
const stopOdometerKm = 0.5

// stopCentroidFixes caps the weight of the fixes already in the anchor's
// mean position: with it the mean follows a parked truck's slow GNSS drift
// while a truck creeping along at walking pace still leaves the radius.
const stopCentroidFixes = 30

// place is a fix's position and time, with its odometer when reported.
type place struct {
	Time        time.Time `json:"time"`
	Lat         float64   `json:"lat"`
	Lon         float64   `json:"lon"`
	OdometerKm  float64   `json:"odometer_km,omitempty"`
	HasOdometer bool      `json:"has_odometer,omitempty"`
}

func placeOf(f *model.Fix) *place {
	return &place{Time: f.Time, Lat: f.Lat, Lon: f.Lon, OdometerKm: f.OdometerKm, HasOdometer: f.Has&model.HasOdometer != 0}
}

// stopState is the long-stop rule's memory of one vehicle.
type stopState struct {
	// Anchor is the time since which the vehicle has stayed within the
	// stop radius, and the mean position of the AnchorFixes fixes since
	// then, the last stopCentroidFixes weighing most. The anchor thus
	// settles on where the truck parked, not on its creep into place.
	Anchor      *place `json:"anchor,omitempty"`
	AnchorFixes int    `json:"anchor_fixes,omitempty"`
	// Out is the first fix of the current run outside the anchor's radius;
	// OutFixes counts the run and OutClustered reports whether all of its
	// fixes lie within the radius of Out.
	Out          *place   `json:"out,omitempty"`
	OutFixes     int      `json:"out_fixes,omitempty"`
	OutClustered bool     `json:"out_clustered,omitempty"`
	Episode      *episode `json:"episode,omitempty"`
}

// longStopRule raises long_stop episodes: a vehicle on an active trip that
// stays within StopRadiusM of one place, outside every site zone, for
// LongStop of fix time. It measures displacement rather than speed, so
// speed noise on a parked truck does not hide a stop. Two fixes minutes
// apart at the same place are one stop across the gap, unless the
// odometer advanced in between. Leaving needs MinFixes fixes in a row
// outside the radius, so one stray fix neither ends nor restarts a stop.
type longStopRule struct{}

var _ rule = longStopRule{}

func (longStopRule) kind() model.DeviationKind { return model.KindLongStop }

func (longStopRule) evaluate(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	e := env.engine
	st := &v.rs.Stop
	key := trackerKey{Kind: model.KindLongStop}
	if st.Anchor == nil {
		st.Anchor, st.AnchorFixes = placeOf(f), 1
		return out
	}

	radiusM := math.Max(e.cfg.StopRadiusM, e.cfg.accuracyM(f))
	a := st.Anchor
	if a.HasOdometer && f.Has&model.HasOdometer != 0 && f.OdometerKm-a.OdometerKm > stopOdometerKm {
		if st.Episode != nil {
			end := endPoint{at: f.Time, lat: f.Lat, lon: f.Lon, stamp: env.stamp}
			out = append(out, e.closedDeviation(v, key, st.Episode, end))
			st.Episode = nil
		}
		st.Anchor, st.AnchorFixes, st.Out, st.OutFixes = placeOf(f), 1, nil, 0
		return out
	}

	if distanceM(a.Lat, a.Lon, f.Lat, f.Lon) <= radiusM {
		st.Out, st.OutFixes = nil, 0
		st.AnchorFixes = min(st.AnchorFixes+1, stopCentroidFixes)
		a.Lat += (f.Lat - a.Lat) / float64(st.AnchorFixes)
		a.Lon += (f.Lon - a.Lon) / float64(st.AnchorFixes)
		return stayed(env, v, f, out)
	}

	if st.Out == nil {
		st.Out, st.OutFixes, st.OutClustered = placeOf(f), 1, true
	} else {
		st.OutFixes++
		if distanceM(st.Out.Lat, st.Out.Lon, f.Lat, f.Lon) > radiusM {
			st.OutClustered = false
		}
	}
	if st.OutFixes < e.cfg.MinFixes {
		return out
	}

	if st.Episode != nil {
		st.Episode.Peak = st.Out.Time.Sub(st.Episode.StartedAt).Seconds()
		end := endPoint{at: st.Out.Time, lat: st.Out.Lat, lon: st.Out.Lon, stamp: env.stamp}
		out = append(out, e.closedDeviation(v, key, st.Episode, end))
		st.Episode = nil
	}
	if st.OutClustered {
		st.Anchor = st.Out
	} else {
		st.Anchor = placeOf(f)
	}
	st.AnchorFixes, st.Out, st.OutFixes = 1, nil, 0
	return out
}

// stayed handles a fix within the anchor's radius: it opens the episode
// once the stop, counted from the anchor or the trip's planned start,
// whichever is later, has lasted LongStop.
func stayed(env *evalEnv, v *vehicle, f *model.Fix, out []model.Deviation) []model.Deviation {
	st := &v.rs.Stop
	if st.Episode != nil {
		st.Episode.Peak = f.Time.Sub(st.Episode.StartedAt).Seconds()
		return out
	}
	if v.trip == nil || !v.trip.trip.ActiveAt(f.Time) || env.insideKind(geofence.KindSite) {
		return out
	}
	start := st.Anchor.Time
	if ps := v.trip.trip.PlannedStart; start.Before(ps) {
		start = ps
	}
	if f.Time.Sub(start) < env.engine.cfg.LongStop {
		return out
	}
	key := trackerKey{Kind: model.KindLongStop}
	ep := newEpisode(v, key, start, st.Anchor.Lat, st.Anchor.Lon, "medium")
	ep.Peak = f.Time.Sub(start).Seconds()
	st.Episode = ep
	return append(out, env.engine.openedDeviation(v, key, ep, env.stamp))
}
