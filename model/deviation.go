package model

import (
	"encoding/json"
	"time"
)

// DeviationKind is the stable identifier of an alarm kind. The string forms
// are part of the external contract.
type DeviationKind uint8

const (
	KindUnknown DeviationKind = iota
	KindRouteDeviation
	KindRestrictedZone
	KindOverspeed
	KindLongStop
	KindSignalLoss
	KindTripOvertime
	KindDeviceAlarm
	KindVideoLoss
)

var kindNames = [...]string{
	KindUnknown:        "unknown",
	KindRouteDeviation: "route_deviation",
	KindRestrictedZone: "restricted_zone",
	KindOverspeed:      "overspeed",
	KindLongStop:       "long_stop",
	KindSignalLoss:     "signal_loss",
	KindTripOvertime:   "trip_overtime",
	KindDeviceAlarm:    "device_alarm",
	KindVideoLoss:      "video_loss",
}

func (k DeviationKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// ParseDeviationKind maps a stable identifier to its kind.
func ParseDeviationKind(s string) (DeviationKind, bool) {
	for i, name := range kindNames {
		if i != 0 && name == s {
			return DeviationKind(i), true
		}
	}
	return KindUnknown, false
}

func (k DeviationKind) MarshalJSON() ([]byte, error) { return json.Marshal(k.String()) }

func (k *DeviationKind) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*k, _ = ParseDeviationKind(s)
	return nil
}

// DeviationState is whether an episode is still going on.
type DeviationState uint8

const (
	StateUnknown DeviationState = iota
	StateOpen
	StateClosed
)

func (s DeviationState) String() string {
	switch s {
	case StateOpen:
		return "open"
	case StateClosed:
		return "closed"
	default:
		return "unknown"
	}
}

// ParseDeviationState maps "open" or "closed" to its state.
func ParseDeviationState(s string) (DeviationState, bool) {
	switch s {
	case "open":
		return StateOpen, true
	case "closed":
		return StateClosed, true
	}
	return StateUnknown, false
}

func (s DeviationState) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

func (s *DeviationState) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	*s, _ = ParseDeviationState(name)
	return nil
}

// Deviation is one alarm episode: it opens once, may be updated, and closes
// once. ID is stable for the whole episode, so the open and the close
// messages of one episode share it and a receiver can pair them.
type Deviation struct {
	ID       string         `json:"id"`
	Kind     DeviationKind  `json:"kind"`
	State    DeviationState `json:"state"`
	Terminal string         `json:"terminal"`
	TripID   string         `json:"trip_id,omitempty"`

	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Lat and Lon are where the episode started; EndLat and EndLon where it
	// ended.
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	EndLat float64 `json:"end_lat,omitempty"`
	EndLon float64 `json:"end_lon,omitempty"`

	// ZoneID and ZoneName name the zone involved; for a route deviation
	// the zone is the trip's route and Segment the nearest segment index.
	ZoneID   string `json:"zone_id,omitempty"`
	ZoneName string `json:"zone_name,omitempty"`
	Segment  int    `json:"segment,omitempty"`
	// Channel is the camera channel of a video_loss episode (JT/T 1078
	// numbering: 1 driver, 2 road ahead, 3 cargo/tank, 10 rear).
	Channel int `json:"channel,omitempty"`

	// Peak is the episode's extreme value: metres off the route for a
	// route deviation, km/h for overspeed, seconds for a stop.
	Peak float64 `json:"peak,omitempty"`

	// Late marks an episode decided from fixes that arrived after newer
	// ones; ReceivedAt is when the deciding fix reached the server.
	Late       bool      `json:"late"`
	ReceivedAt time.Time `json:"received_at"`

	Severity string `json:"severity,omitempty"`
	TextZH   string `json:"text"`
	TextEN   string `json:"text_en"`

	// Handling is what regulators did about the episode. The rules engine
	// leaves it zero; the API fills it in from the stored handling record.
	Handling Handling `json:"handling,omitzero"`
}
