package model

import (
	"encoding/json"
	"time"
)

// FixJSON is the protocol v1 fix object as the API returns it. Optional
// fields the unit did not send are omitted.
type FixJSON struct {
	Time       string   `json:"time"`
	ReceivedAt string   `json:"received_at,omitempty"`
	Lat        float64  `json:"lat"`
	Lon        float64  `json:"lon"`
	Alt        *float64 `json:"alt,omitempty"`
	Speed      *float64 `json:"speed,omitempty"`
	Heading    *float64 `json:"heading,omitempty"`
	Valid      bool     `json:"valid"`
	Sats       *int     `json:"sats,omitempty"`
	HDOP       *float64 `json:"hdop,omitempty"`
	Accuracy   *float64 `json:"accuracy,omitempty"`
	ACC        *bool    `json:"acc,omitempty"`
	Odometer   *float64 `json:"odometer,omitempty"`
	Alarm      *uint32  `json:"alarm,omitempty"`
	Status     *uint32  `json:"status,omitempty"`
	Source     string   `json:"source"`
	Seq        *uint64  `json:"seq,omitempty"`
}

// JSON converts f to its API representation with times in RFC 3339 UTC.
func (f *Fix) JSON() FixJSON {
	out := FixJSON{
		Time:   f.Time.UTC().Format(time.RFC3339Nano),
		Lat:    f.Lat,
		Lon:    f.Lon,
		Valid:  f.Valid,
		Source: f.Source.String(),
	}
	if !f.ReceivedAt.IsZero() {
		out.ReceivedAt = f.ReceivedAt.UTC().Format(time.RFC3339Nano)
	}
	if f.Has&HasAlt != 0 {
		out.Alt = &f.AltM
	}
	if f.Has&HasSpeed != 0 {
		out.Speed = &f.SpeedKmh
	}
	if f.Has&HasHeading != 0 {
		out.Heading = &f.HeadingDeg
	}
	if f.Has&HasSats != 0 {
		out.Sats = &f.Sats
	}
	if f.Has&HasHDOP != 0 {
		out.HDOP = &f.HDOP
	}
	if f.Has&HasAccuracy != 0 {
		out.Accuracy = &f.AccuracyM
	}
	if f.Has&HasACC != 0 {
		out.ACC = &f.ACC
	}
	if f.Has&HasOdometer != 0 {
		out.Odometer = &f.OdometerKm
	}
	if f.Has&HasAlarm != 0 {
		out.Alarm = &f.Alarm
	}
	if f.Has&HasStatus != 0 {
		out.Status = &f.Status
	}
	if f.Has&HasSeq != 0 {
		out.Seq = &f.Seq
	}
	return out
}

// MarshalJSON encodes f as a protocol v1 fix object.
func (f Fix) MarshalJSON() ([]byte, error) {
	return json.Marshal(f.JSON())
}
