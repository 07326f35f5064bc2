package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/hwtrack/hwtrack/video"
)

// CameraConfig configures a simulated onboard camera unit.
type CameraConfig struct {
	// Client is a connected paho client logged in as the vehicle. When
	// nil, the camera connects on its own to Broker as Terminal with
	// Password, using the terminal id as client id.
	Client   mqtt.Client
	Broker   string
	Terminal string
	Password string
	// Channels are the camera channels the unit has; a start request for
	// another channel is answered with an error message.
	Channels []int
	// Clip is the video every channel plays, in a loop, at its frame rate.
	Clip *Clip
	// LoopbackOnly restricts ICE to 127.0.0.1 over UDP, for tests and the
	// demo, which must not send traffic to other addresses.
	LoopbackOnly bool
	Logger       *slog.Logger
}

// Camera answers video_start commands on the vehicle's command topic with
// a pion peer connection that sends the clip, signalled over MQTT as a
// real onboard unit does.
type Camera struct {
	cfg        CameraConfig
	log        *slog.Logger
	client     mqtt.Client
	ownsClient bool
	api        *webrtc.API
	inbox      chan mqtt.Message

	// mu guards sessions, commands and closed.
	mu       sync.Mutex
	sessions map[int]*cameraSession // by channel
	commands []video.Command
	closed   bool

	framesSent atomic.Int64

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// cameraSession is one channel's peer connection for one session id.
type cameraSession struct {
	id      string
	channel int
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticSample

	// answered and pending are touched only by the camera's worker
	// goroutine: candidates from the server wait until the answer is
	// applied.
	answered bool
	pending  []webrtc.ICECandidateInit

	// keyframeRequested is set by an RTCP PLI or FIR from the relay, and
	// makes the player skip ahead to the clip's next keyframe.
	keyframeRequested atomic.Bool

	playOnce  sync.Once
	done      chan struct{}
	closeOnce sync.Once
}

// StartCamera subscribes to the vehicle's command and signalling topics
// and returns once the subscriptions are acknowledged.
func StartCamera(ctx context.Context, cfg CameraConfig) (*Camera, error) {
	if cfg.Terminal == "" || cfg.Clip == nil || len(cfg.Clip.Frames) == 0 {
		return nil, errors.New("start camera: terminal and a clip with frames are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Camera{
		cfg:      cfg,
		log:      cfg.Logger.With("component", "sim-camera", "vehicle_id", cfg.Terminal),
		inbox:    make(chan mqtt.Message, 256),
		sessions: map[int]*cameraSession{},
		stop:     make(chan struct{}),
	}
	var err error
	if c.api, err = cameraAPI(cfg.LoopbackOnly); err != nil {
		return nil, err
	}

	c.client = cfg.Client
	if c.client == nil {
		opts := mqtt.NewClientOptions().AddBroker(cfg.Broker).SetClientID(cfg.Terminal).
			SetUsername(cfg.Terminal).SetPassword(cfg.Password).SetProtocolVersion(4).
			SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(defaultConnectTimeout)
		c.client = mqtt.NewClient(opts)
		if err := waitToken(ctx, c.client.Connect(), defaultConnectTimeout); err != nil {
			return nil, fmt.Errorf("camera: connect to %s as %s: %w", cfg.Broker, cfg.Terminal, err)
		}
		c.ownsClient = true
	}

	enqueue := func(_ mqtt.Client, m mqtt.Message) {
		select {
		case c.inbox <- m:
		default:
			c.log.Warn("camera inbox full; signalling message dropped", "topic", m.Topic())
		}
	}
	filters := map[string]byte{
		video.CommandTopic(cfg.Terminal):                                   1,
		TopicPrefix + cfg.Terminal + "/video/+/" + video.SubtopicAnswer:    1,
		TopicPrefix + cfg.Terminal + "/video/+/" + video.SubtopicCandidate: 1,
	}
	if err := waitToken(ctx, c.client.SubscribeMultiple(filters, enqueue), defaultConnectTimeout); err != nil {
		c.closeClient()
		return nil, fmt.Errorf("camera: subscribe to the signalling topics: %w", err)
	}
	c.wg.Add(1)
	go c.work()
	c.log.Debug("camera ready", "channels", cfg.Channels)
	return c, nil
}

// cameraAPI builds the pion API of a camera unit with the relay's codecs.
func cameraAPI(loopbackOnly bool) (*webrtc.API, error) {
	var se webrtc.SettingEngine
	if loopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	m := &webrtc.MediaEngine{}
	if err := video.RegisterCodecs(m); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("camera: register interceptors: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)), nil
}

// work handles signalling messages one at a time, outside paho's
// callback goroutine, so it may wait for publish acknowledgements.
func (c *Camera) work() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stop:
			return
		case m := <-c.inbox:
			c.handle(m.Topic(), m.Payload())
		}
	}
}

func (c *Camera) handle(topic string, payload []byte) {
	if topic == video.CommandTopic(c.cfg.Terminal) {
		var cmd video.Command
		if err := json.Unmarshal(payload, &cmd); err != nil {
			c.log.Warn("camera: command is not JSON", "err", err)
			return
		}
		c.mu.Lock()
		c.commands = append(c.commands, cmd)
		c.mu.Unlock()
		switch cmd.Cmd {
		case video.CmdVideoStart:
			c.start(cmd)
		case video.CmdVideoStop:
			c.stopSession(cmd.Channel, cmd.Session)
		}
		return
	}

	channel, subtopic, ok := c.parseChannelTopic(topic)
	if !ok {
		return
	}
	c.mu.Lock()
	sess := c.sessions[channel]
	c.mu.Unlock()
	switch subtopic {
	case video.SubtopicAnswer:
		var d video.Description
		if err := json.Unmarshal(payload, &d); err != nil || sess == nil || d.Session != sess.id {
			return
		}
		if err := sess.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: d.SDP}); err != nil {
			c.log.Warn("camera: answer not applied", "channel", channel, "err", err)
			c.reportError(channel, d.Session, "bad_answer", err.Error())
			return
		}
		sess.answered = true
		for _, cand := range sess.pending {
			if err := sess.pc.AddICECandidate(cand); err != nil {
				c.log.Warn("camera: server candidate not added", "err", err)
			}
		}
		sess.pending = nil
	case video.SubtopicCandidate:
		var cand video.Candidate
		if err := json.Unmarshal(payload, &cand); err != nil || cand.From != video.FromServer || sess == nil || cand.Session != sess.id || cand.Candidate == "" {
			return
		}
		init := webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex}
		if !sess.answered {
			sess.pending = append(sess.pending, init)
			return
		}
		if err := sess.pc.AddICECandidate(init); err != nil {
			c.log.Warn("camera: server candidate not added", "err", err)
		}
	}
}

// parseChannelTopic splits hwt/v1/{terminal}/video/{channel}/{subtopic}.
func (c *Camera) parseChannelTopic(topic string) (int, string, bool) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix+c.cfg.Terminal+"/video/")
	if !ok {
		return 0, "", false
	}
	chText, subtopic, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, "", false
	}
	ch, err := strconv.Atoi(chText)
	return ch, subtopic, err == nil
}

// start opens a peer connection for the command's channel and sends its
// offer; ICE candidates follow as they are gathered.
func (c *Camera) start(cmd video.Command) {
	if !slices.Contains(c.cfg.Channels, cmd.Channel) {
		c.reportError(cmd.Channel, cmd.Session, "no_camera", fmt.Sprintf("this unit has no camera on channel %d", cmd.Channel))
		return
	}
	c.stopSession(cmd.Channel, "")

	var cfg webrtc.Configuration
	for _, s := range cmd.ICEServers {
		cfg.ICEServers = append(cfg.ICEServers, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	pc, err := c.api.NewPeerConnection(cfg)
	if err != nil {
		c.reportError(cmd.Channel, cmd.Session, "internal", err.Error())
		return
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: c.cfg.Clip.MimeType}, "video", fmt.Sprintf("%s-ch%d", c.cfg.Terminal, cmd.Channel))
	if err != nil {
		_ = pc.Close()
		c.reportError(cmd.Channel, cmd.Session, "internal", err.Error())
		return
	}
	sender, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		_ = pc.Close()
		c.reportError(cmd.Channel, cmd.Session, "internal", err.Error())
		return
	}
	sess := &cameraSession{id: cmd.Session, channel: cmd.Channel, pc: pc, track: track, done: make(chan struct{})}

	// RTCP from the relay (keyframe requests, receiver reports) must be
	// read for the interceptors to work. A PLI or FIR makes the player
	// send the clip's next keyframe at once, as a camera encoder sends an
	// IDR frame on request, so a new viewer need not wait for the next
	// one in the clip's own rhythm.
	go func() {
		for {
			packets, _, err := sender.Sender().ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range packets {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					sess.keyframeRequested.Store(true)
				}
			}
		}
	}()
	pc.OnICECandidate(func(ice *webrtc.ICECandidate) {
		msg := video.Candidate{Session: sess.id, From: video.FromVehicle}
		if ice != nil {
			init := ice.ToJSON()
			msg.Candidate, msg.SDPMid, msg.SDPMLineIndex = init.Candidate, init.SDPMid, init.SDPMLineIndex
		}
		c.publishAsync(video.ChannelTopic(c.cfg.Terminal, sess.channel, video.SubtopicCandidate), msg)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		c.log.Debug("camera connection state", "channel", sess.channel, "session", sess.id, "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			sess.playOnce.Do(func() {
				c.mu.Lock()
				defer c.mu.Unlock()
				if !c.closed {
					c.wg.Add(1)
					go c.play(sess)
				}
			})
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			sess.close()
		}
	})

	offer, err := pc.CreateOffer(nil)
	if err == nil {
		err = pc.SetLocalDescription(offer)
	}
	if err != nil {
		_ = pc.Close()
		c.reportError(cmd.Channel, cmd.Session, "internal", err.Error())
		return
	}
	c.mu.Lock()
	c.sessions[cmd.Channel] = sess
	c.mu.Unlock()
	c.publish(video.ChannelTopic(c.cfg.Terminal, cmd.Channel, video.SubtopicOffer), video.Description{Session: sess.id, Type: "offer", SDP: offer.SDP})
}

// play sends the clip's frames at its frame rate, in a loop, until the
// session ends.
func (c *Camera) play(sess *cameraSession) {
	defer c.wg.Done()
	clip := c.cfg.Clip
	t := time.NewTicker(clip.FrameDuration)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % len(clip.Frames) {
		if sess.keyframeRequested.Swap(false) && !clip.isKeyframe(i) {
			i = clip.nextKeyframe(i)
		}
		if err := sess.track.WriteSample(media.Sample{Data: clip.Frames[i], Duration: clip.FrameDuration}); err != nil {
			c.log.Debug("camera: sample not written", "err", err)
		} else {
			c.framesSent.Add(1)
		}
		select {
		case <-t.C:
		case <-sess.done:
			return
		case <-c.stop:
			return
		}
	}
}

// stopSession closes the channel's session, when id is its session id or
// empty.
func (c *Camera) stopSession(channel int, id string) {
	c.mu.Lock()
	sess := c.sessions[channel]
	if sess == nil || (id != "" && sess.id != id) {
		c.mu.Unlock()
		return
	}
	delete(c.sessions, channel)
	c.mu.Unlock()
	sess.close()
}

func (s *cameraSession) close() {
	s.closeOnce.Do(func() {
		close(s.done)
		_ = s.pc.Close()
	})
}

// reportError tells the server the channel cannot start.
func (c *Camera) reportError(channel int, session, reason, message string) {
	c.log.Warn("camera cannot start", "channel", channel, "reason", reason, "err", message)
	c.publish(video.ChannelTopic(c.cfg.Terminal, channel, video.SubtopicError), video.StartError{Session: session, Reason: reason, Message: message})
}

func (c *Camera) publish(topic string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		c.log.Warn("camera: message not encoded", "topic", topic, "err", err)
		return
	}
	if err := waitToken(context.Background(), c.client.Publish(topic, 1, false, b), defaultAckTimeout); err != nil {
		c.log.Warn("camera: message not sent", "topic", topic, "err", err)
	}
}

// publishAsync publishes from pion callbacks without waiting for the
// acknowledgement, which would hold up ICE gathering.
func (c *Camera) publishAsync(topic string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	c.client.Publish(topic, 1, false, b)
}

// Commands returns the commands received so far, oldest first.
func (c *Camera) Commands() []video.Command {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]video.Command(nil), c.commands...)
}

// Active returns the channels with a running session.
func (c *Camera) Active() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for ch, s := range c.sessions {
		select {
		case <-s.done:
		default:
			out = append(out, ch)
		}
	}
	slices.Sort(out)
	return out
}

// FramesSent returns the frames written to all sessions so far.
func (c *Camera) FramesSent() int64 { return c.framesSent.Load() }

// Close ends every session and, when the camera made its own connection,
// disconnects it. Safe to call twice.
func (c *Camera) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		c.mu.Lock()
		c.closed = true
		sessions := c.sessions
		c.sessions = map[int]*cameraSession{}
		c.mu.Unlock()
		for _, s := range sessions {
			s.close()
		}
		c.closeClient()
		c.wg.Wait()
	})
	return nil
}

func (c *Camera) closeClient() {
	if c.ownsClient {
		c.client.Disconnect(100)
	}
}
