package simulator

import _ "embed"

// sampleClipH264 is ffmpeg's testsrc pattern, 320x240 at 30 fps for 4 s,
// encoded as H.264 Constrained Baseline with a keyframe every second:
//
//	ffmpeg -f lavfi -i testsrc=size=320x240:rate=30 -t 4 -c:v libx264 \
//	  -profile:v baseline -level 3.1 -pix_fmt yuv420p -g 30 \
//	  -bsf:v h264_mp4toannexb -f h264 testsrc-320x240-30fps.h264
//
//go:embed testdata/testsrc-320x240-30fps.h264
var sampleClipH264 []byte

// SampleClip returns the clip built into the simulator, so simulated
// cameras work on machines without ffmpeg.
func SampleClip() (*Clip, error) { return ParseH264Clip(sampleClipH264) }
