package ingest

import (
	"math"
	"strconv"
	"time"

	"github.com/valyala/fastjson"

	"github.com/hwtrack/hwtrack/model"
)

// ownTracksTypes are the message types of the OwnTracks JSON format
// (owntracks.org booklet, "JSON" page). Only "location" carries a fix; the
// others are reported as Result.Ignored.
var ownTracksTypes = map[string]string{
	"beacon":        "beacon",
	"card":          "card",
	"cmd":           "cmd",
	"configuration": "configuration",
	"encrypted":     "encrypted",
	"lwt":           "lwt",
	"request":       "request",
	"status":        "status",
	"steps":         "steps",
	"transition":    "transition",
	"waypoint":      "waypoint",
	"waypoints":     "waypoints",
}

// ownTracksOther is Result.Ignored for a _type outside ownTracksTypes.
const ownTracksOther = "other"

// DecodeOwnTracks decodes the payload of a message on
// owntracks/{user}/{device}, where {user} is the vehicle's terminal id.
// A "location" message yields one fix:
//
//	lat, lon  → Lat, Lon (required, degrees WGS-84)
//	tst       → Time (Unix seconds, as a number or a numeric string)
//	acc       → AccuracyM (metres)
//	alt       → AltM (metres)
//	vel       → SpeedKmh (km/h; -1 means unknown and leaves it unset)
//	cog       → HeadingDeg (degrees; -1 means unknown and leaves it unset)
//
// A location without tst gets the receive time as its fix time, as the
// OwnTracks Recorder does. Other fields such as batt, tid, vac and conn are ignored. Every other
// message type is returned with Ignored set and no rejection. The fix has
// Source realtime, Valid true and no Seq, because OwnTracks sends neither.
// DecodeOwnTracks is safe for concurrent use and does not retain payload.
func DecodeOwnTracks(terminal string, payload []byte, receivedAt time.Time, lim Limits) Result {
	lim = lim.withDefaults()
	receivedAt = receivedAt.UTC()
	var res Result

	p := parsers.Get()
	defer parsers.Put(p)

	v := parsePayload(p, payload, lim, &res)
	if v == nil {
		return res
	}
	if v.Type() != fastjson.TypeObject {
		res.Rejects = append(res.Rejects, &RejectError{
			Reason:  ReasonNotObject,
			Index:   -1,
			Message: "payload is " + describe(v) + ", expected an OwnTracks JSON object",
		})
		return res
	}

	c := objectCheck{index: -1}
	typeValue := v.Get("_type")
	if typeValue == nil || typeValue.Type() == fastjson.TypeNull {
		c.fail(ReasonMissingField, "_type", "_type is required and missing or null; this is not an OwnTracks message")
		res.Rejects = c.rejects
		return res
	}
	typeName, ok := c.str("_type", typeValue)
	if !ok {
		res.Rejects = c.rejects
		return res
	}
	if string(typeName) != "location" {
		res.Ignored = ownTracksOther
		if known, found := ownTracksTypes[string(typeName)]; found {
			res.Ignored = known
		}
		return res
	}

	rules := newTimeRules(lim, receivedAt)
	fix, ok := decodeOwnTracksLocation(&c, v, receivedAt, &rules)
	if !ok {
		res.Rejects = append(c.rejects, c.droppedOfRejected()...)
		return res
	}
	fix.Terminal = terminal
	res.Fixes = []model.Fix{fix}
	res.Dropped = c.dropped
	return res
}

// decodeOwnTracksLocation decodes the fields of a "location" message.
func decodeOwnTracksLocation(c *objectCheck, v *fastjson.Value, receivedAt time.Time, rules *timeRules) (model.Fix, bool) {
	fix := model.Fix{
		ReceivedAt: receivedAt,
		Time:       receivedAt,
		Valid:      true,
		Source:     model.SourceRealtime,
	}
	obj, _ := v.Object()

	latValue, lonValue := present(obj, "lat"), present(obj, "lon")
	if latValue == nil {
		c.fail(ReasonMissingField, "lat", "lat is required and missing or null")
	}
	if lonValue == nil {
		c.fail(ReasonMissingField, "lon", "lon is required and missing or null")
	}
	if latValue != nil && lonValue != nil {
		lat, latOK := c.float("lat", latValue)
		lon, lonOK := c.float("lon", lonValue)
		if latOK && lonOK {
			c.checkLatLon(lat, lon)
			fix.Lat, fix.Lon = lat, lon
		}
	}

	if tst := present(obj, "tst"); tst != nil {
		fix.Time, _ = ownTracksTime(c, tst, rules)
	}

	var ok bool
	if acc := present(obj, "acc"); acc != nil {
		if fix.AccuracyM, ok = c.optionalFloatIn("acc", acc, 0, math.Inf(1)); ok {
			fix.Has |= model.HasAccuracy
		}
	}
	if alt := present(obj, "alt"); alt != nil {
		if fix.AltM, ok = c.optionalFloatIn("alt", alt, minAltM, maxAltM); ok {
			fix.Has |= model.HasAlt
		}
	}
	if vel := present(obj, "vel"); vel != nil {
		if fix.SpeedKmh, ok = unknownOrIn(c, "vel", vel, minSpeedKmh, maxSpeedKmh); ok {
			fix.Has |= model.HasSpeed
		}
	}
	if cog := present(obj, "cog"); cog != nil {
		if fix.HeadingDeg, ok = unknownOrIn(c, "cog", cog, minHeadingDeg, maxHeadingD); ok {
			fix.Has |= model.HasHeading
		}
	}

	return fix, !c.failed()
}

// present returns the value of key, or nil when it is absent or null.
// OwnTracks objects are small, so a linear lookup per field is cheap.
func present(obj *fastjson.Object, key string) *fastjson.Value {
	v := obj.Get(key)
	if v == nil || v.Type() == fastjson.TypeNull {
		return nil
	}
	return v
}

// unknownOrIn reads an optional OwnTracks number where -1 means
// "unknown": it returns ok false with no problem for -1, and records a
// value of the wrong type or outside lo..hi in c.dropped.
func unknownOrIn(c *objectCheck, field string, v *fastjson.Value, lo, hi float64) (float64, bool) {
	sub := objectCheck{index: c.index}
	f, ok := sub.float(field, v)
	if ok && f == -1 {
		return 0, false
	}
	if !ok || !sub.inRange(field, f, lo, hi, "-1 means unknown") {
		c.dropped = append(c.dropped, sub.rejects...)
		return 0, false
	}
	return f, true
}

// ownTracksTime decodes tst: Unix seconds as a JSON number, or as a string
// of decimal digits, which older iOS clients and the Recorder's own lwt
// messages send.
func ownTracksTime(c *objectCheck, v *fastjson.Value, rules *timeRules) (time.Time, bool) {
	switch v.Type() {
	case fastjson.TypeNumber:
		return c.unixTime("tst", v, time.Second, rules, secondsHint)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		n, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil || b[0] == '+' || b[0] == '-' {
			c.fail(ReasonBadTime, "tst", "tst "+quote(b)+" is not Unix seconds; send an integer such as 1706858149")
			return time.Time{}, false
		}
		if n >= 1<<40 {
			c.checkTimeValue("tst", float64(n), rules.max.Add(time.Nanosecond), rules, secondsHint(float64(n)))
			return time.Time{}, false
		}
		t := c.correctRollover("tst", time.Unix(n, 0).UTC(), rules)
		if !c.checkTime("tst", t, rules, secondsHint(float64(n))) {
			return time.Time{}, false
		}
		return t, true
	}
	c.fail(ReasonWrongType, "tst", "tst must be Unix seconds as a number or a numeric string, got "+describe(v))
	return time.Time{}, false
}

// secondsHint flags a tst that looks like Unix milliseconds: as seconds,
// anything from 1e11 lies after the year 5000.
func secondsHint(n float64) string {
	if n >= 1e11 {
		return "the value looks like Unix milliseconds, but tst must be Unix seconds"
	}
	return ""
}
