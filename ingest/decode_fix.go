package ingest

import (
	"bytes"
	"fmt"
	"math"
	"time"

	"github.com/valyala/fastjson"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// fixField numbers the known fields of a fix object, as bits of a set
// that detects duplicates.
type fixField uint32

const (
	fieldTime fixField = 1 << iota
	fieldLat
	fieldLon
	fieldAlt
	fieldSpeed
	fieldHeading
	fieldValid
	fieldSats
	fieldHDOP
	fieldAccuracy
	fieldACC
	fieldOdometer
	fieldAlarm
	fieldStatus
	fieldSource
	fieldSeq
	fieldCRS
)

// fixDecoder decodes the fix objects of one message.
type fixDecoder struct {
	terminal   string
	receivedAt time.Time
	lim        Limits
	rules      timeRules
	res        Result
}

// decodeObject decodes one fix object and appends either the fix or its
// rejections to d.res. index is its batch position, or -1.
func (d *fixDecoder) decodeObject(v *fastjson.Value, index int) {
	c := objectCheck{index: index}
	fix := model.Fix{
		Terminal:   d.terminal,
		ReceivedAt: d.receivedAt,
		Valid:      true,
		Source:     model.SourceRealtime,
	}
	// seen holds every known field met, to detect duplicates; present
	// only those with a non-null value.
	var seen, present fixField
	var lat, lon float64
	var timeValue *fastjson.Value
	crs := geofence.CRSWGS84

	obj, _ := v.Object()
	obj.Visit(func(key []byte, fv *fastjson.Value) {
		field, name := lookupFixField(key)
		if field == 0 {
			return // unknown fields are ignored
		}
		if seen&field != 0 {
			c.fail(ReasonDuplicateField, name, name+" appears more than once in the fix object")
			return
		}
		seen |= field

		// JSON null on an optional field means the unit has no value, the
		// same as leaving the field out. Required fields are checked below.
		if fv.Type() == fastjson.TypeNull {
			return
		}
		present |= field

		var ok bool
		switch field {
		case fieldTime:
			// Decoded after the visit, so a rejection can carry the seq.
			timeValue = fv
		case fieldLat:
			lat, _ = c.float(name, fv)
		case fieldLon:
			lon, _ = c.float(name, fv)
		case fieldAlt:
			if fix.AltM, ok = c.optionalFloatIn(name, fv, minAltM, maxAltM); ok {
				fix.Has |= model.HasAlt
			}
		case fieldSpeed:
			if fix.SpeedKmh, ok = c.optionalFloatIn(name, fv, minSpeedKmh, maxSpeedKmh); ok {
				fix.Has |= model.HasSpeed
			}
		case fieldHeading:
			if fix.HeadingDeg, ok = c.optionalFloatIn(name, fv, minHeadingDeg, maxHeadingD); ok {
				fix.Has |= model.HasHeading
			}
		case fieldValid:
			fix.Valid, _ = c.boolean(name, fv)
		case fieldSats:
			var n uint64
			if n, ok = c.optionalUnsigned(name, fv, maxSats); ok {
				fix.Sats = int(n)
				fix.Has |= model.HasSats
			}
		case fieldHDOP:
			if fix.HDOP, ok = c.optionalFloatIn(name, fv, 0, math.Inf(1)); ok {
				fix.Has |= model.HasHDOP
			}
		case fieldAccuracy:
			if fix.AccuracyM, ok = c.optionalFloatIn(name, fv, 0, math.Inf(1)); ok {
				fix.Has |= model.HasAccuracy
			}
		case fieldACC:
			if fix.ACC, ok = c.boolean(name, fv); ok {
				fix.Has |= model.HasACC
			}
		case fieldOdometer:
			if fix.OdometerKm, ok = c.optionalFloatIn(name, fv, 0, maxOdometerKm); ok {
				fix.Has |= model.HasOdometer
			}
		case fieldAlarm:
			var n uint64
			if n, ok = c.unsigned(name, fv, math.MaxUint32); ok {
				fix.Alarm = uint32(n)
				fix.Has |= model.HasAlarm
			}
		case fieldStatus:
			var n uint64
			if n, ok = c.unsigned(name, fv, math.MaxUint32); ok {
				fix.Status = uint32(n)
				fix.Has |= model.HasStatus
			}
		case fieldSource:
			fix.Source = d.source(&c, name, fv)
		case fieldSeq:
			if fix.Seq, ok = c.unsigned(name, fv, math.MaxUint64); ok {
				fix.Has |= model.HasSeq
			}
		case fieldCRS:
			crs = d.crs(&c, name, fv)
		}
	})

	d.requireFields(&c, present)
	if present&fieldLat != 0 && present&fieldLon != 0 && !c.failedOn("lat") && !c.failedOn("lon") {
		c.checkLatLon(lat, lon)
		if !c.failed() && crs != geofence.CRSWGS84 {
			lat, lon = convertToWGS84(&c, crs, lat, lon)
		}
	}
	fix.Lat, fix.Lon = lat, lon

	if timeValue != nil {
		fix.Time, _ = d.fixTime(&c, timeValue)
	}

	for _, r := range c.dropped {
		r.Seq, r.HasSeq = fix.Seq, fix.Has&model.HasSeq != 0
	}
	if c.failed() {
		for _, r := range c.rejects {
			r.Seq, r.HasSeq = fix.Seq, fix.Has&model.HasSeq != 0
		}
		d.res.Rejects = append(append(d.res.Rejects, c.rejects...), c.droppedOfRejected()...)
		return
	}
	d.res.Dropped = append(d.res.Dropped, c.dropped...)
	d.res.Fixes = append(d.res.Fixes, fix)
}

// requireFields rejects a fix object without time, lat or lon.
func (d *fixDecoder) requireFields(c *objectCheck, present fixField) {
	for _, req := range [...]struct {
		field fixField
		name  string
	}{{fieldTime, "time"}, {fieldLat, "lat"}, {fieldLon, "lon"}} {
		if present&req.field == 0 {
			c.fail(ReasonMissingField, req.name, req.name+" is required and missing or null")
		}
	}
}

// failedOn reports whether field already has a rejection.
func (c *objectCheck) failedOn(field string) bool {
	for _, r := range c.rejects {
		if r.Field == field {
			return true
		}
	}
	return false
}

// fixTime decodes "time": RFC 3339 with a UTC offset, or Unix
// milliseconds as a JSON number.
func (d *fixDecoder) fixTime(c *objectCheck, v *fastjson.Value) (time.Time, bool) {
	switch v.Type() {
	case fastjson.TypeNumber:
		return c.unixTime("time", v, time.Millisecond, &d.rules, millisecondsHint)
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		t, ok := parseRFC3339(c, "time", b)
		if !ok {
			return time.Time{}, false
		}
		t = c.correctRollover("time", t, &d.rules)
		if !c.checkTime("time", t, &d.rules, "") {
			return time.Time{}, false
		}
		return t, true
	}
	c.fail(ReasonWrongType, "time", "time must be an RFC 3339 string or Unix milliseconds, got "+describe(v))
	return time.Time{}, false
}

// millisecondsHint flags a fix time that looks like Unix seconds: as
// milliseconds, 1e9..1e10 lands in January to April 1970.
func millisecondsHint(n float64) string {
	if n >= 1e9 && n < 1e10 {
		return "the value looks like Unix seconds, but time must be Unix milliseconds"
	}
	return ""
}

// layoutNoOffset is RFC 3339 without the offset, to recognise a common
// mistake and name it.
const layoutNoOffset = "2006-01-02T15:04:05.999999999"

func parseRFC3339(c *objectCheck, field string, b []byte) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err == nil {
		return t.UTC(), true
	}

	msg := field + " " + quote(b) + " is not an RFC 3339 time with a UTC offset such as 2026-12-04T09:30:05+08:00"
	if _, errLocal := time.Parse(layoutNoOffset, string(b)); errLocal == nil {
		msg = field + " " + quote(b) + " has no UTC offset; add one such as +08:00 or Z"
	}
	c.fail(ReasonBadTime, field, msg)
	return time.Time{}, false
}

func (d *fixDecoder) source(c *objectCheck, name string, v *fastjson.Value) model.Source {
	b, ok := c.str(name, v)
	if !ok {
		return model.SourceRealtime
	}
	switch string(b) {
	case "realtime":
		return model.SourceRealtime
	case "batch":
		return model.SourceBatch
	case "blind":
		return model.SourceBlind
	}
	c.fail(ReasonInvalidValue, name, "source "+quote(b)+" is not one of realtime, batch, blind")
	return model.SourceRealtime
}

// crs reads the coordinate reference system of the fix. An unreadable or
// unknown value is rejected, and WGS-84 is returned in its place.
func (d *fixDecoder) crs(c *objectCheck, name string, v *fastjson.Value) geofence.CRS {
	b, ok := c.str(name, v)
	if !ok {
		return geofence.CRSWGS84
	}
	// WGS-84, the default, is matched without ParseCRS, which allocates.
	if bytes.EqualFold(b, []byte("wgs84")) {
		return geofence.CRSWGS84
	}
	crs, err := geofence.ParseCRS(string(b))
	if err != nil {
		c.fail(ReasonUnsupportedCRS, name, "crs "+quote(b)+" is not supported; use wgs84 (the default), gcj02 or bd09")
		return geofence.CRSWGS84
	}
	return crs
}

// convertToWGS84 converts a GCJ-02 or BD-09 position that passed the
// range check. The shifts are a few hundred metres inside China and zero
// outside it, but near the poles or the antimeridian the BD-09 inverse can
// leave the valid range, so the result is checked again.
func convertToWGS84(c *objectCheck, crs geofence.CRS, lat, lon float64) (float64, float64) {
	var wgsLat, wgsLon float64
	switch crs {
	case geofence.CRSGCJ02:
		wgsLat, wgsLon = geofence.GCJ02ToWGS84(lat, lon)
	case geofence.CRSBD09:
		wgsLat, wgsLon = geofence.GCJ02ToWGS84(geofence.BD09ToGCJ02(lat, lon))
	default:
		return lat, lon
	}

	if wgsLat < minLat || wgsLat > maxLat || wgsLon < minLon || wgsLon > maxLon {
		c.fail(ReasonOutOfRange, "lat", fmt.Sprintf("position %s,%s in %v converts to %s,%s in WGS-84, outside -90..90, -180..180",
			formatNumber(lat), formatNumber(lon), crs, formatNumber(wgsLat), formatNumber(wgsLon)))
		return lat, lon
	}
	return wgsLat, wgsLon
}

// lookupFixField maps a key to its field bit and canonical name; an unknown
// key maps to zero.
func lookupFixField(key []byte) (fixField, string) {
	switch string(key) {
	case "time":
		return fieldTime, "time"
	case "lat":
		return fieldLat, "lat"
	case "lon":
		return fieldLon, "lon"
	case "alt":
		return fieldAlt, "alt"
	case "speed":
		return fieldSpeed, "speed"
	case "heading":
		return fieldHeading, "heading"
	case "valid":
		return fieldValid, "valid"
	case "sats":
		return fieldSats, "sats"
	case "hdop":
		return fieldHDOP, "hdop"
	case "accuracy":
		return fieldAccuracy, "accuracy"
	case "acc":
		return fieldACC, "acc"
	case "odometer":
		return fieldOdometer, "odometer"
	case "alarm":
		return fieldAlarm, "alarm"
	case "status":
		return fieldStatus, "status"
	case "source":
		return fieldSource, "source"
	case "seq":
		return fieldSeq, "seq"
	case "crs":
		return fieldCRS, "crs"
	}
	return 0, ""
}
