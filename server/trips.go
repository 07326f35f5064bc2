package server

import (
	"errors"
	"fmt"
	"time"

	"github.com/hwtrack/hwtrack/forwarder"
	"github.com/hwtrack/hwtrack/model"
)

// restoreTrips gives the engine each vehicle's current trip: the latest one
// not yet completed.
func (s *Server) restoreTrips() error {
	trips, err := s.store.Trips()
	if err != nil {
		return fmt.Errorf("load trips: %w", err)
	}
	current := map[string]model.Trip{}
	for _, t := range trips {
		if t.State == model.TripCompleted {
			continue
		}
		if prev, ok := current[t.Terminal]; !ok || t.PlannedStart.After(prev.PlannedStart) {
			current[t.Terminal] = t
		}
	}
	for terminal, t := range current {
		if _, err := s.engine.SetTrip(terminal, &t, time.Now()); err != nil {
			s.log.Error("trip not restored", "trip_id", t.ID, "vehicle_id", terminal, "err", err)
		}
	}
	return nil
}

// bookings loads the bookings a trip lists; missing ones are skipped with a
// log line rather than holding back a deviation.
func (s *Server) bookings(t *model.Trip) []model.Booking {
	if t == nil {
		return nil
	}
	out := make([]model.Booking, 0, len(t.Bookings))
	for _, id := range t.Bookings {
		b, ok, err := s.store.Booking(id)
		if err != nil || !ok {
			s.log.Warn("booking of trip not found", "trip_id", t.ID, "booking_id", id, "err", err)
			continue
		}
		out = append(out, b)
	}
	return out
}

// tripWithBookings returns trip listing only the bookings that were found,
// so one missing booking record does not hold back the whole message.
func tripWithBookings(trip *model.Trip, found []model.Booking) *model.Trip {
	if trip == nil || len(found) == len(trip.Bookings) {
		return trip
	}
	t := *trip
	t.Bookings = make([]string, len(found))
	for i, b := range found {
		t.Bookings[i] = b.ID
	}
	return &t
}

// forwardTrip queues a trip lifecycle record for the regulator. site is
// nil except for arrivals and departures.
func (s *Server) forwardTrip(event string, t model.Trip, site *forwarder.SitePayload, at time.Time) error {
	bookings := s.bookings(&t)
	msg, err := forwarder.TripMessage(event, *tripWithBookings(&t, bookings), s.registry.vehicle(t.Terminal), bookings, site, at)
	if err != nil {
		return fmt.Errorf("build %s record of trip %s: %w", event, t.ID, err)
	}
	return s.forwarder.Enqueue(msg)
}

// forwardSiteEvents queues the arrivals and departures the engine derived
// for terminal. It runs after the fixes that raised them are stored, so a
// crash before it leaves the events in the engine's saved state.
func (s *Server) forwardSiteEvents(terminal string) {
	for _, ev := range s.engine.DrainTripEvents(terminal) {
		t, ok, err := s.store.Trip(ev.TripID)
		if err != nil || !ok {
			s.log.Error("trip of a site event not found", "vehicle_id", terminal, "trip_id", ev.TripID, "zone_id", ev.ZoneID, "err", err)
			continue
		}
		site := &forwarder.SitePayload{ID: ev.ZoneID, Name: ev.ZoneName, Lat: ev.Lat, Lon: ev.Lon}
		if err := s.forwardTrip(ev.Event.String(), t, site, ev.At); err != nil {
			s.log.Error("site event not queued for the regulator", "vehicle_id", terminal, "trip_id", ev.TripID, "zone_id", ev.ZoneID, "event", ev.Event.String(), "err", err)
			continue
		}
		s.log.Info("trip "+ev.Event.String(), "vehicle_id", terminal, "trip_id", ev.TripID, "zone_id", ev.ZoneID, "at", ev.At)
	}
}

// deviationSink stores deviation transitions and queues them for the
// regulator with the trip and its bookings.
type deviationSink struct {
	s *Server
	// saveFirst, set for the pipeline's sink, makes an ingest node save
	// the vehicle's state in the cluster before the transitions reach the
	// regulator (see saveVehicleState).
	saveFirst bool
}

// excerptFixes is how many recent fixes travel with a forwarded deviation.
const excerptFixes = 10

func (d *deviationSink) HandleDeviations(terminal string, ds []model.Deviation) {
	s := d.s
	switch {
	case len(ds) == 0:
	case d.saveFirst:
		s.saveVehicleState(terminal)
	default:
		s.noteDeviation(terminal)
	}
	for _, dev := range ds {
		s.deviations.observe(dev)
		if err := s.store.PutDeviation(dev); err != nil {
			s.log.Error("deviation not stored", "vehicle_id", terminal, "deviation_id", dev.ID, "err", err)
		}
		s.publishDeviation(dev)
		var trip *model.Trip
		if dev.TripID != "" {
			if t, ok, err := s.store.Trip(dev.TripID); err == nil && ok {
				trip = &t
			}
		}
		excerpt, err := s.store.LastFixes(terminal, excerptFixes)
		if err != nil {
			s.log.Warn("track excerpt not loaded", "vehicle_id", terminal, "err", err)
		}
		bookings := s.bookings(trip)
		msg, err := forwarder.DeviationMessage(dev, s.registry.vehicle(terminal), tripWithBookings(trip, bookings), bookings, excerpt)
		if err == nil {
			err = s.forwarder.Enqueue(msg)
		}
		if err != nil {
			s.log.Error("deviation not queued for the regulator", "vehicle_id", terminal, "deviation_id", dev.ID, "err", err)
			continue
		}
		s.log.Info("deviation "+dev.State.String(), "vehicle_id", terminal, "kind", dev.Kind.String(), "deviation_id", dev.ID, "trip_id", dev.TripID, "late", dev.Late)
	}
}

// apiHooks applies API changes to the running components.
type apiHooks struct {
	s *Server
}

func (h *apiHooks) VehicleRegistered(v model.Vehicle) { h.s.registry.put(v) }

func (h *apiHooks) ZonesChanged() {
	if err := h.s.reloadZones(); err != nil {
		h.s.log.Error("zones not reloaded", "err", err)
	}
}

func (h *apiHooks) TripCreated(t model.Trip) error {
	s := h.s
	closed, err := s.engine.SetTrip(t.Terminal, &t, time.Now())
	if err != nil {
		return fmt.Errorf("activate trip route: %w", err)
	}
	(&deviationSink{s: s}).HandleDeviations(t.Terminal, closed)
	return s.forwardTrip(forwarder.TripEventDispatched, t, nil, t.CreatedAt)
}

func (h *apiHooks) TripCompleted(t model.Trip) error {
	s := h.s
	closed, err := s.engine.SetTrip(t.Terminal, &t, t.CompletedAt)
	if err != nil {
		return fmt.Errorf("close trip route: %w", err)
	}
	(&deviationSink{s: s}).HandleDeviations(t.Terminal, closed)
	s.videoLoss.tripEnded(t)
	return errors.Join(s.forwardTrip(forwarder.TripEventCompleted, t, nil, t.CompletedAt))
}
