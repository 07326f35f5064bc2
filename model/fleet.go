package model

import (
	"encoding/json"
	"time"
)

// Vehicle is a registered transport vehicle and its onboard unit. The
// terminal id is the MQTT username and the key everywhere else.
type Vehicle struct {
	Terminal string `json:"terminal"`
	Plate    string `json:"plate"`
	// SecretHash is the keyed hash of the unit's MQTT password; the
	// password itself is never stored.
	SecretHash []byte    `json:"secret_hash,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// Shipper is the enterprise a booking collects from (移出人).
type Shipper struct {
	Name       string  `json:"name" yaml:"name"`
	CreditCode string  `json:"credit_code" yaml:"credit_code"` // unified social credit code, 18 characters
	Lat        float64 `json:"lat" yaml:"lat"`
	Lon        float64 `json:"lon" yaml:"lon"`
}

// Waste is one line of a transfer manifest.
type Waste struct {
	Code      string  `json:"code" yaml:"code"` // NNN-NNN-NN; the last two digits are the HW category
	Name      string  `json:"name" yaml:"name"`
	Form      string  `json:"form" yaml:"form"`     // physical form, e.g. 液态, 固态
	Hazard    string  `json:"hazard" yaml:"hazard"` // hazard characteristics, e.g. T, T/I
	Packaging string  `json:"packaging" yaml:"packaging"`
	Count     int     `json:"count" yaml:"count"`
	WeightKg  float64 `json:"weight_kg" yaml:"weight_kg"`
}

// Booking is one enterprise's pickup request with its transfer manifest
// (转移联单). One manifest covers one shipper on one run, so a milk-run trip
// carries several bookings.
type Booking struct {
	ID         string    `json:"id"`
	ManifestNo string    `json:"manifest_no"` // 14 digits: year, province, prefecture, serial
	Shipper    Shipper   `json:"shipper"`
	Wastes     []Waste   `json:"wastes"`
	CreatedAt  time.Time `json:"created_at"`
}

// TripState is where a trip is in its lifecycle.
type TripState uint8

const (
	TripUnknown TripState = iota
	// TripDispatched is a trip created and assigned to a vehicle. It is
	// active (checked against its route) from its planned start.
	TripDispatched
	TripCompleted
)

func (s TripState) String() string {
	switch s {
	case TripDispatched:
		return "dispatched"
	case TripCompleted:
		return "completed"
	default:
		return "unknown"
	}
}

func (s TripState) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *TripState) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	switch name {
	case "dispatched":
		*s = TripDispatched
	case "completed":
		*s = TripCompleted
	default:
		*s = TripUnknown
	}
	return nil
}

// Trip is one run of a vehicle along a planned route, collecting the
// bookings it lists.
type Trip struct {
	ID       string `json:"id"`
	Terminal string `json:"terminal"`
	Driver   string `json:"driver"`
	Escort   string `json:"escort"`
	// Route is the planned route as a GeoJSON LineString in WGS-84.
	Route json.RawMessage `json:"route"`
	// CorridorM is the full corridor width in metres, as in JT/T 808 route
	// segments: a fix may be up to CorridorM/2 from the route line.
	CorridorM float64 `json:"corridor_m"`
	// Segments, when present, has one entry per route segment (segment i
	// joins route points i and i+1) with that segment's own attributes.
	Segments []RouteSegment `json:"segments,omitempty"`
	Bookings []string       `json:"bookings"`
	// CameraRequired makes a camera stream that fails to start or drops
	// during the trip a video_loss deviation.
	CameraRequired bool      `json:"camera_required"`
	PlannedStart   time.Time `json:"planned_start"`
	PlannedEnd     time.Time `json:"planned_end"`
	State          TripState `json:"state"`
	CreatedAt      time.Time `json:"created_at"`
	CompletedAt    time.Time `json:"completed_at,omitzero"`
}

// RouteSegment is the attributes of one segment of a trip's route, as
// JT/T 808 route segments carry them. A zero field leaves the trip's
// corridor width or the usual speed limit in force, or sets no travel time
// bound.
type RouteSegment struct {
	WidthM     float64 `json:"width_m,omitempty"`      // full corridor width in metres
	LimitKmh   float64 `json:"limit_kmh,omitempty"`    // speed limit in km/h
	MinTravelS int     `json:"min_travel_s,omitempty"` // shortest plausible travel time in seconds
	MaxTravelS int     `json:"max_travel_s,omitempty"` // longest allowed travel time in seconds
}

// ActiveAt reports whether the trip is checked against its route at t:
// from its planned start until it is completed.
func (t *Trip) ActiveAt(at time.Time) bool {
	if at.Before(t.PlannedStart) {
		return false
	}
	if t.State == TripCompleted && !at.Before(t.CompletedAt) {
		return false
	}
	return true
}

// Zone is a stored geofence: the GeoJSON Feature as it was accepted, with
// its geometry already converted to WGS-84.
type Zone struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Feature   json.RawMessage `json:"feature"`
	CreatedAt time.Time       `json:"created_at"`
}
