package ingest

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Ranges of the fix fields, in the units of the protocol. They are part of
// the protocol contract documented in docs/protocol.md.
const (
	minLat, maxLat             = -90.0, 90.0
	minLon, maxLon             = -180.0, 180.0
	minAltM, maxAltM           = -500.0, 9000.0
	minSpeedKmh, maxSpeedKmh   = 0.0, 400.0
	minHeadingDeg, maxHeadingD = 0.0, 360.0
	maxSats                    = 255
	// maxOdometerKm is the largest JT/T 808 odometer value: a 32-bit
	// count of 0.1 km.
	maxOdometerKm = math.MaxUint32 / 10.0
	// maxExactFloatInt is the largest integer a float64 holds exactly.
	maxExactFloatInt = 1 << 53
)

// objectCheck collects the problems of one JSON object (a fix object or
// an OwnTracks message). rejects stays nil while the object is good, so the
// accepting path allocates nothing for it.
type objectCheck struct {
	index   int
	rejects []*RejectError
	// dropped lists the problems of optional measurement fields. They
	// cost the fix only that field (see optionalFloatIn), unless the fix
	// is rejected for another reason, when they join rejects.
	dropped []*RejectError
}

func (c *objectCheck) fail(reason Reason, field, message string) {
	c.rejects = append(c.rejects, &RejectError{
		Reason:  reason,
		Index:   c.index,
		Field:   field,
		Message: message,
	})
}

func (c *objectCheck) failed() bool { return len(c.rejects) > 0 }

// droppedOfRejected returns the dropped fields that join the rejections
// of a fix rejected for another reason. A time correction is left out,
// because it cost the fix nothing and is no reason for the rejection.
func (c *objectCheck) droppedOfRejected() []*RejectError {
	out := make([]*RejectError, 0, len(c.dropped))
	for _, r := range c.dropped {
		if r.Reason != ReasonTimeCorrected {
			out = append(out, r)
		}
	}
	return out
}

// float reads a JSON number. Strings such as "NaN" or "12.5" are wrong
// types, not numbers.
func (c *objectCheck) float(field string, v *fastjson.Value) (float64, bool) {
	if v.Type() != fastjson.TypeNumber {
		c.fail(ReasonWrongType, field, field+" must be a number, got "+describe(v))
		return 0, false
	}
	f, err := v.Float64()
	if err != nil {
		// The validator already accepted the number's syntax, so this is
		// not expected; report it rather than guess a value.
		c.fail(ReasonWrongType, field, fmt.Sprintf("%s %s is not a valid number: %v", field, describe(v), err))
		return 0, false
	}
	if math.IsInf(f, 0) || math.IsNaN(f) {
		c.fail(ReasonNotFinite, field, field+" "+rawText(v)+" is not a finite float64")
		return 0, false
	}
	return f, true
}

// floatIn reads a JSON number and checks that it lies in lo..hi.
func (c *objectCheck) floatIn(field string, v *fastjson.Value, lo, hi float64) (float64, bool) {
	f, ok := c.float(field, v)
	if !ok {
		return 0, false
	}
	return f, c.inRange(field, f, lo, hi, "")
}

// optionalFloatIn is floatIn for a measurement the fix can do without,
// such as alt or heading. A bad value is recorded in dropped and the fix
// is kept: losing a position over a receiver's odd altitude would lose
// more than it protects.
func (c *objectCheck) optionalFloatIn(field string, v *fastjson.Value, lo, hi float64) (float64, bool) {
	sub := objectCheck{index: c.index}
	f, ok := sub.floatIn(field, v, lo, hi)
	if !ok {
		c.dropped = append(c.dropped, sub.rejects...)
		return 0, false
	}
	return f, true
}

// optionalUnsigned is unsigned for a measurement the fix can do without;
// see optionalFloatIn.
func (c *objectCheck) optionalUnsigned(field string, v *fastjson.Value, hi uint64) (uint64, bool) {
	sub := objectCheck{index: c.index}
	n, ok := sub.unsigned(field, v, hi)
	if !ok {
		c.dropped = append(c.dropped, sub.rejects...)
		return 0, false
	}
	return n, true
}

// inRange checks lo <= f <= hi; an infinite bound is open on that side.
func (c *objectCheck) inRange(field string, f, lo, hi float64, hint string) bool {
	if f >= lo && f <= hi {
		return true
	}

	var msg string
	switch {
	case math.IsInf(hi, 1):
		msg = fmt.Sprintf("%s %s is below the minimum of %s", field, formatNumber(f), formatNumber(lo))
	default:
		msg = fmt.Sprintf("%s %s is outside %s..%s", field, formatNumber(f), formatNumber(lo), formatNumber(hi))
	}
	if hint != "" {
		msg += "; " + hint
	}
	c.fail(ReasonOutOfRange, field, msg)
	return false
}

// unsigned reads a JSON number that must be a whole number in 0..hi.
// Integral values written with a fraction or exponent, such as 11.0 or
// 1e3, are accepted up to 2^53, where float64 stops being exact.
func (c *objectCheck) unsigned(field string, v *fastjson.Value, hi uint64) (uint64, bool) {
	if v.Type() != fastjson.TypeNumber {
		c.fail(ReasonWrongType, field, field+" must be an integer, got "+describe(v))
		return 0, false
	}
	if n, err := v.Uint64(); err == nil {
		if n > hi {
			c.fail(ReasonOutOfRange, field, fmt.Sprintf("%s %d is outside 0..%d", field, n, hi))
			return 0, false
		}
		return n, true
	}
	if isIntegerLiteral(v) {
		// A plain integer that does not fit uint64: negative or too large.
		c.fail(ReasonOutOfRange, field, fmt.Sprintf("%s %s is outside 0..%d", field, rawText(v), hi))
		return 0, false
	}

	f, ok := c.float(field, v)
	if !ok {
		return 0, false
	}
	switch {
	case f != math.Trunc(f):
		c.fail(ReasonWrongType, field, fmt.Sprintf("%s %s is not an integer", field, formatNumber(f)))
		return 0, false
	case f < 0 || f > float64(hi):
		c.fail(ReasonOutOfRange, field, fmt.Sprintf("%s %s is outside 0..%d", field, formatNumber(f), hi))
		return 0, false
	case f > maxExactFloatInt:
		c.fail(ReasonWrongType, field, fmt.Sprintf("%s %s is not an exact integer; write it without fraction or exponent", field, rawText(v)))
		return 0, false
	}
	return uint64(f), true
}

// isIntegerLiteral reports whether the number v is written without a
// fraction or exponent.
func isIntegerLiteral(v *fastjson.Value) bool {
	var buf [32]byte
	return !bytes.ContainsAny(v.MarshalTo(buf[:0]), ".eE")
}

func (c *objectCheck) boolean(field string, v *fastjson.Value) (bool, bool) {
	switch v.Type() {
	case fastjson.TypeTrue:
		return true, true
	case fastjson.TypeFalse:
		return false, true
	}
	c.fail(ReasonWrongType, field, field+" must be true or false, got "+describe(v))
	return false, false
}

// str reads a JSON string. The bytes live in the parser's memory and must
// not be kept.
func (c *objectCheck) str(field string, v *fastjson.Value) ([]byte, bool) {
	b, err := v.StringBytes()
	if err != nil {
		c.fail(ReasonWrongType, field, field+" must be a string, got "+describe(v))
		return nil, false
	}
	return b, true
}

// timeRules are the limits a fix time is checked against.
type timeRules struct {
	min, max time.Time // inclusive
	// minFromAge is set when min is the receive time minus Limits.MaxAge
	// rather than Limits.MinTime.
	minFromAge bool
	maxAge     time.Duration
	skew       time.Duration
	received   time.Time
}

func newTimeRules(lim Limits, receivedAt time.Time) timeRules {
	r := timeRules{
		min:      lim.MinTime,
		max:      receivedAt.Add(lim.MaxFutureSkew),
		maxAge:   lim.MaxAge,
		skew:     lim.MaxFutureSkew,
		received: receivedAt,
	}
	if lim.MaxAge > 0 {
		if oldest := receivedAt.Add(-lim.MaxAge); oldest.After(r.min) {
			r.min = oldest
			r.minFromAge = true
		}
	}
	return r
}

// gpsWeekRollover is the span of the 10-bit GPS week number in the
// navigation message: 1024 weeks, 619,315,200 s. A receiver that
// mishandles the wrap reports dates a whole number of these spans early.
const gpsWeekRollover = 1024 * 7 * 24 * time.Hour

// rolloverTolerance is how far from an exact multiple of gpsWeekRollover
// before the receive time a fix time may lie and still be corrected. It
// allows for fixes sent late from a blind area.
const rolloverTolerance = 24 * time.Hour

// maxRollovers is the most rollovers corrected. The GPS week number has
// wrapped twice so far, in August 1999 and April 2019.
const maxRollovers = 2

// correctRollover returns t moved forward by k×1024 weeks when t lies
// that far before the receive time, within rolloverTolerance, for k from 1
// to maxRollovers. It records the correction in dropped as
// ReasonTimeCorrected. Otherwise it returns t unchanged.
func (c *objectCheck) correctRollover(field string, t time.Time, rules *timeRules) time.Time {
	if rules.received.IsZero() {
		return t
	}
	for k := 1; k <= maxRollovers; k++ {
		shift := time.Duration(k) * gpsWeekRollover
		gap := rules.received.Sub(t) - shift
		if gap < -rolloverTolerance || gap > rolloverTolerance {
			continue
		}
		corrected := t.Add(shift)
		c.dropped = append(c.dropped, &RejectError{
			Reason: ReasonTimeCorrected,
			Index:  c.index,
			Field:  field,
			Message: fmt.Sprintf("%s %s is %d×1024 GPS weeks before the receive time %s, so the unit's GNSS week number rolled over; corrected to %s",
				field, formatTime(t), k, formatTime(rules.received), formatTime(corrected)),
		})
		return corrected
	}
	return t
}

// checkTime reports whether t is within the rules and records a rejection
// when it is not. hint, when not empty, is appended to the message.
func (c *objectCheck) checkTime(field string, t time.Time, rules *timeRules, hint string) bool {
	var msg string
	var reason Reason
	switch {
	case t.Before(rules.min) && rules.minFromAge:
		reason = ReasonTooOld
		msg = fmt.Sprintf("%s %s is more than %v before the receive time %s",
			field, formatTime(t), rules.maxAge, formatTime(rules.received))
	case t.Before(rules.min):
		reason = ReasonTooOld
		msg = fmt.Sprintf("%s %s is before the earliest accepted time %s; check the unit's clock and GNSS week rollover",
			field, formatTime(t), formatTime(rules.min))
	case t.After(rules.max):
		reason = ReasonFutureTime
		msg = fmt.Sprintf("%s %s is %v after the receive time %s; the allowed clock skew is %v",
			field, formatTime(t), t.Sub(rules.received).Round(time.Second), formatTime(rules.received), rules.skew)
	default:
		return true
	}
	if hint != "" {
		msg += "; " + hint
	}
	c.fail(reason, field, msg)
	return false
}

// unixTime converts a count of units (time.Millisecond or time.Second)
// since the Unix epoch, given as a JSON number, to a time. The bounds are
// checked on the number first, so absurd values cannot overflow the
// conversion.
func (c *objectCheck) unixTime(field string, v *fastjson.Value, unit time.Duration, rules *timeRules, hint func(float64) string) (time.Time, bool) {
	// Whole numbers convert exactly. Seconds beyond about ±35,000 years
	// would overflow time.Unix, so they take the float path below, which
	// rejects them before converting.
	if n, err := v.Int64(); err == nil && (unit == time.Millisecond || (n > -1<<40 && n < 1<<40)) {
		var t time.Time
		if unit == time.Millisecond {
			t = time.UnixMilli(n)
		} else {
			t = time.Unix(n, 0)
		}
		t = c.correctRollover(field, t.UTC(), rules)
		if !c.checkTime(field, t, rules, hint(float64(n))) {
			return time.Time{}, false
		}
		return t, true
	}

	f, ok := c.float(field, v)
	if !ok {
		return time.Time{}, false
	}
	perSecond := float64(time.Second / unit)
	if seconds := f / perSecond; seconds > -1<<40 && seconds < 1<<40 {
		// Shift before the bounds check, because a time two rollovers
		// back lies before Limits.MinTime.
		approx := time.Unix(int64(seconds), 0).UTC()
		if corrected := c.correctRollover(field, approx, rules); !corrected.Equal(approx) {
			f += corrected.Sub(approx).Seconds() * perSecond
		}
	}
	lo := float64(rules.min.Unix()) * perSecond
	hi := float64(rules.max.Unix()+1) * perSecond
	if f < lo || f > hi {
		// Clamp to a representable time just outside the bounds so the
		// message names the bound that was crossed.
		t := rules.min.Add(-time.Nanosecond)
		if f > hi {
			t = rules.max.Add(time.Nanosecond)
		}
		c.checkTimeValue(field, f, t, rules, hint(f))
		return time.Time{}, false
	}

	// Split off the fraction of a unit before scaling, because dividing a
	// millisecond count by 1000 would round away sub-millisecond digits.
	whole := math.Floor(f)
	var t time.Time
	if unit == time.Millisecond {
		t = time.UnixMilli(int64(whole))
	} else {
		t = time.Unix(int64(whole), 0)
	}
	t = t.Add(time.Duration(math.Round((f - whole) * float64(unit)))).UTC()
	if !c.checkTime(field, t, rules, hint(f)) {
		return time.Time{}, false
	}
	return t, true
}

// checkTimeValue rejects a numeric time too far out to convert, naming the
// number itself because a converted time would be meaningless.
func (c *objectCheck) checkTimeValue(field string, f float64, clamped time.Time, rules *timeRules, hint string) {
	var msg string
	reason := ReasonTooOld
	if clamped.After(rules.max) {
		reason = ReasonFutureTime
		msg = fmt.Sprintf("%s %s is later than the receive time %s plus the allowed clock skew of %v",
			field, formatNumber(f), formatTime(rules.received), rules.skew)
	} else {
		msg = fmt.Sprintf("%s %s is before the earliest accepted time %s", field, formatNumber(f), formatTime(rules.min))
	}
	if hint != "" {
		msg += "; " + hint
	}
	c.fail(reason, field, msg)
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// formatNumber writes f for a message in plain decimal notation, such as
// 1706858149000 rather than 1.706858149e+12, and falls back to exponent
// notation only for very large or very small magnitudes.
func formatNumber(f float64) string {
	if abs := math.Abs(f); abs == 0 || (abs >= 1e-6 && abs < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// maxQuoted caps how much of a client-supplied value a message repeats.
const maxQuoted = 40

// quote returns b as a quoted Go string literal, shortened to maxQuoted
// bytes on a rune boundary.
func quote(b []byte) string {
	if len(b) <= maxQuoted {
		return strconv.Quote(string(b))
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(b[cut]) {
		cut--
	}
	return strconv.Quote(string(b[:cut]) + "...")
}

// rawText returns the JSON text of a scalar value, shortened for messages.
func rawText(v *fastjson.Value) string {
	var buf [maxQuoted + 8]byte
	b := v.MarshalTo(buf[:0])
	if len(b) > maxQuoted {
		return string(b[:maxQuoted]) + "..."
	}
	return string(b)
}

// describe names the JSON type of v and, for scalars, its value, as used in
// "lat must be a number, got string \"NaN\"".
func describe(v *fastjson.Value) string {
	switch v.Type() {
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return "string " + quote(b)
	case fastjson.TypeNumber:
		return "number " + rawText(v)
	case fastjson.TypeTrue:
		return "true"
	case fastjson.TypeFalse:
		return "false"
	case fastjson.TypeNull:
		return "null"
	case fastjson.TypeObject:
		return "an object"
	case fastjson.TypeArray:
		return "an array"
	}
	return "an unknown JSON type"
}

// latLonHint explains the likely cause of an out-of-range latitude: a
// value that would be a valid longitude suggests the pair was swapped.
func latLonHint(lat float64) string {
	if lat >= minLon && lat <= maxLon {
		return "coordinates may be swapped"
	}
	return ""
}

// checkLatLon range-checks a coordinate pair once both are known.
func (c *objectCheck) checkLatLon(lat, lon float64) {
	c.inRange("lat", lat, minLat, maxLat, latLonHint(lat))
	c.inRange("lon", lon, minLon, maxLon, "")
}
