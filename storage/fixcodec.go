package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// A fix value is, in order:
//
//	byte     codec version (fixCodecV1)
//	byte     flags: bit 0 Valid, bit 1 ACC, bit 2 ReceivedAt set, bits 4-5 Source
//	uvarint  Has bitmask
//	8 bytes  Lat, 8 bytes Lon: float64 bits, little-endian
//	varint   ReceivedAt - Time in ns, zigzag (when flag bit 2 is set)
//	then, only for fields whose Has bit is set, in Has bit order:
//	  AltM, SpeedKmh, HeadingDeg   compactFloat
//	  Sats                         uvarint
//	  HDOP, AccuracyM, OdometerKm  compactFloat
//	  Alarm, Status                uvarint
//	uvarint  RawSeq
//
// Terminal, Time and Seq come from the key. A compactFloat is the float64
// bits byte-reversed and written as a uvarint: values with short mantissas
// such as 42.5 or 90 take 2 to 4 bytes, and every value round-trips
// exactly. An optional field whose Has bit is clear is not stored and
// decodes as zero. Valid, ACC, Source and Seq are always stored.
const fixCodecV1 = 1

const (
	fixFlagValid       = 1 << 0
	fixFlagACC         = 1 << 1
	fixFlagReceivedAt  = 1 << 2
	fixFlagSourceShift = 4
)

var errBadFixValue = errors.New("corrupt fix value")

func appendCompactFloat(b []byte, f float64) []byte {
	return binary.AppendUvarint(b, bits.ReverseBytes64(math.Float64bits(f)))
}

// valueReader reads the fields of a fix value. The first malformed field
// sets bad, and every later read returns zero.
type valueReader struct {
	b   []byte
	bad bool
}

func (r *valueReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *valueReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *valueReader) compactFloat() float64 {
	return math.Float64frombits(bits.ReverseBytes64(r.uvarint()))
}

func (r *valueReader) fixedFloat() float64 {
	if len(r.b) < 8 {
		r.bad = true
		r.b = nil
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

// validateFix rejects fixes that cannot be keyed or whose floats would not
// encode as JSON later.
func validateFix(f *model.Fix, i int, verr *model.ValidationError) {
	field := func(name string) string { return fmt.Sprintf("fixes[%d].%s", i, name) }
	if err := validateID("terminal", f.Terminal); err != nil {
		verr.Add(field("terminal"), err.Error())
	}
	if f.Time.IsZero() || !inNanoRange(f.Time) {
		verr.Add(field("time"), "missing or outside years 1678 to 2261")
	}
	if !f.ReceivedAt.IsZero() && !inNanoRange(f.ReceivedAt) {
		verr.Add(field("received_at"), "outside years 1678 to 2261")
	}
	floats := []struct {
		name string
		v    float64
	}{
		{"lat", f.Lat}, {"lon", f.Lon}, {"alt", f.AltM}, {"speed", f.SpeedKmh},
		{"heading", f.HeadingDeg}, {"hdop", f.HDOP}, {"accuracy", f.AccuracyM}, {"odometer", f.OdometerKm},
	}
	for _, fl := range floats {
		if math.IsNaN(fl.v) || math.IsInf(fl.v, 0) {
			verr.Add(field(fl.name), "not a finite number")
		}
	}
	if f.Sats < 0 {
		verr.Add(field("sats"), "negative")
	}
	if f.Source > 3 {
		verr.Add(field("source"), fmt.Sprintf("unknown source %d", f.Source))
	}
}

// appendFixValue encodes the value part of f, which must pass validateFix.
func appendFixValue(b []byte, f *model.Fix) []byte {
	flags := byte(f.Source) << fixFlagSourceShift
	if f.Valid {
		flags |= fixFlagValid
	}
	if f.ACC {
		flags |= fixFlagACC
	}
	if !f.ReceivedAt.IsZero() {
		flags |= fixFlagReceivedAt
	}

	b = append(b, fixCodecV1, flags)
	b = binary.AppendUvarint(b, uint64(f.Has))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f.Lat))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f.Lon))
	if !f.ReceivedAt.IsZero() {
		b = binary.AppendVarint(b, f.ReceivedAt.UnixNano()-f.Time.UnixNano())
	}

	if f.Has&model.HasAlt != 0 {
		b = appendCompactFloat(b, f.AltM)
	}
	if f.Has&model.HasSpeed != 0 {
		b = appendCompactFloat(b, f.SpeedKmh)
	}
	if f.Has&model.HasHeading != 0 {
		b = appendCompactFloat(b, f.HeadingDeg)
	}
	if f.Has&model.HasSats != 0 {
		b = binary.AppendUvarint(b, uint64(f.Sats))
	}
	if f.Has&model.HasHDOP != 0 {
		b = appendCompactFloat(b, f.HDOP)
	}
	if f.Has&model.HasAccuracy != 0 {
		b = appendCompactFloat(b, f.AccuracyM)
	}
	if f.Has&model.HasOdometer != 0 {
		b = appendCompactFloat(b, f.OdometerKm)
	}
	if f.Has&model.HasAlarm != 0 {
		b = binary.AppendUvarint(b, uint64(f.Alarm))
	}
	if f.Has&model.HasStatus != 0 {
		b = binary.AppendUvarint(b, uint64(f.Status))
	}
	return binary.AppendUvarint(b, f.RawSeq)
}

// decodeFix decodes a fix from its key suffix (time and seq, 16 bytes) and
// value. terminal is shared by every fix of one scan.
func decodeFix(terminal string, keySuffix, v []byte, f *model.Fix) error {
	if len(keySuffix) != 16 {
		return fmt.Errorf("%w: key suffix of %d bytes", errBadFixValue, len(keySuffix))
	}
	if len(v) < 2+1+16 || v[0] != fixCodecV1 {
		return fmt.Errorf("%w: short value or unknown version", errBadFixValue)
	}
	*f = model.Fix{Terminal: terminal}
	f.Time = decodeTime(keySuffix)
	f.Seq = binary.BigEndian.Uint64(keySuffix[8:])

	flags := v[1]
	f.Valid = flags&fixFlagValid != 0
	f.ACC = flags&fixFlagACC != 0
	f.Source = model.Source(flags >> fixFlagSourceShift & 0x3)

	r := valueReader{b: v[2:]}
	f.Has = model.FieldSet(r.uvarint())
	f.Lat = r.fixedFloat()
	f.Lon = r.fixedFloat()
	if flags&fixFlagReceivedAt != 0 {
		f.ReceivedAt = time.Unix(0, f.Time.UnixNano()+r.varint()).UTC()
	}
	if f.Has&model.HasAlt != 0 {
		f.AltM = r.compactFloat()
	}
	if f.Has&model.HasSpeed != 0 {
		f.SpeedKmh = r.compactFloat()
	}
	if f.Has&model.HasHeading != 0 {
		f.HeadingDeg = r.compactFloat()
	}
	if f.Has&model.HasSats != 0 {
		f.Sats = int(r.uvarint())
	}
	if f.Has&model.HasHDOP != 0 {
		f.HDOP = r.compactFloat()
	}
	if f.Has&model.HasAccuracy != 0 {
		f.AccuracyM = r.compactFloat()
	}
	if f.Has&model.HasOdometer != 0 {
		f.OdometerKm = r.compactFloat()
	}
	if f.Has&model.HasAlarm != 0 {
		f.Alarm = uint32(r.uvarint())
	}
	if f.Has&model.HasStatus != 0 {
		f.Status = uint32(r.uvarint())
	}
	f.RawSeq = r.uvarint()
	if r.bad {
		return errBadFixValue
	}
	return nil
}
