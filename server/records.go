package server

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hwtrack/hwtrack/api"
	"github.com/hwtrack/hwtrack/model"
)

// The kinds of records ingest nodes share, so the owner of a vehicle has
// its plate, trips, bookings and the zones, whichever node's API created
// them.
const (
	recordVehicle = "vehicle"
	recordTrip    = "trip"
	recordBooking = "booking"
	recordZone    = "zone"
)

// sharedStore is the API's store in external mode: each write is stored
// here and then shared with the other nodes of the group.
type sharedStore struct {
	api.Store
	s *Server
}

var (
	_ api.Store         = sharedStore{}
	_ api.BookingLister = sharedStore{}
)

// withSharing wraps the store the API writes to, in external mode, so its
// writes reach the other nodes.
func (s *Server) withSharing(base api.Store) api.Store {
	if s.clusterNode() == nil {
		return base
	}
	return sharedStore{Store: base, s: s}
}

// Bookings lists every booking for GET /api/v1/bookings.
func (st sharedStore) Bookings() ([]model.Booking, error) { return st.s.store.Bookings() }

func (st sharedStore) PutVehicle(v model.Vehicle) error {
	if err := st.Store.PutVehicle(v); err != nil {
		return err
	}
	st.s.share(recordVehicle, v.Terminal, v)
	return nil
}

func (st sharedStore) PutBooking(b model.Booking) error {
	if err := st.Store.PutBooking(b); err != nil {
		return err
	}
	st.s.share(recordBooking, b.ID, b)
	return nil
}

func (st sharedStore) PutTrip(t model.Trip) error {
	if err := st.Store.PutTrip(t); err != nil {
		return err
	}
	st.s.share(recordTrip, t.ID, t)
	return nil
}

func (st sharedStore) PutZone(z model.Zone) error {
	if err := st.Store.PutZone(z); err != nil {
		return err
	}
	st.s.share(recordZone, z.ID, z)
	return nil
}

func (st sharedStore) DeleteZone(id string) (bool, error) {
	found, err := st.Store.DeleteZone(id)
	if err != nil || !found {
		return found, err
	}
	st.s.share(recordZone, id, nil)
	return true, nil
}

// share sends a record to the other nodes; nil v deletes it. A failure is
// logged and counted by the node but does not fail the API request, whose
// change is stored here already.
func (s *Server) share(kind, id string, v any) {
	var data []byte
	if v != nil {
		var err error
		if data, err = json.Marshal(v); err != nil {
			s.log.Error("record not encoded for the other nodes", "kind", kind, "id", id, "err", err)
			return
		}
	}
	if err := s.clusterNode().ShareRecord(kind, id, data); err != nil {
		s.log.Error("record not shared; the other nodes lack this change", "kind", kind, "id", id, "err", err)
	}
}

// applyRecord stores a record another node shared and updates the running
// components as the API hooks do for a local change. Trip lifecycle
// records are the exception: the node whose API took the change forwards
// them.
func (s *Server) applyRecord(kind, id string, data []byte) {
	if err := s.applyRecordErr(kind, id, data); err != nil {
		s.log.Error("shared record not applied", "kind", kind, "id", id, "err", err)
	}
}

func (s *Server) applyRecordErr(kind, id string, data []byte) error {
	switch kind {
	case recordVehicle:
		var v model.Vehicle
		if err := json.Unmarshal(data, &v); err != nil {
			return err
		}
		if err := s.store.PutVehicle(v); err != nil {
			return err
		}
		s.registry.put(v)
	case recordBooking:
		var b model.Booking
		if err := json.Unmarshal(data, &b); err != nil {
			return err
		}
		return s.store.PutBooking(b)
	case recordTrip:
		var t model.Trip
		if err := json.Unmarshal(data, &t); err != nil {
			return err
		}
		if err := s.store.PutTrip(t); err != nil {
			return err
		}
		return s.applyTrip(t)
	case recordZone:
		if data == nil {
			if _, err := s.store.DeleteZone(id); err != nil {
				return err
			}
		} else {
			var z model.Zone
			if err := json.Unmarshal(data, &z); err != nil {
				return err
			}
			if err := s.store.PutZone(z); err != nil {
				return err
			}
		}
		return s.reloadZones()
	default:
		return fmt.Errorf("unknown record kind %q", kind)
	}
	return nil
}

// applyTrip gives the engine the vehicle's current trip after a trip record
// arrived: the latest one not completed, or none. Records can arrive in any
// order across trips, so the engine follows the stored trips, not the
// record.
func (s *Server) applyTrip(changed model.Trip) error {
	trips, err := s.store.TripsForVehicle(changed.Terminal)
	if err != nil {
		return fmt.Errorf("load trips of %s: %w", changed.Terminal, err)
	}
	var current *model.Trip
	for i := range trips {
		t := &trips[i]
		if t.State != model.TripCompleted && (current == nil || t.PlannedStart.After(current.PlannedStart)) {
			current = t
		}
	}
	var closed []model.Deviation
	switch {
	case current != nil:
		closed, err = s.engine.SetTrip(changed.Terminal, current, time.Now())
	case changed.State == model.TripCompleted:
		closed, err = s.engine.SetTrip(changed.Terminal, &changed, changed.CompletedAt)
	}
	if err != nil {
		return fmt.Errorf("activate trip %s: %w", changed.ID, err)
	}
	(&deviationSink{s: s}).HandleDeviations(changed.Terminal, closed)
	return nil
}
