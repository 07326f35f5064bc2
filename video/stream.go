package video

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// StreamState is the stage of a channel's stream.
type StreamState uint8

const (
	StateUnknown StreamState = iota
	// StateIdle: no stream; the vehicle sends nothing.
	StateIdle
	// StateStarting: video_start was sent and the relay waits for the
	// offer, the ICE connection and the first RTP packet.
	StateStarting
	// StateLive: RTP flows and is forwarded to the viewers.
	StateLive
	// StateRetrying: a stream with viewers failed and starts again after a
	// pause.
	StateRetrying
	// StateStopped: the stream ended; a new viewer creates a new one.
	StateStopped
)

func (s StreamState) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateStarting:
		return "starting"
	case StateLive:
		return "live"
	case StateRetrying:
		return "retrying"
	case StateStopped:
		return "stopped"
	default:
		return "unknown"
	}
}

// Retry pauses after a stream with viewers fails: the first retry follows
// after minRetry, each further one waits twice as long, up to maxRetry.
const (
	minRetry = time.Second
	maxRetry = 30 * time.Second
)

// stream is one vehicle channel: its upstream attempts and its viewers.
type stream struct {
	relay *Relay
	key   streamKey
	log   *slog.Logger

	// mu guards state, pending, viewers, att, startErr, codec, liveSince,
	// backoff, retryTimer and graceTimer.
	mu      sync.Mutex
	state   StreamState
	pending int // Join calls that wait for the stream
	viewers map[string]*viewer
	att     *attempt // the current upstream attempt; nil while retrying or stopped
	// startErr is the failure of the last attempt, returned to the Join
	// calls of a stream that stopped because of it.
	startErr *StartFailure
	// codec is the upstream track's codec, which every viewer's track
	// uses; it is zero until the first upstream goes live.
	codec      webrtc.RTPCodecCapability
	liveSince  time.Time
	backoff    time.Duration
	retryTimer *time.Timer
	graceTimer *time.Timer

	// snapshot is the viewer list the forwarding loop reads without a lock;
	// it is replaced, never changed, under mu.
	snapshot atomic.Pointer[[]*viewer]
	rewrite  rewriter
	lastPLI  atomic.Int64 // unix nanoseconds of the last keyframe request

	packetsIn        atomic.Uint64
	bytesIn          atomic.Uint64
	packetsOut       atomic.Uint64
	keyframes        atomic.Uint64
	keyframeRequests atomic.Uint64
}

// attempt is one try at getting the vehicle's stream up: one session id,
// one video_start, at most one upstream peer connection.
type attempt struct {
	session string
	started time.Time
	// done is closed when the attempt is live or has failed; err is set
	// before done closes when it failed.
	done chan struct{}
	err  *StartFailure
	// ended is set once the attempt failed or was stopped; its
	// forwarding loop then stops writing.
	ended atomic.Bool
	// lastRTP is the unix nanoseconds of the latest upstream packet.
	lastRTP atomic.Int64

	// The fields below are guarded by stream.mu.
	offered       bool
	pc            *webrtc.PeerConnection
	track         *webrtc.TrackRemote
	answerSent    bool
	localPending  []Candidate
	remotePending []webrtc.ICECandidateInit
	candidates    []string // summaries of both sides' candidates
	timer         *time.Timer
	stopWatch     chan struct{}
}

func newStream(r *Relay, key streamKey) *stream {
	s := &stream{
		relay:   r,
		key:     key,
		log:     r.log.With("vehicle_id", key.terminal, "channel", key.channel),
		state:   StateIdle,
		viewers: map[string]*viewer{},
	}
	empty := []*viewer{}
	s.snapshot.Store(&empty)
	return s
}

// effects are the actions of a state change that run outside stream.mu:
// closing peer connections, publishing to the vehicle, reporting events and
// leaving the relay's map. Doing them after unlocking keeps pion callbacks and the
// relay's lock out of the stream's critical sections.
type effects struct {
	close   []*webrtc.PeerConnection
	publish []outgoing
	events  []Event
	forget  bool
}

type outgoing struct {
	topic string
	msg   any
	att   *attempt // when set, a failed publish fails this attempt
}

func (s *stream) apply(e effects) {
	for _, pc := range e.close {
		if err := pc.Close(); err != nil {
			s.log.Debug("peer connection close", "err", err)
		}
	}
	for _, out := range e.publish {
		if err := s.relay.publishJSON(out.topic, out.msg); err != nil {
			s.log.Warn("video signalling message not sent", "topic", out.topic, "err", err)
			if out.att != nil {
				s.fail(out.att, &StartFailure{Reason: FailureRelay, Message: "the start command could not be sent: " + err.Error()})
			}
		}
	}
	if e.forget {
		s.relay.forget(s)
	}
}

// emitLocked reports e's events while the stream's lock is held, so they
// reach Options.OnEvent in the order of the state changes.
func (s *stream) emitLocked(e *effects) {
	for _, ev := range e.events {
		s.relay.emit(ev)
	}
	e.events = nil
}

func (s *stream) event(kind EventKind, f *StartFailure) Event {
	return Event{Terminal: s.key.terminal, Channel: s.key.channel, Kind: kind, Failure: f, At: time.Now()}
}

// addPending counts a Join on the stream and cancels a pending stop. It
// returns false when the stream has stopped and must be replaced.
func (s *stream) addPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == StateStopped {
		return false
	}
	s.pending++
	s.cancelGraceLocked()
	return true
}

// donePending ends a Join's wait and schedules the stop when no viewer
// is left.
func (s *stream) donePending() {
	s.mu.Lock()
	s.pending--
	e := s.idleCheckLocked()
	s.emitLocked(&e)
	s.mu.Unlock()
	s.apply(e)
}

// ensureStarted begins an attempt unless one runs or the stream is live.
func (s *stream) ensureStarted() {
	s.mu.Lock()
	var e effects
	switch s.state {
	case StateIdle:
		e = s.beginAttemptLocked()
	case StateRetrying:
		// A new viewer should not wait out the retry pause.
		if s.retryTimer != nil {
			s.retryTimer.Stop()
			s.retryTimer = nil
		}
		e = s.beginAttemptLocked()
	}
	s.emitLocked(&e)
	s.mu.Unlock()
	s.apply(e)
}

func (s *stream) beginAttemptLocked() effects {
	att := &attempt{session: newID("vs_"), started: time.Now(), done: make(chan struct{}), stopWatch: make(chan struct{})}
	s.att = att
	s.state = StateStarting
	if !s.relay.opts.Online(s.key.terminal) {
		return s.failLocked(att, &StartFailure{Reason: FailureOffline, Message: "the vehicle has no MQTT connection, so it cannot receive the start command"})
	}
	att.timer = time.AfterFunc(s.relay.opts.StartTimeout, func() { s.startTimedOut(att) })
	s.log.Info("video stream starting", "session", att.session)
	cmd := Command{Cmd: CmdVideoStart, Channel: s.key.channel, Session: att.session, ICEServers: s.relay.opts.ICE.ICEServers}
	return effects{publish: []outgoing{{topic: CommandTopic(s.key.terminal), msg: cmd, att: att}}}
}

// join waits for the stream to be live and adds a viewer for offer.
func (s *stream) join(ctx context.Context, offer string) (Viewer, error) {
	defer s.donePending()
	// An offer that no camera stream could answer is rejected before the
	// vehicle is asked to start, so a bad request costs it no data.
	if !acceptsCodec(offer, webrtc.MimeTypeH264) && !acceptsCodec(offer, webrtc.MimeTypeVP8) {
		return Viewer{}, fmt.Errorf("%w: the body is not an SDP offer that receives H.264 or VP8 video", ErrBadOffer)
	}
	s.ensureStarted()

	var codec webrtc.RTPCodecCapability
	for {
		s.mu.Lock()
		state, att := s.state, s.att
		codec = s.codec
		s.mu.Unlock()
		if state == StateLive {
			break
		}
		if state == StateStopped {
			s.mu.Lock()
			err := s.startErr
			s.mu.Unlock()
			if err != nil {
				return Viewer{}, err
			}
			return Viewer{}, &StartFailure{Reason: FailureUnknown, Message: "the stream was stopped while starting", At: time.Now()}
		}
		if att == nil {
			s.ensureStarted()
			continue
		}
		select {
		case <-att.done:
			if att.err != nil {
				return Viewer{}, att.err
			}
		case <-ctx.Done():
			return Viewer{}, fmt.Errorf("wait for the camera stream: %w", ctx.Err())
		}
	}

	v, answer, err := s.newViewer(ctx, codec, offer)
	if err != nil {
		return Viewer{}, err
	}
	if err := s.addViewer(v); err != nil {
		return Viewer{}, err
	}
	s.log.Info("viewer joined", "viewer_id", v.id)
	go s.keyframeForNewViewer(v)
	return Viewer{ID: v.id, Answer: answer}, nil
}

func (s *stream) addViewer(v *viewer) error {
	s.mu.Lock()
	if s.state == StateStopped {
		s.mu.Unlock()
		_ = v.pc.Close()
		return &StartFailure{Reason: FailureUnknown, Message: "the stream was stopped while the viewer connected", At: time.Now()}
	}
	s.viewers[v.id] = v
	s.publishSnapshotLocked()
	s.cancelGraceLocked()
	s.mu.Unlock()
	return nil
}

// leave removes a viewer and reports whether it was there.
func (s *stream) leave(id, why string) bool {
	s.mu.Lock()
	v := s.viewers[id]
	if v == nil {
		s.mu.Unlock()
		return false
	}
	delete(s.viewers, id)
	s.publishSnapshotLocked()
	e := s.idleCheckLocked()
	s.emitLocked(&e)
	s.mu.Unlock()
	s.log.Info("viewer left", "viewer_id", id, "why", why)
	_ = v.pc.Close()
	s.apply(e)
	return true
}

// idleCheckLocked stops a retrying stream without viewers, and schedules
// the stop of any other one after the grace period.
func (s *stream) idleCheckLocked() effects {
	if s.pending > 0 || len(s.viewers) > 0 || s.state == StateStopped {
		return effects{}
	}
	if s.state == StateRetrying {
		return s.stopLocked("no viewers left while retrying")
	}
	if s.graceTimer == nil {
		s.graceTimer = time.AfterFunc(s.relay.opts.StopGrace, s.graceExpired)
	}
	return effects{}
}

func (s *stream) cancelGraceLocked() {
	if s.graceTimer != nil {
		s.graceTimer.Stop()
		s.graceTimer = nil
	}
}

func (s *stream) graceExpired() {
	s.mu.Lock()
	s.graceTimer = nil
	var e effects
	if s.pending == 0 && len(s.viewers) == 0 && s.state != StateStopped {
		e = s.stopLocked("no viewers left")
	}
	s.emitLocked(&e)
	s.mu.Unlock()
	s.apply(e)
}

func (s *stream) publishSnapshotLocked() {
	list := make([]*viewer, 0, len(s.viewers))
	for _, v := range s.viewers {
		list = append(list, v)
	}
	s.snapshot.Store(&list)
}

// stop ends the stream: it disconnects the viewers and sends video_stop
// to the vehicle.
func (s *stream) stop(why string) {
	s.mu.Lock()
	e := s.stopLocked(why)
	s.emitLocked(&e)
	s.mu.Unlock()
	s.apply(e)
}

func (s *stream) stopLocked(why string) effects {
	var e effects
	if s.state == StateStopped {
		return e
	}
	s.state = StateStopped
	s.cancelGraceLocked()
	if s.retryTimer != nil {
		s.retryTimer.Stop()
		s.retryTimer = nil
	}
	for id, v := range s.viewers {
		e.close = append(e.close, v.pc)
		delete(s.viewers, id)
	}
	s.publishSnapshotLocked()
	if att := s.att; att != nil {
		s.att = nil
		s.endAttemptLocked(att, &e)
		if att.err == nil && !isClosed(att.done) {
			att.err = &StartFailure{Reason: FailureUnknown, Message: "the stream was stopped while starting: " + why, At: time.Now()}
			close(att.done)
		}
	}
	e.forget = true
	e.events = append(e.events, s.event(EventStopped, nil))
	s.log.Info("video stream stopped", "why", why)
	return e
}

// endAttemptLocked releases an attempt's resources and sends video_stop
// for its session.
func (s *stream) endAttemptLocked(att *attempt, e *effects) {
	att.ended.Store(true)
	if att.timer != nil {
		att.timer.Stop()
	}
	close(att.stopWatch)
	if att.pc != nil {
		e.close = append(e.close, att.pc)
	}
	e.publish = append(e.publish, outgoing{
		topic: CommandTopic(s.key.terminal),
		msg:   Command{Cmd: CmdVideoStop, Channel: s.key.channel, Session: att.session},
	})
}

// fail ends an attempt that could not start or that dropped. A stream
// with viewers starts again after a pause; one without stops.
func (s *stream) fail(att *attempt, f *StartFailure) {
	s.mu.Lock()
	e := s.failLocked(att, f)
	s.emitLocked(&e)
	s.mu.Unlock()
	s.apply(e)
}

func (s *stream) failLocked(att *attempt, f *StartFailure) effects {
	var e effects
	if s.att != att || att.ended.Load() {
		return e
	}
	if f.At.IsZero() {
		f.At = time.Now()
	}
	wasLive := s.state == StateLive
	s.att = nil
	if f.Reason == FailureOffline {
		// There is no session on the vehicle to stop.
		att.ended.Store(true)
		close(att.stopWatch)
	} else {
		s.endAttemptLocked(att, &e)
	}

	kind := EventStartFailed
	if wasLive {
		kind = EventDropped
		s.relay.metrics.drops.WithLabelValues(f.Reason.String()).Inc()
		s.log.Warn("video stream dropped", "session", att.session, "reason", f.Reason.String(), "err", f.Message)
	} else {
		att.err = f
		s.startErr = f
		close(att.done)
		s.relay.metrics.startFailures.WithLabelValues(f.Reason.String()).Inc()
		s.log.Warn("video stream failed to start", "session", att.session, "reason", f.Reason.String(), "err", f.Message, "candidates", f.Candidates)
	}
	e.events = append(e.events, s.event(kind, f))

	if len(s.viewers) == 0 {
		stopped := s.stopLocked("failed: " + f.Reason.String())
		e.close = append(e.close, stopped.close...)
		e.publish = append(e.publish, stopped.publish...)
		e.events = append(e.events, stopped.events...)
		e.forget = true
		return e
	}
	s.state = StateRetrying
	s.backoff = min(max(2*s.backoff, minRetry), maxRetry)
	s.retryTimer = time.AfterFunc(s.backoff, s.retry)
	s.log.Info("video stream will retry", "after", s.backoff, "viewers", len(s.viewers))
	return e
}

func (s *stream) retry() {
	s.mu.Lock()
	var e effects
	if s.state == StateRetrying {
		s.retryTimer = nil
		e = s.beginAttemptLocked()
	}
	s.emitLocked(&e)
	s.mu.Unlock()
	s.apply(e)
}

// startTimedOut fails an attempt that is not live within the start
// timeout, naming the step it stopped at.
func (s *stream) startTimedOut(att *attempt) {
	s.mu.Lock()
	if s.att != att || s.state != StateStarting {
		s.mu.Unlock()
		return
	}
	timeout := s.relay.opts.StartTimeout
	f := &StartFailure{}
	switch {
	case !att.offered:
		f.Reason = FailureNoOffer
		f.Message = fmt.Sprintf("the vehicle sent no offer within %s of video_start", timeout)
	case att.pc == nil || att.pc.ConnectionState() != webrtc.PeerConnectionStateConnected:
		f.Reason = FailureICE
		f.Message = fmt.Sprintf("the connection to the vehicle was not established within %s", timeout)
		f.Candidates = append([]string(nil), att.candidates...)
	default:
		f.Reason = FailureNoMedia
		f.Message = fmt.Sprintf("connected, but no video arrived within %s", timeout)
	}
	e := s.failLocked(att, f)
	s.emitLocked(&e)
	s.mu.Unlock()
	s.apply(e)
}

// handleSignal applies a vehicle's message to the current attempt.
func (s *stream) handleSignal(sig Signal) *RejectError {
	s.mu.Lock()
	att := s.att
	if att == nil || att.session != sig.Session {
		s.mu.Unlock()
		return reject(ReasonStaleSession, "session %q is not the current session of channel %d", sig.Session, sig.Channel)
	}
	switch sig.Kind {
	case SignalOffer:
		if att.offered {
			s.mu.Unlock()
			return reject(ReasonStaleSession, "session %q already has an offer", sig.Session)
		}
		att.offered = true
		s.mu.Unlock()
		return s.handleOffer(att, sig.Offer.SDP)
	case SignalCandidate:
		c := sig.Candidate
		if c.Candidate == "" {
			s.mu.Unlock()
			return nil // end of the vehicle's candidates
		}
		att.candidates = append(att.candidates, summarizeCandidate("remote", c.Candidate))
		init := webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}
		if att.pc == nil {
			att.remotePending = append(att.remotePending, init)
			s.mu.Unlock()
			return nil
		}
		pc := att.pc
		s.mu.Unlock()
		if err := pc.AddICECandidate(init); err != nil {
			return reject(ReasonBadCandidate, "candidate not added: %v", err)
		}
		return nil
	case SignalError:
		s.mu.Unlock()
		msg := "the vehicle reported " + sig.Error.Reason
		if sig.Error.Message != "" {
			msg += ": " + sig.Error.Message
		}
		s.fail(att, &StartFailure{Reason: FailureVehicleError, Message: msg})
		return nil
	}
	s.mu.Unlock()
	return reject(ReasonUnexpectedTopic, "message kind %s is not handled", sig.Kind)
}

// handleOffer answers the vehicle's offer with a new upstream peer
// connection.
func (s *stream) handleOffer(att *attempt, sdp string) *RejectError {
	pc, answer, err := s.answerUpstream(att, sdp)
	if err != nil {
		reason := FailureBadOffer
		if _, relayFault := err.(relayError); relayFault {
			reason = FailureRelay
		}
		s.fail(att, &StartFailure{Reason: reason, Message: err.Error()})
		if reason == FailureRelay {
			return nil
		}
		return reject(ReasonBadSDP, "offer not answered: %v", err)
	}

	s.mu.Lock()
	if s.att != att {
		s.mu.Unlock()
		_ = pc.Close()
		return nil
	}
	att.pc = pc
	att.candidates = append(att.candidates, summarizeSDPCandidates("remote", sdp)...)
	remote := att.remotePending
	att.remotePending = nil
	s.mu.Unlock()

	for _, c := range remote {
		if err := pc.AddICECandidate(c); err != nil {
			s.relay.rejected(s.key.terminal, ChannelTopic(s.key.terminal, s.key.channel, SubtopicCandidate), reject(ReasonBadCandidate, "candidate not added: %v", err))
		}
	}
	if err := s.relay.publishJSON(ChannelTopic(s.key.terminal, s.key.channel, SubtopicAnswer), Description{Session: att.session, Type: "answer", SDP: answer}); err != nil {
		s.fail(att, &StartFailure{Reason: FailureRelay, Message: "the answer could not be sent: " + err.Error()})
		return nil
	}

	s.mu.Lock()
	att.answerSent = true
	local := att.localPending
	att.localPending = nil
	s.mu.Unlock()
	for _, c := range local {
		s.sendCandidate(c)
	}
	return nil
}

// relayError marks a failure on the relay's side rather than in the offer.
type relayError struct{ error }

func (s *stream) answerUpstream(att *attempt, sdp string) (*webrtc.PeerConnection, string, error) {
	api, err := s.relay.transport.API()
	if err != nil {
		return nil, "", relayError{err}
	}
	pc, err := api.NewPeerConnection(s.relay.transport.Configuration())
	if err != nil {
		return nil, "", relayError{fmt.Errorf("create peer connection: %w", err)}
	}
	ok := false
	defer func() {
		if !ok {
			_ = pc.Close()
		}
	}()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return nil, "", relayError{fmt.Errorf("add video transceiver: %w", err)}
	}
	pc.OnICECandidate(func(c *webrtc.ICECandidate) { s.onLocalCandidate(att, c) })
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { s.onTrack(att, track) })
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) { s.onUpstreamState(att, st) })

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return nil, "", fmt.Errorf("apply offer: %w", err)
	}
	if !offersVideo(sdp) {
		return nil, "", fmt.Errorf("the offer has no video track the relay can receive (H264 or VP8)")
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, "", fmt.Errorf("create answer: %w", err)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, "", fmt.Errorf("apply answer: %w", err)
	}
	ok = true
	return pc, answer.SDP, nil
}

// onLocalCandidate trickles one of the relay's candidates to the vehicle,
// holding it back until the answer is out.
func (s *stream) onLocalCandidate(att *attempt, ice *webrtc.ICECandidate) {
	c := Candidate{Session: att.session, From: FromServer}
	if ice != nil {
		init := ice.ToJSON()
		c.Candidate, c.SDPMid, c.SDPMLineIndex = init.Candidate, init.SDPMid, init.SDPMLineIndex
	}
	s.mu.Lock()
	if s.att != att {
		s.mu.Unlock()
		return
	}
	if ice != nil {
		att.candidates = append(att.candidates, summarizeCandidate("local", c.Candidate))
	}
	if !att.answerSent {
		att.localPending = append(att.localPending, c)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.sendCandidate(c)
}

func (s *stream) sendCandidate(c Candidate) {
	if err := s.relay.publishJSON(ChannelTopic(s.key.terminal, s.key.channel, SubtopicCandidate), c); err != nil {
		s.log.Warn("ICE candidate not sent to the vehicle", "err", err)
	}
}

func (s *stream) onUpstreamState(att *attempt, st webrtc.PeerConnectionState) {
	s.log.Debug("upstream connection state", "session", att.session, "state", st.String())
	s.mu.Lock()
	current := s.att == att
	live := s.state == StateLive
	candidates := append([]string(nil), att.candidates...)
	s.mu.Unlock()
	if !current {
		return
	}
	switch st {
	case webrtc.PeerConnectionStateFailed:
		if live {
			s.fail(att, &StartFailure{Reason: FailureDisconnected, Message: "the connection to the vehicle failed"})
			return
		}
		s.fail(att, &StartFailure{Reason: FailureICE, Message: "ICE or DTLS failed: no candidate pair worked", Candidates: candidates})
	case webrtc.PeerConnectionStateDisconnected, webrtc.PeerConnectionStateClosed:
		if live {
			s.fail(att, &StartFailure{Reason: FailureDisconnected, Message: "the connection to the vehicle was lost (" + st.String() + ")"})
		}
	}
}

// onTrack makes the stream live on the attempt's first video packet and
// forwards the track until it ends.
func (s *stream) onTrack(att *attempt, track *webrtc.TrackRemote) {
	if track.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	codec := track.Codec().RTPCodecCapability

	s.mu.Lock()
	if s.att != att || att.ended.Load() {
		s.mu.Unlock()
		return
	}
	var e effects
	if s.codec.MimeType != "" && s.codec.MimeType != codec.MimeType && len(s.viewers) > 0 {
		// The viewers negotiated the old codec and cannot decode the new
		// one; they reconnect and negotiate again.
		s.log.Warn("vehicle changed codec; disconnecting viewers", "old", s.codec.MimeType, "new", codec.MimeType)
		for id, v := range s.viewers {
			e.close = append(e.close, v.pc)
			delete(s.viewers, id)
		}
		s.publishSnapshotLocked()
	}
	s.codec = codec
	att.track = track
	att.lastRTP.Store(time.Now().UnixNano())
	if att.timer != nil {
		att.timer.Stop()
	}
	s.state = StateLive
	s.liveSince = time.Now()
	s.backoff = 0
	close(att.done)
	hasViewers := len(s.viewers) > 0
	e.events = append(e.events, s.event(EventLive, nil))
	s.emitLocked(&e)
	s.mu.Unlock()

	s.log.Info("video stream live", "session", att.session, "codec", codec.MimeType, "start_ms", time.Since(att.started).Milliseconds())
	s.apply(e)
	if hasViewers {
		s.requestKeyframe()
	}
	go s.watchRTP(att)
	s.forward(att, track)
}

// watchRTP fails a live attempt whose RTP stops for RTPTimeout.
func (s *stream) watchRTP(att *attempt) {
	timeout := s.relay.opts.RTPTimeout
	t := time.NewTicker(max(timeout/4, 50*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-att.stopWatch:
			return
		case now := <-t.C:
			silent := now.Sub(time.Unix(0, att.lastRTP.Load()))
			if silent > timeout {
				s.fail(att, &StartFailure{Reason: FailureRTPTimeout, Message: fmt.Sprintf("no video from the vehicle for %s", silent.Round(100*time.Millisecond))})
				return
			}
		}
	}
}

func (s *stream) fillStatus(st *ChannelStatus) {
	s.mu.Lock()
	st.State = s.state.String()
	if s.state == StateStopped {
		st.State = StateIdle.String()
	}
	st.Viewers = len(s.viewers)
	if s.codec.MimeType != "" {
		st.Codec = s.codec.MimeType
	}
	if s.state == StateLive {
		st.LiveSince = s.liveSince
	}
	s.mu.Unlock()
	st.PacketsIn = s.packetsIn.Load()
	st.BytesIn = s.bytesIn.Load()
	st.PacketsOut = s.packetsOut.Load()
	st.Keyframes = s.keyframes.Load()
	st.KeyframeRequests = s.keyframeRequests.Load()
}

func (s *stream) counts() (live bool, viewers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state == StateLive, len(s.viewers)
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
