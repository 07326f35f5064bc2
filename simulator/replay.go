package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/simplify"

	"github.com/hwtrack/hwtrack/model"
)

// Replay defaults.
const (
	DefaultBroker    = "tcp://127.0.0.1:1883"
	DefaultAPI       = "http://127.0.0.1:8080"
	DefaultSpeedup   = 10.0
	DefaultCorridorM = 300.0
	// DefaultSettle is how long Replay polls the API for the server's
	// view of a vehicle to stop changing.
	DefaultSettle = 15 * time.Second

	// routeToleranceM is the Douglas-Peucker tolerance for the planned
	// route; routeMaxVertices is the size the tolerance grows to meet.
	routeToleranceM  = 10.0
	routeMaxVertices = 500
	settlePoll       = time.Second
)

// ReplayOptions configures Replay. Zero values mean the defaults above.
type ReplayOptions struct {
	Files    []string
	Broker   string
	API      string
	APIToken string
	// Speedup divides fix-time gaps into wall-clock gaps; values of zero
	// or less mean DefaultSpeedup.
	Speedup float64
	// Inject lists the deviations to inject into every track. Only
	// model.KindRouteDeviation is supported.
	Inject    []model.DeviationKind
	QoS       byte
	BatchSize int
	CorridorM float64
	MaxGap    time.Duration
	Settle    time.Duration
	// RunID makes terminal ids unique per run; empty means 6 random hex
	// digits.
	RunID      string
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now returns the run's start time; nil means time.Now.
	Now func() time.Time
}

func (o *ReplayOptions) setDefaults() error {
	if len(o.Files) == 0 {
		return errors.New("no track files given")
	}
	for _, k := range o.Inject {
		if k != model.KindRouteDeviation {
			return fmt.Errorf("injecting %s is not supported: only %s is", k, model.KindRouteDeviation)
		}
	}

	if o.Broker == "" {
		o.Broker = DefaultBroker
	}
	if o.API == "" {
		o.API = DefaultAPI
	}
	if o.Speedup <= 0 {
		o.Speedup = DefaultSpeedup
	}
	if o.QoS > 2 {
		return fmt.Errorf("invalid qos %d: must be 0, 1 or 2", o.QoS)
	}
	if o.CorridorM <= 0 {
		o.CorridorM = DefaultCorridorM
	}
	if o.MaxGap <= 0 {
		o.MaxGap = DefaultMaxGap
	}
	if o.Settle <= 0 {
		o.Settle = DefaultSettle
	}

	if o.RunID == "" {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("generate run id: %w", err)
		}
		o.RunID = hex.EncodeToString(b[:])
	}
	if !terminalPattern.MatchString(o.RunID) {
		return fmt.Errorf("invalid run id %q: use ASCII letters, digits, '_' and '-'", o.RunID)
	}

	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

var (
	terminalPattern = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	terminalUnsafe  = regexp.MustCompile(`[^A-Za-z0-9_-]+`)
)

// Replay plays every file as one vehicle, all concurrently. For each file
// it re-times the track so its last fix is at the run's start and
// registers the vehicle, one booking and a trip whose route is the track
// itself. It then injects the requested deviations, publishes the fixes,
// completes the trip and polls the API until the stored fixes and
// deviations stop changing. A failure of one vehicle is recorded in its
// report and does not stop the others. The error is non-nil only for
// invalid options.
func Replay(ctx context.Context, opts ReplayOptions) (Report, error) {
	if err := opts.setDefaults(); err != nil {
		return Report{}, fmt.Errorf("replay: %w", err)
	}
	api, err := NewAPIClient(opts.API, opts.APIToken, opts.HTTPClient)
	if err != nil {
		return Report{}, fmt.Errorf("replay: %w", err)
	}
	start := opts.Now().UTC()
	report := Report{RunID: opts.RunID, Started: start, QoS: opts.QoS, Speedup: opts.Speedup, Vehicles: make([]VehicleReport, len(opts.Files))}
	log := opts.Logger.With("run_id", opts.RunID)
	log.Info("replay starting", "files", len(opts.Files), "broker", opts.Broker, "api", opts.API, "speedup", opts.Speedup)

	terminals := terminalIDs(opts.Files, opts.RunID)
	var wg sync.WaitGroup
	for i, file := range opts.Files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := &vehicleRun{opts: &opts, api: api, start: start, index: i, file: file, terminal: terminals[i], runLog: log}
			v.log = log.With("vehicle_id", v.terminal)
			report.Vehicles[i] = v.run(ctx)
		}()
	}
	wg.Wait()
	report.Finished = time.Now().UTC()
	log.Info("replay finished", "ok", report.OK())
	return report, nil
}

// terminalIDs derives one terminal id per file from its base name and the
// run id, adding a counter when two files share a name.
func terminalIDs(files []string, runID string) []string {
	out := make([]string, len(files))
	seen := make(map[string]int)
	for i, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
		base = strings.Trim(terminalUnsafe.ReplaceAllString(base, "_"), "_-")
		if base == "" {
			base = "track"
		}
		base = truncateASCII(base, 40)
		id := base + "-" + runID
		seen[id]++
		if n := seen[id]; n > 1 {
			id = fmt.Sprintf("%s-%d", id, n)
		}
		out[i] = id
	}
	return out
}

func truncateASCII(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// vehicleRun is the state of one file's replay; it is owned by one
// goroutine.
type vehicleRun struct {
	opts     *ReplayOptions
	api      *APIClient
	log      *slog.Logger
	runLog   *slog.Logger // without vehicle_id, which the publisher adds
	start    time.Time
	index    int
	file     string
	terminal string
	rep      VehicleReport
}

func (v *vehicleRun) run(ctx context.Context) VehicleReport {
	v.rep = VehicleReport{File: v.file, Terminal: v.terminal, Expected: map[string]int{}, Seen: map[string]int{}}
	if err := v.play(ctx); err != nil {
		v.rep.Error = err.Error()
		v.log.Warn("vehicle replay failed", "err", err)
	}
	return v.rep
}

func (v *vehicleRun) play(ctx context.Context) error {
	fixes, stats, format, err := ReadTrack(v.file)
	v.rep.Format = format.String()
	v.rep.Read = stats
	v.rep.FixesRead = len(fixes)
	if err != nil {
		return err
	}

	fixes = Retime(fixes, v.start, v.opts.MaxGap)
	route := PlannedRoute(fixes)
	if len(route) < 2 {
		return fmt.Errorf("%s: fewer than 2 distinct valid positions, cannot plan a route", v.file)
	}
	v.rep.RouteVertices = len(route)
	v.rep.Expected[model.KindRouteDeviation.String()] = 0
	if slices.Contains(v.opts.Inject, model.KindRouteDeviation) {
		var inj Injection
		if fixes, inj, err = InjectRouteDeviation(fixes, route); err != nil {
			return fmt.Errorf("inject %s: %w", model.KindRouteDeviation, err)
		}
		v.rep.Injections = append(v.rep.Injections, inj)
		v.rep.Expected[model.KindRouteDeviation.String()] = 1
	}

	password, err := randomPassword(32)
	if err != nil {
		return err
	}
	if err := v.register(ctx, fixes, route, password); err != nil {
		return err
	}

	pub, err := NewPublisher(ctx, PublisherConfig{
		Broker: v.opts.Broker, Terminal: v.terminal, Password: password,
		QoS: v.opts.QoS, BatchSize: v.opts.BatchSize, Logger: v.runLog,
	})
	if err != nil {
		return err
	}
	pstats, playErr := pub.Play(ctx, fixes, v.opts.Speedup)
	closeErr := pub.Close()
	v.rep.Published, v.rep.Acknowledged, v.rep.Rejected = pstats.Published, pstats.Acknowledged, pub.Rejected()
	v.rep.Duration = pstats.Duration
	if secs := pstats.Duration.Seconds(); secs > 0 {
		v.rep.FixesPerSecond = float64(pstats.Acknowledged) / secs
	}
	if err := errors.Join(playErr, closeErr); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	v.log.Info("fixes published", "published", pstats.Published, "acknowledged", pstats.Acknowledged)

	if err := v.api.CompleteTrip(ctx, v.rep.TripID); err != nil {
		return fmt.Errorf("complete trip: %w", err)
	}
	return v.settle(ctx, fixes[0].Time, fixes[len(fixes)-1].Time)
}

// register creates the vehicle, its booking and its trip through the API.
func (v *vehicleRun) register(ctx context.Context, fixes []model.Fix, route orb.LineString, password string) error {
	plateDigits, err := randomDigits(4)
	if err != nil {
		return err
	}
	v.rep.Plate = fmt.Sprintf("浙G·S%04d", plateDigits)
	if err := v.api.RegisterVehicle(ctx, VehicleRequest{Terminal: v.terminal, Plate: v.rep.Plate, Password: password}); err != nil {
		return fmt.Errorf("register vehicle: %w", err)
	}

	serial, err := randomDigits(6)
	if err != nil {
		return err
	}
	first := firstValid(fixes)
	shipper := fmt.Sprintf("永康市%s五金制品有限公司", []string{"东城", "西城", "江南", "石柱", "古山"}[v.index%5])
	booking := sampleBooking(first, v.start.In(chinaStandardTime).Year(), serial, shipper)
	bookingID, err := v.api.CreateBooking(ctx, booking)
	if err != nil {
		return fmt.Errorf("create booking %s: %w", booking.ManifestNo, err)
	}
	v.rep.ManifestNo = booking.ManifestNo

	span := fixes[len(fixes)-1].Time.Sub(fixes[0].Time)
	plannedStart, plannedEnd := tripWindow(fixes[0].Time, fixes[len(fixes)-1].Time, time.Duration(float64(span)/v.opts.Speedup))
	tripID, err := v.api.CreateTrip(ctx, TripRequest{
		Terminal:     v.terminal,
		Driver:       sampleDrivers[v.index%len(sampleDrivers)],
		Escort:       sampleEscorts[v.index%len(sampleEscorts)],
		Route:        route,
		CorridorM:    v.opts.CorridorM,
		Bookings:     []string{bookingID},
		PlannedStart: plannedStart,
		PlannedEnd:   plannedEnd,
	})
	if err != nil {
		return fmt.Errorf("create trip: %w", err)
	}
	v.rep.TripID = tripID
	v.log.Info("vehicle registered", "trip_id", tripID, "route_vertices", len(route))
	return nil
}

// settle polls the stored track and the deviations until two polls in a
// row agree or the settle time runs out, and records the last result.
func (v *vehicleRun) settle(ctx context.Context, from, to time.Time) error {
	deadline := time.Now().Add(v.opts.Settle)
	prevStored, prevDevs := -1, ""
	for {
		track, err := v.api.Track(ctx, v.terminal, from.Add(-time.Second), to.Add(time.Second))
		if err != nil {
			return fmt.Errorf("read stored track: %w", err)
		}
		devs, err := v.api.Deviations(ctx, v.terminal)
		if err != nil {
			return fmt.Errorf("read deviations: %w", err)
		}
		seen := countDeviations(devs)
		v.rep.Stored, v.rep.Seen = len(track), seen
		key := fmt.Sprint(seen)
		// Fixes the server rejected on the error topic are never stored.
		complete := len(track) >= v.rep.Acknowledged-v.rep.Rejected
		if len(track) == prevStored && key == prevDevs && complete {
			return nil
		}
		if time.Now().After(deadline) {
			v.log.Warn("server view still changing at the end of the settle time", "stored", len(track))
			return nil
		}
		prevStored, prevDevs = len(track), key

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settlePoll):
		}
	}
}

// countDeviations counts distinct episodes by kind name.
func countDeviations(devs []model.Deviation) map[string]int {
	seen := map[string]int{model.KindRouteDeviation.String(): 0}
	ids := make(map[string]bool)
	for _, d := range devs {
		if d.ID != "" && ids[d.ID] {
			continue
		}
		ids[d.ID] = true
		seen[d.Kind.String()]++
	}
	return seen
}

// PlannedRoute returns the valid positions of fixes as a line simplified
// with Douglas-Peucker to within about 10 m, loosening the tolerance until
// the line has at most 500 vertices. Consecutive repeats are dropped.
func PlannedRoute(fixes []model.Fix) orb.LineString {
	var line orb.LineString
	for _, f := range fixes {
		if !f.Valid {
			continue
		}
		p := fixPoint(f)
		if len(line) > 0 && line[len(line)-1] == p {
			continue
		}
		line = append(line, p)
	}
	if len(line) < 2 {
		return line
	}
	// Douglas-Peucker here works in degrees; a degree of longitude is
	// shorter than one of latitude, so the tolerance is met or bettered.
	tolerance := routeToleranceM / metresPerDegreeLat
	for {
		out := simplify.DouglasPeucker(tolerance).LineString(line.Clone())
		if len(out) <= routeMaxVertices {
			return out
		}
		tolerance *= 1.5
	}
}

func firstValid(fixes []model.Fix) model.Fix {
	for _, f := range fixes {
		if f.Valid {
			return f
		}
	}
	return fixes[0]
}
