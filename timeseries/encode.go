package timeseries

import (
	"fmt"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/hwtrack/hwtrack/model"
)

// Tag and field keys of a fix point.
const (
	tagTerminal = "terminal"

	fieldLat        = "lat"
	fieldLon        = "lon"
	fieldAlt        = "alt"
	fieldSpeed      = "speed"
	fieldHeading    = "heading"
	fieldValid      = "valid"
	fieldSats       = "sats"
	fieldHDOP       = "hdop"
	fieldAccuracy   = "accuracy"
	fieldACC        = "acc"
	fieldOdometer   = "odometer"
	fieldAlarm      = "alarm"
	fieldStatus     = "status"
	fieldSource     = "source"
	fieldSeq        = "seq"
	fieldReceivedAt = "received_at"
)

// pointEncoder appends fixes as line protocol to a buffer. It is not safe
// for concurrent use.
type pointEncoder struct {
	measurement string
	enc         lineprotocol.Encoder
	// badField is the first field of the current line whose value has no
	// line protocol form.
	badField string
}

func newPointEncoder(measurement string) *pointEncoder {
	e := &pointEncoder{measurement: measurement}
	e.enc.SetPrecision(lineprotocol.Nanosecond)
	// Lax mode skips the checks of names and tag values, which halves the
	// cost per point: the keys are constants, the configuration checks the
	// measurement, and terminal ids are registered as ASCII letters,
	// digits, '_' and '-'. Escaping still applies.
	e.enc.SetLax(true)
	return e
}

// appendFix appends f as one line to dst and returns the extended buffer.
// On error dst is returned unchanged: a fix with a non-finite number or a
// time outside InfluxDB's range (years 1677 to 2262) has no line protocol
// form.
func (e *pointEncoder) appendFix(dst []byte, f *model.Fix) ([]byte, error) {
	start := len(dst)
	e.enc.SetBuffer(dst)
	e.badField = ""
	e.enc.StartLine(e.measurement)
	e.enc.AddTag(tagTerminal, f.Terminal)

	e.addFloat(fieldLat, f.Lat)
	e.addFloat(fieldLon, f.Lon)
	if f.Has&model.HasAlt != 0 {
		e.addFloat(fieldAlt, f.AltM)
	}
	if f.Has&model.HasSpeed != 0 {
		e.addFloat(fieldSpeed, f.SpeedKmh)
	}
	if f.Has&model.HasHeading != 0 {
		e.addFloat(fieldHeading, f.HeadingDeg)
	}
	e.enc.AddField(fieldValid, lineprotocol.BoolValue(f.Valid))
	if f.Has&model.HasSats != 0 {
		e.enc.AddField(fieldSats, lineprotocol.IntValue(int64(f.Sats)))
	}
	if f.Has&model.HasHDOP != 0 {
		e.addFloat(fieldHDOP, f.HDOP)
	}
	if f.Has&model.HasAccuracy != 0 {
		e.addFloat(fieldAccuracy, f.AccuracyM)
	}
	if f.Has&model.HasACC != 0 {
		e.enc.AddField(fieldACC, lineprotocol.BoolValue(f.ACC))
	}
	if f.Has&model.HasOdometer != 0 {
		e.addFloat(fieldOdometer, f.OdometerKm)
	}
	if f.Has&model.HasAlarm != 0 {
		e.enc.AddField(fieldAlarm, lineprotocol.IntValue(int64(f.Alarm)))
	}
	if f.Has&model.HasStatus != 0 {
		e.enc.AddField(fieldStatus, lineprotocol.IntValue(int64(f.Status)))
	}
	source, _ := lineprotocol.StringValue(f.Source.String())
	e.enc.AddField(fieldSource, source)
	if f.Has&model.HasSeq != 0 {
		// Same bits as the uint64, read back by a conversion.
		e.enc.AddField(fieldSeq, lineprotocol.IntValue(int64(f.Seq)))
	}
	if !f.ReceivedAt.IsZero() {
		e.enc.AddField(fieldReceivedAt, lineprotocol.IntValue(f.ReceivedAt.UnixNano()))
	}
	e.enc.EndLine(f.Time)

	err := e.enc.Err()
	if err == nil && e.badField != "" {
		err = fmt.Errorf("field %s is not a finite number", e.badField)
	}
	if err != nil {
		e.enc.ClearErr()
		return dst[:start], fmt.Errorf("encode fix of %s at %s: %w", f.Terminal, f.Time.Format(time.RFC3339Nano), err)
	}
	return e.enc.Bytes(), nil
}

func (e *pointEncoder) addFloat(key string, v float64) {
	value, ok := lineprotocol.FloatValue(v)
	if !ok {
		if e.badField == "" {
			e.badField = key
		}
		return
	}
	e.enc.AddField(key, value)
}
