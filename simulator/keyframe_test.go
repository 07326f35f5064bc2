package simulator

import "testing"

func TestClipKeyframes(t *testing.T) {
	clip, err := SampleClip()
	if err != nil {
		t.Fatal(err)
	}
	// The built-in clip is 4 s at 30 fps with a keyframe every second.
	var keyframes []int
	for i := range clip.Frames {
		if clip.isKeyframe(i) {
			keyframes = append(keyframes, i)
		}
	}
	if len(clip.Frames) != 120 || len(keyframes) != 4 || keyframes[0] != 0 || keyframes[1] != 30 {
		t.Fatalf("clip has %d frames with keyframes at %v, want 120 frames with keyframes at 0, 30, 60, 90", len(clip.Frames), keyframes)
	}

	for _, tc := range []struct {
		name string
		from int
		want int
	}{
		{"from a delta frame", 1, 30},
		{"from a keyframe", 30, 60},
		{"wraps to the start", 100, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clip.nextKeyframe(tc.from); got != tc.want {
				t.Errorf("nextKeyframe(%d) = %d, want %d", tc.from, got, tc.want)
			}
		})
	}

	vp8 := &Clip{MimeType: "video/VP8", Frames: [][]byte{{0x10, 0x02}, {0x11, 0x02}, {0x31, 0x02}}}
	if !vp8.isKeyframe(0) || vp8.isKeyframe(1) || vp8.isKeyframe(2) {
		t.Errorf("VP8 keyframe flags read wrong: %v %v %v, want true false false", vp8.isKeyframe(0), vp8.isKeyframe(1), vp8.isKeyframe(2))
	}
	if got := vp8.nextKeyframe(1); got != 0 {
		t.Errorf("VP8 nextKeyframe(1) = %d, want 0 after wrapping", got)
	}
}
