package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/hwtrack/hwtrack/api"
	"github.com/hwtrack/hwtrack/console"
	"github.com/hwtrack/hwtrack/forwarder"
	"github.com/hwtrack/hwtrack/live"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
	"github.com/hwtrack/hwtrack/web"
)

// onlinePollInterval is how often vehicle connection states are compared
// to emit live vehicle events.
const onlinePollInterval = 2 * time.Second

// consoleWiring holds the regulator console's server-side components.
type consoleWiring struct {
	console *console.Console
	live    *live.Hub
	newest  *live.Newest
	static  fs.FS
}

// consoleUsers is the store as the console's UserStore.
type consoleUsers struct {
	*storage.Store
}

var _ console.UserStore = consoleUsers{}

func (u consoleUsers) CreateUser(user model.User) error {
	err := u.Store.CreateUser(user)
	if errors.Is(err, storage.ErrUserExists) {
		return fmt.Errorf("%w: %w", console.ErrUserExists, err)
	}
	return err
}

// startConsole creates the console components.
func (s *Server) startConsole(opts Options) error {
	c, err := console.New(console.Options{Users: consoleUsers{s.store}, Logger: s.log})
	if err != nil {
		return err
	}
	static, err := fs.Sub(web.Dist, "dist")
	if err != nil {
		return fmt.Errorf("open embedded console: %w", err)
	}
	s.ui = consoleWiring{console: c, live: live.NewHub(), newest: live.NewNewest(), static: static}

	return nil
}

// ensureConsoleAdmin creates the admin console user on first start, whose
// password goes to opts.AdminPassword or stderr. Start calls it last, so a
// start that fails earlier does not use up the one showing of it.
func (s *Server) ensureConsoleAdmin(opts Options) error {
	password, err := s.ui.console.EnsureAdmin()
	if err != nil {
		return err
	}
	if password != "" {
		if opts.AdminPassword != nil {
			opts.AdminPassword(console.FirstAdminUsername, password)
		} else {
			fmt.Fprintf(os.Stderr, "\nFirst start: console user %q has the password\n\n    %s\n\nIt is shown only this once; only its argon2id hash is stored.\n\n", console.FirstAdminUsername, password)
		}
		s.log.Info("first console admin created; its password was shown once on stderr", "username", console.FirstAdminUsername)
	}
	return nil
}

// CreateUser adds a console user; the demo uses it for its sample users.
// A taken username returns an error wrapping console.ErrUserExists.
func (s *Server) CreateUser(username, password string, role model.Role, displayName string) error {
	_, err := s.ui.console.CreateUser(username, password, role, displayName)
	return err
}

// livePosition is the data of a live feed position event.
type livePosition struct {
	Terminal string    `json:"terminal"`
	Plate    string    `json:"plate"`
	Time     time.Time `json:"time"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	Speed    *float64  `json:"speed"`
	Heading  *float64  `json:"heading"`
	TripID   string    `json:"trip_id"`
}

// onFixes publishes a stored batch's last fix as a position event when it
// is the vehicle's newest, so a late fix never moves the live marker back.
func (s *Server) onFixes(terminal string, fixes []model.Fix) {
	s.forwardSiteEvents(terminal)
	if len(fixes) == 0 {
		return
	}
	last := fixes[len(fixes)-1]
	// The newest time is tracked even without subscribers, so the first
	// subscriber never sees a late fix as the newest.
	if !s.ui.newest.Advance(terminal, last.Time, s.latestFixTime) || s.ui.live.Subscribers() == 0 {
		return
	}
	p := livePosition{
		Terminal: terminal,
		Plate:    s.registry.vehicle(terminal).Plate,
		Time:     last.Time.UTC(),
		Lat:      last.Lat,
		Lon:      last.Lon,
		TripID:   s.currentTrip(terminal),
	}
	if last.Has&model.HasSpeed != 0 {
		speed := last.SpeedKmh
		p.Speed = &speed
	}
	if last.Has&model.HasHeading != 0 {
		heading := last.HeadingDeg
		p.Heading = &heading
	}
	data, err := json.Marshal(p)
	if err != nil {
		s.log.Error("live position not encoded", "vehicle_id", terminal, "err", err)
		return
	}
	s.ui.live.Publish(live.Event{Name: api.EventPosition, Data: data})
}

// latestFixTime returns the time of the newest stored fix of terminal.
func (s *Server) latestFixTime(terminal string) time.Time {
	f, ok, err := s.store.LatestFix(terminal)
	if err != nil {
		s.log.Warn("latest fix not loaded for the live feed", "vehicle_id", terminal, "err", err)
		return time.Time{}
	}
	if !ok {
		return time.Time{}
	}
	return f.Time
}

// currentTrip returns the id of the vehicle's trip in progress, or "".
func (s *Server) currentTrip(terminal string) string {
	trips, err := s.store.TripsForVehicle(terminal)
	if err != nil {
		return ""
	}
	var current model.Trip
	for _, t := range trips {
		if t.State != model.TripCompleted && (current.ID == "" || t.PlannedStart.After(current.PlannedStart)) {
			current = t
		}
	}
	return current.ID
}

// publishDeviation sends a deviation transition, with its handling record,
// to the live feed.
func (s *Server) publishDeviation(d model.Deviation) {
	if s.ui.live == nil || s.ui.live.Subscribers() == 0 {
		return
	}
	if h, ok, err := s.store.Handling(d.ID); err == nil && ok {
		d.Handling = h
	}
	ev, err := api.DeviationEvent(d)
	if err != nil {
		s.log.Error("live deviation not encoded", "vehicle_id", d.Terminal, "deviation_id", d.ID, "err", err)
		return
	}
	s.ui.live.Publish(ev)
}

// forwardHandling queues a handling action for the regulator and shows the
// updated deviation on the live feed.
func (s *Server) forwardHandling(action string, d model.Deviation) error {
	if ev, err := api.DeviationEvent(d); err == nil {
		s.ui.live.Publish(ev)
	}
	msg, err := forwarder.HandlingMessage(action, d, s.registry.vehicle(d.Terminal))
	if err != nil {
		return fmt.Errorf("build %s record of deviation %s: %w", action, d.ID, err)
	}
	return s.forwarder.Enqueue(msg)
}

// watchOnline publishes a vehicle event whenever a registered vehicle's
// broker connection state changes.
// NOTE: the broker offers no connect callback, so changes are found by
// polling every onlinePollInterval and a connection shorter than that may
// go unseen.
func (s *Server) watchOnline() {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(onlinePollInterval)
		defer t.Stop()
		known := map[string]bool{}
		for {
			select {
			case <-t.C:
			case <-s.stop:
				return
			}
			for _, terminal := range s.registry.terminals() {
				online := s.vehicleOnline(terminal)
				if known[terminal] == online {
					continue
				}
				known[terminal] = online
				data, _ := json.Marshal(struct {
					Terminal string `json:"terminal"`
					Online   bool   `json:"online"`
				}{terminal, online})
				s.ui.live.Publish(live.Event{Name: api.EventVehicle, Data: data})
			}
		}
	}()
}
