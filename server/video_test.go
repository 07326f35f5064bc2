package server_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/video"
)

// TestCameraRelayEndToEnd runs the whole camera path on loopback: a
// simulated vehicle signalled over MQTT, the relay, and two WHEP viewers
// that decode the H.264 they receive.
func TestCameraRelayEndToEnd(t *testing.T) {
	clip := makeH264Clip(t, 2)
	srv := startServer(t, videoConfig(t))
	const terminal = "013300780001"
	password := videoVehicle(t, srv, terminal)
	cam := startSimCamera(t, srv, terminal, password, clip)

	first, status := joinViewer(t, srv, terminal, 2)
	if status != nil {
		t.Fatalf("first viewer: WHEP status %d: %s", status.code, status.body)
	}
	waitFor(t, 10*time.Second, "first viewer receiving 45 frames", func() bool {
		frames, _, _ := first.stats()
		return frames >= 45
	})
	_, nalTypes, _ := first.stats()
	if !first.startedAtKeyframe() {
		t.Error("the first packet forwarded to a new viewer does not start a keyframe")
	}
	for _, want := range []byte{5, 7, 8, 1} {
		if !slices.Contains(nalTypes, want) {
			t.Errorf("received NAL unit types %v lack type %d", uniqueTypes(nalTypes), want)
		}
	}
	if n := first.decodedFrames(t); n < 30 {
		t.Errorf("ffprobe decoded %d frames of what the viewer received, want at least 30", n)
	}

	// A second viewer joins the running stream: no second start command,
	// and it starts at a keyframe the relay asked the camera for.
	second, status := joinViewer(t, srv, terminal, 2)
	if status != nil {
		t.Fatalf("second viewer: WHEP status %d: %s", status.code, status.body)
	}
	waitFor(t, 10*time.Second, "second viewer receiving 15 frames", func() bool {
		frames, _, _ := second.stats()
		return frames >= 15
	})
	if !second.startedAtKeyframe() {
		t.Error("the first packet forwarded to the second viewer does not start a keyframe")
	}
	if n := countCommands(cam, video.CmdVideoStart, 2); n != 1 {
		t.Errorf("camera got %d video_start commands for two viewers, want 1", n)
	}
	state, viewers := channelState(t, srv, terminal, 2)
	if state != "live" || viewers != 2 {
		t.Errorf("channel 2 is %s with %d viewers, want live with 2", state, viewers)
	}
	if state, _ := channelState(t, srv, terminal, 1); state != "idle" {
		t.Errorf("channel 1 is %s, want idle: nobody asked for it", state)
	}

	// Stop on the last viewer: the first leaving keeps the stream, the
	// second leaving stops it after the grace period.
	if code := first.leave(t, srv); code != http.StatusOK {
		t.Fatalf("DELETE first viewer: status %d, want 200", code)
	}
	time.Sleep(1500 * time.Millisecond) // longer than the grace period
	if n := countCommands(cam, video.CmdVideoStop, 2); n != 0 {
		t.Fatalf("camera got video_stop while a viewer was still watching")
	}
	framesBefore, _, _ := second.stats()
	waitFor(t, 5*time.Second, "second viewer still receiving", func() bool {
		frames, _, _ := second.stats()
		return frames > framesBefore+10
	})
	if code := second.leave(t, srv); code != http.StatusOK {
		t.Fatalf("DELETE second viewer: status %d, want 200", code)
	}
	waitFor(t, 5*time.Second, "video_stop after the last viewer left", func() bool {
		return countCommands(cam, video.CmdVideoStop, 2) == 1
	})
	waitFor(t, 5*time.Second, "camera session closed", func() bool { return len(cam.Active()) == 0 })
	if state, viewers := channelState(t, srv, terminal, 2); state != "idle" || viewers != 0 {
		t.Errorf("channel 2 is %s with %d viewers after the stop, want idle with 0", state, viewers)
	}
	if code := second.leave(t, srv); code != http.StatusNotFound {
		t.Errorf("DELETE of a viewer that left: status %d, want 404", code)
	}
}

func uniqueTypes(types []byte) []byte {
	out := slices.Clone(types)
	slices.Sort(out)
	return slices.Compact(out)
}
