package simulator

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/hwtrack/hwtrack/model"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// DriveOption changes how DriveAlong generates fixes.
type DriveOption func(*driveConfig)

type driveConfig struct {
	noiseM float64
	seed   uint64
}

// WithNoise adds Gaussian position noise with standard deviation sigmaM
// metres in each of north and east, from a generator seeded with seed, so
// a run can be repeated exactly. The fixes report sigmaM as accuracy.
func WithNoise(sigmaM float64, seed uint64) DriveOption {
	return func(c *driveConfig) {
		c.noiseM = sigmaM
		c.seed = seed
	}
}

// DriveAlong generates fixes of a vehicle driving route at a constant
// speedKmh, one every interval starting at start, plus a last fix at the
// end of the route. Each fix has speed and heading set (the heading is the
// bearing of the current segment) and is Valid. It returns nil for a
// route of fewer than two points or a non-positive speed or interval.
func DriveAlong(route orb.LineString, start time.Time, speedKmh float64, interval time.Duration, opts ...DriveOption) []model.Fix {
	if len(route) < 2 || !(speedKmh > 0) || interval <= 0 {
		return nil
	}
	var cfg driveConfig
	for _, o := range opts {
		o(&cfg)
	}
	var rng *rand.Rand
	if cfg.noiseM > 0 {
		rng = rand.New(rand.NewPCG(cfg.seed, cfg.seed^0x9e3779b97f4a7c15))
	}

	speedMs := speedKmh / 3.6
	stepM := speedMs * interval.Seconds()
	var fixes []model.Fix
	emit := func(p orb.Point, heading float64, at time.Time) {
		f := model.Fix{
			Time:       at.UTC(),
			Lat:        p.Lat(),
			Lon:        p.Lon(),
			SpeedKmh:   speedKmh,
			HeadingDeg: heading,
			Valid:      true,
			Has:        model.HasSpeed | model.HasHeading,
		}
		if rng != nil {
			q := offsetPoint(p, rng.NormFloat64()*cfg.noiseM, rng.NormFloat64()*cfg.noiseM)
			f.Lat, f.Lon = q.Lat(), q.Lon()
			f.AccuracyM = cfg.noiseM
			f.Has |= model.HasAccuracy
		}
		fixes = append(fixes, f)
	}

	// travelled is the distance along the route of the next fix to emit,
	// segStart the distance at which segment i begins.
	travelled, segStart := 0.0, 0.0
	n := 0
	for i := 0; i+1 < len(route); i++ {
		a, b := route[i], route[i+1]
		segLen := geo.Distance(a, b)
		heading := math.Mod(geo.Bearing(a, b)+360, 360)
		for travelled <= segStart+segLen && segLen > 0 {
			frac := (travelled - segStart) / segLen
			p := orb.Point{a.Lon() + frac*(b.Lon()-a.Lon()), a.Lat() + frac*(b.Lat()-a.Lat())}
			emit(p, heading, start.Add(time.Duration(n)*interval))
			n++
			travelled = float64(n) * stepM
		}
		segStart += segLen
	}

	// The last fix sits on the route's end at the time it is reached,
	// unless the regular sampling already put one there.
	last := route[len(route)-1]
	lastPrev := route[len(route)-2]
	endTime := start.Add(time.Duration(segStart / speedMs * float64(time.Second)))
	if len(fixes) == 0 || endTime.Sub(fixes[len(fixes)-1].Time) >= time.Millisecond {
		emit(last, math.Mod(geo.Bearing(lastPrev, last)+360, 360), endTime)
	}
	return fixes
}
