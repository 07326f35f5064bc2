package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// Load defaults.
const (
	DefaultLoadVehicles    = 1000
	DefaultLoadInterval    = time.Second
	DefaultLoadDuration    = time.Minute
	DefaultLoadWindow      = 16
	DefaultLoadRoutes      = 100
	DefaultLoadDetourM     = 800.0
	DefaultLoadPerSource   = 10_000
	DefaultLoadDrain       = time.Minute
	defaultLoadSpeedMinKmh = 30.0
	defaultLoadSpeedMaxKmh = 55.0
	// loadCloseMarginSim is the fix time a detour must leave before the
	// end of the run, so the server can see the vehicle back on its route
	// for its persistence time and close the episode.
	loadCloseMarginSim = 90 * time.Second
)

// LoadOptions configures Load. Zero values mean the defaults above.
type LoadOptions struct {
	Broker   string
	API      string
	APIToken string
	// Vehicles is the size of the synthetic fleet, up to 100,000.
	Vehicles int
	// Interval is the time between two fixes of one vehicle; 0 publishes
	// as fast as the acknowledgement window allows.
	Interval time.Duration
	// TimeScale is how much faster fix time runs than the wall clock; 1
	// (the default) is real time. Fix times are set to end at the wall
	// clock when the run ends, so none lies in the future.
	TimeScale float64
	QoS       byte
	// Duration is how long the whole fleet publishes.
	Duration time.Duration
	// RampUp spreads the connects over this time. Publishing starts once
	// the whole fleet has connected.
	RampUp time.Duration
	// Window is the number of messages a vehicle may have unacknowledged.
	Window int
	// BatchSize is the number of fixes per message.
	BatchSize int
	// Routes are the planned routes vehicles are put on, round robin.
	Routes    []*LoadRoute
	CorridorM float64
	// Zones are GeoJSON Features created through the API before the run.
	Zones []json.RawMessage
	// DeviationsPerMinute injects that many route deviations per minute
	// of the run, spread evenly, each on a randomly chosen vehicle.
	DeviationsPerMinute float64
	// DetourM is how far an injected detour leaves the route.
	DetourM float64
	// Regulator is the regulator broker URL the server forwards to; the
	// run subscribes there to see the deviations arrive. Empty reads them
	// from the API after the run, without a latency.
	Regulator       string
	RegulatorPrefix string
	// SourceNet spreads the connections' source addresses over this
	// loopback network, PerSource vehicles per address, to get past one
	// address's ephemeral ports. An invalid prefix means the system's
	// choice.
	SourceNet netip.Prefix
	PerSource int
	// Cameras starts a simulated camera on channel 2 of the first
	// Cameras vehicles once the fleet is connected; Viewers joins that
	// many WHEP viewers, round robin over those cameras. Against a server
	// on loopback both keep ICE on 127.0.0.1.
	Cameras int
	Viewers int
	// Drain is how long to wait after the run for the server to store
	// everything and forward the deviations.
	Drain           time.Duration
	ConnectTimeout  time.Duration
	ConnectAttempts int
	AckTimeout      time.Duration
	// RunID makes terminal ids unique per run; empty means random.
	RunID string
	Seed  uint64
	// Progress receives a status line every second (a terminal) or every
	// ten seconds (ProgressLines); nil prints nothing.
	Progress      io.Writer
	ProgressLines bool
	HTTPClient    *http.Client
	Logger        *slog.Logger
}

func (o *LoadOptions) setDefaults() error {
	var errs []error
	if o.Broker == "" {
		o.Broker = DefaultBroker
	}
	if o.API == "" {
		o.API = DefaultAPI
	}

	if o.Vehicles == 0 {
		o.Vehicles = DefaultLoadVehicles
	}
	if o.Vehicles < 1 || o.Vehicles > 100_000 {
		errs = append(errs, fmt.Errorf("invalid vehicles %d: want 1 to 100000", o.Vehicles))
	}
	if o.Interval < 0 {
		errs = append(errs, fmt.Errorf("invalid interval %s: want 0 or more", o.Interval))
	}

	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.TimeScale < 1 || o.TimeScale > 1000 {
		errs = append(errs, fmt.Errorf("invalid time scale %g: want 1 to 1000", o.TimeScale))
	}
	if o.QoS > 2 {
		errs = append(errs, fmt.Errorf("invalid qos %d: want 0, 1 or 2", o.QoS))
	}
	if o.Duration == 0 {
		o.Duration = DefaultLoadDuration
	}
	if o.Duration < time.Second {
		errs = append(errs, fmt.Errorf("invalid duration %s: want at least 1s", o.Duration))
	}
	if o.RampUp < 0 {
		errs = append(errs, fmt.Errorf("invalid ramp-up %s: want 0 or more", o.RampUp))
	}

	if o.Window == 0 {
		o.Window = DefaultLoadWindow
	}
	if o.Window < 1 || o.Window > 65535 {
		errs = append(errs, fmt.Errorf("invalid window %d: want 1 to 65535", o.Window))
	}
	if o.BatchSize == 0 {
		o.BatchSize = 1
	}
	if o.BatchSize < 1 || o.BatchSize > 1000 {
		errs = append(errs, fmt.Errorf("invalid batch %d: want 1 to 1000", o.BatchSize))
	}

	if len(o.Routes) == 0 {
		errs = append(errs, errors.New("no routes"))
	}
	if o.CorridorM == 0 {
		o.CorridorM = DefaultCorridorM
	}
	if o.DetourM == 0 {
		o.DetourM = DefaultLoadDetourM
	}
	if o.DetourM < MinDeviationM+o.CorridorM/2 {
		errs = append(errs, fmt.Errorf("invalid detour %g m: want at least %g m, past %g m off the corridor", o.DetourM, MinDeviationM+o.CorridorM/2, MinDeviationM))
	}
	if o.DeviationsPerMinute < 0 {
		errs = append(errs, fmt.Errorf("invalid deviation rate %g: want 0 or more", o.DeviationsPerMinute))
	}

	if o.RegulatorPrefix == "" {
		o.RegulatorPrefix = "hwt/regulator/v1"
	}
	if o.PerSource == 0 {
		o.PerSource = DefaultLoadPerSource
	}
	if o.SourceNet.IsValid() && !o.SourceNet.Addr().IsLoopback() {
		errs = append(errs, fmt.Errorf("invalid source network %s: only loopback addresses can be bound here", o.SourceNet))
	}

	if o.Cameras < 0 || o.Cameras > o.Vehicles {
		errs = append(errs, fmt.Errorf("invalid cameras %d: want 0 to the %d vehicles", o.Cameras, o.Vehicles))
	}
	if o.Viewers < 0 || (o.Viewers > 0 && o.Cameras < 1) {
		errs = append(errs, fmt.Errorf("invalid viewers %d: want 0, or more with at least one camera", o.Viewers))
	}
	if o.Cameras > 0 && o.API == NoAPI {
		errs = append(errs, errors.New("cameras need the API: the server relays the video"))
	}

	if o.Drain == 0 {
		o.Drain = DefaultLoadDrain
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if o.ConnectAttempts == 0 {
		o.ConnectAttempts = 20
	}
	if o.AckTimeout == 0 {
		o.AckTimeout = defaultAckTimeout
	}

	if o.RunID == "" {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("generate run id: %w", err)
		}
		o.RunID = hex.EncodeToString(b[:])
	}
	if !terminalPattern.MatchString(o.RunID) || len(o.RunID) > 20 {
		errs = append(errs, fmt.Errorf("invalid run id %q: use up to 20 ASCII letters, digits, '_' and '-'", o.RunID))
	}
	if o.Seed == 0 {
		o.Seed = mrand.Uint64()
	}

	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// fixInterval is the fix time between two fixes of a vehicle.
func (o *LoadOptions) fixInterval() time.Duration {
	if o.Interval == 0 {
		return time.Millisecond
	}
	return time.Duration(float64(o.Interval) * o.TimeScale)
}

// loadRun is the shared state of one Load call.
type loadRun struct {
	opts     *LoadOptions
	log      *slog.Logger
	api      *APIClient
	vehicles []*loadVehicle

	wallStart time.Time // when the first vehicle connects

	// The publishing phase starts once the whole fleet is connected. Its
	// fields are set before startCh is closed and publishing is stored,
	// which orders them before every read.
	startCh      chan struct{}
	publishing   atomic.Bool
	publishStart time.Time
	stopAt       time.Time // when publishing stops
	simStart     time.Time // fix time at publishStart
	timeline     *timeline
	ackHist      latencyHist

	sentFixes, sentMessages   atomic.Int64
	ackedFixes, ackedMessages atomic.Int64
	connected, connectFailed  atomic.Int64
	connectRetries            atomic.Int64
	connectionsLost           atomic.Int64
	ackErrors, ackTimeouts    atomic.Int64
	detoursActive             atomic.Int64
	injectRejected            atomic.Int64
	// injectReturned counts rejected detour requests the scheduler has
	// not yet replaced.
	injectReturned atomic.Int64

	// mu guards injections.
	mu         sync.Mutex
	injections []*loadInjection
}

func (r *loadRun) simTime(wall time.Time) time.Time {
	return r.simStart.Add(time.Duration(float64(wall.Sub(r.publishStart)) * r.opts.TimeScale))
}

func (r *loadRun) recordSent(at time.Time, fixes int) {
	r.sentMessages.Add(1)
	r.sentFixes.Add(int64(fixes))
	r.timeline.slot(at).sentFixes.Add(int64(fixes))
}

func (r *loadRun) recordAck(at time.Time, latency time.Duration, fixes int) {
	r.ackedMessages.Add(1)
	r.ackedFixes.Add(int64(fixes))
	slot := r.timeline.slot(at)
	slot.ackedFixes.Add(int64(fixes))
	slot.ackLatency.Add(latency)
	r.ackHist.Add(latency)
}

func (r *loadRun) addInjection(v *loadVehicle, d *activeDetour) *loadInjection {
	inj := &loadInjection{
		Terminal:   v.terminal,
		StartedAt:  d.startSim,
		EndsAt:     d.startSim.Add(d.durSim),
		Lat:        d.anchor.Lat(),
		Lon:        d.anchor.Lon(),
		OffsetM:    d.outM,
		wallStart:  time.Now(),
		publishes:  make([]time.Time, 0, 64),
		vehicleIdx: v.index,
	}
	r.mu.Lock()
	r.injections = append(r.injections, inj)
	r.mu.Unlock()
	return inj
}

// Load runs a synthetic fleet against a hwtrack server. It registers the
// vehicles, each with a trip along one of the routes, and creates the
// zones. It connects the vehicles over the ramp-up and lets them publish
// for the duration while it injects detours. Then it accounts for every
// acknowledged fix and every injected deviation. The error is non-nil when
// the run could not be set up; losses are in the report.
func Load(ctx context.Context, opts LoadOptions) (*LoadReport, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	run := &loadRun{opts: &opts, log: opts.Logger.With("run_id", opts.RunID)}
	report := newLoadReport(&opts)
	if opts.API == NoAPI {
		return loadWithoutAPI(ctx, run, report)
	}
	api, err := NewAPIClient(opts.API, opts.APIToken, opts.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	run.api = api

	before, err := scrapeMetrics(ctx, opts.API, opts.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("load: read server metrics: %w", err)
	}
	report.Server.BrokerOnly = before.has("hwtrack_broker_only_messages_total")

	setupStart := time.Now()
	if err := run.setup(ctx); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	report.SetupSeconds = time.Since(setupStart).Seconds()

	var reg *regulatorWatch
	if opts.Regulator != "" && !report.Server.BrokerOnly {
		if reg, err = watchRegulator(ctx, opts.Regulator, opts.RegulatorPrefix, opts.RunID, run.log); err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		defer reg.close()
	}

	idle, err := scrapeMetrics(ctx, opts.API, opts.HTTPClient)
	if err != nil {
		return nil, fmt.Errorf("load: read server metrics: %w", err)
	}
	run.execute(ctx, report, idle)

	report.Server.fill(ctx, run, before)
	if report.Server.BrokerOnly {
		report.Deviations.NotChecked = "the server runs in broker-only mode and raises no deviations"
	} else {
		report.Deviations = run.accountDeviations(ctx, reg)
	}
	report.finish(run)
	return report, nil
}

// NoAPI as LoadOptions.API runs the fleet against a plain MQTT broker,
// such as mosquitto, that accepts any client: nothing is registered and
// only the client side is measured.
const NoAPI = "none"

func loadWithoutAPI(ctx context.Context, run *loadRun, report *LoadReport) (*LoadReport, error) {
	if err := run.buildFleet(); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	run.execute(ctx, report, nil)
	report.Server.Unchecked = "no API: the broker's own counts were not read"
	report.Deviations.NotChecked = "no API"
	report.finish(run)
	return report, nil
}

// setup builds the fleet and registers it with its bookings, trips and
// zones.
func (r *loadRun) setup(ctx context.Context) error {
	if err := r.buildFleet(); err != nil {
		return err
	}
	return r.register(ctx)
}

// buildFleet creates the vehicles with their routes, starts, speeds and
// source addresses.
func (r *loadRun) buildFleet() error {
	opts := r.opts
	rng := mrand.New(mrand.NewPCG(opts.Seed, opts.Seed+1))
	r.vehicles = make([]*loadVehicle, opts.Vehicles)
	var sources []net.IP
	if opts.SourceNet.IsValid() {
		addr := opts.SourceNet.Addr().Next()
		for range (opts.Vehicles + opts.PerSource - 1) / opts.PerSource {
			addr = addr.Next()
			if !opts.SourceNet.Contains(addr) {
				return fmt.Errorf("source network %s has too few addresses for %d vehicles at %d per address", opts.SourceNet, opts.Vehicles, opts.PerSource)
			}
			sources = append(sources, net.IP(addr.AsSlice()))
		}
	}
	for i := range r.vehicles {
		password, err := randomPassword(24)
		if err != nil {
			return err
		}
		route := opts.Routes[i%len(opts.Routes)]
		v := &loadVehicle{
			index:    i,
			terminal: fmt.Sprintf("ld%s-%06d", opts.RunID, i),
			password: password,
			route:    route,
			startM:   rng.Float64() * 2 * route.lengthM,
			speedKmh: math.Round(defaultLoadSpeedMinKmh + rng.Float64()*(defaultLoadSpeedMaxKmh-defaultLoadSpeedMinKmh)),
			payload:  make([]byte, 0, 160*opts.BatchSize),
		}
		if len(sources) > 0 {
			v.source = sources[i/opts.PerSource]
		}
		r.vehicles[i] = v
	}
	return nil
}

// register creates the zones, the vehicles and their trips through the
// API.
func (r *loadRun) register(ctx context.Context) error {
	opts := r.opts
	if len(opts.Zones) > 0 {
		r.log.Info("creating zones", "zones", len(opts.Zones))
		if err := r.api.CreateZones(ctx, opts.Zones); err != nil {
			return err
		}
	}

	r.log.Info("registering vehicles", "vehicles", len(r.vehicles))
	const chunk = 5000
	for from := 0; from < len(r.vehicles); from += chunk {
		batch := r.vehicles[from:min(from+chunk, len(r.vehicles))]
		reqs := make([]VehicleRequest, len(batch))
		for i, v := range batch {
			reqs[i] = VehicleRequest{Terminal: v.terminal, Plate: fmt.Sprintf("浙G·L%05d", v.index%100_000), Password: v.password}
		}
		if err := r.api.RegisterVehicles(ctx, reqs); err != nil {
			return fmt.Errorf("register vehicles: %w", err)
		}
	}
	return r.createTrips(ctx)
}

// createTrips creates one booking per route and one trip per vehicle,
// eight requests at a time. A trip's planned time covers every fix time of
// the run with an hour to spare, so no trip runs over time.
func (r *loadRun) createTrips(ctx context.Context) error {
	opts := r.opts
	total := opts.RampUp + opts.Duration + opts.Drain
	simSpan := time.Duration(float64(total) * opts.TimeScale)
	now := time.Now()
	plannedStart := now.Add(-simSpan - 10*time.Minute).Truncate(time.Second)
	plannedEnd := now.Add(simSpan + time.Hour).Truncate(time.Second)

	year := now.In(chinaStandardTime).Year()
	bookings := make(map[*LoadRoute]string, len(opts.Routes))
	for i, route := range opts.Routes {
		serial, err := randomDigits(6)
		if err != nil {
			return err
		}
		start, _ := route.at(0)
		b := sampleBooking(model.Fix{Lat: start.Lat(), Lon: start.Lon()}, year, serial, fmt.Sprintf("永康市负载测试五金厂%d（合成）", i+1))
		id, err := r.api.CreateBooking(ctx, b)
		if err != nil {
			return fmt.Errorf("create booking for route %s: %w", route.Name, err)
		}
		bookings[route] = id
	}

	r.log.Info("creating trips", "trips", len(r.vehicles))
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(r.vehicles) || ctx.Err() != nil {
					return
				}
				v := r.vehicles[i]
				_, err := r.api.CreateTrip(ctx, TripRequest{
					Terminal:     v.terminal,
					Driver:       sampleDrivers[i%len(sampleDrivers)],
					Escort:       sampleEscorts[i%len(sampleEscorts)],
					Route:        v.route.Line,
					CorridorM:    opts.CorridorM,
					Bookings:     []string{bookings[v.route]},
					PlannedStart: plannedStart,
					PlannedEnd:   plannedEnd,
				})
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("create trip of %s: %w", v.terminal, err)
					}
					mu.Unlock()
					next.Store(int64(len(r.vehicles)))
					return
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// execute connects the fleet over the ramp-up, lets it publish for the
// duration once every vehicle has connected, and disconnects it. Holding
// the publishing back keeps connects and load apart, so the rate is
// measured with the whole fleet on line.
func (r *loadRun) execute(ctx context.Context, report *LoadReport, idle metricSnapshot) {
	opts := r.opts
	r.wallStart = time.Now()
	r.startCh = make(chan struct{})
	report.Server.RSSIdleBytes = idle.get("process_resident_memory_bytes")
	scrape := func() (metricSnapshot, error) {
		if r.api == nil {
			return nil, errors.New("no API")
		}
		return scrapeMetrics(ctx, opts.API, opts.HTTPClient)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	progressDone := r.startProgress(runCtx)

	var allConnected sync.WaitGroup
	var wg sync.WaitGroup
	allConnected.Add(len(r.vehicles))
	for i, v := range r.vehicles {
		if opts.RampUp > 0 {
			due := r.wallStart.Add(opts.RampUp * time.Duration(i) / time.Duration(len(r.vehicles)))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-runCtx.Done():
				case <-time.After(wait):
				}
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := v.connect(runCtx, r)
			allConnected.Done()
			if err != nil {
				r.connectFailed.Add(1)
				v.lost.Store(true)
				r.log.Warn("vehicle not connected", "vehicle_id", v.terminal, "err", err)
				return
			}
			r.connected.Add(1)
			select {
			case <-runCtx.Done():
				return
			case <-r.startCh:
			}
			v.publishLoop(runCtx, r)
		}()
	}
	allConnected.Wait()
	report.ConnectSeconds = time.Since(r.wallStart).Seconds()
	if m, err := scrape(); err == nil {
		report.Server.RSSConnectedBytes = m.get("process_resident_memory_bytes")
	}
	r.log.Info("fleet connected", "connected", r.connected.Load(), "failed", r.connectFailed.Load(), "seconds", report.ConnectSeconds)
	var video *loadVideo
	if opts.Cameras > 0 {
		video = r.startVideo(runCtx)
	}

	r.publishStart = time.Now()
	r.stopAt = r.publishStart.Add(opts.Duration)
	// Fix time catches up with the wall clock when publishing stops, so
	// no fix lies in the future.
	r.simStart = r.publishStart.Add(-time.Duration(float64(opts.Duration) * (opts.TimeScale - 1)))
	r.timeline = newTimeline(r.publishStart, opts.Duration+opts.AckTimeout+5*time.Second)
	r.publishing.Store(true)
	close(r.startCh)
	injectDone := r.startInjections(runCtx)

	wg.Wait()
	report.stoppedAt = time.Now()
	cancel()
	<-injectDone
	<-progressDone
	if m, err := scrape(); err == nil {
		report.Server.RSSLoadedBytes = m.get("process_resident_memory_bytes")
	}
	if video != nil {
		report.Video = video.close(ctx)
	}

	var dwg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, v := range r.vehicles {
		sem <- struct{}{}
		dwg.Add(1)
		go func() {
			defer func() { <-sem; dwg.Done() }()
			v.disconnect()
		}()
	}
	dwg.Wait()
}

// startInjections requests detours from randomly chosen vehicles at the
// configured rate, from the start of publishing to the last moment a
// detour can still end, and be closed, before the run stops.
func (r *loadRun) startInjections(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	opts := r.opts
	from := r.publishStart
	until := r.stopAt.Add(-opts.detourWall())
	count := int(opts.DeviationsPerMinute * until.Sub(from).Minutes())
	if opts.DeviationsPerMinute <= 0 || count <= 0 {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		rng := mrand.New(mrand.NewPCG(opts.Seed+2, opts.Seed+3))
		gap := until.Sub(from) / time.Duration(count)
		var pending []pendingInjection
		requested := 0
		for time.Now().Before(until) && (requested < count || len(pending) > 0) {
			// A vehicle turned the request down: ask another one.
			requested -= int(r.injectReturned.Swap(0))
			pending, requested = r.withdrawStale(pending, requested)

			due := from.Add(gap * time.Duration(requested))
			if requested < count && !time.Now().Before(due) {
				if v := r.pickIdleVehicle(rng); v != nil {
					v.injectReq.Store(true)
					pending = append(pending, pendingInjection{v: v, at: time.Now()})
					requested++
					continue
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			if ctx.Err() != nil {
				break
			}
		}
		// A detour claimed from now on could not close before the end.
		for _, p := range pending {
			if p.v.injectReq.CompareAndSwap(true, false) {
				p.v.busy.Store(false)
			}
		}
	}()
	return done
}

// detourWall returns the wall time a detour needs at the slowest vehicle
// speed, including the time to see it closed.
func (o *LoadOptions) detourWall() time.Duration {
	slowest := defaultLoadSpeedMinKmh / 3.6
	detourSim := time.Duration(2*o.DetourM/slowest*float64(time.Second)) + loadCloseMarginSim
	return time.Duration(float64(detourSim) / o.TimeScale)
}

// injectClaimTimeout is how long a vehicle may leave a detour request
// unclaimed. A vehicle whose connection is starved can go that long
// without publishing, so its request goes to another vehicle.
const injectClaimTimeout = 2 * time.Second

// pendingInjection is a detour request a vehicle has not yet claimed.
type pendingInjection struct {
	v  *loadVehicle
	at time.Time
}

// withdrawStale drops the requests that vehicles claimed and withdraws
// the ones left unclaimed past injectClaimTimeout, returning the requests
// still pending and the number of requests that stand.
func (r *loadRun) withdrawStale(pending []pendingInjection, requested int) ([]pendingInjection, int) {
	now := time.Now()
	kept := pending[:0]
	for _, p := range pending {
		switch {
		case !p.v.injectReq.Load():
			// Claimed by the vehicle.
		case now.Sub(p.at) > injectClaimTimeout && p.v.injectReq.CompareAndSwap(true, false):
			p.v.busy.Store(false)
			requested--
		default:
			kept = append(kept, p)
		}
	}
	return kept, requested
}

// pickIdleVehicle returns a random connected vehicle without a detour,
// marked busy, or nil when 100 tries found none.
func (r *loadRun) pickIdleVehicle(rng *mrand.Rand) *loadVehicle {
	for range 100 {
		v := r.vehicles[rng.IntN(len(r.vehicles))]
		if v.lost.Load() || v.client == nil || !v.busy.CompareAndSwap(false, true) {
			continue
		}
		return v
	}
	return nil
}

// IsLoopbackURL reports whether a broker or API URL names a loopback host.
func IsLoopbackURL(broker string) bool {
	u, err := url.Parse(broker)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// IsTerminal reports whether w is a character device such as a terminal,
// where a progress line may be redrawn in place.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
