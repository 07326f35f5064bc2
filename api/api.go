// Package api serves the hwtrack HTTP JSON API under /api/v1 together with
// the unauthenticated /healthz, /readyz and /metrics endpoints.
//
// The handler depends on storage, the broker, the rules engine and the
// forwarder only through the Store and Hooks interfaces and the functions in
// Options, so the server wiring decides what implements them.
package api

import (
	"crypto/sha256"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/console"
	"github.com/hwtrack/hwtrack/live"
	"github.com/hwtrack/hwtrack/model"
)

// Store is the persistence the API reads and writes. Lookups return
// found=false, not an error, for a missing key.
type Store interface {
	PutVehicle(v model.Vehicle) error
	Vehicle(terminal string) (model.Vehicle, bool, error)
	Vehicles() ([]model.Vehicle, error)
	LatestFix(terminal string) (model.Fix, bool, error)
	// Track returns at most limit fixes of terminal with from <= time < to,
	// in fix-time order.
	Track(terminal string, from, to time.Time, limit int) ([]model.Fix, error)
	PutZone(z model.Zone) error
	Zone(id string) (model.Zone, bool, error)
	Zones() ([]model.Zone, error)
	DeleteZone(id string) (bool, error)
	PutBooking(b model.Booking) error
	Booking(id string) (model.Booking, bool, error)
	PutTrip(t model.Trip) error
	Trip(id string) (model.Trip, bool, error)
	Trips() ([]model.Trip, error)
	TripsForVehicle(terminal string) ([]model.Trip, error)
	// Deviations returns the episodes matching q, newest StartedAt first.
	Deviations(q DeviationQuery) ([]model.Deviation, error)
}

// BookingLister is implemented by a Store that can list every booking.
// GET /api/v1/bookings needs it; the other booking endpoints do not.
type BookingLister interface {
	Bookings() ([]model.Booking, error)
}

// DeviationQuery selects deviation episodes. Zero fields do not filter:
// an empty Terminal matches every vehicle, KindUnknown every kind,
// StateUnknown both states and a zero From or To leaves that end open.
// Limit is the maximum number of episodes to return, newest StartedAt
// first.
type DeviationQuery struct {
	Terminal string
	Kind     model.DeviationKind
	State    model.DeviationState
	From, To time.Time
	Limit    int
}

// Hooks notifies the rest of the server of changes made through the API.
// The API calls each hook after the change is stored.
type Hooks interface {
	// VehicleRegistered lets the broker accept the new credentials.
	VehicleRegistered(v model.Vehicle)
	// ZonesChanged makes the rules engine reload its zones.
	ZonesChanged()
	// TripCreated hands a dispatched trip to the rules engine and the
	// forwarder.
	TripCreated(t model.Trip) error
	// TripCompleted notifies the rules engine and the forwarder that a trip
	// ended.
	TripCompleted(t model.Trip) error
}

// Options configures the handler that New returns. Store, HashSecret and
// ParseZone are required; the rest have working defaults.
type Options struct {
	Store Store
	// Hooks receives change notifications. Nil disables them.
	Hooks Hooks
	// Tokens are the accepted bearer tokens. Empty strings are ignored, and
	// with no token every /api/v1 request is rejected with 401.
	Tokens []string
	// Authorize, when set, decides whether a bearer token is accepted, in
	// place of Tokens; the server uses it to check tokens against stored
	// hashes.
	Authorize func(token string) bool
	// TokenRole, when set, checks a bearer token and returns the role it
	// grants, in place of Authorize and Tokens, whose tokens act as admin.
	TokenRole func(token string) (model.Role, bool)
	// HashSecret returns the keyed hash of a vehicle password, which is what
	// the store keeps.
	HashSecret func(secret string) []byte
	// ParseZone validates a GeoJSON Feature and returns the zone without ID
	// and CreatedAt. Bad input is reported as *model.ValidationError.
	ParseZone func(raw []byte) (model.Zone, error)
	// Online reports the broker connection state of a vehicle. Nil reports
	// every vehicle offline.
	Online func(terminal string) bool
	// Ready returns nil when the server can take traffic, else the reason
	// it cannot. Nil means always ready.
	Ready func() error
	// Metrics serves /metrics without authentication. Nil leaves /metrics
	// unrouted (404).
	Metrics http.Handler
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now defaults to time.Now.
	Now func() time.Time

	// Console enables sign-in with session cookies, users and roles. Nil
	// leaves bearer tokens as the only way in and the console routes
	// unrouted.
	Console *console.Console
	// ConsoleStore keeps the audit log and deviation handling; required
	// with Console.
	ConsoleStore ConsoleStore
	// Settings are the console's map and cookie settings.
	Settings config.Console
	// Live is the live feed hub GET /api/v1/live streams. Nil disables it.
	Live *live.Hub
	// Static is the console's single-page app, served for every path
	// outside /api/, /healthz, /readyz and /metrics. Nil leaves them 404.
	Static fs.FS
	// DeviationHandled forwards a handling action (HandlingAck or
	// HandlingHandled) with the deviation as it is after the action.
	DeviationHandled func(action string, d model.Deviation) error
	// Video is the camera relay behind the WHEP and camera endpoints. Nil
	// leaves them unrouted.
	Video VideoService
}

// server holds the dependencies every handler uses. Its fields are set once
// in New and never change, except the two mutexes.
type server struct {
	store      Store
	hooks      Hooks
	tokenSums  [][sha256.Size]byte
	authorize  func(token string) bool
	tokenRole  func(token string) (model.Role, bool)
	hashSecret func(string) []byte
	parseZone  func([]byte) (model.Zone, error)
	online     func(string) bool
	ready      func() error
	metrics    http.Handler
	log        *slog.Logger
	now        func() time.Time
	ids        *idGenerator

	console          *console.Console
	consoleStore     ConsoleStore
	settings         config.Console
	live             *live.Hub
	static           fs.FS
	deviationHandled func(action string, d model.Deviation) error
	video            VideoService

	// vehicleMu serializes the check-then-write of vehicle registration, so
	// two requests for one terminal cannot both pass the conflict check.
	// NOTE: it covers this handler only. Two API instances sharing one
	// store could still race, because Store has no conditional put.
	vehicleMu sync.Mutex
	// zoneMu serializes zone updates, which read the old zone for its id
	// and creation time before they write.
	zoneMu sync.Mutex
	// tripMu serializes trip creation and completion for the same reason:
	// the overlap and already-completed checks read before they write.
	tripMu sync.Mutex
}

// New returns the handler for the whole HTTP surface: /api/v1/..., /healthz,
// /readyz and /metrics. It panics when Store, HashSecret or ParseZone is nil,
// because the API cannot serve its endpoints without them.
func New(opts Options) http.Handler {
	if opts.Store == nil || opts.HashSecret == nil || opts.ParseZone == nil {
		panic("api.New: Options.Store, Options.HashSecret and Options.ParseZone are required")
	}

	s := &server{
		store:      opts.Store,
		hooks:      opts.Hooks,
		hashSecret: opts.HashSecret,
		parseZone:  opts.ParseZone,
		online:     opts.Online,
		ready:      opts.Ready,
		metrics:    opts.Metrics,
		log:        opts.Logger,
		now:        opts.Now,
		ids:        newIDGenerator(),

		console:          opts.Console,
		consoleStore:     opts.ConsoleStore,
		settings:         opts.Settings,
		live:             opts.Live,
		static:           opts.Static,
		deviationHandled: opts.DeviationHandled,
		video:            opts.Video,
	}
	if s.console != nil && s.consoleStore == nil {
		panic("api.New: Options.ConsoleStore is required with Options.Console")
	}
	if s.hooks == nil {
		s.hooks = noHooks{}
	}
	if s.online == nil {
		s.online = func(string) bool { return false }
	}
	if s.ready == nil {
		s.ready = func() error { return nil }
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("component", "api")
	if s.now == nil {
		s.now = time.Now
	}
	for _, token := range opts.Tokens {
		if token != "" {
			s.tokenSums = append(s.tokenSums, sha256.Sum256([]byte(token)))
		}
	}
	s.authorize = opts.Authorize
	s.tokenRole = opts.TokenRole
	if len(s.tokenSums) == 0 && s.authorize == nil && s.tokenRole == nil {
		s.log.Warn("no API token configured, every /api/v1 request will be rejected with 401")
	}

	return s.recoverPanics(s.routes())
}

// routes builds the request multiplexer. Every path also gets a catch-all
// pattern that returns 405 with an Allow header, so method errors use the
// JSON error shape instead of the ServeMux's plain-text default. Each route
// names the roles that may call it and the audit action it writes.
func (s *server) routes() http.Handler {
	get := func(h handlerFunc) route { return route{method: http.MethodGet, handler: h} }

	v1 := http.NewServeMux()
	s.handle(v1, "/api/v1/vehicles",
		get(s.listVehicles),
		route{http.MethodPost, s.createVehicles, adminOnly, "vehicle_register"})
	s.handle(v1, "/api/v1/vehicles/{terminal}", get(s.getVehicle))
	s.handle(v1, "/api/v1/vehicles/{terminal}/track", get(s.getTrack))
	s.handle(v1, "/api/v1/zones",
		get(s.listZones),
		route{http.MethodPost, s.createZone, adminDispatcher, "zone_create"})
	s.handle(v1, "/api/v1/zones/{id}",
		get(s.getZone),
		route{http.MethodPut, s.updateZone, adminDispatcher, "zone_update"},
		route{http.MethodDelete, s.deleteZone, adminDispatcher, "zone_delete"})
	s.handle(v1, "/api/v1/bookings",
		get(s.listBookings),
		route{http.MethodPost, s.createBooking, adminDispatcher, "booking_create"})
	s.handle(v1, "/api/v1/bookings/{id}", get(s.getBooking))
	s.handle(v1, "/api/v1/trips",
		get(s.listTrips),
		route{http.MethodPost, s.createTrip, adminDispatcher, "trip_create"})
	s.handle(v1, "/api/v1/trips/{id}", get(s.getTrip))
	s.handle(v1, "/api/v1/trips/{id}/complete",
		route{http.MethodPost, s.completeTrip, adminDispatcher, "trip_complete"})
	s.handle(v1, "/api/v1/deviations", get(s.listDeviations))
	if s.live != nil {
		s.handle(v1, "/api/v1/live", get(s.streamLive))
	}
	if s.console != nil {
		s.handle(v1, "/api/v1/deviations/{id}/ack",
			route{http.MethodPost, s.ackDeviation, adminRegulator, "deviation_ack"})
		s.handle(v1, "/api/v1/deviations/{id}/handle",
			route{http.MethodPost, s.handleDeviation, adminRegulator, "deviation_handle"})
		s.handle(v1, "/api/v1/session",
			route{method: http.MethodPost, handler: s.login},
			get(s.getSession),
			route{method: http.MethodDelete, handler: s.logout})
		s.handle(v1, "/api/v1/users",
			route{http.MethodGet, s.listUsers, adminOnly, ""},
			route{http.MethodPost, s.createUser, adminOnly, "user_create"})
		s.handle(v1, "/api/v1/audit",
			route{http.MethodGet, s.listAudit, adminRegulator, ""})
		s.handle(v1, "/api/v1/console/config", get(s.consoleConfig))
	}
	s.videoRoutes(v1)
	v1.HandleFunc("/", s.wrap(notFound))

	root := http.NewServeMux()
	s.handle(root, "/healthz", get(s.healthz))
	s.handle(root, "/readyz", get(s.readyz))
	if s.metrics != nil {
		root.Handle("GET /metrics", s.metrics)
	}
	root.Handle("/api/v1/", s.authenticate(v1))
	root.HandleFunc("/api/", s.wrap(notFound))
	if s.static != nil {
		root.HandleFunc("/", s.wrap(s.serveConsole))
	} else {
		root.HandleFunc("/", s.wrap(notFound))
	}
	return s.securityHeaders(root)
}
