package simulator

import (
	"bytes"

	"github.com/pion/webrtc/v4"
)

// isKeyframe reports whether frame i of the clip can be decoded on its
// own: an H.264 access unit with an IDR slice (NAL type 5), or a VP8 key
// frame, whose first byte has the inverse key frame flag cleared (RFC 6386
// section 9.1).
func (c *Clip) isKeyframe(i int) bool {
	frame := c.Frames[i]
	if c.MimeType == webrtc.MimeTypeVP8 {
		return len(frame) > 0 && frame[0]&0x01 == 0
	}
	// The parser writes every NAL unit of an access unit behind a 4-byte
	// start code.
	for _, nal := range bytes.Split(frame, []byte{0, 0, 0, 1}) {
		if len(nal) > 0 && nal[0]&0x1f == 5 {
			return true
		}
	}
	return false
}

// nextKeyframe returns the index of the first keyframe after frame i,
// wrapping around to the start of the clip, or i when the clip has no
// other keyframe.
func (c *Clip) nextKeyframe(i int) int {
	n := len(c.Frames)
	for step := 1; step < n; step++ {
		if j := (i + step) % n; c.isKeyframe(j) {
			return j
		}
	}
	return i
}
