package simulator

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"
)

// Clip is an encoded video a simulated camera plays in a loop: one entry
// per frame, each sent as one media sample.
type Clip struct {
	// MimeType is webrtc.MimeTypeH264 or webrtc.MimeTypeVP8.
	MimeType string
	// Frames are H.264 access units in Annex B form (start codes
	// included) or VP8 frames.
	Frames [][]byte
	// FrameDuration is the time between frames at the clip's frame rate.
	FrameDuration time.Duration
}

// defaultFrameDuration is used for an H.264 clip whose SPS carries no
// timing information; 30 fps is what camera units and ffmpeg's test
// sources commonly produce.
const defaultFrameDuration = time.Second / 30

// LoadClip reads an H.264 Annex B file (.h264, .264) or a VP8 IVF file
// (.ivf).
func LoadClip(path string) (*Clip, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".h264", ".264":
		return ParseH264Clip(data)
	case ".ivf":
		return ParseIVFClip(data)
	default:
		return nil, fmt.Errorf("clip %s: unknown extension; use .h264 (Annex B) or .ivf (VP8)", path)
	}
}

// ParseH264Clip splits an Annex B stream into access units and takes the
// frame rate from the first SPS's VUI timing information.
func ParseH264Clip(data []byte) (*Clip, error) {
	r, err := h264reader.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read H.264 clip: %w", err)
	}
	clip := &Clip{MimeType: webrtc.MimeTypeH264, FrameDuration: defaultFrameDuration}
	var au []byte
	hasSlice, haveRate, haveKey := false, false, false
	flush := func() {
		if hasSlice {
			clip.Frames = append(clip.Frames, au)
		}
		au, hasSlice = nil, false
	}
	for {
		nal, err := r.NextNAL()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read H.264 clip: %w", err)
		}
		if len(nal.Data) == 0 {
			continue
		}
		t := nal.Data[0] & 0x1f
		if startsAccessUnit(t, nal.Data) && hasSlice {
			flush()
		}
		if t == 7 && !haveRate {
			if d, ok := spsFrameDuration(nal.Data); ok {
				clip.FrameDuration, haveRate = d, true
			}
		}
		if t == 5 {
			haveKey = true
		}
		if t == 1 || t == 5 {
			hasSlice = true
		}
		au = append(au, 0, 0, 0, 1)
		au = append(au, nal.Data...)
	}
	flush()
	if len(clip.Frames) == 0 || !haveKey {
		return nil, errors.New("H.264 clip has no frames or no IDR frame")
	}
	return clip, nil
}

// startsAccessUnit reports whether a NAL unit of type t begins a new
// access unit after one that already contains a slice (ITU-T H.264
// section 7.4.1.2.3). Such units are an AUD, SEI, SPS or PPS, or a slice
// whose first_mb_in_slice is 0, coded as ue(v) by a single 1 bit right
// after the NAL header.
func startsAccessUnit(t byte, nal []byte) bool {
	switch t {
	case 6, 7, 8, 9:
		return true
	case 1, 5:
		return len(nal) > 1 && nal[1]&0x80 != 0
	}
	return false
}

// ParseIVFClip reads a VP8 IVF file and takes the frame rate from the
// first two frames' timestamps, or else from the header's time base.
func ParseIVFClip(data []byte) (*Clip, error) {
	r, header, err := ivfreader.NewWith(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read IVF clip: %w", err)
	}
	if header.FourCC != "VP80" {
		return nil, fmt.Errorf("IVF clip contains codec %q; only VP80 is supported", header.FourCC)
	}
	clip := &Clip{MimeType: webrtc.MimeTypeVP8, FrameDuration: defaultFrameDuration}
	var pts []uint64
	for {
		frame, fh, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read IVF clip: %w", err)
		}
		clip.Frames = append(clip.Frames, frame)
		pts = append(pts, fh.Timestamp)
	}
	if len(clip.Frames) == 0 {
		return nil, errors.New("IVF clip has no frames")
	}
	num, den := uint64(header.TimebaseNumerator), uint64(header.TimebaseDenominator)
	if num > 0 && den > 0 {
		// pion's reader scales each frame's pts by den/num; undo that to
		// get the pts step in time base units.
		ticks := uint64(1)
		if len(pts) > 1 && pts[1] > pts[0] {
			ticks = max((pts[1]-pts[0])*num/den, 1)
		}
		clip.FrameDuration = time.Duration(ticks * num * uint64(time.Second) / den)
	}
	return clip, nil
}

// spsFrameDuration reads the frame duration from an SPS NAL unit's VUI
// timing information (ITU-T H.264 sections 7.3.2.1.1 and E.1.1), where
// two ticks make one frame.
func spsFrameDuration(nal []byte) (time.Duration, bool) {
	b := &bitReader{data: unescapeRBSP(nal[1:])}
	profile := b.bits(8)
	b.bits(16) // constraint flags and level_idc
	b.ue()     // seq_parameter_set_id

	switch profile {
	case 100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135:
		chroma := b.ue()
		if chroma == 3 {
			b.bits(1) // separate_colour_plane_flag
		}
		b.ue()              // bit_depth_luma_minus8
		b.ue()              // bit_depth_chroma_minus8
		b.bits(1)           // qpprime_y_zero_transform_bypass_flag
		if b.bits(1) == 1 { // seq_scaling_matrix_present_flag
			lists := 8
			if chroma == 3 {
				lists = 12
			}
			for i := range lists {
				if b.bits(1) == 1 {
					size := 16
					if i >= 6 {
						size = 64
					}
					b.skipScalingList(size)
				}
			}
		}
	}

	b.ue()          // log2_max_frame_num_minus4
	switch b.ue() { // pic_order_cnt_type
	case 0:
		b.ue() // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		b.bits(1) // delta_pic_order_always_zero_flag
		b.se()    // offset_for_non_ref_pic
		b.se()    // offset_for_top_to_bottom_field
		for range b.ue() {
			b.se() // offset_for_ref_frame
		}
	}

	b.ue()              // max_num_ref_frames
	b.bits(1)           // gaps_in_frame_num_value_allowed_flag
	b.ue()              // pic_width_in_mbs_minus1
	b.ue()              // pic_height_in_map_units_minus1
	if b.bits(1) == 0 { // frame_mbs_only_flag
		b.bits(1) // mb_adaptive_frame_field_flag
	}
	b.bits(1)           // direct_8x8_inference_flag
	if b.bits(1) == 1 { // frame_cropping_flag
		b.ue()
		b.ue()
		b.ue()
		b.ue()
	}
	if b.bits(1) == 0 { // vui_parameters_present_flag
		return 0, false
	}

	if b.bits(1) == 1 { // aspect_ratio_info_present_flag
		if b.bits(8) == 255 {
			b.bits(32) // sar_width, sar_height
		}
	}
	if b.bits(1) == 1 { // overscan_info_present_flag
		b.bits(1)
	}
	if b.bits(1) == 1 { // video_signal_type_present_flag
		b.bits(4)
		if b.bits(1) == 1 {
			b.bits(24)
		}
	}
	if b.bits(1) == 1 { // chroma_loc_info_present_flag
		b.ue()
		b.ue()
	}

	if b.bits(1) == 0 { // timing_info_present_flag
		return 0, false
	}
	unitsInTick, timeScale := b.bits(32), b.bits(32)
	if b.err || unitsInTick == 0 || timeScale == 0 {
		return 0, false
	}
	d := time.Duration(2 * unitsInTick * uint64(time.Second) / timeScale)
	if d < time.Millisecond || d > time.Second {
		return 0, false
	}
	return d, true
}

// unescapeRBSP removes emulation prevention bytes (00 00 03 becomes
// 00 00).
func unescapeRBSP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// bitReader reads the big-endian bit fields and Exp-Golomb codes of an
// H.264 RBSP. Reading past the end sets err and yields zeros.
type bitReader struct {
	data []byte
	pos  int // in bits
	err  bool
}

func (r *bitReader) bits(n int) uint64 {
	var v uint64
	for range n {
		if r.pos >= 8*len(r.data) {
			r.err = true
			return 0
		}
		bit := r.data[r.pos/8] >> (7 - r.pos%8) & 1
		v = v<<1 | uint64(bit)
		r.pos++
	}
	return v
}

// ue reads an unsigned Exp-Golomb code (section 9.1).
func (r *bitReader) ue() uint64 {
	zeros := 0
	for r.bits(1) == 0 {
		if r.err || zeros > 31 {
			r.err = true
			return 0
		}
		zeros++
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

// se reads a signed Exp-Golomb code (section 9.1.1).
func (r *bitReader) se() int64 {
	k := r.ue()
	if k%2 == 1 {
		return int64(k+1) / 2
	}
	return -int64(k / 2)
}

// skipScalingList reads past a scaling_list() of size entries (section
// 7.3.2.1.1.1).
func (r *bitReader) skipScalingList(size int) {
	last, next := int64(8), int64(8)
	for range size {
		if next != 0 {
			next = (last + r.se() + 256) % 256
		}
		if next != 0 {
			last = next
		}
	}
}
