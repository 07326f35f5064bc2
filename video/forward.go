package video

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// viewer is one WHEP viewer's peer connection with its own outgoing track.
type viewer struct {
	id     string
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticRTP
	sender *webrtc.RTPSender
	// connected is set when the viewer's peer connection is up. Packets
	// written before that never reach the viewer: pion/webrtc v4.2.26
	// drops RTP written before DTLS-SRTP is ready (srtpWriterFuture).
	connected atomic.Bool
	// started is set at the first keyframe forwarded to this viewer once
	// it is connected. Packets before it would only show as a grey or
	// broken picture.
	started atomic.Bool
}

// viewerConnectWait bounds how long a new viewer's keyframe requests wait
// for its connection to come up.
const viewerConnectWait = 10 * time.Second

// newViewer answers a viewer's offer with a peer connection that sends
// the stream's codec.
func (s *stream) newViewer(ctx context.Context, codec webrtc.RTPCodecCapability, offer string) (*viewer, string, error) {
	if !strings.HasPrefix(strings.TrimSpace(offer), "v=0") {
		return nil, "", fmt.Errorf("%w: the body is not an SDP offer (it must start with v=0)", ErrBadOffer)
	}
	if !acceptsCodec(offer, codec.MimeType) {
		return nil, "", fmt.Errorf("%w: the offer does not accept %s, which this camera sends", ErrBadOffer, codec.MimeType)
	}
	api, err := s.relay.transport.API()
	if err != nil {
		return nil, "", &StartFailure{Reason: FailureRelay, Message: err.Error(), At: time.Now()}
	}
	pc, err := api.NewPeerConnection(s.relay.transport.Configuration())
	if err != nil {
		return nil, "", fmt.Errorf("create viewer peer connection: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = pc.Close()
		}
	}()

	v := &viewer{id: newID("vw_"), pc: pc}
	v.track, err = webrtc.NewTrackLocalStaticRTP(codec, "video", fmt.Sprintf("hwtrack-%s-%d", s.key.terminal, s.key.channel))
	if err != nil {
		return nil, "", fmt.Errorf("create viewer track: %w", err)
	}
	if v.sender, err = pc.AddTrack(v.track); err != nil {
		return nil, "", fmt.Errorf("add viewer track: %w", err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrBadOffer, err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: create answer: %v", ErrBadOffer, err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, "", fmt.Errorf("%w: apply answer: %v", ErrBadOffer, err)
	}
	// WHEP answers carry every candidate, because this endpoint takes no
	// trickled ones. With the shared ports gathering is immediate; STUN
	// or TURN servers add one round trip to them.
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, "", fmt.Errorf("gather ICE candidates for the viewer: %w", ctx.Err())
	}

	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			v.connected.Store(true)
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			s.leave(v.id, "viewer connection "+st.String())
		}
	})
	go s.readViewerRTCP(v)
	ok = true
	return v, pc.LocalDescription().SDP, nil
}

// readViewerRTCP passes a viewer's keyframe requests upstream. Reading is
// also what lets the sender's interceptors answer NACKs.
func (s *stream) readViewerRTCP(v *viewer) {
	for {
		pkts, _, err := v.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				s.requestKeyframe()
			}
		}
	}
}

// keyframeForNewViewer asks the vehicle for a keyframe until the viewer
// got one, so it need not wait for the camera's next scheduled one. The
// requests start once the viewer is connected, because a keyframe that
// arrives earlier cannot reach it.
func (s *stream) keyframeForNewViewer(v *viewer) {
	for deadline := time.Now().Add(viewerConnectWait); !v.connected.Load() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	for range 5 {
		if v.started.Load() {
			return
		}
		s.requestKeyframe()
		time.Sleep(time.Second)
	}
}

// minKeyframeInterval limits keyframe requests to the vehicle: each
// keyframe costs several times the bits of a normal frame on a cellular
// uplink.
const minKeyframeInterval = 500 * time.Millisecond

// requestKeyframe sends a PLI to the vehicle, at most once per
// minKeyframeInterval.
func (s *stream) requestKeyframe() {
	now := time.Now().UnixNano()
	last := s.lastPLI.Load()
	if now-last < int64(minKeyframeInterval) || !s.lastPLI.CompareAndSwap(last, now) {
		return
	}
	s.mu.Lock()
	var pc *webrtc.PeerConnection
	var ssrc uint32
	if att := s.att; att != nil && att.pc != nil && att.track != nil {
		pc, ssrc = att.pc, uint32(att.track.SSRC())
	}
	s.mu.Unlock()
	if pc == nil {
		return
	}
	if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		s.log.Debug("keyframe request not sent", "err", err)
		return
	}
	s.keyframeRequests.Add(1)
	s.relay.metrics.keyframeRequests.Inc()
}

// forward copies the attempt's RTP packets to every viewer until the
// track ends or the attempt is replaced.
func (s *stream) forward(att *attempt, track *webrtc.TrackRemote) {
	isKey := keyframeDetector(track.Codec().MimeType)
	buf := make([]byte, 1600)
	var pkt rtp.Packet
	var lastKeyTS uint32
	haveKey := false
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		if att.ended.Load() {
			return
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			s.relay.metrics.badPackets.Inc()
			continue
		}
		att.lastRTP.Store(time.Now().UnixNano())
		s.packetsIn.Add(1)
		s.bytesIn.Add(uint64(n))
		s.relay.metrics.packetsIn.Inc()
		s.relay.metrics.bytesIn.Add(float64(n))

		key := isKey(pkt.Payload)
		if key && (!haveKey || pkt.Timestamp != lastKeyTS) {
			haveKey, lastKeyTS = true, pkt.Timestamp
			s.keyframes.Add(1)
		}
		s.rewrite.apply(att, &pkt)

		var sent uint64
		for _, v := range *s.snapshot.Load() {
			if !v.connected.Load() {
				continue
			}
			if !v.started.Load() {
				if !key {
					continue
				}
				v.started.Store(true)
			}
			if err := v.track.WriteRTP(&pkt); err == nil {
				sent++
			}
		}
		if sent > 0 {
			s.packetsOut.Add(sent)
			s.relay.metrics.packetsOut.Add(float64(sent))
		}
	}
}

// rewriter keeps the sequence numbers and timestamps viewers see
// continuous when the upstream is replaced after a drop, so their jitter
// buffers take the new packets as the same stream.
type rewriter struct {
	// mu guards every field; only one forwarding loop writes at a time,
	// but an old loop may still be finishing.
	mu        sync.Mutex
	att       *attempt
	have      bool
	seqOffset uint16
	tsOffset  uint32
	lastSeq   uint16
	lastTS    uint32
}

// frameGap is the timestamp step put between the last packet of an old
// upstream and the first of the new one: one frame at 30 fps on the
// 90 kHz video clock.
const frameGap = 90000 / 30

func (r *rewriter) apply(att *attempt, pkt *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.att != att {
		if r.have {
			r.seqOffset = r.lastSeq + 1 - pkt.SequenceNumber
			r.tsOffset = r.lastTS + frameGap - pkt.Timestamp
		}
		r.att = att
	}
	pkt.SequenceNumber += r.seqOffset
	pkt.Timestamp += r.tsOffset
	r.lastSeq, r.lastTS, r.have = pkt.SequenceNumber, pkt.Timestamp, true
}

// keyframeDetector returns the function that tells whether an RTP payload
// of the codec starts a keyframe.
func keyframeDetector(mimeType string) func([]byte) bool {
	switch strings.ToLower(mimeType) {
	case strings.ToLower(webrtc.MimeTypeH264):
		return isH264Keyframe
	case strings.ToLower(webrtc.MimeTypeVP8):
		return isVP8Keyframe
	default:
		return func([]byte) bool { return true }
	}
}

// H.264 NAL unit types (ITU-T H.264 table 7-1) and RTP payload structures
// (RFC 6184 section 5.2).
const (
	nalIDR   = 5
	nalSPS   = 7
	nalSTAPA = 24
	nalFUA   = 28
)

// isH264Keyframe reports whether an H.264 RTP payload carries an SPS or
// the start of an IDR slice, alone, in a STAP-A or as the first fragment
// of an FU-A.
func isH264Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	switch t := p[0] & 0x1f; t {
	case nalIDR, nalSPS:
		return true
	case nalSTAPA:
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			i += 2
			if i >= len(p) || size == 0 {
				return false
			}
			if nt := p[i] & 0x1f; nt == nalIDR || nt == nalSPS {
				return true
			}
			i += size
		}
		return false
	case nalFUA:
		return len(p) >= 2 && p[1]&0x80 != 0 && p[1]&0x1f == nalIDR
	default:
		return false
	}
}

// isVP8Keyframe reports whether a VP8 RTP payload starts a key frame: the
// start of partition 0 (RFC 7741 section 4.2) whose frame tag has the
// inverse key frame flag clear (RFC 6386 section 9.1).
func isVP8Keyframe(p []byte) bool {
	if len(p) < 1 {
		return false
	}
	start, pid := p[0]&0x10 != 0, p[0]&0x07
	if !start || pid != 0 {
		return false
	}
	i := 1
	if p[0]&0x80 != 0 { // X: extension byte present
		if len(p) < 2 {
			return false
		}
		ext := p[1]
		i++
		if ext&0x80 != 0 { // I: picture id, one or two bytes
			if i >= len(p) {
				return false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/KEYIDX byte
			i++
		}
	}
	return i < len(p) && p[i]&0x01 == 0
}

// acceptsCodec reports whether an SDP offer lists mimeType ("video/H264")
// for a video media section.
func acceptsCodec(offer, mimeType string) bool {
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(offer); err != nil {
		return false
	}
	_, name, _ := strings.Cut(mimeType, "/")
	for _, m := range desc.MediaDescriptions {
		if m.MediaName.Media != "video" {
			continue
		}
		for _, a := range m.Attributes {
			if a.Key != "rtpmap" {
				continue
			}
			_, enc, _ := strings.Cut(a.Value, " ")
			codec, _, _ := strings.Cut(enc, "/")
			if strings.EqualFold(codec, name) {
				return true
			}
		}
	}
	return false
}

// offersVideo reports whether a vehicle's offer has a video section that
// lists H264 or VP8.
func offersVideo(offer string) bool {
	return acceptsCodec(offer, webrtc.MimeTypeH264) || acceptsCodec(offer, webrtc.MimeTypeVP8)
}

// summarizeCandidate turns an ICE candidate line into "side udp
// 192.0.2.1:5000 host" for failure reports; a line that does not parse is
// kept as it is.
func summarizeCandidate(side, line string) string {
	c, err := ice.UnmarshalCandidate(strings.TrimPrefix(line, "a="))
	if err != nil {
		return side + " " + line
	}
	return side + " " + c.NetworkType().NetworkShort() + " " + net.JoinHostPort(c.Address(), strconv.Itoa(c.Port())) + " " + c.Type().String()
}

// summarizeSDPCandidates summarizes the candidates an SDP carries.
func summarizeSDPCandidates(side, desc string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(desc))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "a=candidate:") {
			out = append(out, summarizeCandidate(side, line[2:]))
		}
	}
	return out
}
