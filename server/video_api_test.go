package server_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/simulator"

	"github.com/pion/webrtc/v4"
)

// TestBadSignallingCounted publishes malformed signalling as a vehicle and
// checks that each message is counted under its reason in /metrics.
func TestBadSignallingCounted(t *testing.T) {
	srv := startServer(t, videoConfig(t))
	const terminal = "013300780006"
	password := videoVehicle(t, srv, terminal)
	c := connectSilentVehicle(t, srv, terminal, password)

	for topic, payload := range map[string]string{
		"hwt/v1/" + terminal + "/video/2/offer":     `{"session":`,
		"hwt/v1/" + terminal + "/video/0/offer":     `{}`,
		"hwt/v1/" + terminal + "/video/2/answer":    `{"session":"s","sdp":"v=0"}`,
		"hwt/v1/" + terminal + "/video/2/candidate": `{"session":"vs_nobody","candidate":""}`,
	} {
		if tok := c.Publish(topic, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}

	want := map[string]string{
		`hwtrack_video_signalling_rejected_total{reason="malformed_json"} 1`:   "malformed JSON",
		`hwtrack_video_signalling_rejected_total{reason="bad_channel"} 1`:      "channel 0",
		`hwtrack_video_signalling_rejected_total{reason="unexpected_topic"} 1`: "answer from the vehicle",
		`hwtrack_video_signalling_rejected_total{reason="stale_session"} 1`:    "candidate for no stream",
	}
	waitFor(t, 5*time.Second, "rejections counted", func() bool {
		metrics := getText(t, srv, "/metrics")
		for line := range want {
			if !strings.Contains(metrics, line) {
				return false
			}
		}
		return true
	})
}

// TestWHEPRequestErrors checks the WHEP endpoint's responses to requests
// it cannot serve.
func TestWHEPRequestErrors(t *testing.T) {
	srv := startServer(t, videoConfig(t))
	const terminal = "013300780007"
	videoVehicle(t, srv, terminal)

	tests := []struct {
		name        string
		path        string
		contentType string
		body        string
		want        int
		code        string
	}{
		{"JSON instead of SDP", "/api/v1/video/" + terminal + "/2/whep", "application/json", `{}`, http.StatusUnsupportedMediaType, "unsupported_media_type"},
		{"unknown vehicle", "/api/v1/video/013300789999/2/whep", "application/sdp", "v=0\r\n", http.StatusNotFound, "not_found"},
		{"channel out of range", "/api/v1/video/" + terminal + "/0/whep", "application/sdp", "v=0\r\n", http.StatusNotFound, "not_found"},
		{"channel the vehicle lacks", "/api/v1/video/" + terminal + "/5/whep", "application/sdp", "v=0\r\n", http.StatusNotFound, "not_found"},
		{"offline vehicle", "/api/v1/video/" + terminal + "/2/whep", "application/sdp", recvOnlyOffer(t), http.StatusConflict, "vehicle_offline"},
		{"not an offer", "/api/v1/video/" + terminal + "/2/whep", "application/sdp", "v=0\r\n", http.StatusBadRequest, "invalid_sdp"},
		{"offer too large", "/api/v1/video/" + terminal + "/2/whep", "application/sdp", strings.Repeat("a", 70<<10), http.StatusRequestEntityTooLarge, "too_large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr().String()+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", tc.contentType)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, body)
			}
			if !strings.Contains(string(body), `"code":"`+tc.code+`"`) {
				t.Errorf("body %s lacks code %s", body, tc.code)
			}
		})
	}

	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr().String()+"/api/v1/video/"+terminal+"/2/whep", strings.NewReader("v=0\r\n"))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("WHEP without credentials: status %d, want 401", resp.StatusCode)
	}
}

func getText(t testing.TB, srv interface{ HTTPAddr() net.Addr }, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr().String() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// recvOnlyOffer returns a browser-like WHEP offer: one receive-only video
// transceiver with pion's default codecs.
func recvOnlyOffer(t testing.TB) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// TestBadOfferStartsNoStream posts offers no camera stream could answer
// for an online vehicle: each is refused at once, and the vehicle is never
// asked to start its camera, so a bad request costs it no cellular data.
func TestBadOfferStartsNoStream(t *testing.T) {
	srv := startServer(t, videoConfig(t))
	const terminal = "013300780008"
	password := videoVehicle(t, srv, terminal)
	clip, err := simulator.SampleClip()
	if err != nil {
		t.Fatal(err)
	}
	cam := startSimCamera(t, srv, terminal, password, clip)
	for _, body := range []string{"garbage", "v=0\r\n"} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr().String()+"/api/v1/video/"+terminal+"/2/whep", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("offer %q: status %d, want 400", body, resp.StatusCode)
		}
		if state, _ := channelState(t, srv, terminal, 2); state != "idle" {
			t.Errorf("offer %q: channel 2 is %s, want idle", body, state)
		}
	}
	if n := countCommands(cam, "video_start", 2); n != 0 {
		t.Errorf("camera got %d video_start commands, want none", n)
	}
}
