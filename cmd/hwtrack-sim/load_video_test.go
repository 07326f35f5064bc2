package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/simulator"
)

// TestLoadVideoViewers runs 20 vehicles, two of them with cameras
// and four WHEP viewers spread over those cameras, against a real server
// with its video relay on loopback. Every viewer must connect, receive
// RTP and be closed again.
func TestLoadVideoViewers(t *testing.T) {
	broker, api, token := startLoadServer(t, "", false)
	reportPath := filepath.Join(t.TempDir(), "report.json")
	args := []string{"load",
		"-broker", broker, "-api", api, "-api-token", token,
		"-vehicles", "20", "-interval", "200ms", "-duration", "6s", "-qos", "1",
		"-routes", "../../configs/demo.yaml", "-synthetic-routes", "5", "-source-net", "none",
		"-cameras", "2", "-viewers", "4", "-drain", "20s",
		"-report", reportPath, "-progress", "none",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr strings.Builder
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("summary:\n%s", stdout.String())
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"cameras", "viewers", "first video packet", "video received"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary has no %q line", want)
		}
	}

	rep := readLoadReport(t, reportPath)
	v := rep.Video
	if v == nil {
		t.Fatal("report has no video section")
	}
	if v.Cameras != 2 || v.CamerasStarted != 2 {
		t.Errorf("cameras: %d started of %d, want 2 of 2", v.CamerasStarted, v.Cameras)
	}
	if len(v.CameraFailures) != 0 {
		t.Errorf("camera failures: %v, want none", v.CameraFailures)
	}
	if v.Viewers != 4 || v.ViewersConnected != 4 {
		t.Errorf("viewers: %d connected of %d, want 4 of 4", v.ViewersConnected, v.Viewers)
	}
	if v.ViewersWithVideo != 4 {
		t.Errorf("viewers with video = %d, want 4", v.ViewersWithVideo)
	}
	if len(v.ViewerFailures) != 0 {
		t.Errorf("viewer failures: %v, want none", v.ViewerFailures)
	}
	if v.FirstPacket.Count != 4 {
		t.Errorf("first-packet times for %d viewers, want 4", v.FirstPacket.Count)
	}
	if v.Packets < 4 || v.Bytes <= v.Packets*12 {
		t.Errorf("received %d packets, %d bytes; want at least one packet per viewer, each more than an RTP header", v.Packets, v.Bytes)
	}
	if v.FramesSent == 0 {
		t.Error("cameras sent no frames")
	}
	if v.CloseErrors != 0 {
		t.Errorf("%d viewers not closed", v.CloseErrors)
	}
	if rep.AckedFixes == 0 || rep.AckedFixes != rep.SentFixes {
		t.Errorf("acked %d of %d sent fixes, want all of them", rep.AckedFixes, rep.SentFixes)
	}
}

// TestLoadVideoFlagsRejected checks that camera and viewer counts that
// cannot run are rejected before anything connects.
func TestLoadVideoFlagsRejected(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"viewers without cameras", []string{"-viewers", "2"}, "invalid viewers 2"},
		{"more cameras than vehicles", []string{"-vehicles", "3", "-cameras", "4"}, "invalid cameras 4"},
		{"negative viewers", []string{"-cameras", "1", "-viewers", "-1"}, "invalid viewers -1"},
		{"cameras without the API", []string{"-api", "none", "-cameras", "1"}, "cameras need the API"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"load", "-broker", "tcp://127.0.0.1:1", "-api", "http://127.0.0.1:1",
				"-routes", "../../configs/demo.yaml", "-progress", "none"}, tc.args...)
			var stdout, stderr strings.Builder
			code := run(context.Background(), args, &stdout, &stderr)
			if code != exitUsage {
				t.Errorf("exit code %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}

// TestLoadViewerRejected checks that a viewer of a vehicle the server
// does not know fails with ErrWHEPRejected and the server's 404.
func TestLoadViewerRejected(t *testing.T) {
	_, api, token := startLoadServer(t, "", false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := simulator.JoinViewer(ctx, simulator.ViewerConfig{API: api, APIToken: token, Terminal: "unknown-000001", Channel: 2, LoopbackOnly: true})
	if err == nil {
		v.Close(ctx)
		t.Fatal("viewer of an unknown vehicle joined")
	}
	if !errors.Is(err, simulator.ErrWHEPRejected) {
		t.Errorf("error %v does not wrap ErrWHEPRejected", err)
	}
	var apiErr *simulator.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v does not wrap an *APIError", err)
	}
	if apiErr.Status != 404 {
		t.Errorf("status = %d, want 404", apiErr.Status)
	}
	if apiErr.Code != "not_found" {
		t.Errorf("code = %q, want not_found", apiErr.Code)
	}
}
