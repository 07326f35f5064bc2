package video

import (
	"strings"
	"testing"
)

const sampleOffer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"

func TestDecodeSignal(t *testing.T) {
	const terminal = "013300784001"
	tests := []struct {
		name    string
		topic   string
		payload string
		kind    SignalKind
		reason  RejectReason
	}{
		{"offer", "hwt/v1/013300784001/video/2/offer", `{"session":"vs_1","type":"offer","sdp":"` + strings.ReplaceAll(sampleOffer, "\r\n", `\r\n`) + `"}`, SignalOffer, ReasonUnknown},
		{"offer without type", "hwt/v1/013300784001/video/2/offer", `{"session":"vs_1","sdp":"v=0\r\n"}`, SignalOffer, ReasonUnknown},
		{"candidate", "hwt/v1/013300784001/video/10/candidate", `{"session":"vs_1","from":"vehicle","candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdp_mid":"0","sdp_mline_index":0}`, SignalCandidate, ReasonUnknown},
		{"end of candidates", "hwt/v1/013300784001/video/10/candidate", `{"session":"vs_1","candidate":""}`, SignalCandidate, ReasonUnknown},
		{"error", "hwt/v1/013300784001/video/3/error", `{"session":"vs_1","reason":"no_camera","message":"not connected"}`, SignalError, ReasonUnknown},
		{"unknown fields ignored", "hwt/v1/013300784001/video/2/offer", `{"session":"vs_1","sdp":"v=0\r\n","codec_hint":"h264"}`, SignalOffer, ReasonUnknown},

		{"answer from the vehicle", "hwt/v1/013300784001/video/2/answer", `{"session":"vs_1","sdp":"v=0"}`, SignalUnknown, ReasonUnexpectedTopic},
		{"server candidate echoed", "hwt/v1/013300784001/video/2/candidate", `{"session":"vs_1","from":"server","candidate":""}`, SignalUnknown, ReasonUnexpectedTopic},
		{"other vehicle's topic", "hwt/v1/013300784002/video/2/offer", `{"session":"vs_1","sdp":"v=0"}`, SignalUnknown, ReasonUnexpectedTopic},
		{"too deep", "hwt/v1/013300784001/video/2/offer/x", `{}`, SignalUnknown, ReasonUnexpectedTopic},
		{"no subtopic", "hwt/v1/013300784001/video/2", `{}`, SignalUnknown, ReasonUnexpectedTopic},
		{"channel zero", "hwt/v1/013300784001/video/0/offer", `{}`, SignalUnknown, ReasonBadChannel},
		{"channel 256", "hwt/v1/013300784001/video/256/offer", `{}`, SignalUnknown, ReasonBadChannel},
		{"channel with leading zero", "hwt/v1/013300784001/video/02/offer", `{}`, SignalUnknown, ReasonBadChannel},
		{"channel not a number", "hwt/v1/013300784001/video/front/offer", `{}`, SignalUnknown, ReasonBadChannel},
		{"not JSON", "hwt/v1/013300784001/video/2/offer", `{"session":`, SignalUnknown, ReasonMalformedJSON},
		{"array", "hwt/v1/013300784001/video/2/offer", `[1]`, SignalUnknown, ReasonMalformedJSON},
		{"sdp not a string", "hwt/v1/013300784001/video/2/offer", `{"session":"vs_1","sdp":5}`, SignalUnknown, ReasonWrongType},
		{"missing sdp", "hwt/v1/013300784001/video/2/offer", `{"session":"vs_1"}`, SignalUnknown, ReasonMissingField},
		{"sdp without version line", "hwt/v1/013300784001/video/2/offer", `{"session":"vs_1","sdp":"o=- 1 1"}`, SignalUnknown, ReasonBadSDP},
		{"wrong description type", "hwt/v1/013300784001/video/2/offer", `{"session":"vs_1","type":"answer","sdp":"v=0"}`, SignalUnknown, ReasonInvalidValue},
		{"missing session", "hwt/v1/013300784001/video/2/offer", `{"sdp":"v=0"}`, SignalUnknown, ReasonMissingField},
		{"session with slash", "hwt/v1/013300784001/video/2/offer", `{"session":"a/b","sdp":"v=0"}`, SignalUnknown, ReasonInvalidValue},
		{"candidate without prefix", "hwt/v1/013300784001/video/2/candidate", `{"session":"vs_1","candidate":"1 1 udp"}`, SignalUnknown, ReasonInvalidValue},
		{"unknown origin", "hwt/v1/013300784001/video/2/candidate", `{"session":"vs_1","from":"browser","candidate":""}`, SignalUnknown, ReasonInvalidValue},
		{"error without reason", "hwt/v1/013300784001/video/2/error", `{"session":"vs_1"}`, SignalUnknown, ReasonMissingField},
		{"too large", "hwt/v1/013300784001/video/2/offer", `{"sdp":"` + strings.Repeat("a", MaxSignalBytes) + `"}`, SignalUnknown, ReasonTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sig, rej := DecodeSignal(terminal, tc.topic, []byte(tc.payload))
			if tc.reason != ReasonUnknown {
				if rej == nil {
					t.Fatalf("accepted as %s, want rejection %s", sig.Kind, tc.reason)
				}
				if rej.Reason != tc.reason {
					t.Fatalf("rejected as %s (%s), want %s", rej.Reason, rej.Message, tc.reason)
				}
				return
			}
			if rej != nil {
				t.Fatalf("rejected: %v", rej)
			}
			if sig.Kind != tc.kind {
				t.Errorf("kind = %s, want %s", sig.Kind, tc.kind)
			}
			if sig.Session != "vs_1" {
				t.Errorf("session = %q, want vs_1", sig.Session)
			}
		})
	}
}

func TestIsSignalTopic(t *testing.T) {
	tests := []struct {
		topic string
		want  bool
	}{
		{"hwt/v1/T1/video/2/offer", true},
		{"hwt/v1/T1/video/", true},
		{"hwt/v1/T1/fix", false},
		{"hwt/v1/T1/videos/2/offer", false},
		{"hwt/v1/T10/video/2/offer", false},
		{"owntracks/T1/video/2", false},
	}
	for _, tc := range tests {
		if got := IsSignalTopic("T1", tc.topic); got != tc.want {
			t.Errorf("IsSignalTopic(T1, %q) = %t, want %t", tc.topic, got, tc.want)
		}
	}
}

func TestRejectReasonNamesComplete(t *testing.T) {
	seen := map[string]bool{}
	for r := ReasonUnknown + 1; r < reasonCount; r++ {
		name := r.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Errorf("reason %d has name %q, want a distinct label", r, name)
		}
		seen[name] = true
	}
}

// FuzzDecodeSignal checks that no topic or payload panics the decoder and
// that every accepted message has a valid channel, session and body.
func FuzzDecodeSignal(f *testing.F) {
	f.Add("hwt/v1/T1/video/2/offer", []byte(`{"session":"vs_1","sdp":"v=0\r\n"}`))
	f.Add("hwt/v1/T1/video/10/candidate", []byte(`{"session":"vs_1","from":"vehicle","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdp_mline_index":0}`))
	f.Add("hwt/v1/T1/video/3/error", []byte(`{"session":"s","reason":"no_camera"}`))
	f.Add("hwt/v1/T1/video/2/candidate", []byte(`{"session":"s","sdp_mline_index":-1}`))
	f.Add("hwt/v1/T1/video/255/offer", []byte(`{"session":"s","sdp":"v=0","type":null}`))
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		sig, rej := DecodeSignal("T1", topic, payload)
		if rej != nil {
			if rej.Reason == ReasonUnknown || rej.Message == "" {
				t.Fatalf("rejection without reason or message: %+v", rej)
			}
			return
		}
		if sig.Channel < MinChannel || sig.Channel > MaxChannel || !validSession(sig.Session) {
			t.Fatalf("accepted signal with channel %d, session %q", sig.Channel, sig.Session)
		}
		switch sig.Kind {
		case SignalOffer:
			if sig.Offer == nil || !strings.HasPrefix(sig.Offer.SDP, "v=0") {
				t.Fatalf("accepted offer without SDP: %+v", sig.Offer)
			}
		case SignalCandidate:
			if sig.Candidate == nil {
				t.Fatal("accepted candidate without body")
			}
		case SignalError:
			if sig.Error == nil || sig.Error.Reason == "" {
				t.Fatal("accepted error without reason")
			}
		default:
			t.Fatalf("accepted signal of kind %s", sig.Kind)
		}
	})
}
