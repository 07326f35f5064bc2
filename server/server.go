// Package server wires hwtrack's components into one running server: the
// store, the embedded broker, the ingest pipeline, the deviation engine,
// the forwarder and the HTTP API.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/hwtrack/hwtrack/api"
	"github.com/hwtrack/hwtrack/broker"
	"github.com/hwtrack/hwtrack/cluster"
	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/credential"
	"github.com/hwtrack/hwtrack/deviation"
	"github.com/hwtrack/hwtrack/forwarder"
	"github.com/hwtrack/hwtrack/ingest"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
	"github.com/hwtrack/hwtrack/video"
)

// Options are what a Server needs beyond its configuration. The listener
// fields let tests bind free ports before start; nil means listen on the
// configured address.
type Options struct {
	Config       config.Config
	MQTTListener net.Listener
	HTTPListener net.Listener
	// MQTTTLSListener is a plain TCP listener for MQTT over TLS, used only
	// when mqtt.tls_cert_file is configured.
	MQTTTLSListener net.Listener
	Logger          *slog.Logger
	// AdminToken receives the admin API token when it is created on first
	// start, so the caller can show it once. Nil prints it on standard
	// error, outside the log.
	AdminToken func(token string)
	// AdminPassword receives the first console admin's username and
	// password when that user is created on first start. Nil prints them
	// on stderr.
	AdminPassword func(username, password string)
	// BrokerOnly makes the broker count publishes and acknowledge them at
	// once instead of handing them to the ingest pipeline. It measures
	// the broker's ceiling on this machine; nothing is recorded.
	BrokerOnly bool
}

// Server is a running hwtrack.
type Server struct {
	cfg config.Config
	log *slog.Logger

	store     *storage.Store
	hasher    *credential.Hasher
	tokens    *credential.Tokens
	registry  *registry
	engine    *deviation.Engine
	forwarder *forwarder.Forwarder
	pipeline  *ingest.Pipeline
	counter   *publishCounter // set in broker-only mode
	broker    *broker.Broker
	http      *http.Server
	httpAddr  net.Addr
	metrics   *prometheus.Registry
	ui        consoleWiring
	series    timeSeries
	video     *video.Relay
	videoLoss *videoLoss

	// cluster is the ingest node in external mode, else nil. It is set
	// while the node starts and already delivers shared records.
	cluster    atomic.Pointer[cluster.Node]
	deviations *deviationCounter

	ready     atomic.Bool
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Start opens the data directory, recovers from the raw log, and starts
// every listener. On error everything already started is closed again.
func Start(opts Options) (_ *Server, err error) {
	cfg := opts.Config
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, stop: make(chan struct{}), metrics: prometheus.NewRegistry(), deviations: newDeviationCounter()}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if s.hasher, err = credential.LoadOrCreateHasher(cfg.DataDir); err != nil {
		return nil, err
	}
	adminHash, haveAdmin, err := credential.LoadAdminToken(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	var newAdminToken string
	if !haveAdmin {
		// The hash is stored, and the token shown, only once the whole
		// start has succeeded.
		if newAdminToken, adminHash, err = credential.NewAdminToken(s.hasher); err != nil {
			return nil, err
		}
	}
	scoped := make([]credential.ScopedToken, len(cfg.HTTP.APITokens))
	for i, entry := range cfg.HTTP.APITokens {
		scope, token := config.SplitAPIToken(entry)
		scoped[i] = credential.ScopedToken{Scope: scope, Token: token}
	}
	s.tokens = credential.NewScopedTokens(s.hasher, scoped, adminHash)

	s.store, err = storage.Open(storage.Options{
		Dir:                filepath.Join(cfg.DataDir, "store"),
		FixRetention:       cfg.Retention.Fixes.Std(),
		RawRetention:       cfg.Retention.Raw.Std(),
		DeviationRetention: cfg.Retention.Deviations.Std(),
		Logger:             log,
	})
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}

	if s.registry, err = newRegistry(s.store, s.hasher); err != nil {
		return nil, err
	}
	if err := s.startConsole(opts); err != nil {
		return nil, err
	}

	engineCfg := deviation.DefaultConfig()
	engineCfg.MarginM = cfg.Rules.MarginM
	engineCfg.MaxAccuracyM = cfg.Rules.MaxAccuracyM
	engineCfg.MinFixes = cfg.Rules.MinFixes
	engineCfg.Persistence = cfg.Rules.Persistence.Std()
	engineCfg.Restricted = engineGate(cfg.Rules.Restricted)
	engineCfg.Route = engineGate(cfg.Rules.Route)
	engineCfg.Jurisdiction = engineGate(cfg.Rules.Jurisdiction)
	engineCfg.DefaultLimitKmh = cfg.Rules.DefaultLimitKmh
	engineCfg.ExpresswayLimitKmh = cfg.Rules.ExpresswayLimitKmh
	engineCfg.OverspeedMinDuration = cfg.Rules.OverspeedMinDuration.Std()
	engineCfg.MaxImpliedKmh = cfg.Rules.MaxImpliedKmh
	engineCfg.LongStop = cfg.Rules.LongStop.Std()
	engineCfg.SignalLoss = cfg.Rules.SignalLoss.Std()
	engineCfg.TripOvertimeGrace = cfg.Rules.TripOvertimeGrace.Std()
	engineCfg.SiteDwell = cfg.Rules.SiteDwell.Std()
	s.engine = deviation.New(engineCfg, log)

	if err := s.loadZoneFiles(cfg.ZoneFiles); err != nil {
		return nil, err
	}
	zones, err := s.compileZones()
	if err != nil {
		return nil, err
	}
	s.engine.SetZones(zones)

	s.forwarder, err = forwarder.New(forwarder.Options{
		URL:         cfg.Upstream.URL,
		ClientID:    s.upstreamClientID(),
		Username:    cfg.Upstream.Username,
		Password:    cfg.Upstream.Password,
		TopicPrefix: cfg.Upstream.TopicPrefix,
		Dir:         filepath.Join(cfg.DataDir, "outbox"),
		MaxInflight: cfg.Upstream.MaxInflight,
		Logger:      log,
	})
	if err != nil {
		return nil, fmt.Errorf("open forwarder outbox: %w", err)
	}

	if err := s.restoreTrips(); err != nil {
		return nil, err
	}

	if err := s.startTimeSeries(); err != nil {
		return nil, err
	}

	limits := ingest.DefaultLimits()
	limits.MaxBatch = cfg.Ingest.MaxBatch
	limits.MaxFutureSkew = cfg.Ingest.MaxFutureSkew.Std()
	limits.MaxAge = cfg.Ingest.MaxAge.Std()
	limits.MaxPayloadBytes = cfg.MQTT.MaxPacketBytes
	s.pipeline, err = ingest.NewPipeline(ingest.PipelineOptions{
		Raw:     s.store,
		Store:   s.store,
		Engine:  s.engine,
		Sink:    &deviationSink{s: s, saveFirst: true},
		OnFixes: s.onFixes,
		Series:  s.seriesWriter(),
		Reply:   s.reply,
		Limits:  limits,
		Workers: cfg.Ingest.Workers,
		Logger:  log,
	})
	if err != nil {
		return nil, err
	}
	replayed, err := s.pipeline.Recover(s.registry.terminals())
	if err != nil {
		return nil, fmt.Errorf("recover from raw log: %w", err)
	}
	if replayed > 0 {
		log.Info("recovered messages accepted before the last stop", "records", replayed)
	}
	s.pipeline.RunCheckpoints()
	s.forwarder.Start(context.Background())
	if err := s.startVideo(); err != nil {
		return nil, err
	}
	if err := s.startExternal(); err != nil {
		return nil, err
	}

	handler := s.publishHandler()
	if opts.BrokerOnly {
		s.counter = newPublishCounter()
		handler = s.counter
		log.Warn("broker-only mode: publishes are counted and acknowledged, nothing is recorded")
	}
	security, err := brokerSecurity(cfg, opts.MQTTTLSListener)
	if err != nil {
		return nil, err
	}
	s.broker, err = broker.New(broker.Options{
		TLSConfig:      security.TLSConfig,
		TLSAddr:        security.TLSAddr,
		TLSListener:    security.TLSListener,
		ConnectRate:    security.ConnectRate,
		ConnectBurst:   security.ConnectBurst,
		FlapTakeovers:  security.FlapTakeovers,
		FlapWindow:     security.FlapWindow,
		FlapBan:        security.FlapBan,
		Addr:           cfg.MQTT.Addr,
		Listener:       opts.MQTTListener,
		WebSocketAddr:  cfg.MQTT.WebSocketAddr,
		MaxPacketBytes: cfg.MQTT.MaxPacketBytes,
		ReceiveMaximum: cfg.MQTT.ReceiveMaximum,
		MaxInflight:    cfg.MQTT.MaxInflight,
		MaxQueued:      cfg.MQTT.MaxQueued,
		SessionExpiry:  cfg.MQTT.SessionExpiry.Std(),
		MessageExpiry:  cfg.MQTT.MessageExpiry.Std(),
		MaxClients:     cfg.MQTT.MaxClients,
		Credentials:    s.registry,
		Handler:        publishHandler{next: handler, video: s.video},
		Logger:         log,
	})
	if err != nil {
		return nil, err
	}

	if err := s.registerMetrics(); err != nil {
		return nil, err
	}
	if err := s.startHTTP(opts.HTTPListener); err != nil {
		return nil, err
	}
	s.startRetention()
	s.startTicker()
	s.watchOnline()
	if newAdminToken != "" {
		if err := credential.SaveAdminToken(cfg.DataDir, adminHash); err != nil {
			return nil, err
		}
		if opts.AdminToken != nil {
			opts.AdminToken(newAdminToken)
		} else {
			// The token goes to standard error, never into the log,
			// where it would be shipped and kept with every other line.
			fmt.Fprintf(os.Stderr, "hwtrack: admin API token (shown only this once): %s\n", newAdminToken)
			log.Info("admin API token created and printed once on standard error")
		}
	}
	if err := s.ensureConsoleAdmin(opts); err != nil {
		return nil, err
	}
	s.ready.Store(true)
	log.Info("hwtrack started", "mqtt_addr", s.broker.Addr().String(), "http_addr", s.httpAddr.String(), "data_dir", cfg.DataDir)
	return s, nil
}

func (s *Server) registerMetrics() error {
	var cs []prometheus.Collector
	cs = append(cs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cs = append(cs, s.store.Collectors()...)
	cs = append(cs, s.broker.Collectors()...)
	cs = append(cs, s.pipeline.Collectors()...)
	cs = append(cs, s.forwarder.Collectors()...)
	cs = append(cs, s.timeSeriesCollectors()...)
	if s.counter != nil {
		cs = append(cs, s.counter.collectors()...)
	}
	cs = append(cs, s.clusterCollectors()...)
	cs = append(cs, s.video.Collectors()...)
	cs = append(cs, s.serverCollectors()...)
	for _, c := range cs {
		if err := s.metrics.Register(c); err != nil {
			return fmt.Errorf("register metrics: %w", err)
		}
	}
	return nil
}

func (s *Server) startHTTP(ln net.Listener) error {
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", s.cfg.HTTP.Addr)
		if err != nil {
			return fmt.Errorf("listen for HTTP on %s: %w", s.cfg.HTTP.Addr, err)
		}
	}
	s.httpAddr = ln.Addr()
	httpsLn, err := serveHTTPS(s.cfg.HTTP, ln)
	if err != nil {
		ln.Close()
		return err
	}
	ln = httpsLn
	handler := api.New(api.Options{
		Store:      s.withSharing(s.apiStore()),
		Hooks:      &apiHooks{s: s},
		TokenRole:  s.tokenRole,
		HashSecret: s.hasher.Hash,
		ParseZone:  parseZone,
		Online:     s.vehicleOnline,
		Ready:      s.readiness,
		Metrics:    promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{Registry: s.metrics}),
		Logger:     s.log,

		Console:          s.ui.console,
		ConsoleStore:     s.store,
		Settings:         s.cfg.Console,
		Live:             s.ui.live,
		Static:           s.ui.static,
		DeviationHandled: s.forwardHandling,
		Video:            s.video,
	})
	s.http = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	// Ending the live feed streams lets Shutdown finish without waiting
	// for them to time out.
	s.http.RegisterOnShutdown(s.ui.live.Close)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP server stopped", "err", err)
		}
	}()
	s.log.Info("HTTP API listening", "addr", s.httpAddr.String())
	return nil
}

// readiness reports why the server should not take traffic, or nil.
func (s *Server) readiness() error {
	if !s.ready.Load() {
		return errors.New("starting or stopping")
	}
	if err := s.store.Healthy(); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	return nil
}

func (s *Server) startRetention() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(time.Hour)
		defer t.Stop()
		for {
			stats, err := s.store.Prune(time.Now())
			if err != nil {
				s.log.Error("retention prune failed", "err", err)
			} else if stats != (storage.PruneStats{}) {
				s.log.Info("retention pruned old data", "raw_segments", stats.RawSegments, "fixes", stats.Fixes, "deviations", stats.Deviations)
			}
			select {
			case <-t.C:
			case <-s.stop:
				return
			}
		}
	}()
}

func (s *Server) reply(topic string, payload []byte) error {
	err := s.replyExternal(topic, payload)
	if s.broker == nil {
		return err
	}
	return errors.Join(err, s.broker.Publish(topic, payload))
}

// MQTTAddr returns the broker's TCP address.
func (s *Server) MQTTAddr() net.Addr { return s.broker.Addr() }

// HTTPAddr returns the HTTP listener's address.
func (s *Server) HTTPAddr() net.Addr { return s.httpAddr }

// OutboxDepth returns how many messages wait for the regulator broker.
func (s *Server) OutboxDepth() int { return s.forwarder.Depth() }

// Store returns the server's store, for tests and the demo.
func (s *Server) Store() *storage.Store { return s.store }

// Close stops accepting input, drains everything accepted to disk and
// closes every component, in the reverse order of start. Safe to call
// twice.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.ready.Store(false)
		var errs []error
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if s.http != nil {
			errs = append(errs, s.http.Shutdown(ctx))
		}
		if s.video != nil {
			// Before the broker, so every vehicle still gets video_stop.
			errs = append(errs, s.video.Close())
		}
		if s.broker != nil {
			errs = append(errs, s.broker.Close())
		}
		errs = append(errs, s.closeExternal())
		if s.pipeline != nil {
			errs = append(errs, s.pipeline.Close())
		}
		errs = append(errs, s.closeTimeSeries())
		close(s.stop)
		s.wg.Wait()
		if s.forwarder != nil {
			errs = append(errs, s.forwarder.Close())
		}
		if s.store != nil {
			errs = append(errs, s.store.Flush(), s.store.Close())
		}
		s.closeErr = errors.Join(errs...)
		s.log.Info("hwtrack stopped", "err", s.closeErr)
	})
	return s.closeErr
}

// tokenRole returns the console role an API token's scope grants.
func (s *Server) tokenRole(token string) (model.Role, bool) {
	scope, ok := s.tokens.Scope(token)
	if !ok {
		return model.RoleUnknown, false
	}
	role, ok := model.ParseRole(scope)
	return role, ok
}

// engineGate converts a per-kind hysteresis override from the
// configuration to the engine's.
func engineGate(g config.RuleGate) deviation.Gate {
	return deviation.Gate{MarginM: g.MarginM, MinFixes: g.MinFixes, Persistence: g.Persistence.Std()}
}
