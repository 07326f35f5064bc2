package server

import (
	"github.com/hwtrack/hwtrack/broker"
	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/video"
)

// startVideo creates the camera relay. It opens no socket until the first
// viewer asks for a stream, and it warns at start when no peer outside
// this host or container could reach the addresses it would offer.
//
// NOTE: signalling runs over the embedded broker only. In external broker
// mode a vehicle connected to the external broker gets no video_start,
// and its streams fail with reason offline.
func (s *Server) startVideo() error {
	cfg := s.cfg.Video
	ice := video.ICEConfig{
		UDPAddr:       cfg.UDPAddr,
		TCPAddr:       cfg.TCPAddr,
		HostAddresses: cfg.HostAddresses,
		ICEServers:    iceServers(cfg),
	}
	s.videoLoss = newVideoLoss(s)
	relay, err := video.New(video.Options{
		Publish: func(topic string, payload []byte) error {
			if s.broker == nil {
				return video.ErrClosed
			}
			return s.broker.PublishReliable(topic, payload)
		},
		Online: func(terminal string) bool {
			return s.broker != nil && s.broker.Online(terminal)
		},
		Channels: func(terminal string) ([]int, bool) {
			if !s.registry.has(terminal) {
				return nil, false
			}
			return cfg.ChannelsOf(terminal), true
		},
		OnEvent:      s.videoLoss.handle,
		ICE:          ice,
		StartTimeout: cfg.StartTimeout.Std(),
		StopGrace:    cfg.StopGrace.Std(),
		RTPTimeout:   cfg.RTPTimeout.Std(),
		Logger:       s.log,
	})
	if err != nil {
		return err
	}
	s.video = relay
	if msg := video.CandidateWarning(ice); msg != "" {
		s.log.Warn("video relay reachable only locally: "+msg, "component", "video", "udp_addr", cfg.UDPAddr, "tcp_addr", cfg.TCPAddr)
	}
	return s.videoLoss.restore()
}

func iceServers(cfg config.Video) []video.ICEServer {
	var out []video.ICEServer
	if len(cfg.STUNURLs) > 0 {
		out = append(out, video.ICEServer{URLs: cfg.STUNURLs})
	}
	if len(cfg.TURNURLs) > 0 {
		out = append(out, video.ICEServer{URLs: cfg.TURNURLs, Username: cfg.TURNUsername, Credential: cfg.TURNPassword})
	}
	return out
}

// publishHandler records every publish through the ingest pipeline and
// also hands camera signalling to the video relay. The topic check is a
// prefix comparison, so fixes pay next to nothing for it.
type publishHandler struct {
	next  broker.Handler
	video *video.Relay
}

var _ broker.Handler = publishHandler{}

func (h publishHandler) HandlePublish(msg broker.Message) error {
	err := h.next.HandlePublish(msg)
	if video.IsSignalTopic(msg.Terminal, msg.Topic) {
		// Signalling does not depend on the raw log, so it goes on even
		// when the message could not be recorded.
		h.video.HandleMessage(msg.Terminal, msg.Topic, msg.Payload)
	}
	return err
}

// has reports whether a vehicle is registered.
func (r *registry) has(terminal string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.vehicles[terminal]
	return ok
}
