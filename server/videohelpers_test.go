package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/server"
	"github.com/hwtrack/hwtrack/simulator"
	"github.com/hwtrack/hwtrack/video"
)

// videoConfig is the test configuration with the relay on loopback, on a
// free port, with short timeouts.
func videoConfig(t testing.TB) config.Config {
	cfg := testConfig(t.TempDir(), "")
	cfg.Video.UDPAddr = "127.0.0.1:0"
	cfg.Video.TCPAddr = ""
	cfg.Video.StartTimeout = config.Duration(4 * time.Second)
	cfg.Video.StopGrace = config.Duration(time.Second)
	cfg.Video.RTPTimeout = config.Duration(2 * time.Second)
	return cfg
}

// makeH264Clip encodes ffmpeg's test pattern as H.264 Annex B, or skips
// the test when ffmpeg is not installed.
func makeH264Clip(t testing.TB, seconds int) *simulator.Clip {
	t.Helper()
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not found: install it (apt-get install ffmpeg) to run the camera tests")
	}
	path := filepath.Join(t.TempDir(), "clip.h264")
	cmd := exec.Command(ffmpeg, "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
		"-t", fmt.Sprint(seconds), "-c:v", "libx264", "-profile:v", "baseline", "-level", "3.1", "-pix_fmt", "yuv420p",
		"-g", "30", "-bsf:v", "h264_mp4toannexb", "-f", "h264", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	clip, err := simulator.LoadClip(path)
	if err != nil {
		t.Fatal(err)
	}
	return clip
}

// videoVehicle registers a vehicle and returns its MQTT password.
func videoVehicle(t testing.TB, srv *server.Server, terminal string) string {
	t.Helper()
	password := "camera-vehicle-secret-" + terminal
	apiPost(t, srv, "/api/v1/vehicles", fmt.Sprintf(`{"terminal":%q,"plate":"浙G·V%s","password":%q}`, terminal, terminal[len(terminal)-4:], password), 201, nil)
	return password
}

func startSimCamera(t testing.TB, srv *server.Server, terminal, password string, clip *simulator.Clip) *simulator.Camera {
	t.Helper()
	cam, err := simulator.StartCamera(context.Background(), simulator.CameraConfig{
		Broker:       "tcp://" + srv.MQTTAddr().String(),
		Terminal:     terminal,
		Password:     password,
		Channels:     []int{1, 2, 3, 10},
		Clip:         clip,
		LoopbackOnly: true,
	})
	if err != nil {
		t.Fatalf("start simulated camera: %v", err)
	}
	t.Cleanup(func() { cam.Close() })
	waitFor(t, 5*time.Second, "camera vehicle online", func() bool {
		var v struct {
			Online bool `json:"online"`
		}
		apiGet(t, srv, "/api/v1/vehicles/"+terminal, &v)
		return v.Online
	})
	return cam
}

// testViewer is a pion WHEP client that depacketizes the H.264 it
// receives into access units.
type testViewer struct {
	pc       *webrtc.PeerConnection
	location string

	mu        sync.Mutex
	mimeType  string
	nalTypes  []byte // in arrival order
	frames    int    // access units completed (RTP marker bit)
	annexB    bytes.Buffer
	firstNAL  byte
	connected bool
	// vp8Start is set by the first VP8 packet: whether it started a key
	// frame.
	vp8Start *bool
	// lowestSeq is the lowest sequence number received, relative to the
	// first packet, and lowestKey whether that packet starts an H.264
	// keyframe. Retransmitted packets arrive late, so the first packet to
	// arrive need not be the first one the relay sent.
	haveSeq   bool
	firstSeq  uint16
	lowestSeq int16
	lowestKey bool
}

// whepStatus is a failed WHEP request's status and body.
type whepStatus struct {
	code int
	body string
}

// joinViewer posts a recvonly offer to the WHEP endpoint over UDP. It
// returns the viewer, or the status of a request that was not 201.
func joinViewer(t testing.TB, srv *server.Server, terminal string, channel int) (*testViewer, *whepStatus) {
	t.Helper()
	return joinViewerOver(t, srv, terminal, channel, webrtc.NetworkTypeUDP4)
}

// joinViewerOver is joinViewer with ICE restricted to one network type.
func joinViewerOver(t testing.TB, srv *server.Server, terminal string, channel int, network webrtc.NetworkType) (*testViewer, *whepStatus) {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{network})
	m := &webrtc.MediaEngine{}
	if err := video.RegisterCodecs(m); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	v := &testViewer{pc: pc}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { v.read(track) })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			v.mu.Lock()
			v.connected = true
			v.mu.Unlock()
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered

	url := fmt.Sprintf("http://%s/api/v1/video/%s/%d/whep", srv.HTTPAddr(), terminal, channel)
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return nil, &whepStatus{code: resp.StatusCode, body: string(body)}
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("WHEP answer Content-Type = %q, want application/sdp", ct)
	}
	v.location = resp.Header.Get("Location")
	if !strings.HasPrefix(v.location, fmt.Sprintf("/api/v1/video/%s/%d/whep/", terminal, channel)) {
		t.Errorf("WHEP Location = %q, want a viewer URL under the endpoint", v.location)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		t.Fatalf("apply WHEP answer: %v", err)
	}
	return v, nil
}

func (v *testViewer) read(track *webrtc.TrackRemote) {
	v.mu.Lock()
	v.mimeType = track.Codec().MimeType
	v.mu.Unlock()
	if strings.EqualFold(track.Codec().MimeType, webrtc.MimeTypeVP8) {
		v.readVP8(track)
		return
	}
	// The sample builder puts packets back in sequence order, so access
	// units survive a retransmission that arrives late.
	builder := samplebuilder.New(256, &codecs.H264Packet{}, 90000)
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		v.mu.Lock()
		v.notePacket(pkt)
		v.mu.Unlock()
		builder.Push(pkt)
		for sample := builder.Pop(); sample != nil; sample = builder.Pop() {
			v.mu.Lock()
			v.annexB.Write(sample.Data)
			for _, nal := range splitAnnexB(sample.Data) {
				if len(v.nalTypes) == 0 {
					v.firstNAL = nal[0] & 0x1f
				}
				v.nalTypes = append(v.nalTypes, nal[0]&0x1f)
			}
			v.frames++
			v.mu.Unlock()
		}
	}
}

// notePacket tracks the packet with the lowest sequence number.
func (v *testViewer) notePacket(pkt *rtp.Packet) {
	if !v.haveSeq {
		v.haveSeq, v.firstSeq = true, pkt.SequenceNumber
		v.lowestKey = startsH264Keyframe(pkt.Payload)
		return
	}
	if d := int16(pkt.SequenceNumber - v.firstSeq); d < v.lowestSeq {
		v.lowestSeq, v.lowestKey = d, startsH264Keyframe(pkt.Payload)
	}
}

// startsH264Keyframe reports whether an H.264 RTP payload (RFC 6184) is an
// SPS or IDR slice, a STAP-A whose first unit is one, or the first
// fragment of an IDR slice.
func startsH264Keyframe(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	switch p[0] & 0x1f {
	case 5, 7:
		return true
	case 24:
		return len(p) > 3 && (p[3]&0x1f == 7 || p[3]&0x1f == 5)
	case 28:
		return p[1]&0x80 != 0 && p[1]&0x1f == 5
	}
	return false
}

// startedAtKeyframe reports whether the lowest-numbered packet received
// starts a keyframe.
func (v *testViewer) startedAtKeyframe() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.haveSeq && v.lowestKey
}

// readVP8 counts VP8 frames and notes whether the first packet started a
// key frame (RFC 7741 section 4.2, RFC 6386 section 9.1).
func (v *testViewer) readVP8(track *webrtc.TrackRemote) {
	var depacketizer codecs.VP8Packet
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		frame, err := depacketizer.Unmarshal(pkt.Payload)
		v.mu.Lock()
		if v.vp8Start == nil && err == nil && len(frame) > 0 {
			key := depacketizer.S == 1 && depacketizer.PID == 0 && frame[0]&0x01 == 0
			v.vp8Start = &key
		}
		if pkt.Marker {
			v.frames++
		}
		v.mu.Unlock()
	}
}

// splitAnnexB returns the NAL units of an Annex B byte stream.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00")
		if len(part) > 0 {
			out = append(out, part)
		}
	}
	return out
}

func (v *testViewer) stats() (frames int, nalTypes []byte, first byte) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.frames, append([]byte(nil), v.nalTypes...), v.firstNAL
}

// decodedFrames decodes what the viewer received with ffprobe and
// returns the number of frames it could decode.
func (v *testViewer) decodedFrames(t testing.TB) int {
	t.Helper()
	ffprobe, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe not found: install ffmpeg")
	}
	v.mu.Lock()
	data := append([]byte(nil), v.annexB.Bytes()...)
	v.mu.Unlock()
	path := filepath.Join(t.TempDir(), "received.h264")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ffprobe, "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe of the received stream: %v", err)
	}
	var n int
	fmt.Sscan(strings.TrimSpace(string(out)), &n)
	return n
}

// leave deletes the viewer's WHEP resource and returns the status.
func (v *testViewer) leave(t testing.TB, srv *server.Server) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+srv.HTTPAddr().String()+v.location, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DELETE %s: %v", v.location, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// cameraStatus is GET /api/v1/vehicles/{terminal}/cameras.
type cameraStatus struct {
	Terminal string `json:"terminal"`
	Online   bool   `json:"online"`
	Channels []struct {
		Channel     int    `json:"channel"`
		Name        string `json:"name"`
		State       string `json:"state"`
		Viewers     int    `json:"viewers"`
		Codec       string `json:"codec"`
		PacketsIn   uint64 `json:"packets_in"`
		PacketsOut  uint64 `json:"packets_out"`
		Keyframes   uint64 `json:"keyframes"`
		LastFailure *struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"last_failure"`
	} `json:"channels"`
}

func channelState(t testing.TB, srv *server.Server, terminal string, channel int) (state string, viewers int) {
	t.Helper()
	var st cameraStatus
	apiGet(t, srv, "/api/v1/vehicles/"+terminal+"/cameras", &st)
	for _, ch := range st.Channels {
		if ch.Channel == channel {
			return ch.State, ch.Viewers
		}
	}
	t.Fatalf("channel %d missing from %+v", channel, st)
	return "", 0
}

// countCommands counts the camera's commands of one kind for a channel.
func countCommands(cam *simulator.Camera, cmd string, channel int) int {
	n := 0
	for _, c := range cam.Commands() {
		if c.Cmd == cmd && c.Channel == channel {
			n++
		}
	}
	return n
}

// videoDeviations lists the video_loss episodes of a vehicle.
func videoDeviations(t testing.TB, srv *server.Server, terminal string) []struct {
	ID      string  `json:"id"`
	State   string  `json:"state"`
	Channel int     `json:"channel"`
	TripID  string  `json:"trip_id"`
	Text    string  `json:"text"`
	Lat     float64 `json:"lat"`
	Lon     float64 `json:"lon"`
} {
	t.Helper()
	var out struct {
		Deviations []struct {
			ID      string  `json:"id"`
			State   string  `json:"state"`
			Channel int     `json:"channel"`
			TripID  string  `json:"trip_id"`
			Text    string  `json:"text"`
			Lat     float64 `json:"lat"`
			Lon     float64 `json:"lon"`
		} `json:"deviations"`
	}
	apiGet(t, srv, "/api/v1/deviations?kind=video_loss&terminal="+terminal, &out)
	return out.Deviations
}

// dispatchTrip creates an active trip for the vehicle.
func dispatchTrip(t testing.TB, srv *server.Server, terminal string, cameraRequired bool) string {
	t.Helper()
	var trip struct {
		ID string `json:"id"`
	}
	body := fmt.Sprintf(`{"terminal":%q,"driver":"王师傅","escort":"李押运",`+
		`"route":{"type":"LineString","coordinates":[[120.04,28.89],[120.06,28.90]]},"corridor_m":100,"bookings":[],`+
		`"camera_required":%t,"planned_start":%q,"planned_end":%q}`,
		terminal, cameraRequired, time.Now().Add(-time.Minute).Format(time.RFC3339), time.Now().Add(time.Hour).Format(time.RFC3339))
	apiPost(t, srv, "/api/v1/trips", body, 201, &trip)
	return trip.ID
}

func decodeJSON(t testing.TB, s string, out any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
}
