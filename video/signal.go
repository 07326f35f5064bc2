package video

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Topic layout of the camera signalling, below hwt/v1/{terminal}/. The
// server sends commands on cmd and answers and its own ICE candidates under
// video/{channel}/; the vehicle sends offers, candidates and start errors
// under video/{channel}/.
const (
	topicPrefix = "hwt/v1/"

	SubtopicOffer     = "offer"
	SubtopicAnswer    = "answer"
	SubtopicCandidate = "candidate"
	SubtopicError     = "error"
)

// Commands the server sends on hwt/v1/{terminal}/cmd.
const (
	CmdVideoStart = "video_start"
	CmdVideoStop  = "video_stop"
)

// Origins of a candidate message. Both sides publish candidates on the same
// topic, and an MQTT 3.1.1 subscriber also receives its own publishes, so
// each side skips the messages it sent itself.
const (
	FromVehicle = "vehicle"
	FromServer  = "server"
)

// MaxSignalBytes caps a signalling payload. An SDP offer of one video
// track is a few kilobytes.
const MaxSignalBytes = 64 << 10

// MinChannel and MaxChannel bound a JT/T 1078 logical channel number,
// which is one byte on the wire and 0 is not a channel.
const (
	MinChannel = 1
	MaxChannel = 255
)

// CommandTopic returns the topic a vehicle receives commands on.
func CommandTopic(terminal string) string { return topicPrefix + terminal + "/cmd" }

// ChannelTopic returns the signalling topic of one camera channel, such as
// hwt/v1/{terminal}/video/2/offer.
func ChannelTopic(terminal string, channel int, subtopic string) string {
	return topicPrefix + terminal + "/video/" + strconv.Itoa(channel) + "/" + subtopic
}

// IsSignalTopic reports whether topic lies under the vehicle's video
// signalling prefix hwt/v1/{terminal}/video/. It is the cheap check the
// broker handler makes on every publish.
func IsSignalTopic(terminal, topic string) bool {
	rest, ok := strings.CutPrefix(topic, topicPrefix)
	if !ok {
		return false
	}
	rest, ok = strings.CutPrefix(rest, terminal)
	return ok && strings.HasPrefix(rest, "/video/")
}

// Command is a message on hwt/v1/{terminal}/cmd.
type Command struct {
	Cmd     string `json:"cmd"`
	Channel int    `json:"channel"`
	Session string `json:"session"`
	// ICEServers are the STUN and TURN servers the vehicle should use for
	// this session; absent when none are configured.
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
}

// ICEServer is one STUN or TURN server in the form WebRTC's RTCIceServer
// uses.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Description is an SDP offer (vehicle to server) or answer (server to
// vehicle).
type Description struct {
	Session string `json:"session"`
	Type    string `json:"type"`
	SDP     string `json:"sdp"`
}

// Candidate is one trickled ICE candidate, in either direction. An empty
// Candidate marks the end of the sender's candidates.
type Candidate struct {
	Session       string  `json:"session"`
	From          string  `json:"from"`
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdp_mid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdp_mline_index,omitempty"`
}

// StartError is a vehicle's report that it cannot start a channel, such as
// a camera that is not connected.
type StartError struct {
	Session string `json:"session"`
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// SignalKind is the message type a Signal carries.
type SignalKind uint8

const (
	SignalUnknown SignalKind = iota
	SignalOffer
	SignalCandidate
	SignalError
)

func (k SignalKind) String() string {
	switch k {
	case SignalOffer:
		return "offer"
	case SignalCandidate:
		return "candidate"
	case SignalError:
		return "error"
	default:
		return "unknown"
	}
}

// Signal is one decoded signalling message from a vehicle. Exactly one of
// Offer, Candidate and Error is set, matching Kind.
type Signal struct {
	Terminal  string
	Channel   int
	Kind      SignalKind
	Session   string
	Offer     *Description
	Candidate *Candidate
	Error     *StartError
}

// DecodeSignal parses a publish a vehicle made under
// hwt/v1/{terminal}/video/. It checks the topic, the channel number, the
// JSON shape and the session id, but not whether the session is current:
// the relay decides that.
func DecodeSignal(terminal, topic string, payload []byte) (Signal, *RejectError) {
	sig := Signal{Terminal: terminal}
	rest, ok := strings.CutPrefix(topic, topicPrefix+terminal+"/video/")
	if !ok {
		return sig, reject(ReasonUnexpectedTopic, "topic %q is not under hwt/v1/%s/video/", topic, terminal)
	}
	chText, subtopic, ok := strings.Cut(rest, "/")
	if !ok || strings.Contains(subtopic, "/") {
		return sig, reject(ReasonUnexpectedTopic, "topic %q is not hwt/v1/%s/video/{channel}/{offer|candidate|error}", topic, terminal)
	}
	ch, err := strconv.Atoi(chText)
	if err != nil || ch < MinChannel || ch > MaxChannel || chText != strconv.Itoa(ch) {
		return sig, reject(ReasonBadChannel, "channel %q in topic %q is not a number from %d to %d", chText, topic, MinChannel, MaxChannel)
	}
	sig.Channel = ch

	if len(payload) > MaxSignalBytes {
		return sig, reject(ReasonTooLarge, "payload of %d bytes exceeds the maximum of %d bytes", len(payload), MaxSignalBytes)
	}
	if !json.Valid(payload) {
		return sig, reject(ReasonMalformedJSON, "payload is not valid JSON")
	}
	if t := bytes.TrimSpace(payload); len(t) == 0 || t[0] != '{' {
		return sig, reject(ReasonMalformedJSON, "payload is not a JSON object")
	}

	switch subtopic {
	case SubtopicOffer:
		var d Description
		if rej := unmarshalSignal(payload, &d); rej != nil {
			return sig, rej
		}
		if d.Type != "" && d.Type != "offer" {
			return sig, reject(ReasonInvalidValue, "type %q on the offer topic must be \"offer\"", d.Type)
		}
		if d.SDP == "" {
			return sig, reject(ReasonMissingField, "sdp is required")
		}
		if !strings.HasPrefix(d.SDP, "v=0") {
			return sig, reject(ReasonBadSDP, "sdp does not start with \"v=0\"")
		}
		d.Type = "offer"
		sig.Kind, sig.Session, sig.Offer = SignalOffer, d.Session, &d
	case SubtopicCandidate:
		var c Candidate
		if rej := unmarshalSignal(payload, &c); rej != nil {
			return sig, rej
		}
		switch c.From {
		case "", FromVehicle:
		case FromServer:
			// The vehicle echoed a server candidate back; it must not
			// reach the relay as the vehicle's own.
			return sig, reject(ReasonUnexpectedTopic, "candidate from %q was published by the vehicle", c.From)
		default:
			return sig, reject(ReasonInvalidValue, "from %q is not \"vehicle\"", c.From)
		}
		if c.Candidate != "" && !strings.HasPrefix(c.Candidate, "candidate:") {
			return sig, reject(ReasonInvalidValue, "candidate %q does not start with \"candidate:\"", truncate(c.Candidate, 40))
		}
		sig.Kind, sig.Session, sig.Candidate = SignalCandidate, c.Session, &c
	case SubtopicError:
		var e StartError
		if rej := unmarshalSignal(payload, &e); rej != nil {
			return sig, rej
		}
		if e.Reason == "" {
			return sig, reject(ReasonMissingField, "reason is required")
		}
		sig.Kind, sig.Session, sig.Error = SignalError, e.Session, &e
	default:
		return sig, reject(ReasonUnexpectedTopic, "vehicles may publish offer, candidate or error under video/%d/, not %q", ch, subtopic)
	}

	if sig.Session == "" {
		return sig, reject(ReasonMissingField, "session is required")
	}
	if !validSession(sig.Session) {
		return sig, reject(ReasonInvalidValue, "session %q is not 1 to 64 letters, digits, '-' or '_'", truncate(sig.Session, 80))
	}
	return sig, nil
}

// unmarshalSignal decodes payload into v, reporting a field of the wrong
// JSON type as ReasonWrongType. Unknown fields are ignored so a vehicle
// may send more than this version reads.
func unmarshalSignal(payload []byte, v any) *RejectError {
	if err := json.Unmarshal(payload, v); err != nil {
		if te, ok := err.(*json.UnmarshalTypeError); ok {
			return reject(ReasonWrongType, "%s must be a JSON %s, got %s", te.Field, te.Type.Kind(), te.Value)
		}
		return reject(ReasonMalformedJSON, "payload does not decode: %v", err)
	}
	return nil
}

// validSession reports whether s can be a session id: 1 to 64 ASCII
// letters, digits, '-' or '_'.
func validSession(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// RejectReason classifies a rejected signalling message. Its String form is
// the stable value of the reason label of
// hwtrack_video_signalling_rejected_total.
type RejectReason uint8

const (
	ReasonUnknown RejectReason = iota
	// ReasonMalformedJSON is a payload that is not a JSON object.
	ReasonMalformedJSON
	// ReasonWrongType is a field of the wrong JSON type.
	ReasonWrongType
	// ReasonMissingField is a required field that is absent or empty.
	ReasonMissingField
	// ReasonInvalidValue is a field whose value is not allowed.
	ReasonInvalidValue
	// ReasonUnexpectedTopic is a topic a vehicle may not send signalling on,
	// such as the answer topic.
	ReasonUnexpectedTopic
	// ReasonBadChannel is a channel number outside 1..255 in the topic.
	ReasonBadChannel
	// ReasonTooLarge is a payload over MaxSignalBytes.
	ReasonTooLarge
	// ReasonBadSDP is an offer whose SDP the relay cannot use.
	ReasonBadSDP
	// ReasonBadCandidate is an ICE candidate the relay cannot add.
	ReasonBadCandidate
	// ReasonStaleSession is a message for a session that is not the
	// channel's current one, or for a channel no viewer requested.
	ReasonStaleSession

	reasonCount // must stay last
)

var reasonNames = [...]string{
	ReasonUnknown:         "unknown",
	ReasonMalformedJSON:   "malformed_json",
	ReasonWrongType:       "wrong_type",
	ReasonMissingField:    "missing_field",
	ReasonInvalidValue:    "invalid_value",
	ReasonUnexpectedTopic: "unexpected_topic",
	ReasonBadChannel:      "bad_channel",
	ReasonTooLarge:        "too_large",
	ReasonBadSDP:          "bad_sdp",
	ReasonBadCandidate:    "bad_candidate",
	ReasonStaleSession:    "stale_session",
}

func (r RejectReason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// RejectError is the reason a signalling message was rejected.
type RejectError struct {
	Reason  RejectReason
	Message string
}

func (e *RejectError) Error() string { return e.Reason.String() + ": " + e.Message }

func reject(reason RejectReason, format string, args ...any) *RejectError {
	return &RejectError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}
