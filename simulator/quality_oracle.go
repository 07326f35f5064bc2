package simulator

import (
	"time"

	"github.com/paulmach/orb/geo"

	"github.com/hwtrack/hwtrack/model"
)

// Oracle margins. They are deliberately loose: an excuse only stops an
// episode from counting as a false alarm, so a generous excuse can hide a
// false alarm near a real condition but never invents a miss.
const (
	// oracleSpeedMarginKmh is how far below the limit a reported speed
	// may be and still excuse an overspeed episode.
	oracleSpeedMarginKmh = 8.0
	// oracleSpeedAgreeKmh is how far the reported speed may be from the
	// speed implied by positions; a spike beyond it excuses nothing.
	oracleSpeedAgreeKmh = 30.0
	// oracleStopRadiusFactor widens the engine's stop radius for the
	// long-stop excuse, and oracleStopShort shortens its duration.
	oracleStopRadiusFactor = 2.0
	oracleStopShort        = 2 * time.Minute
	oracleGapShort         = time.Minute
	// oracleSpeedWindow is the shortest span over which the implied speed
	// is measured, so position jitter does not look like speed.
	oracleSpeedWindow = 10 * time.Second
)

// NativeExcuses finds the stretches of a real track where the recording
// itself meets an alarm condition, judged with simple rules independent of
// the engine:
//
//   - overspeed: the reported speed is within 8 km/h of the default limit
//     or above it, and the speed implied by positions over at least 10 s
//     agrees within 30 km/h;
//   - long_stop: the vehicle stays within twice the stop radius of one
//     place for the long-stop time less 2 minutes, across gaps too;
//   - signal_loss: a gap between valid fixes of the signal-loss time less
//     1 minute or more.
//
// fixes must be in fix-time order.
func NativeExcuses(fixes []model.Fix, th Thresholds) []Excuse {
	valid := make([]model.Fix, 0, len(fixes))
	for _, f := range fixes {
		if f.Valid && (f.Lat != 0 || f.Lon != 0) {
			valid = append(valid, f)
		}
	}
	var out []Excuse
	out = append(out, speedExcuses(valid, th)...)
	out = append(out, stopExcuses(valid, th)...)
	out = append(out, gapExcuses(valid, th)...)
	return out
}

func speedExcuses(fixes []model.Fix, th Thresholds) []Excuse {
	var out []Excuse
	level := th.DefaultLimitKmh - oracleSpeedMarginKmh
	back := 0
	for k, f := range fixes {
		if f.Has&model.HasSpeed == 0 || f.SpeedKmh < level {
			continue
		}
		for back < k && f.Time.Sub(fixes[back+1].Time) >= oracleSpeedWindow {
			back++
		}
		dt := f.Time.Sub(fixes[back].Time)
		if back == k || dt < oracleSpeedWindow {
			continue
		}
		impliedKmh := geo.Distance(fixPoint(fixes[back]), fixPoint(f)) / dt.Seconds() * 3.6
		if f.SpeedKmh-impliedKmh > oracleSpeedAgreeKmh {
			continue
		}
		out = appendExcuse(out, Excuse{
			Kind: model.KindOverspeed, Start: f.Time.Add(-th.OverspeedMinDuration), End: f.Time.Add(th.OverspeedMinDuration + time.Minute),
			Reason: "the recorded speed is near or over the limit",
		})
	}
	return out
}

func stopExcuses(fixes []model.Fix, th Thresholds) []Excuse {
	var out []Excuse
	radiusM := th.StopRadiusM * oracleStopRadiusFactor
	need := th.LongStop - oracleStopShort
	for i := 0; i < len(fixes); {
		j := i
		for j+1 < len(fixes) && geo.Distance(fixPoint(fixes[i]), fixPoint(fixes[j+1])) <= radiusM {
			j++
		}
		if fixes[j].Time.Sub(fixes[i].Time) >= need {
			out = append(out, Excuse{
				Kind: model.KindLongStop, Start: fixes[i].Time, End: fixes[j].Time.Add(time.Minute),
				Reason: "the recorded vehicle stays in one place",
			})
			i = j + 1
			continue
		}
		i++
	}
	return out
}

func gapExcuses(fixes []model.Fix, th Thresholds) []Excuse {
	var out []Excuse
	for k := 1; k < len(fixes); k++ {
		if fixes[k].Time.Sub(fixes[k-1].Time) >= th.SignalLoss-oracleGapShort {
			out = append(out, Excuse{
				Kind: model.KindSignalLoss, Start: fixes[k-1].Time, End: fixes[k].Time.Add(time.Minute),
				Reason: "the recording has a gap",
			})
		}
	}
	return out
}

// appendExcuse adds e, merging it into the last excuse when they are of
// one kind and overlap.
func appendExcuse(out []Excuse, e Excuse) []Excuse {
	if n := len(out); n > 0 && out[n-1].Kind == e.Kind && !e.Start.After(out[n-1].End) {
		if e.End.After(out[n-1].End) {
			out[n-1].End = e.End
		}
		return out
	}
	return append(out, e)
}
