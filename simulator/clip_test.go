package simulator

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func TestSampleClip(t *testing.T) {
	clip, err := SampleClip()
	if err != nil {
		t.Fatal(err)
	}
	if clip.MimeType != webrtc.MimeTypeH264 {
		t.Errorf("mime type = %s, want H264", clip.MimeType)
	}
	if len(clip.Frames) != 120 {
		t.Errorf("frames = %d, want 120 (4 s at 30 fps)", len(clip.Frames))
	}
	if want := time.Second / 30; clip.FrameDuration < want-time.Millisecond || clip.FrameDuration > want+time.Millisecond {
		t.Errorf("frame duration = %s, want %s from the SPS timing information", clip.FrameDuration, want)
	}
	keyframes := 0
	for i, f := range clip.Frames {
		if len(f) < 5 || f[0] != 0 || f[1] != 0 || f[2] != 0 || f[3] != 1 {
			t.Fatalf("frame %d does not start with an Annex B start code", i)
		}
		if hasNALType(f, 5) {
			keyframes++
		}
	}
	if keyframes != 4 {
		t.Errorf("frames with an IDR slice = %d, want 4 (one a second)", keyframes)
	}
	if !hasNALType(clip.Frames[0], 7) || !hasNALType(clip.Frames[0], 8) {
		t.Error("first access unit lacks the SPS and PPS")
	}
}

// hasNALType reports whether an Annex B access unit holds a NAL unit of
// type t.
func hasNALType(au []byte, t byte) bool {
	for i := 0; i+3 < len(au); i++ {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 && au[i+3]&0x1f == t {
			return true
		}
	}
	return false
}

func TestSPSFrameRates(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not found: install it (apt-get install ffmpeg) to run this test")
	}
	tests := []struct {
		name    string
		profile string
		rate    string
		want    time.Duration
	}{
		{"baseline 25 fps", "baseline", "25", 40 * time.Millisecond},
		{"high 15 fps", "high", "15", time.Second / 15},
		{"main 30 fps", "main", "30", time.Second / 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "clip.h264")
			out, err := exec.Command(ffmpeg, "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate="+tc.rate,
				"-t", "1", "-c:v", "libx264", "-profile:v", tc.profile, "-pix_fmt", "yuv420p",
				"-bsf:v", "h264_mp4toannexb", "-f", "h264", path).CombinedOutput()
			if err != nil {
				t.Fatalf("ffmpeg: %v: %s", err, out)
			}
			clip, err := LoadClip(path)
			if err != nil {
				t.Fatal(err)
			}
			if d := clip.FrameDuration - tc.want; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("frame duration = %s, want %s", clip.FrameDuration, tc.want)
			}
		})
	}
}

func TestIVFClip(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not found: install it (apt-get install ffmpeg) to run this test")
	}
	path := filepath.Join(t.TempDir(), "clip.ivf")
	out, err := exec.Command(ffmpeg, "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
		"-t", "1", "-c:v", "libvpx", "-b:v", "200k", "-deadline", "realtime", "-g", "25", "-f", "ivf", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	clip, err := LoadClip(path)
	if err != nil {
		t.Fatal(err)
	}
	if clip.MimeType != webrtc.MimeTypeVP8 || len(clip.Frames) != 25 || clip.FrameDuration != 40*time.Millisecond {
		t.Errorf("clip = %s, %d frames of %s; want VP8, 25 frames of 40ms", clip.MimeType, len(clip.Frames), clip.FrameDuration)
	}
}

func TestLoadClipRejectsUnknownExtension(t *testing.T) {
	if _, err := LoadClip(filepath.Join(t.TempDir(), "clip.mp4")); err == nil {
		t.Error("a missing .mp4 file loaded without error")
	}
	if _, err := ParseH264Clip([]byte{0, 0, 0, 1, 0x41, 0x9a}); err == nil {
		t.Error("an H.264 stream without an IDR frame was accepted")
	}
}
