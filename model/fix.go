package model

import "time"

// Source says how a fix reached the server, as the onboard unit declared it.
type Source uint8

const (
	SourceUnknown Source = iota
	// SourceRealtime is a fix sent as it was taken (the default).
	SourceRealtime
	// SourceBatch is a fix sent in a batch of several (JT/T 808 0x0704 type 0).
	SourceBatch
	// SourceBlind is a fix buffered out of coverage and re-sent later
	// (JT/T 808 0x0704 type 1, 盲区补报).
	SourceBlind
)

func (s Source) String() string {
	switch s {
	case SourceRealtime:
		return "realtime"
	case SourceBatch:
		return "batch"
	case SourceBlind:
		return "blind"
	default:
		return "unknown"
	}
}

// ParseSource maps a protocol source name to a Source. The empty string is
// SourceRealtime, the protocol default.
func ParseSource(s string) (Source, bool) {
	switch s {
	case "", "realtime":
		return SourceRealtime, true
	case "batch":
		return SourceBatch, true
	case "blind":
		return SourceBlind, true
	}
	return SourceUnknown, false
}

// FieldSet marks which optional fields of a Fix the unit sent, so a missing
// value is never mistaken for zero.
type FieldSet uint16

const (
	HasAlt FieldSet = 1 << iota
	HasSpeed
	HasHeading
	HasSats
	HasHDOP
	HasAccuracy
	HasACC
	HasOdometer
	HasAlarm
	HasStatus
	HasSeq
)

// Fix is one GNSS position report in WGS-84, decoded from any supported
// payload. Time is the GNSS fix time, ReceivedAt the server's receive time;
// both are kept because late and re-sent fixes are normal.
type Fix struct {
	Terminal   string
	Time       time.Time
	ReceivedAt time.Time

	Lat, Lon float64 // degrees, WGS-84
	AltM     float64

	SpeedKmh   float64
	HeadingDeg float64 // clockwise from north

	// Valid is the unit's own "position valid" flag (JT/T 808 status bit 1).
	Valid     bool
	Sats      int
	HDOP      float64
	AccuracyM float64 // estimated horizontal error
	ACC       bool    // ignition on

	OdometerKm float64
	Alarm      uint32 // raw JT/T 808 alarm word
	Status     uint32 // raw JT/T 808 status word
	Source     Source
	Seq        uint64 // the unit's message counter

	Has FieldSet

	// RawSeq is the sequence number of the raw log record the fix was
	// decoded from; zero when it did not come through the raw log.
	RawSeq uint64
}

// Key identifies a fix for de-duplication: the same vehicle, fix time and
// unit sequence number is the same report, however often it is re-sent.
type FixKey struct {
	Terminal string
	TimeNs   int64
	Seq      uint64
}

// Key returns the de-duplication key of f.
func (f *Fix) Key() FixKey {
	return FixKey{Terminal: f.Terminal, TimeNs: f.Time.UnixNano(), Seq: f.Seq}
}
