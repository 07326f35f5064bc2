package server_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/hwtrack/hwtrack/simulator"
)

// TestCameraRelayVP8 relays a VP8 camera: the codec the relay registers
// besides H.264, forwarded unchanged, starting at a key frame.
func TestCameraRelayVP8(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not found: install it (apt-get install ffmpeg) to run the camera tests")
	}
	path := filepath.Join(t.TempDir(), "clip.ivf")
	out, err := exec.Command(ffmpeg, "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30",
		"-t", "2", "-c:v", "libvpx", "-b:v", "300k", "-deadline", "realtime", "-g", "30", "-f", "ivf", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	clip, err := simulator.LoadClip(path)
	if err != nil {
		t.Fatal(err)
	}

	srv := startServer(t, videoConfig(t))
	const terminal = "013300780004"
	password := videoVehicle(t, srv, terminal)
	startSimCamera(t, srv, terminal, password, clip)

	viewer, status := joinViewer(t, srv, terminal, 3)
	if status != nil {
		t.Fatalf("WHEP: status %d: %s", status.code, status.body)
	}
	waitFor(t, 10*time.Second, "viewer receiving 30 VP8 frames", func() bool {
		frames, _, _ := viewer.stats()
		return frames >= 30
	})
	viewer.mu.Lock()
	mime, start := viewer.mimeType, viewer.vp8Start
	viewer.mu.Unlock()
	if !strings.EqualFold(mime, webrtc.MimeTypeVP8) {
		t.Errorf("viewer track codec = %s, want VP8", mime)
	}
	if start == nil || !*start {
		t.Error("first VP8 packet forwarded to the viewer does not start a key frame")
	}
}

// TestCameraRelayICETCP connects a viewer that can use only ICE over TCP,
// through the relay's TCP fallback port, while the camera uses UDP.
func TestCameraRelayICETCP(t *testing.T) {
	clip, err := simulator.SampleClip()
	if err != nil {
		t.Fatal(err)
	}
	cfg := videoConfig(t)
	cfg.Video.TCPAddr = "127.0.0.1:0"
	srv := startServer(t, cfg)
	const terminal = "013300780005"
	password := videoVehicle(t, srv, terminal)
	startSimCamera(t, srv, terminal, password, clip)

	viewer, status := joinViewerOver(t, srv, terminal, 2, webrtc.NetworkTypeTCP4)
	if status != nil {
		t.Fatalf("WHEP: status %d: %s", status.code, status.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		frames, _, _ := viewer.stats()
		if frames >= 30 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("viewer over ICE-TCP received %d frames in 15 s, want 30", frames)
		case <-time.After(50 * time.Millisecond):
		}
	}
	pair, err := selectedPair(viewer.pc)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pair, "tcp") {
		t.Errorf("selected candidate pair %q, want a TCP pair", pair)
	}
}

// selectedPair describes the viewer's nominated ICE candidate pair as
// "protocol local -> remote".
func selectedPair(pc *webrtc.PeerConnection) (string, error) {
	for _, tr := range pc.GetTransceivers() {
		if tr.Receiver() == nil {
			continue
		}
		p, err := tr.Receiver().Transport().ICETransport().GetSelectedCandidatePair()
		if err != nil {
			return "", err
		}
		if p != nil {
			return p.Local.Protocol.String() + " " + p.Local.Address + " -> " + p.Remote.Address, nil
		}
	}
	return "", nil
}
