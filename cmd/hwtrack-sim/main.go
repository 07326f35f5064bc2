// Command hwtrack-sim plays recorded GPS tracks against a running hwtrack
// server and reports what the server made of them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/simulator"
)

// Exit codes: 1 when the replay ran but its checks failed, 2 for a usage
// error.
const (
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "replay":
		return runReplay(ctx, args[1:], stdout, stderr)
	case "quality":
		return runQuality(ctx, args[1:], stdout, stderr)
	case "load":
		return runLoad(ctx, args[1:], stdout, stderr)
	case "zones":
		return runZones(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "hwtrack-sim: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: hwtrack-sim <command> [flags]

Commands:
  replay   play GPX, GeoLife PLT, NMEA and OwnTracks .rec tracks as vehicles
  quality  score the server's alarms on labelled real tracks and field-failure cases
  load     run a synthetic fleet of up to 100,000 vehicles and account for every fix
  zones    write synthetic zones around Yongkang as a zone file for load runs

Run "hwtrack-sim COMMAND -h" for a command's flags.
`)
}

// kindList collects repeated --inject flags.
type kindList []model.DeviationKind

func (k *kindList) String() string {
	names := make([]string, len(*k))
	for i, kind := range *k {
		names[i] = kind.String()
	}
	return strings.Join(names, ",")
}

func (k *kindList) Set(s string) error {
	kind, ok := model.ParseDeviationKind(s)
	if !ok {
		return fmt.Errorf("unknown deviation kind %q", s)
	}
	*k = append(*k, kind)
	return nil
}

func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		opts       simulator.ReplayOptions
		inject     kindList
		qos        uint
		reportPath string
		verbose    bool
	)
	fs.StringVar(&opts.Broker, "broker", simulator.DefaultBroker, "MQTT broker `URL` of the hwtrack server")
	fs.StringVar(&opts.API, "api", simulator.DefaultAPI, "HTTP API base `URL` of the hwtrack server")
	fs.StringVar(&opts.APIToken, "api-token", "", "API bearer `token` (default $HWTRACK_API_TOKEN)")
	fs.Float64Var(&opts.Speedup, "speedup", simulator.DefaultSpeedup, "divide the gaps between fix times by `N` to get wall-clock gaps")
	fs.Var(&inject, "inject", "inject a deviation of `KIND` into every track; repeatable; supported: route_deviation")
	fs.UintVar(&qos, "qos", simulator.DefaultQoS, "MQTT QoS `level` of fix messages: 0, 1 or 2")
	fs.IntVar(&opts.BatchSize, "batch", 1, "send fixes as JSON arrays of up to `N` fixes")
	fs.Float64Var(&opts.CorridorM, "corridor", simulator.DefaultCorridorM, "full route corridor width in `metres`")
	fs.DurationVar(&opts.MaxGap, "max-gap", simulator.DefaultMaxGap, "shorten longer pauses between fixes to this `duration`")
	fs.DurationVar(&opts.Settle, "settle", simulator.DefaultSettle, "poll the API this long for the server's view to stop changing")
	fs.StringVar(&opts.RunID, "run-id", "", "suffix of terminal ids, ASCII letters, digits, '_' and '-' (default random)")
	fs.StringVar(&reportPath, "report", "", "also write the report as JSON to `file`")
	fs.BoolVar(&verbose, "v", false, "log per-vehicle progress to stderr")
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: hwtrack-sim replay [flags] FILE...\n\nEach file becomes one vehicle with a booking and a trip along the track.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return exitUsage
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "hwtrack-sim replay: no track files given")
		fs.Usage()
		return exitUsage
	}
	if qos > 2 {
		fmt.Fprintf(stderr, "hwtrack-sim replay: invalid -qos %d: must be 0, 1 or 2\n", qos)
		return exitUsage
	}
	if opts.BatchSize < 1 {
		fmt.Fprintf(stderr, "hwtrack-sim replay: invalid -batch %d: must be at least 1\n", opts.BatchSize)
		return exitUsage
	}
	opts.QoS = byte(qos)
	opts.Inject = inject
	opts.Files = fs.Args()
	if opts.APIToken == "" {
		opts.APIToken = os.Getenv("HWTRACK_API_TOKEN")
	}
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	report, err := simulator.Replay(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "hwtrack-sim replay: %v\n", err)
		return exitUsage
	}
	if err := report.WriteTable(stdout); err != nil {
		fmt.Fprintf(stderr, "hwtrack-sim replay: write table: %v\n", err)
		return exitFailed
	}
	if reportPath != "" {
		if err := report.WriteJSONFile(reportPath); err != nil {
			fmt.Fprintf(stderr, "hwtrack-sim replay: %v\n", err)
			return exitFailed
		}
	}
	if !report.OK() {
		return exitFailed
	}
	return 0
}
