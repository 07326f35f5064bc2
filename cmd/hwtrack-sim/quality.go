package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/demo"
	"github.com/hwtrack/hwtrack/deviation"
	"github.com/hwtrack/hwtrack/forwarder"
	"github.com/hwtrack/hwtrack/server"
	"github.com/hwtrack/hwtrack/simulator"
)

// defaultDataDir is the directory of the shared sample tracks, relative to
// the repository root.
const defaultDataDir = "../shared/data"

// qualityFlags are the parsed flags of the quality command.
type qualityFlags struct {
	data          string
	api           string
	broker        string
	token         string
	regulator     string
	prefix        string
	reportPath    string
	kinds         kindList
	maxTracks     int
	injectPerKind int
	noNoise       bool
	noField       bool
	settle        time.Duration
	concurrency   int
	verbose       bool
}

func runQuality(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quality", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f qualityFlags
	fs.StringVar(&f.data, "data", defaultDataDir, "`directory` whose trajectories, nmea and owntracks folders hold the real tracks")
	fs.StringVar(&f.api, "api", "", "HTTP API base `URL` of a running server to test (default: start one in this process)")
	fs.StringVar(&f.broker, "broker", "", "MQTT broker `URL` of the running server; required with -api")
	fs.StringVar(&f.token, "api-token", "", "API bearer `token` for -api (default $HWTRACK_API_TOKEN)")
	fs.StringVar(&f.regulator, "regulator", "", "MQTT `URL` of the regulator broker the running server forwards to, read for detection delays (with -api)")
	fs.StringVar(&f.prefix, "regulator-prefix", forwarder.DefaultTopicPrefix, "topic `prefix` the server forwards under")
	fs.StringVar(&f.reportPath, "report", "", "also write the report as JSON to `file`")
	fs.Var(&f.kinds, "kind", "inject only this alarm `KIND`; repeatable (default: every kind)")
	fs.IntVar(&f.maxTracks, "max-tracks", 0, "use at most `N` tracks (default: all)")
	fs.IntVar(&f.injectPerKind, "inject-per-kind", 0, "inject each kind into at most `N` tracks (default: every track)")
	fs.BoolVar(&f.noNoise, "no-noise", false, "skip the noise suite of unchanged real tracks")
	fs.BoolVar(&f.noField, "no-field", false, "skip the field-failure cases")
	fs.DurationVar(&f.settle, "settle", simulator.DefaultQualitySettle, "poll each vehicle's episodes up to this `duration` after its trip ends")
	fs.IntVar(&f.concurrency, "concurrency", simulator.DefaultQualityConcurrency, "publish for up to `N` vehicles at once")
	fs.BoolVar(&f.verbose, "v", false, "log progress and the in-process server's log to stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: hwtrack-sim quality [flags] [TRACK_FILE_OR_DIR...]

Builds labelled scenarios from real tracks (one unchanged copy of each,
one copy per alarm kind with that kind injected) and the field-failure
cases, plays them through a server, and prints recall, false alarms and
detection delay per alarm kind. Exits 1 when recall is below 100 % or
any false alarm was raised.

Flags:
`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if (f.api == "") != (f.broker == "") {
		fmt.Fprintln(stderr, "hwtrack-sim quality: -api and -broker go together: give both to test a running server, or neither")
		return exitUsage
	}
	paths := fs.Args()
	if len(paths) == 0 {
		if _, err := os.Stat(f.data); err != nil {
			fmt.Fprintf(stderr, "hwtrack-sim quality: no track data at %s (%v); pass -data or track files\n", f.data, err)
			return exitUsage
		}
		for _, sub := range []string{"trajectories", "nmea", "owntracks"} {
			if _, err := os.Stat(filepath.Join(f.data, sub)); err == nil {
				paths = append(paths, filepath.Join(f.data, sub))
			}
		}
	}

	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	target := qualityTarget{
		api: f.api, broker: f.broker, token: f.token, regulator: f.regulator, prefix: f.prefix,
		thresholds: simulator.ThresholdsFrom(deviation.DefaultConfig()),
	}
	if target.token == "" {
		target.token = os.Getenv("HWTRACK_API_TOKEN")
	}
	if f.api == "" {
		srv, err := startQualityServer(&target, logger)
		if err != nil {
			fmt.Fprintf(stderr, "hwtrack-sim quality: %v\n", err)
			return exitFailed
		}
		defer srv.close()
	}

	report, err := playQuality(ctx, target, simulator.SuiteOptions{
		Paths: paths, Kinds: f.kinds, MaxTracks: f.maxTracks, InjectPerKind: f.injectPerKind,
		NoNoise: f.noNoise, NoField: f.noField,
	}, f.settle, f.concurrency, logger, nil)
	if err != nil {
		fmt.Fprintf(stderr, "hwtrack-sim quality: %v\n", err)
		return exitFailed
	}
	if err := report.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "hwtrack-sim quality: write table: %v\n", err)
		return exitFailed
	}
	if f.reportPath != "" {
		if err := report.WriteJSONFile(f.reportPath); err != nil {
			fmt.Fprintf(stderr, "hwtrack-sim quality: %v\n", err)
			return exitFailed
		}
	}
	if !report.OK() {
		return exitFailed
	}
	return 0
}

// qualityTarget is the server a quality run plays against and the engine
// thresholds it runs with.
type qualityTarget struct {
	api, broker, token string
	// regulator is the broker the server forwards deviations to, under
	// prefix; empty leaves most detection delays unknown.
	regulator, prefix string
	thresholds        simulator.Thresholds
}

// playQuality builds the suite, lets adjust change it (tests use this to
// plant known misses and false alarms), and runs it against target.
func playQuality(ctx context.Context, target qualityTarget, suite simulator.SuiteOptions, settle time.Duration, concurrency int,
	logger *slog.Logger, adjust func([]*simulator.Scenario) []*simulator.Scenario) (simulator.QualityReport, error) {
	suite.Thresholds = target.thresholds
	suite.End = time.Now().Add(-time.Second).UTC().Truncate(time.Second)
	scenarios, skipped, err := simulator.BuildQualitySuite(suite)
	if err != nil {
		return simulator.QualityReport{}, err
	}
	if adjust != nil {
		scenarios = adjust(scenarios)
	}
	if len(scenarios) == 0 {
		return simulator.QualityReport{}, errors.New("no scenarios: no readable tracks and the field cases are off")
	}
	var feed *simulator.RegulatorFeed
	if target.regulator != "" {
		if feed, err = simulator.NewRegulatorFeed(ctx, target.regulator, target.prefix, logger); err != nil {
			return simulator.QualityReport{}, err
		}
		defer feed.Close()
	}
	return simulator.RunQuality(ctx, simulator.QualityOptions{
		Scenarios: scenarios, Skipped: skipped, Thresholds: target.thresholds,
		Broker: target.broker, API: target.api, APIToken: target.token,
		Settle: settle, Concurrency: concurrency, Feed: feed, Logger: logger,
	})
}

// qualityServer is an in-process hwtrack server on loopback with its data
// in a temporary directory.
type qualityServer struct {
	srv       *server.Server
	regulator *demo.SampleRegulator
	dataDir   string
}

// startQualityServer starts a server on free loopback ports with no zone
// files and a random API token, forwarding to a sample regulator broker
// of its own, and points target at both.
func startQualityServer(target *qualityTarget, logger *slog.Logger) (*qualityServer, error) {
	dataDir, err := os.MkdirTemp("", "hwtrack-quality-")
	if err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("generate api token: %w", err)
	}
	token := hex.EncodeToString(b[:])

	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.MQTT.WebSocketAddr = ""
	cfg.ZoneFiles = nil
	cfg.HTTP.APITokens = []string{token}
	regulator, err := demo.StartSampleRegulator("127.0.0.1:0", forwarder.DefaultTopicPrefix, slog.New(slog.DiscardHandler))
	if err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	cfg.Upstream.URL = "tcp://" + regulator.Addr().String()
	cfg.Upstream.TopicPrefix = forwarder.DefaultTopicPrefix
	fail := func(err error) (*qualityServer, error) {
		regulator.Close()
		os.RemoveAll(dataDir)
		return nil, err
	}

	mqttLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(fmt.Errorf("listen for MQTT: %w", err))
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		mqttLn.Close()
		return fail(fmt.Errorf("listen for HTTP: %w", err))
	}
	srv, err := server.Start(server.Options{
		Config: cfg, MQTTListener: mqttLn, HTTPListener: httpLn,
		Logger: logger.With("component", "server"), AdminToken: func(string) {}, AdminPassword: func(string, string) {},
	})
	if err != nil {
		return fail(fmt.Errorf("start server: %w", err))
	}

	// The server builds its engine from the defaults with the rules
	// section of its configuration on top.
	engine := deviation.DefaultConfig()
	engine.MarginM = cfg.Rules.MarginM
	engine.MinFixes = cfg.Rules.MinFixes
	engine.Persistence = cfg.Rules.Persistence.Std()
	target.thresholds = simulator.ThresholdsFrom(engine)
	target.api = "http://" + srv.HTTPAddr().String()
	target.broker = "tcp://" + srv.MQTTAddr().String()
	target.token = token
	target.regulator, target.prefix = cfg.Upstream.URL, cfg.Upstream.TopicPrefix
	return &qualityServer{srv: srv, regulator: regulator, dataDir: dataDir}, nil
}

func (q *qualityServer) close() error {
	err := q.srv.Close()
	return errors.Join(err, q.regulator.Close(), os.RemoveAll(q.dataDir))
}
