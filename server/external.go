package server

import (
	"crypto/tls"
	"fmt"
	"net/url"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hwtrack/hwtrack/broker"
	"github.com/hwtrack/hwtrack/cluster"
	"github.com/hwtrack/hwtrack/config"
)

// startExternal starts the ingest node when mqtt.mode is external. It runs
// after recovery from the raw log, so the engine holds the recovered state
// the node compares with the images of other nodes, and before the embedded
// broker, whose publishes it routes too.
func (s *Server) startExternal() error {
	if s.cfg.MQTT.Mode != config.ModeExternal {
		return nil
	}
	ext := s.cfg.External
	id, err := ext.ResolvedNodeID()
	if err != nil {
		return fmt.Errorf("external.node_id: %w", err)
	}
	tlsCfg, err := externalTLS(ext)
	if err != nil {
		return err
	}
	node, err := cluster.Start(cluster.Options{
		URL:           ext.URL,
		Username:      ext.Username,
		Password:      ext.Password,
		TLSConfig:     tlsCfg,
		Group:         ext.Group,
		NodeID:        id,
		Heartbeat:     ext.Heartbeat.Std(),
		NodeTimeout:   ext.NodeTimeout.Std(),
		StateInterval: ext.StateInterval.Std(),
		SettleTimeout: ext.SettleTimeout.Std(),
		Recorder:      s.pipeline,
		Engine:        s.engine,
		OnRecord:      s.applyRecord,
		Logger:        s.log,
	})
	if err != nil {
		return fmt.Errorf("start ingest node %q of group %q: %w", id, ext.Group, err)
	}
	s.cluster.Store(node)
	return nil
}

// externalTLS returns the TLS settings for the MQTT cluster: nil for a
// plain tcp:// or ws:// URL without client certificate, which paho then
// dials without TLS.
func externalTLS(ext config.External) (*tls.Config, error) {
	u, err := url.Parse(ext.URL)
	if err != nil {
		return nil, fmt.Errorf("external.url: %w", err)
	}
	secure := u.Scheme == "ssl" || u.Scheme == "tls" || u.Scheme == "mqtts" || u.Scheme == "tcps" || u.Scheme == "wss"
	if !secure && ext.CAFile == "" && ext.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ext.CAFile != "" {
		if cfg.RootCAs, err = loadCertPool(ext.CAFile); err != nil {
			return nil, fmt.Errorf("load external.ca_file: %w", err)
		}
	}
	if ext.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(ext.CertFile, ext.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load external.cert_file and external.key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// publishHandler returns the handler of the embedded broker's publishes:
// the pipeline, or in external mode the ingest node. The node routes a
// vehicle's fixes to their owner whichever broker the vehicle used.
func (s *Server) publishHandler() broker.Handler {
	if node := s.clusterNode(); node != nil {
		return node
	}
	return s.pipeline
}

// upstreamClientID is the forwarder's client id. In external mode the
// default names the node, because nodes sharing one regulator broker must
// not take over each other's session.
func (s *Server) upstreamClientID() string {
	if s.cfg.Upstream.ClientID != "" || s.cfg.MQTT.Mode != config.ModeExternal {
		return s.cfg.Upstream.ClientID
	}
	id, err := s.cfg.External.ResolvedNodeID()
	if err != nil {
		return ""
	}
	return "hwtrack-fwd-" + s.cfg.External.Group + "-" + id
}

// vehicleOnline reports whether a vehicle is connected to the embedded
// broker or, in external mode, last reported itself online to the
// cluster.
func (s *Server) vehicleOnline(terminal string) bool {
	if s.broker != nil && s.broker.Online(terminal) {
		return true
	}
	node := s.clusterNode()
	return node != nil && node.Online(terminal)
}

// ownsVehicle reports whether this server evaluates the vehicle's timed
// rules: always in embedded mode, for the vehicles its node owns in
// external mode.
func (s *Server) ownsVehicle(terminal string) bool {
	node := s.clusterNode()
	return node == nil || node.Owns(terminal)
}

// saveVehicleState makes the ingest node save the vehicle's state in the
// cluster and waits for it, so a node that takes the vehicle over after a
// crash knows every transition the regulator received. A failure is
// logged, and the transitions are forwarded all the same.
func (s *Server) saveVehicleState(terminal string) {
	node := s.clusterNode()
	if node == nil {
		return
	}
	if err := node.SaveState(terminal); err != nil {
		s.log.Warn("vehicle state not saved before forwarding its deviation; a node taking it over after a crash may raise it again", "vehicle_id", terminal, "err", err)
	}
}

// noteDeviation makes the ingest node save the vehicle's state soon.
func (s *Server) noteDeviation(terminal string) {
	if node := s.clusterNode(); node != nil {
		node.NoteDeviation(terminal)
	}
}

func (s *Server) clusterCollectors() []prometheus.Collector {
	if node := s.clusterNode(); node != nil {
		return node.Collectors()
	}
	return nil
}

// closeExternal hands the node's vehicles over and leaves the group. It
// runs before the pipeline closes, because handing over waits for the
// vehicles' fixes to be evaluated.
func (s *Server) closeExternal() error {
	if node := s.clusterNode(); node != nil {
		return node.Close()
	}
	return nil
}

// clusterNode returns the ingest node in external mode, or nil.
func (s *Server) clusterNode() *cluster.Node { return s.cluster.Load() }

// replyExternal publishes a notice to a vehicle through the MQTT cluster in
// external mode, where the vehicles are connected.
func (s *Server) replyExternal(topic string, payload []byte) error {
	if node := s.clusterNode(); node != nil {
		return node.Publish(topic, payload)
	}
	return nil
}
