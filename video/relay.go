// Package video relays onboard cameras to regulators' browsers over WebRTC
// (pion/webrtc v4).
//
// A vehicle's camera channel is started on demand. The first viewer makes
// the relay send video_start on the vehicle's MQTT command topic; the
// vehicle answers with an SDP offer on hwt/v1/{terminal}/video/{channel}/
// offer, and ICE candidates trickle both ways on .../candidate. The relay
// keeps one upstream peer connection per vehicle channel and forwards its
// RTP packets unchanged to every viewer's peer connection, so no video is
// transcoded. Viewers join with WHEP through the HTTP API. When the last
// viewer leaves, the relay waits a grace period and then sends video_stop.
package video

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Options configures a Relay.
type Options struct {
	// Publish sends a message to a vehicle over MQTT. Required.
	Publish func(topic string, payload []byte) error
	// Online reports whether a vehicle has an MQTT connection. Required.
	Online func(terminal string) bool
	// Channels returns a vehicle's camera channels, and false when the
	// vehicle is not registered. Required.
	Channels func(terminal string) ([]int, bool)
	// OnEvent, when set, receives every stream state change on one
	// goroutine of the relay, in the order the changes happened. It must
	// not call back into the relay's Join, Leave or Stop.
	OnEvent func(Event)

	ICE ICEConfig
	// StartTimeout bounds the wait from video_start until RTP arrives.
	StartTimeout time.Duration
	// StopGrace is how long a stream outlives its last viewer, so a viewer
	// who reloads the page gets the running stream back.
	StopGrace time.Duration
	// RTPTimeout is the silence after which a live stream counts as
	// dropped.
	RTPTimeout time.Duration

	Logger *slog.Logger
}

// Defaults of the Options durations.
const (
	DefaultStartTimeout = 8 * time.Second
	DefaultStopGrace    = 10 * time.Second
	DefaultRTPTimeout   = 5 * time.Second
)

// Relay is the camera relay. Its methods are safe for concurrent use.
//
// Lock order: Relay.mu, then stream.mu, then Relay.eventsMu.
type Relay struct {
	opts      Options
	log       *slog.Logger
	transport *transport
	metrics   *metrics
	rejectLog *rate.Limiter

	// mu guards streams and closed.
	mu      sync.Mutex
	streams map[streamKey]*stream
	closed  bool

	// eventsMu guards sending on events, eventsClosed and failures. A
	// stream reports its events while it holds its own lock, so they keep
	// the order of its state changes.
	eventsMu     sync.Mutex
	events       chan Event
	eventsClosed bool
	// failures keeps each channel's last failure until it is live again,
	// for Status.
	failures map[streamKey]*StartFailure

	wg        sync.WaitGroup
	closeOnce sync.Once
}

type streamKey struct {
	terminal string
	channel  int
}

// New returns a relay. It opens no socket until the first stream starts.
func New(opts Options) (*Relay, error) {
	if opts.Publish == nil || opts.Online == nil || opts.Channels == nil {
		return nil, errors.New("video relay needs Publish, Online and Channels")
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = DefaultStopGrace
	}
	if opts.RTPTimeout <= 0 {
		opts.RTPTimeout = DefaultRTPTimeout
	}
	if opts.ICE.UDPAddr == "" {
		opts.ICE.UDPAddr = ":8189"
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "video")

	r := &Relay{
		opts:      opts,
		log:       log,
		transport: &transport{cfg: opts.ICE, log: pionLogs{log: log}},
		metrics:   newMetrics(),
		events:    make(chan Event, 256),
		rejectLog: rate.NewLimiter(rate.Limit(5), 20),
		streams:   map[streamKey]*stream{},
		failures:  map[streamKey]*StartFailure{},
	}

	r.wg.Add(1)
	go r.deliverEvents()
	return r, nil
}

// deliverEvents hands events to Options.OnEvent one at a time. A slow
// receiver does not block the streams: emit drops and logs an event when
// the queue of 256 is full.
func (r *Relay) deliverEvents() {
	defer r.wg.Done()
	for ev := range r.events {
		if r.opts.OnEvent != nil {
			r.opts.OnEvent(ev)
		}
	}
}

// emit records a stream event and queues it for Options.OnEvent. Streams
// call it with their lock held.
func (r *Relay) emit(ev Event) {
	r.eventsMu.Lock()
	defer r.eventsMu.Unlock()
	switch ev.Kind {
	case EventLive:
		delete(r.failures, streamKey{ev.Terminal, ev.Channel})
	case EventStartFailed, EventDropped:
		r.failures[streamKey{ev.Terminal, ev.Channel}] = ev.Failure
	}
	if r.eventsClosed {
		return
	}
	select {
	case r.events <- ev:
	default:
		r.log.Warn("video event dropped: receiver too slow", "vehicle_id", ev.Terminal, "channel", ev.Channel, "event", ev.Kind.String())
	}
}

// HandleMessage takes a publish a vehicle made under
// hwt/v1/{terminal}/video/. A message that is malformed, or belongs to no
// current session, is counted by reason and logged, and changes nothing.
func (r *Relay) HandleMessage(terminal, topic string, payload []byte) {
	sig, rej := DecodeSignal(terminal, topic, payload)
	if rej != nil {
		r.rejected(terminal, topic, rej)
		return
	}
	r.mu.Lock()
	s := r.streams[streamKey{terminal, sig.Channel}]
	r.mu.Unlock()
	if s == nil {
		r.rejected(terminal, topic, reject(ReasonStaleSession, "no stream of channel %d was requested", sig.Channel))
		return
	}
	if rej := s.handleSignal(sig); rej != nil {
		r.rejected(terminal, topic, rej)
	}
}

func (r *Relay) rejected(terminal, topic string, rej *RejectError) {
	r.metrics.rejected.WithLabelValues(rej.Reason.String()).Inc()
	if r.rejectLog.Allow() {
		r.log.Warn("video signalling message rejected", "vehicle_id", terminal, "topic", topic, "reason", rej.Reason.String(), "err", rej.Message)
	}
}

// Viewer is a viewer session that Join created.
type Viewer struct {
	ID string
	// Answer is the relay's SDP answer, with all of its ICE candidates.
	Answer string
}

// Join adds a viewer to a vehicle channel from the viewer's SDP offer
// (WHEP). The first viewer starts the stream and waits for it; later
// viewers join the running stream. The returned error wraps ErrUnknownVehicle,
// ErrUnknownChannel, ErrOffline, ErrStartFailed (a *StartFailure),
// ErrBadOffer or ErrClosed, or is ctx's error.
func (r *Relay) Join(ctx context.Context, terminal string, channel int, offer string) (Viewer, error) {
	channels, ok := r.opts.Channels(terminal)
	if !ok {
		return Viewer{}, fmt.Errorf("%w: %q", ErrUnknownVehicle, terminal)
	}
	if !slices.Contains(channels, channel) {
		return Viewer{}, fmt.Errorf("%w: vehicle %s has channels %v, not %d", ErrUnknownChannel, terminal, channels, channel)
	}

	s, err := r.acquire(streamKey{terminal, channel})
	if err != nil {
		return Viewer{}, err
	}
	v, err := s.join(ctx, offer)
	if err != nil {
		return Viewer{}, err
	}
	return v, nil
}

// acquire returns the channel's stream, creating and starting it when
// there is none, with one pending join counted on it.
func (r *Relay) acquire(key streamKey) (*stream, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	if s := r.streams[key]; s != nil && s.addPending() {
		return s, nil
	}
	s := newStream(r, key)
	s.addPending()
	r.streams[key] = s
	return s, nil
}

// forget removes a stopped stream from the map, unless a new stream has
// taken its key already.
func (r *Relay) forget(s *stream) {
	r.mu.Lock()
	if r.streams[s.key] == s {
		delete(r.streams, s.key)
	}
	r.mu.Unlock()
}

func (r *Relay) lookup(terminal string, channel int) *stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streams[streamKey{terminal, channel}]
}

// Leave removes a viewer. The stream stops after the grace period when it
// was the last one.
func (r *Relay) Leave(terminal string, channel int, viewerID string) error {
	s := r.lookup(terminal, channel)
	if s == nil || !s.leave(viewerID, "viewer left") {
		return fmt.Errorf("%w: %s on %s channel %d", ErrViewerNotFound, viewerID, terminal, channel)
	}
	return nil
}

// Stop ends a channel's stream at once: every viewer is disconnected and
// the vehicle receives video_stop. It returns ErrViewerNotFound when the
// channel has no stream.
func (r *Relay) Stop(terminal string, channel int) error {
	s := r.lookup(terminal, channel)
	if s == nil {
		return fmt.Errorf("%w: channel %d of %s has no stream", ErrViewerNotFound, channel, terminal)
	}
	s.stop("stopped on request")
	return nil
}

// ChannelStatus is one camera channel as the API shows it.
type ChannelStatus struct {
	Channel int    `json:"channel"`
	Name    string `json:"name"`
	NameZH  string `json:"name_zh"`
	// State is idle, starting, live or retrying; failed is idle with a
	// LastFailure.
	State   string `json:"state"`
	Viewers int    `json:"viewers"`
	Codec   string `json:"codec,omitempty"`
	// LiveSince is when the current upstream began sending RTP.
	LiveSince        time.Time     `json:"live_since,omitzero"`
	PacketsIn        uint64        `json:"packets_in"`
	BytesIn          uint64        `json:"bytes_in"`
	PacketsOut       uint64        `json:"packets_out"`
	Keyframes        uint64        `json:"keyframes"`
	KeyframeRequests uint64        `json:"keyframe_requests"`
	LastFailure      *StartFailure `json:"last_failure,omitempty"`
}

// Status returns the state of every camera channel of a vehicle, and false
// when the vehicle is not registered.
func (r *Relay) Status(terminal string) ([]ChannelStatus, bool) {
	channels, ok := r.opts.Channels(terminal)
	if !ok {
		return nil, false
	}
	out := make([]ChannelStatus, 0, len(channels))
	for _, ch := range channels {
		name, nameZH := ChannelName(ch)
		st := ChannelStatus{Channel: ch, Name: name, NameZH: nameZH, State: StateIdle.String()}
		key := streamKey{terminal, ch}
		r.mu.Lock()
		s := r.streams[key]
		r.mu.Unlock()
		r.eventsMu.Lock()
		if f := r.failures[key]; f != nil {
			failure := *f
			st.LastFailure = &failure
		}
		r.eventsMu.Unlock()
		if s != nil {
			s.fillStatus(&st)
		}
		out = append(out, st)
	}
	return out, true
}

// ChannelName returns the English and Chinese names of a JT/T 1078 camera
// channel.
func ChannelName(channel int) (en, zh string) {
	switch channel {
	case 1:
		return "driver", "驾驶员"
	case 2:
		return "road ahead", "车辆正前方"
	case 3:
		return "cargo/tank", "货箱/罐体"
	case 10:
		return "rear", "车辆正后方"
	default:
		return fmt.Sprintf("channel %d", channel), fmt.Sprintf("%d号通道", channel)
	}
}

// Close stops every stream, telling each vehicle to stop sending, and
// closes the relay's sockets. Safe to call twice.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		streams := make([]*stream, 0, len(r.streams))
		for _, s := range r.streams {
			streams = append(streams, s)
		}
		r.mu.Unlock()
		for _, s := range streams {
			s.stop("server shutting down")
		}
		r.transport.Close()
		r.eventsMu.Lock()
		r.eventsClosed = true
		close(r.events)
		r.eventsMu.Unlock()
		r.wg.Wait()
	})
	return nil
}

// Collectors returns the relay's Prometheus collectors.
func (r *Relay) Collectors() []prometheus.Collector {
	return r.metrics.collectors(r)
}

// counts returns the number of streams and viewers, for the gauges.
func (r *Relay) counts() (streams, live, viewers int) {
	r.mu.Lock()
	all := make([]*stream, 0, len(r.streams))
	for _, s := range r.streams {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		isLive, n := s.counts()
		streams++
		if isLive {
			live++
		}
		viewers += n
	}
	return streams, live, viewers
}

// publishJSON sends v as JSON to a vehicle at QoS 1.
func (r *Relay) publishJSON(topic string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode message for %s: %w", topic, err)
	}
	if err := r.opts.Publish(topic, b); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// newID returns prefix followed by 32 random hex digits.
func newID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
