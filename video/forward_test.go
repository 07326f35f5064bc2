package video

import (
	"strings"
	"testing"

	"github.com/pion/rtp"
)

func TestIsH264Keyframe(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"single IDR slice", []byte{0x65, 0x88, 0x84}, true},
		{"single SPS", []byte{0x67, 0x42, 0xc0, 0x1f}, true},
		{"single PPS", []byte{0x68, 0xce, 0x3c, 0x80}, false},
		{"single non-IDR slice", []byte{0x41, 0x9a, 0x02}, false},
		// STAP-A (RFC 6184 section 5.7.1) with an SPS and a PPS.
		{"STAP-A with SPS", []byte{0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xce}, true},
		{"STAP-A with PPS only", []byte{0x78, 0x00, 0x02, 0x68, 0xce}, false},
		{"STAP-A truncated", []byte{0x78, 0x00, 0x09}, false},
		// FU-A (section 5.8): start bit set, IDR type.
		{"FU-A start of IDR", []byte{0x7c, 0x85, 0x88}, true},
		{"FU-A middle of IDR", []byte{0x7c, 0x05, 0x88}, false},
		{"FU-A start of non-IDR", []byte{0x7c, 0x81, 0x9a}, false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isH264Keyframe(tc.payload); got != tc.want {
				t.Errorf("isH264Keyframe(% x) = %t, want %t", tc.payload, got, tc.want)
			}
		})
	}
}

func TestIsVP8Keyframe(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		// Payload descriptor (RFC 7741 section 4.2), then the frame tag
		// whose lowest bit is 0 for a key frame (RFC 6386 section 9.1).
		{"start, key frame", []byte{0x10, 0x50, 0x2a, 0x00}, true},
		{"start, inter frame", []byte{0x10, 0x51, 0x2a, 0x00}, false},
		{"continuation", []byte{0x00, 0x50, 0x2a}, false},
		{"start of partition 1", []byte{0x11, 0x50}, false},
		{"extended with 15-bit picture id, key frame", []byte{0x90, 0x80, 0x81, 0x23, 0x50}, true},
		{"extended with 7-bit picture id, inter frame", []byte{0x90, 0x80, 0x23, 0x51}, false},
		{"extended with TL0PICIDX and TID, key frame", []byte{0x90, 0x60, 0x05, 0x40, 0x50}, true},
		{"extended but truncated", []byte{0x90}, false},
		{"empty", nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := isVP8Keyframe(tc.payload); got != tc.want {
				t.Errorf("isVP8Keyframe(% x) = %t, want %t", tc.payload, got, tc.want)
			}
		})
	}
}

func TestRewriterKeepsSequenceAcrossUpstreams(t *testing.T) {
	var r rewriter
	first, second := &attempt{}, &attempt{}
	p := &rtp.Packet{Header: rtp.Header{SequenceNumber: 65534, Timestamp: 1000}}
	r.apply(first, p)
	if p.SequenceNumber != 65534 || p.Timestamp != 1000 {
		t.Fatalf("first upstream rewritten to %d/%d, want unchanged", p.SequenceNumber, p.Timestamp)
	}
	p = &rtp.Packet{Header: rtp.Header{SequenceNumber: 65535, Timestamp: 4000}}
	r.apply(first, p)

	// A new upstream starts at an unrelated sequence number and clock.
	p = &rtp.Packet{Header: rtp.Header{SequenceNumber: 17, Timestamp: 900000}}
	r.apply(second, p)
	if p.SequenceNumber != 0 {
		t.Errorf("first packet of the new upstream has sequence number %d, want 0 (after 65535)", p.SequenceNumber)
	}
	if p.Timestamp != 4000+frameGap {
		t.Errorf("first packet of the new upstream has timestamp %d, want %d", p.Timestamp, 4000+frameGap)
	}
	p = &rtp.Packet{Header: rtp.Header{SequenceNumber: 18, Timestamp: 903000}}
	r.apply(second, p)
	if p.SequenceNumber != 1 || p.Timestamp != 4000+frameGap+3000 {
		t.Errorf("second packet of the new upstream = %d/%d, want 1/%d", p.SequenceNumber, p.Timestamp, 4000+frameGap+3000)
	}
}

func TestCandidateWarning(t *testing.T) {
	tests := []struct {
		name string
		cfg  ICEConfig
		want string
	}{
		{"loopback host", ICEConfig{UDPAddr: "127.0.0.1:8189"}, "loopback"},
		{"localhost", ICEConfig{UDPAddr: "localhost:8189"}, "loopback"},
		{"public host", ICEConfig{UDPAddr: "203.0.113.7:8189"}, ""},
		{"loopback with NAT 1:1 address", ICEConfig{UDPAddr: "127.0.0.1:8189", HostAddresses: []string{"203.0.113.7"}}, ""},
		{"loopback with TURN", ICEConfig{UDPAddr: "127.0.0.1:8189", ICEServers: []ICEServer{{URLs: []string{"turn:turn.example:3478"}}}}, ""},
		{"loopback with STUN only", ICEConfig{UDPAddr: "127.0.0.1:8189", ICEServers: []ICEServer{{URLs: []string{"stun:stun.example:3478"}}}}, "loopback"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CandidateWarning(tc.cfg)
			if tc.want == "" && got != "" {
				t.Errorf("warning %q, want none", got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("warning %q, want one mentioning %q", got, tc.want)
			}
		})
	}
}

func TestSummarizeCandidate(t *testing.T) {
	got := summarizeCandidate("remote", "candidate:1 1 udp 2130706431 10.20.0.7 50000 typ host")
	if got != "remote udp 10.20.0.7:50000 host" {
		t.Errorf("summary = %q", got)
	}
	got = summarizeCandidate("local", "candidate:2 1 tcp 1 192.0.2.1 8189 typ host tcptype passive")
	if got != "local tcp 192.0.2.1:8189 host" {
		t.Errorf("summary = %q", got)
	}
	if got := summarizeCandidate("remote", "garbage"); got != "remote garbage" {
		t.Errorf("summary of an unparsable line = %q, want it kept", got)
	}
	sdp := "v=0\r\na=candidate:1 1 udp 2130706431 10.20.0.7 50000 typ host\r\na=candidate:3 1 udp 1694498815 198.51.100.4 40000 typ srflx raddr 10.20.0.7 rport 50000\r\n"
	list := summarizeSDPCandidates("remote", sdp)
	if len(list) != 2 || list[1] != "remote udp 198.51.100.4:40000 srflx" {
		t.Errorf("SDP candidates = %q", list)
	}
}
