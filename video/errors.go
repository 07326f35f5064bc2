package video

import (
	"errors"
	"strings"
	"time"
)

// Sentinel errors of Relay.Join, Leave and Stop. The HTTP API maps each to
// a status code.
var (
	// ErrUnknownVehicle is a terminal id that is not registered.
	ErrUnknownVehicle = errors.New("vehicle is not registered")
	// ErrUnknownChannel is a channel the vehicle does not have.
	ErrUnknownChannel = errors.New("vehicle has no such camera channel")
	// ErrOffline is a vehicle with no MQTT connection, which therefore
	// cannot receive the start command.
	ErrOffline = errors.New("vehicle is offline")
	// ErrStartFailed is a stream that could not be started; the error is
	// a *StartFailure with the reason.
	ErrStartFailed = errors.New("camera stream could not be started")
	// ErrViewerNotFound is a viewer session that does not exist (any
	// more).
	ErrViewerNotFound = errors.New("viewer session not found")
	// ErrBadOffer is a viewer's SDP offer the relay cannot answer.
	ErrBadOffer = errors.New("invalid SDP offer")
	// ErrClosed is any call after Close.
	ErrClosed = errors.New("video relay is closed")
)

// FailureReason classifies why a stream failed to start or dropped. The
// String forms are stable: they are metric labels and API values.
type FailureReason uint8

const (
	FailureUnknown FailureReason = iota
	// FailureOffline: the vehicle had no MQTT connection.
	FailureOffline
	// FailureNoOffer: the vehicle sent no offer within the start timeout.
	FailureNoOffer
	// FailureBadOffer: the vehicle's offer could not be answered.
	FailureBadOffer
	// FailureVehicleError: the vehicle reported that it cannot start.
	FailureVehicleError
	// FailureICE: ICE or DTLS failed, or did not connect in time.
	FailureICE
	// FailureNoMedia: connected, but no RTP arrived in time.
	FailureNoMedia
	// FailureDisconnected: a live stream's connection was lost.
	FailureDisconnected
	// FailureRTPTimeout: a live stream stopped sending RTP.
	FailureRTPTimeout
	// FailureRelay: the relay could not do its part, such as opening its
	// ICE port or sending the start command.
	FailureRelay

	failureCount // must stay last
)

var failureNames = [...]string{
	FailureUnknown:      "unknown",
	FailureOffline:      "offline",
	FailureNoOffer:      "no_offer",
	FailureBadOffer:     "bad_offer",
	FailureVehicleError: "vehicle_error",
	FailureICE:          "ice_failed",
	FailureNoMedia:      "no_media",
	FailureDisconnected: "disconnected",
	FailureRTPTimeout:   "rtp_timeout",
	FailureRelay:        "relay_error",
}

func (r FailureReason) String() string {
	if int(r) < len(failureNames) {
		return failureNames[r]
	}
	return "unknown"
}

// MarshalText writes the stable name, so JSON carries "ice_failed" and
// not a number.
func (r FailureReason) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// StartFailure is why a stream failed to start or dropped.
type StartFailure struct {
	Reason FailureReason `json:"reason"`
	// Message says what happened in plain English, naming the timeout or
	// the vehicle's own message.
	Message string `json:"message"`
	// Candidates lists the ICE candidates both sides offered, such as
	// "local udp 127.0.0.1:8189 host", when ICE was involved.
	Candidates []string  `json:"candidates,omitempty"`
	At         time.Time `json:"at"`
}

func (f *StartFailure) Error() string {
	msg := "camera stream failed (" + f.Reason.String() + "): " + f.Message
	if len(f.Candidates) > 0 {
		msg += "; candidates: " + strings.Join(f.Candidates, ", ")
	}
	return msg
}

// Is makes errors.Is(err, ErrStartFailed) hold, and ErrOffline for a
// vehicle that was offline.
func (f *StartFailure) Is(target error) bool {
	return target == ErrStartFailed || (target == ErrOffline && f.Reason == FailureOffline)
}

// EventKind is the kind of change in a stream's state.
type EventKind uint8

const (
	EventUnknown EventKind = iota
	// EventLive: RTP from the vehicle arrived; the stream is up.
	EventLive
	// EventStartFailed: a requested stream did not come up.
	EventStartFailed
	// EventDropped: a live stream was lost.
	EventDropped
	// EventStopped: the stream was ended on purpose (no viewers left, a
	// stop request, or shutdown).
	EventStopped
)

func (k EventKind) String() string {
	switch k {
	case EventLive:
		return "live"
	case EventStartFailed:
		return "start_failed"
	case EventDropped:
		return "dropped"
	case EventStopped:
		return "stopped"
	default:
		return "unknown"
	}
}

// Event is a stream state change, reported to Options.OnEvent.
type Event struct {
	Terminal string
	Channel  int
	Kind     EventKind
	// Failure is set for EventStartFailed and EventDropped.
	Failure *StartFailure
	At      time.Time
}
