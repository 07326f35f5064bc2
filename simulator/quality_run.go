package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// Quality run defaults.
const (
	DefaultQualitySettle      = 20 * time.Second
	DefaultQualityConcurrency = 16
	qualitySettlePoll         = 500 * time.Millisecond
)

// trackExtensions are the file name endings BuildQualitySuite reads as
// tracks when given a directory.
var trackExtensions = []string{".plt", ".gpx", ".nmea", ".log", ".rec"}

// SuiteOptions selects what BuildQualitySuite builds.
type SuiteOptions struct {
	// Paths are track files, or directories searched recursively for
	// files ending in .plt, .gpx, .nmea, .log or .rec.
	Paths []string
	// Kinds to inject into every track; nil means QualityKinds.
	Kinds []model.DeviationKind
	// MaxTracks limits how many tracks are used, in path order; 0 means
	// all of them.
	MaxTracks int
	// InjectPerKind limits how many tracks get each kind injected; 0
	// means every track.
	InjectPerKind int
	NoNoise       bool
	NoField       bool
	Thresholds    Thresholds
	// End is the fix time every scenario ends at.
	End time.Time
	// LiveLead is how long after End the real-time part of a scenario
	// (Scenario.LiveFrom) begins, so its history is published first; 0
	// means DefaultLiveLead.
	LiveLead time.Duration
}

// DefaultLiveLead leaves time to publish a track's history before its
// real-time part begins. The whole suite of the shared sample tracks,
// without its real-time parts, published in about 20 s on a 2-core
// machine.
const DefaultLiveLead = 30 * time.Second

// BuildQualitySuite builds the scenarios of a quality run: for each track,
// one unchanged copy (the noise suite) and one copy per kind with that
// kind injected, then the field-failure cases. Tracks that cannot be read
// and injections that do not fit are listed as skipped. Scenarios that
// create zones are moved in longitude away from all others.
func BuildQualitySuite(opts SuiteOptions) ([]*Scenario, []SkippedInjection, error) {
	kinds := opts.Kinds
	if kinds == nil {
		kinds = QualityKinds
	}
	files, err := findTracks(opts.Paths)
	if err != nil {
		return nil, nil, err
	}
	var scenarios []*Scenario
	var skipped []SkippedInjection
	injected := make(map[model.DeviationKind]int)
	tracks := 0
	for _, file := range files {
		if opts.MaxTracks > 0 && tracks >= opts.MaxTracks {
			break
		}
		track, err := LoadQualityTrack(file, opts.End, opts.Thresholds)
		if err != nil {
			skipped = append(skipped, SkippedInjection{File: file, Reason: err.Error()})
			continue
		}
		if len(track.Fixes) < injectMinFixes {
			skipped = append(skipped, SkippedInjection{File: file, Reason: fmt.Sprintf("only %d fixes", len(track.Fixes))})
			continue
		}
		tracks++

		if !opts.NoNoise {
			scenarios = append(scenarios, track.NoiseScenario())
		}
		for _, kind := range kinds {
			if opts.InjectPerKind > 0 && injected[kind] >= opts.InjectPerKind {
				continue
			}
			s, err := track.InjectedScenario(kind, opts.Thresholds)
			if err != nil {
				skipped = append(skipped, SkippedInjection{File: file, Kind: kind.String(), Reason: err.Error()})
				continue
			}
			injected[kind]++
			scenarios = append(scenarios, s)
		}
	}

	if !opts.NoField {
		scenarios = append(scenarios, FieldScenarios(opts.Thresholds)...)
	}
	lead := opts.LiveLead
	if lead <= 0 {
		lead = DefaultLiveLead
	}
	for _, s := range scenarios {
		if s.LiveFrom.IsZero() {
			s.endAt(opts.End)
		} else {
			s.endAt(opts.End.Add(lead))
		}
	}
	if err := separateZoneScenarios(scenarios); err != nil {
		return nil, nil, err
	}
	return scenarios, skipped, nil
}

// findTracks expands directories into the track files below them, sorted.
func findTracks(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("find tracks: %w", err)
		}
		if !info.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && slices.Contains(trackExtensions, strings.ToLower(filepath.Ext(path))) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("find tracks under %s: %w", p, err)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// QualityOptions configures RunQuality.
type QualityOptions struct {
	Scenarios  []*Scenario
	Skipped    []SkippedInjection
	Thresholds Thresholds
	Broker     string
	API        string
	APIToken   string
	// Settle is how long to poll for a vehicle's episodes to stop
	// changing after its trip is completed; 0 means DefaultQualitySettle.
	Settle time.Duration
	// Concurrency is how many vehicles publish at once; 0 means
	// DefaultQualityConcurrency.
	Concurrency int
	// RunID makes terminal ids unique per run; empty means 6 random hex
	// digits.
	RunID string
	// Feed, when set, supplies the receive times of open messages for the
	// detection delay. Without it only episodes still open at the end
	// have a known delay, because the API keeps the closing fix's time.
	Feed       *RegulatorFeed
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// RunQuality creates the scenarios' zones, plays every scenario as one
// vehicle with a booking and a trip, completes the trip, waits for the
// server's episodes to settle, scores them and deletes the zones again.
// A failure of one scenario is recorded in its result. The error is
// non-nil for invalid options or when a zone cannot be created.
func RunQuality(ctx context.Context, opts QualityOptions) (QualityReport, error) {
	if opts.Settle <= 0 {
		opts.Settle = DefaultQualitySettle
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultQualityConcurrency
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RunID == "" {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return QualityReport{}, fmt.Errorf("quality: generate run id: %w", err)
		}
		opts.RunID = hex.EncodeToString(b[:])
	}
	if !terminalPattern.MatchString(opts.RunID) {
		return QualityReport{}, fmt.Errorf("quality: invalid run id %q: use ASCII letters, digits, '_' and '-'", opts.RunID)
	}
	api, err := NewAPIClient(opts.API, opts.APIToken, opts.HTTPClient)
	if err != nil {
		return QualityReport{}, fmt.Errorf("quality: %w", err)
	}
	report := QualityReport{
		RunID: opts.RunID, Target: opts.API, Started: time.Now().UTC(), Thresholds: opts.Thresholds,
		Scenarios: make([]ScenarioResult, len(opts.Scenarios)), Skipped: opts.Skipped,
	}
	log := opts.Logger.With("run_id", opts.RunID)
	log.Info("quality run starting", "scenarios", len(opts.Scenarios), "api", opts.API, "broker", opts.Broker)

	zoneIDs, err := createZones(ctx, api, opts.Scenarios)
	defer deleteZones(api, zoneIDs, log)
	if err != nil {
		return QualityReport{}, fmt.Errorf("quality: %w", err)
	}

	serialBase, err := randomDigits(5)
	if err != nil {
		return QualityReport{}, fmt.Errorf("quality: %w", err)
	}
	sem := make(chan struct{}, opts.Concurrency)
	// The scenarios played in real time publish their history first and
	// alone, so it is sent before their real-time part is due.
	var history sync.WaitGroup
	for _, s := range opts.Scenarios {
		if !s.LiveFrom.IsZero() {
			history.Add(1)
		}
	}
	var wg sync.WaitGroup
	for i, s := range opts.Scenarios {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := &qualityVehicle{opts: &opts, api: api, scenario: s, index: i, serial: serialBase*10 + i}
			q.terminal = fmt.Sprintf("q%03d-%s", i, opts.RunID)
			q.log = log.With("vehicle_id", q.terminal)
			// A scenario played in real time spends its minutes waiting,
			// and must start on time, so it takes no slot.
			if !s.LiveFrom.IsZero() {
				q.historySent = sync.OnceFunc(history.Done)
			} else {
				history.Wait()
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					report.Scenarios[i] = ScenarioResult{Name: s.Name, Suite: s.Suite, Source: s.Source, Error: ctx.Err().Error()}
					return
				}
				defer func() { <-sem }()
			}
			report.Scenarios[i] = q.run(ctx)
		}()
	}
	wg.Wait()

	report.summarize()
	report.Finished = time.Now().UTC()
	log.Info("quality run finished", "ok", report.OK())
	return report, nil
}

// createZones creates every scenario's zones and returns the ids created,
// also on error so they can be deleted.
func createZones(ctx context.Context, api *APIClient, scenarios []*Scenario) ([]string, error) {
	var ids []string
	for _, s := range scenarios {
		for _, z := range s.Zones {
			id, err := api.CreateCircleZone(ctx, z)
			if err != nil {
				return ids, fmt.Errorf("create zone %q of %s: %w", z.Name, s.Name, err)
			}
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func deleteZones(api *APIClient, ids []string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, id := range ids {
		if err := api.DeleteZone(ctx, id); err != nil {
			log.Warn("delete quality zone failed", "zone_id", id, "err", err)
		}
	}
}

// qualityVehicle is one scenario's run; it is owned by one goroutine.
type qualityVehicle struct {
	opts     *QualityOptions
	api      *APIClient
	scenario *Scenario
	index    int
	serial   int
	terminal string
	log      *slog.Logger
	sent     publishLog
	res      ScenarioResult
	// historySent, set for a scenario played in real time, is called once
	// its messages before LiveFrom are sent, or when it stops.
	historySent func()
}

func (q *qualityVehicle) run(ctx context.Context) ScenarioResult {
	if q.historySent != nil {
		defer q.historySent()
	}
	s := q.scenario
	devs, err := q.play(ctx)
	if feed := q.opts.Feed; feed != nil && err == nil {
		var ids []string
		for _, d := range distinctEpisodes(devs) {
			ids = append(ids, d.ID)
		}
		if missing := feed.WaitFor(ctx, ids, q.opts.Settle); missing > 0 {
			q.log.Warn("open messages missing from the regulator feed", "missing", missing)
		}
	}
	res := ScoreScenario(s, devs, q.detectedAt, q.opts.Thresholds)
	res.Terminal, res.TripID, res.Rejected = q.terminal, q.res.TripID, q.res.Rejected
	if err != nil {
		res.Error = err.Error()
		q.log.Warn("quality scenario failed", "scenario", s.Name, "err", err)
	}
	return res
}

// detectedAt is the scenario's DetectionClock. The receive time comes
// from the open message on the regulator feed, or from the API while the
// episode is still open. The feed gives receive times to the
// microsecond, rounded down, so the lookup rounds up; at worst it counts
// a message published within that microsecond.
func (q *qualityVehicle) detectedAt(d *model.Deviation) (time.Time, bool) {
	var received time.Time
	if q.opts.Feed != nil {
		received, _ = q.opts.Feed.OpenedAt(d.ID)
	}
	if received.IsZero() && d.State == model.StateOpen {
		received = d.ReceivedAt
	}
	if received.IsZero() {
		return time.Time{}, false
	}
	sent, ok := q.sent.fixTimeAt(received.Add(time.Microsecond - time.Nanosecond))
	// From LiveFrom on, fix time runs with the wall clock, so an episode
	// the server's timer raised between two fixes is dated by its receive
	// time.
	if live := q.scenario.LiveFrom; !live.IsZero() && !received.Before(live) && received.After(sent) {
		return received, true
	}
	return sent, ok
}

// play registers the vehicle and its trip, publishes the scenario,
// completes the trip and returns the episodes the server raised.
func (q *qualityVehicle) play(ctx context.Context) ([]model.Deviation, error) {
	s := q.scenario
	password, err := randomPassword(32)
	if err != nil {
		return nil, err
	}
	plate := fmt.Sprintf("浙G·Q%04d", q.serial%10000)
	if err := q.api.RegisterVehicle(ctx, VehicleRequest{Terminal: q.terminal, Plate: plate, Password: password}); err != nil {
		return nil, fmt.Errorf("register vehicle: %w", err)
	}
	booking := sampleBooking(firstValid(s.Fixes), s.PlannedStart.In(chinaStandardTime).Year(), q.serial%1_000_000, "永康市质量检验五金制品有限公司")
	bookingID, err := q.api.CreateBooking(ctx, booking)
	if err != nil {
		return nil, fmt.Errorf("create booking %s: %w", booking.ManifestNo, err)
	}
	q.res.TripID, err = q.api.CreateTrip(ctx, TripRequest{
		Terminal: q.terminal, Driver: sampleDrivers[q.index%len(sampleDrivers)], Escort: sampleEscorts[q.index%len(sampleEscorts)],
		Route: s.Route, CorridorM: s.CorridorM, Segments: s.Segments, Bookings: []string{bookingID},
		PlannedStart: s.PlannedStart, PlannedEnd: s.PlannedEnd,
	})
	if err != nil {
		return nil, fmt.Errorf("create trip: %w", err)
	}

	if err := q.publish(ctx, password); err != nil {
		return nil, err
	}
	if err := q.api.CompleteTrip(ctx, q.res.TripID); err != nil {
		return nil, fmt.Errorf("complete trip: %w", err)
	}
	return q.settle(ctx)
}

// publish sends the scenario's messages in order, each after the previous
// one was acknowledged, and reconnects before a message marked Reconnect.
func (q *qualityVehicle) publish(ctx context.Context, password string) error {
	cfg := PublisherConfig{Broker: q.opts.Broker, Terminal: q.terminal, Password: password, QoS: 1, Logger: q.opts.Logger}
	pub, err := NewPublisher(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if pub != nil {
			q.res.Rejected += pub.Rejected()
			pub.Close()
		}
	}()
	for _, m := range q.scenario.messages() {
		if m.Reconnect {
			q.res.Rejected += pub.Rejected()
			if err := pub.Close(); err != nil {
				q.log.Warn("closing the connection before a reconnect failed", "err", err)
			}
			// A CONNECT while the server still holds the old connection
			// would be a takeover, which the broker limits.
			if err := q.waitOffline(ctx); err != nil {
				return err
			}
			if pub, err = NewPublisher(ctx, cfg); err != nil {
				return fmt.Errorf("reconnect: %w", err)
			}
		}
		if q.historySent != nil && !newestFix(m.Fixes).Before(q.scenario.LiveFrom) {
			q.historySent()
		}
		if err := waitUntilSent(ctx, m.Fixes); err != nil {
			return err
		}
		q.sent.add(time.Now().Round(0), m.Fixes)
		if err := pub.PublishFixes(ctx, m.Fixes, m.Batch); err != nil {
			return err
		}
	}
	return nil
}

// waitUntilSent waits until the wall clock reaches the newest fix time of
// fixes, so no fix is published before it was taken.
func waitUntilSent(ctx context.Context, fixes []model.Fix) error {
	wait := time.Until(newestFix(fixes))
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func newestFix(fixes []model.Fix) time.Time {
	newest := time.Time{}
	for _, f := range fixes {
		if f.Time.After(newest) {
			newest = f.Time
		}
	}
	return newest
}

// waitOffline polls the API until the server no longer holds a
// connection for the vehicle, for up to 10 s.
func (q *qualityVehicle) waitOffline(ctx context.Context) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		online, err := q.api.VehicleOnline(ctx, q.terminal)
		if err != nil {
			return fmt.Errorf("read vehicle state: %w", err)
		}
		if !online {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("server still shows the vehicle online 10 s after it disconnected")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// settle polls the vehicle's episodes and stored fixes until two polls in
// a row agree, or the settle time runs out, and returns the last episodes.
func (q *qualityVehicle) settle(ctx context.Context) ([]model.Deviation, error) {
	deadline := time.Now().Add(q.opts.Settle)
	from, to := q.scenario.PlannedStart.Add(-2*time.Hour), time.Now().Add(time.Minute)
	prevKey := ""
	for {
		devs, err := q.api.Deviations(ctx, q.terminal)
		if err != nil {
			return nil, fmt.Errorf("read deviations: %w", err)
		}
		track, err := q.api.Track(ctx, q.terminal, from, to)
		if err != nil {
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				return nil, fmt.Errorf("read stored track: %w", err)
			}
			track = nil // a span the API rejects; settle on episodes alone
		}
		key := fmt.Sprint(len(track), episodeFingerprint(devs))
		if key == prevKey {
			return devs, nil
		}
		if time.Now().After(deadline) {
			q.log.Warn("episodes still changing at the end of the settle time")
			return devs, nil
		}
		prevKey = key
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(qualitySettlePoll):
		}
	}
}

func episodeFingerprint(devs []model.Deviation) string {
	parts := make([]string, len(devs))
	for i, d := range devs {
		parts[i] = d.ID + "/" + d.State.String()
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}
