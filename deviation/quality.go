package deviation

import (
	"math"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// Verdict is the outcome of ProcessFix for one fix: evaluated, and in
// which lane, or set aside and why.
type Verdict uint8

const (
	VerdictUnknown Verdict = iota
	// VerdictAccepted is a fix evaluated by the rules of the live lane.
	VerdictAccepted
	// VerdictInvalid is a fix flagged invalid by the unit, with impossible
	// coordinates or without a terminal.
	VerdictInvalid
	// VerdictZero is a fix at (0, 0), which receivers send without a fix.
	VerdictZero
	// VerdictDuplicate is a fix with the same time as the vehicle's newest
	// accepted fix.
	VerdictDuplicate
	// VerdictJump is a fix further from the last accepted fix than the
	// vehicle could have driven. It is held back: if the next fixes
	// confirm the new place, all of them are evaluated then.
	VerdictJump
	// VerdictLate is a fix older than the vehicle's newest one that fills
	// a gap in the live coverage; it was evaluated in the late lane.
	VerdictLate
	// VerdictStale is a fix older than the vehicle's newest one in a
	// stretch the live lane already covered; it changes nothing.
	VerdictStale
)

var verdictNames = [...]string{
	VerdictUnknown:   "unknown",
	VerdictAccepted:  "accepted",
	VerdictInvalid:   "invalid",
	VerdictZero:      "zero_position",
	VerdictDuplicate: "duplicate",
	VerdictJump:      "jump",
	VerdictLate:      "late",
	VerdictStale:     "stale",
}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// Result is the outcome of ProcessFix.
type Result struct {
	Deviations []model.Deviation
	Verdict    Verdict
	// SpeedRejected reports that the fix's reported speed was a spike
	// against the point-to-point speed, so no rule used it. The position
	// was still evaluated.
	SpeedRejected bool
	// Reanchored reports that this fix confirmed the fixes held back as a
	// jump before it, and all of them were evaluated.
	Reanchored bool
}

// jumpFloorM is the distance below which no fix counts as a jump, however
// short the time since the last one: at one fix per second GNSS noise
// alone implies speeds of well over 100 km/h.
const jumpFloorM = 100

// speedCheckMaxGap is the longest time between two fixes over which the
// point-to-point speed is compared with the reported speed. Over longer
// gaps the straight line under-estimates the distance driven.
const speedCheckMaxGap = 60 * time.Second

// motion is the judged movement at one fix.
type motion struct {
	speedKmh      float64
	speedKnown    bool
	speedRejected bool
	stopped       bool
}

// motionState is the memory of the fix quality checks between fixes.
type motionState struct {
	// SpeedKmh is the last speed trusted by the spike check.
	SpeedKmh   float64 `json:"speed_kmh"`
	SpeedKnown bool    `json:"speed_known"`
	// SamePositionSince is the fix time since which the coordinates have
	// not changed.
	SamePositionSince time.Time `json:"same_position_since,omitzero"`
	// Pending are the fixes held back as a jump, oldest first, each a
	// plausible successor of the one before.
	Pending []*heldFix `json:"pending,omitempty"`
}

// heldFix is the part of a fix the rules read, kept while a fix waits for
// confirmation.
type heldFix struct {
	Time       time.Time      `json:"time"`
	ReceivedAt time.Time      `json:"received_at"`
	Lat        float64        `json:"lat"`
	Lon        float64        `json:"lon"`
	SpeedKmh   float64        `json:"speed_kmh,omitempty"`
	AccuracyM  float64        `json:"accuracy_m,omitempty"`
	ACC        bool           `json:"acc,omitempty"`
	OdometerKm float64        `json:"odometer_km,omitempty"`
	Alarm      uint32         `json:"alarm,omitempty"`
	Source     model.Source   `json:"source,omitempty"`
	Has        model.FieldSet `json:"has"`
}

func holdFix(f *model.Fix) *heldFix {
	return &heldFix{
		Time: f.Time, ReceivedAt: f.ReceivedAt, Lat: f.Lat, Lon: f.Lon,
		SpeedKmh: f.SpeedKmh, AccuracyM: f.AccuracyM, ACC: f.ACC, OdometerKm: f.OdometerKm,
		Alarm: f.Alarm, Source: f.Source, Has: f.Has,
	}
}

func (h *heldFix) fix(terminal string) *model.Fix {
	return &model.Fix{
		Terminal: terminal, Time: h.Time, ReceivedAt: h.ReceivedAt, Lat: h.Lat, Lon: h.Lon,
		SpeedKmh: h.SpeedKmh, AccuracyM: h.AccuracyM, ACC: h.ACC, OdometerKm: h.OdometerKm,
		Alarm: h.Alarm, Source: h.Source, Has: h.Has, Valid: true,
	}
}

// isJump reports whether moving distM metres in dt needs a speed above
// the configured maximum.
func isJump(cfg *Config, distM float64, dt time.Duration, f *model.Fix) bool {
	floorM := math.Max(jumpFloorM, 2*cfg.accuracyM(f))
	if distM <= floorM {
		return false
	}
	if dt <= 0 {
		return true
	}
	return distM/dt.Seconds()*3.6 > cfg.MaxImpliedKmh
}

// screenJump checks f against the vehicle's last accepted fix. A fix the
// vehicle could not have reached is held back. When ReanchorFixes fixes in
// a row each follow plausibly on the held-back ones, those were real: they
// are returned, oldest first, to be evaluated before f. v.mu must be held.
func (v *vehicle) screenJump(cfg *Config, f *model.Fix) (confirmed []*model.Fix, held bool) {
	ms := &v.rs.Motion
	if v.lastFix.IsZero() {
		return nil, false
	}
	if n := len(ms.Pending); n > 0 {
		last := ms.Pending[n-1]
		distM := distanceM(last.Lat, last.Lon, f.Lat, f.Lon)
		if f.Time.After(last.Time) && !isJump(cfg, distM, f.Time.Sub(last.Time), f) {
			if n < cfg.ReanchorFixes {
				ms.Pending = append(ms.Pending, holdFix(f))
				return nil, true
			}
			for _, p := range ms.Pending {
				confirmed = append(confirmed, p.fix(v.terminal))
			}
			ms.Pending = nil
			return confirmed, false
		}
	}

	distM := distanceM(v.lastLat, v.lastLon, f.Lat, f.Lon)
	if !isJump(cfg, distM, f.Time.Sub(v.lastFix), f) {
		ms.Pending = nil
		return nil, false
	}
	ms.Pending = []*heldFix{holdFix(f)}
	return nil, true
}

// judgeMotion checks the reported speed against the point-to-point speed
// and decides whether the vehicle is stopped. It must run before the fix
// becomes the vehicle's last fix. v.mu must be held.
func (v *vehicle) judgeMotion(cfg *Config, f *model.Fix, afterJump bool) motion {
	ms := &v.rs.Motion
	var m motion
	hasSpeed := f.Has&model.HasSpeed != 0

	samePosition := !v.lastFix.IsZero() && f.Lat == v.lastLat && f.Lon == v.lastLon
	if !samePosition || ms.SamePositionSince.IsZero() {
		ms.SamePositionSince = f.Time
	}
	dt := f.Time.Sub(v.lastFix)
	if hasSpeed && !afterJump && !v.lastFix.IsZero() && dt > 0 && dt <= speedCheckMaxGap {
		p2pKmh := distanceM(v.lastLat, v.lastLon, f.Lat, f.Lon) / dt.Seconds() * 3.6
		refKmh := p2pKmh
		if ms.SpeedKnown {
			refKmh = ms.SpeedKmh
		}
		if math.Abs(f.SpeedKmh-p2pKmh) > cfg.SpikeDiffKmh && math.Abs(f.SpeedKmh-refKmh)/dt.Seconds() > cfg.SpikeRateKmhPerS {
			m.speedRejected = true
		}
	}

	ignitionOff := f.Has&model.HasACC != 0 && !f.ACC
	m.stopped = ignitionOff || f.Time.Sub(ms.SamePositionSince) >= cfg.SamePositionStopped
	switch {
	case m.stopped:
		m.speedKmh, m.speedKnown = 0, true
	case hasSpeed && !m.speedRejected:
		m.speedKmh, m.speedKnown = f.SpeedKmh, true
	}
	if m.speedKnown {
		ms.SpeedKmh, ms.SpeedKnown = m.speedKmh, true
	}
	return m
}

// effectiveFix returns a copy of f whose speed is the judged one, so the
// hysteresis treats a parked truck as stationary and ignores a spike.
func effectiveFix(f *model.Fix, m motion) model.Fix {
	ef := *f
	switch {
	case m.stopped:
		ef.SpeedKmh = 0
		ef.Has |= model.HasSpeed
	case m.speedRejected:
		ef.Has &^= model.HasSpeed
	}
	return ef
}

// metresPerDegree is the length of one degree of latitude on the sphere
// of mean radius 6,371,008.8 m, the radius geofence uses.
const metresPerDegree = 6371008.8 * math.Pi / 180

// distanceM returns the distance in metres between two points with the
// equirectangular approximation. Against haversine its error stays under
// 0.1 % up to 100 km at Chinese latitudes (a test checks this), well inside
// what the jump, spike and stop thresholds need, and it costs one cosine
// where haversine costs five trigonometric calls.
func distanceM(lat1, lon1, lat2, lon2 float64) float64 {
	dy := lat2 - lat1
	dx := (lon2 - lon1) * math.Cos((lat1+lat2)/2*math.Pi/180)
	return math.Sqrt(dx*dx+dy*dy) * metresPerDegree
}
