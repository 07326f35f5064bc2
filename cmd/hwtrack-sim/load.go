package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/hwtrack/hwtrack/simulator"
)

// defaultRoutesFile holds the sample fleet's planned routes.
const defaultRoutesFile = "configs/demo.yaml"

// fileList collects a repeated flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(s string) error { *f = append(*f, s); return nil }

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opts        simulator.LoadOptions
		qos         uint
		routeFiles  fileList
		synthetic   int
		zones       int
		sourceNet   string
		progress    string
		reportPath  string
		chartDir    string
		baseline    string
		verbose     bool
		defaultNote = "127.0.0.0/8 when the broker is on loopback"
	)
	fs.StringVar(&opts.Broker, "broker", simulator.DefaultBroker, "MQTT broker `URL` of the hwtrack server")
	fs.StringVar(&opts.API, "api", simulator.DefaultAPI, "HTTP API base `URL` of the hwtrack server, or \"none\" for a plain MQTT broker such as mosquitto")
	fs.StringVar(&opts.APIToken, "api-token", "", "API bearer `token` (default $HWTRACK_API_TOKEN)")
	fs.IntVar(&opts.Vehicles, "vehicles", simulator.DefaultLoadVehicles, "number of synthetic vehicles, up to 100000")
	fs.DurationVar(&opts.Interval, "interval", simulator.DefaultLoadInterval, "time between two fixes of a vehicle; 0 publishes as fast as the window allows")
	fs.Float64Var(&opts.TimeScale, "time-scale", 1, "run fix time this many times faster than the wall clock (1 to 1000)")
	fs.UintVar(&qos, "qos", simulator.DefaultQoS, "MQTT QoS `level` of fix messages: 0, 1 or 2")
	fs.DurationVar(&opts.Duration, "duration", simulator.DefaultLoadDuration, "how long the whole fleet publishes after the ramp-up")
	fs.DurationVar(&opts.RampUp, "ramp-up", 0, "spread the connects over this `duration`")
	fs.IntVar(&opts.Window, "window", simulator.DefaultLoadWindow, "messages a vehicle may have unacknowledged (QoS 1 and 2 in-flight window)")
	fs.IntVar(&opts.BatchSize, "batch", 1, "fixes per message")
	fs.Var(&routeFiles, "routes", "read planned routes from `FILE` (fleet YAML or GeoJSON LineStrings); repeatable (default "+defaultRoutesFile+" when present)")
	fs.IntVar(&synthetic, "synthetic-routes", simulator.DefaultLoadRoutes, "add synthetic routes around Yongkang until there are `N`")
	fs.Float64Var(&opts.CorridorM, "corridor", simulator.DefaultCorridorM, "full route corridor width in `metres`")
	fs.IntVar(&zones, "zones", 0, "create `N` synthetic zones through the API first (slow for thousands: see the zones command)")
	fs.Float64Var(&opts.DeviationsPerMinute, "deviation-rate", 0, "inject `N` route deviations per minute of the run")
	fs.Float64Var(&opts.DetourM, "detour", simulator.DefaultLoadDetourM, "how far an injected detour leaves the route, in `metres`")
	fs.StringVar(&opts.Regulator, "regulator", "", "regulator broker `URL` to watch for forwarded deviations (default: read them from the API, without latency)")
	fs.StringVar(&opts.RegulatorPrefix, "regulator-prefix", "hwt/regulator/v1", "topic `prefix` the server forwards under")
	fs.StringVar(&sourceNet, "source-net", "", "spread source addresses over this loopback `CIDR`, or \"none\" (default "+defaultNote+")")
	fs.IntVar(&opts.PerSource, "per-source", simulator.DefaultLoadPerSource, "vehicles per source address")
	fs.IntVar(&opts.Cameras, "cameras", 0, "start a simulated camera on channel 2 of the first `K` vehicles once the fleet is connected")
	fs.IntVar(&opts.Viewers, "viewers", 0, "join `M` WHEP viewers, round robin over the cameras' channel 2, and report the video they receive")
	fs.DurationVar(&opts.Drain, "drain", simulator.DefaultLoadDrain, "wait up to this long for the server to store and forward everything")
	fs.StringVar(&reportPath, "report", "", "also write the report as JSON to `file`")
	fs.StringVar(&chartDir, "charts", "", "write throughput.svg and latency.svg into `directory`")
	fs.StringVar(&baseline, "baseline", "", "report `file` of a broker-only run to compare the rate with")
	fs.StringVar(&opts.RunID, "run-id", "", "part of the terminal ids, up to 20 ASCII letters, digits, '_' and '-' (default random)")
	fs.Uint64Var(&opts.Seed, "seed", 0, "seed of the fleet's routes, starts and speeds (default random)")
	fs.StringVar(&progress, "progress", "auto", "progress on stderr: bar, lines, none, or auto (bar on a terminal, else lines)")
	fs.BoolVar(&verbose, "v", false, "log setup steps and warnings to stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: hwtrack-sim load [flags]\n\nRuns a synthetic fleet against a hwtrack server and accounts for every fix and injected deviation.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hwtrack-sim load: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if qos > 2 {
		fmt.Fprintf(stderr, "hwtrack-sim load: invalid -qos %d: must be 0, 1 or 2\n", qos)
		return exitUsage
	}
	opts.QoS = byte(qos)
	if opts.APIToken == "" {
		opts.APIToken = os.Getenv("HWTRACK_API_TOKEN")
	}

	switch {
	case sourceNet == "none":
	case sourceNet != "":
		p, err := netip.ParsePrefix(sourceNet)
		if err != nil {
			fmt.Fprintf(stderr, "hwtrack-sim load: invalid -source-net %q: %v\n", sourceNet, err)
			return exitUsage
		}
		opts.SourceNet = p.Masked()
	case simulator.IsLoopbackURL(opts.Broker):
		opts.SourceNet = netip.MustParsePrefix("127.0.0.0/8")
	}

	if len(routeFiles) == 0 {
		if _, err := os.Stat(defaultRoutesFile); err == nil {
			routeFiles = append(routeFiles, defaultRoutesFile)
		}
	}
	for _, f := range routeFiles {
		routes, err := simulator.ReadLoadRoutes(f)
		if err != nil {
			fmt.Fprintf(stderr, "hwtrack-sim load: %v\n", err)
			return exitUsage
		}
		opts.Routes = append(opts.Routes, routes...)
	}
	if n := synthetic - len(opts.Routes); n > 0 {
		opts.Routes = append(opts.Routes, simulator.SyntheticRoutes(n, opts.Seed+7)...)
	}
	if zones > 0 {
		opts.Zones = simulator.SyntheticZones(zones, opts.Seed+11)
	}

	switch progress {
	case "auto":
		opts.Progress = stderr
		opts.ProgressLines = !simulator.IsTerminal(stderr)
	case "bar":
		opts.Progress = stderr
	case "lines":
		opts.Progress, opts.ProgressLines = stderr, true
	case "none":
	default:
		fmt.Fprintf(stderr, "hwtrack-sim load: invalid -progress %q: want auto, bar, lines or none\n", progress)
		return exitUsage
	}
	level := slog.LevelError
	if verbose {
		level = slog.LevelInfo
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	report, err := simulator.Load(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "hwtrack-sim load: %v\n", err)
		return exitUsage
	}
	code := 0
	if baseline != "" {
		if err := report.SetBaseline(baseline); err != nil {
			fmt.Fprintf(stderr, "hwtrack-sim load: %v\n", err)
			code = exitFailed
		}
	}
	if err := report.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "hwtrack-sim load: write table: %v\n", err)
		return exitFailed
	}
	if reportPath != "" {
		if err := report.WriteJSONFile(reportPath); err != nil {
			fmt.Fprintf(stderr, "hwtrack-sim load: %v\n", err)
			return exitFailed
		}
	}
	if chartDir != "" {
		if _, err := report.WriteCharts(chartDir); err != nil {
			fmt.Fprintf(stderr, "hwtrack-sim load: %v\n", err)
			return exitFailed
		}
	}
	if !report.OK() {
		return exitFailed
	}
	return code
}

func runZones(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("zones", flag.ContinueOnError)
	fs.SetOutput(stderr)
	count := fs.Int("count", 10_000, "number of synthetic zones")
	out := fs.String("out", "", "GeoJSON `file` to write (required)")
	seed := fs.Uint64("seed", 1, "seed of the zone placement")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: hwtrack-sim zones -out FILE [flags]\n\nWrites synthetic restricted and speed-limit zones around Yongkang as a zone file\nfor the server's zone_files setting.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if *out == "" || *count < 1 {
		fmt.Fprintln(stderr, "hwtrack-sim zones: -out is required and -count must be at least 1")
		return exitUsage
	}
	if err := simulator.WriteZoneFile(*out, simulator.SyntheticZones(*count, *seed)); err != nil {
		fmt.Fprintf(stderr, "hwtrack-sim zones: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "wrote %d zones to %s\n", *count, *out)
	return 0
}
