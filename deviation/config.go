package deviation

import (
	"math"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// Config tunes the hysteresis shared by all rules and the thresholds of
// each alarm kind. Zero or negative fields take the defaults named on
// them; DefaultConfig returns them all.
type Config struct {
	// MarginM, MinFixes and Persistence gate every membership change. The
	// change needs an unbroken run of fixes on the new side that spans at
	// least Persistence of fix time. At least MinFixes of them, the last
	// included, must lie beyond the edge by max(MarginM, fix accuracy).
	// Defaults 20 m, 2 fixes, 30 s.
	MarginM     float64
	MinFixes    int
	Persistence time.Duration

	// Restricted, Route and Jurisdiction override the margin, fix count
	// and persistence above for restricted zones, route corridors and
	// jurisdiction boundaries. A zero field keeps the shared value. A
	// drinking-water zone may warrant a quicker alarm than a corridor.
	Restricted, Route, Jurisdiction Gate

	// MaxAccuracyM caps the reported accuracy that widens the margin,
	// the stop radius and the jump floor (default 100 m). A phone on
	// network location reports 1-3 km. Taken at face value, that would
	// switch off every zone and route alarm and make a moving truck look
	// stopped.
	MaxAccuracyM float64

	// While a fix's speed is below StationaryKmh (default 3 km/h),
	// membership is frozen unless the fix lies more than StationaryBreakM
	// (default 50 m) beyond the edge. A parked truck's position drifts by
	// tens of metres, and that drift must not open or close episodes.
	StationaryKmh    float64
	StationaryBreakM float64

	// DefaultCorridorM is the full corridor width used for a trip whose
	// CorridorM is 0. Default 200 m.
	DefaultCorridorM float64

	// MaxImpliedKmh is the highest speed, implied by distance over fix
	// time between two fixes, that a truck can reach. A fix further away
	// than that from the last accepted one is held back as a jump. When
	// ReanchorFixes fixes in a row (default 2) confirm the new place, the
	// held-back fixes are accepted, so one bad fix never freezes a vehicle
	// and a receiver repeating one bad point once does not move it.
	// Default 150 km/h.
	MaxImpliedKmh float64
	ReanchorFixes int

	// A reported speed is rejected as a spike when it differs from the
	// point-to-point speed by more than SpikeDiffKmh (default 30 km/h) and
	// changes faster than SpikeRateKmhPerS (default 20 km/h per second)
	// from the last trusted speed. The fix still counts for position.
	SpikeDiffKmh     float64
	SpikeRateKmhPerS float64

	// A fix counts as stopped, whatever speed it reports, when the ignition
	// is off or its coordinates have not changed for SamePositionStopped
	// (default 60 s). Receivers report drift speed on a parked truck.
	SamePositionStopped time.Duration

	// Overspeed. The limit at a fix is the lowest speed_limit_kmh of the
	// active zones containing it. Without one, it is ExpresswayLimitKmh
	// (default 80 km/h) inside a zone marked as an expressway and
	// DefaultLimitKmh (default 60 km/h) elsewhere: the limits for
	// dangerous-goods vehicles. With no road data every road counts as
	// ordinary, which errs towards raising the alarm.
	DefaultLimitKmh    float64
	ExpresswayLimitKmh float64
	// An over-limit stretch opens an episode once it has lasted
	// OverspeedMinDuration (default 10 s). The stretch, and the episode,
	// end when the speed has stayed below limit − OverspeedEndMarginKmh
	// (default 3 km/h) for OverspeedEndHold (default 10 s).
	OverspeedMinDuration  time.Duration
	OverspeedEndMarginKmh float64
	OverspeedEndHold      time.Duration

	// LongStop is how long a vehicle on an active trip may stay within
	// StopRadiusM (default 50 m, or the fix accuracy if larger) of one
	// place outside every site zone before a long_stop episode opens.
	// Default 10 minutes.
	LongStop    time.Duration
	StopRadiusM float64

	// SiteDwell is how long, in fix time, a vehicle on an active trip must
	// stay inside a site zone, beyond the hysteresis margin, before it has
	// arrived there. Departure needs the usual hysteresis outside the zone.
	// Default 60 s.
	SiteDwell time.Duration

	// SignalLoss is the shortest gap in fix time, during an active trip,
	// that counts as signal loss. A longer reporting interval raises it to
	// three intervals. Default 5 minutes.
	SignalLoss time.Duration
	// SignalLossIgnitionOff replaces SignalLoss after a fix that reported
	// the ignition off, because units report at their sleep interval then
	// (JT/T 808 parameter 0x0027). The default of 35 minutes is an
	// estimate that covers a 30-minute sleep interval.
	SignalLossIgnitionOff time.Duration

	// TripOvertimeGrace is how long past its planned end a trip may stay
	// active before a trip_overtime episode opens. Default 15 minutes.
	TripOvertimeGrace time.Duration

	// DeviceAlarmMask selects the JT/T 808 alarm bits that raise
	// device_alarm episodes. Default: every bit named in the alarm table.
	DeviceAlarmMask uint32

	// LateAfter is the receive delay after which an episode decided by a
	// fix is flagged late. Fixes that arrive after newer ones and blind-area
	// fixes are always late. Default 5 minutes.
	LateAfter time.Duration

	// LateLaneMinGap is the shortest gap between two live fixes that a
	// late fix may fill and be evaluated in. A late fix elsewhere repeats
	// what the live lane already evaluated and is only counted. Default
	// 30 s.
	LateLaneMinGap time.Duration
}

// DefaultConfig returns the defaults named on Config's fields.
func DefaultConfig() Config {
	return Config{
		MarginM:               20,
		MaxAccuracyM:          100,
		MinFixes:              2,
		Persistence:           30 * time.Second,
		StationaryKmh:         3,
		StationaryBreakM:      50,
		DefaultCorridorM:      200,
		MaxImpliedKmh:         150,
		ReanchorFixes:         2,
		SpikeDiffKmh:          30,
		SpikeRateKmhPerS:      20,
		SamePositionStopped:   60 * time.Second,
		DefaultLimitKmh:       60,
		ExpresswayLimitKmh:    80,
		OverspeedMinDuration:  10 * time.Second,
		OverspeedEndMarginKmh: 3,
		OverspeedEndHold:      10 * time.Second,
		LongStop:              10 * time.Minute,
		StopRadiusM:           50,
		SiteDwell:             60 * time.Second,
		SignalLoss:            5 * time.Minute,
		SignalLossIgnitionOff: 35 * time.Minute,
		TripOvertimeGrace:     15 * time.Minute,
		DeviceAlarmMask:       namedAlarmBits,
		LateAfter:             5 * time.Minute,
		LateLaneMinGap:        30 * time.Second,
	}
}

// withDefaults replaces zero or negative fields with their defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setFloat := func(v *float64, def float64) {
		if *v <= 0 {
			*v = def
		}
	}
	setDuration := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}

	setFloat(&c.MarginM, d.MarginM)
	setFloat(&c.MaxAccuracyM, d.MaxAccuracyM)
	if c.MinFixes <= 0 {
		c.MinFixes = d.MinFixes
	}
	setDuration(&c.Persistence, d.Persistence)
	setFloat(&c.StationaryKmh, d.StationaryKmh)
	setFloat(&c.StationaryBreakM, d.StationaryBreakM)
	setFloat(&c.DefaultCorridorM, d.DefaultCorridorM)

	setFloat(&c.MaxImpliedKmh, d.MaxImpliedKmh)
	if c.ReanchorFixes <= 0 {
		c.ReanchorFixes = d.ReanchorFixes
	}
	setFloat(&c.SpikeDiffKmh, d.SpikeDiffKmh)
	setFloat(&c.SpikeRateKmhPerS, d.SpikeRateKmhPerS)
	setDuration(&c.SamePositionStopped, d.SamePositionStopped)

	setFloat(&c.DefaultLimitKmh, d.DefaultLimitKmh)
	setFloat(&c.ExpresswayLimitKmh, d.ExpresswayLimitKmh)
	setDuration(&c.OverspeedMinDuration, d.OverspeedMinDuration)
	setFloat(&c.OverspeedEndMarginKmh, d.OverspeedEndMarginKmh)
	setDuration(&c.OverspeedEndHold, d.OverspeedEndHold)

	setDuration(&c.LongStop, d.LongStop)
	setFloat(&c.StopRadiusM, d.StopRadiusM)
	setDuration(&c.SiteDwell, d.SiteDwell)
	setDuration(&c.SignalLoss, d.SignalLoss)
	setDuration(&c.SignalLossIgnitionOff, d.SignalLossIgnitionOff)
	setDuration(&c.TripOvertimeGrace, d.TripOvertimeGrace)
	if c.DeviceAlarmMask == 0 {
		c.DeviceAlarmMask = d.DeviceAlarmMask
	}
	setDuration(&c.LateAfter, d.LateAfter)
	setDuration(&c.LateLaneMinGap, d.LateLaneMinGap)
	return c
}

// accuracyM returns the reported accuracy of f that the rules take into
// account: 0 when f reports none, capped at MaxAccuracyM.
func (c *Config) accuracyM(f *model.Fix) float64 {
	if f.Has&model.HasAccuracy == 0 {
		return 0
	}
	return math.Min(f.AccuracyM, c.MaxAccuracyM)
}

// Gate is the hysteresis of one kind of boundary: a fix counts when it lies
// MarginM beyond the edge, and a change needs MinFixes such fixes spanning
// Persistence. Zero fields take the Config's shared values.
type Gate struct {
	MarginM     float64
	MinFixes    int
	Persistence time.Duration
}

// gateKind names the boundary an observation is measured against.
type gateKind uint8

const (
	gateShared gateKind = iota
	gateRestricted
	gateRoute
	gateJurisdiction
)

// gate returns the hysteresis that applies to boundaries of kind k.
func (c *Config) gate(k gateKind) Gate {
	g := Gate{MarginM: c.MarginM, MinFixes: c.MinFixes, Persistence: c.Persistence}
	var o Gate
	switch k {
	case gateRestricted:
		o = c.Restricted
	case gateRoute:
		o = c.Route
	case gateJurisdiction:
		o = c.Jurisdiction
	}
	if o.MarginM > 0 {
		g.MarginM = o.MarginM
	}
	if o.MinFixes > 0 {
		g.MinFixes = o.MinFixes
	}
	if o.Persistence > 0 {
		g.Persistence = o.Persistence
	}
	return g
}
