package storage

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hwtrack/hwtrack/model"
)

// putJSON stores v as JSON under key.
func (s *Store) putJSON(what string, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", what, err)
	}
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	if err := s.db.Set(key, data, pebble.NoSync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return fmt.Errorf("store %s: %w", what, err)
	}
	return nil
}

// getJSONLocked loads the JSON value under key into v. The caller holds
// closeMu.
func (s *Store) getJSONLocked(what string, key []byte, v any) (bool, error) {
	data, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", what, err)
	}
	defer closer.Close()
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("decode %s %q: %w", what, key, err)
	}
	return true, nil
}

func (s *Store) getJSON(what string, key []byte, v any) (bool, error) {
	if err := s.rlock(); err != nil {
		return false, err
	}
	defer s.closeMu.RUnlock()
	return s.getJSONLocked(what, key, v)
}

// scanJSON decodes every value whose key starts with prefix, in key order.
func scanJSON[T any](s *Store, what, prefix string) ([]T, error) {
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()

	p := []byte(prefix)
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, fmt.Errorf("open %s iterator: %w", what, err)
	}
	defer iter.Close()

	var out []T
	for valid := iter.First(); valid; valid = iter.Next() {
		data, err := iter.ValueAndErr()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		var v T
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, fmt.Errorf("decode %s %q: %w", what, iter.Key(), err)
		}
		out = append(out, v)
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("scan %s: %w", what, err)
	}
	return out, nil
}

// PutVehicle inserts or replaces the vehicle with v.Terminal.
func (s *Store) PutVehicle(v model.Vehicle) error {
	if err := validateID("terminal", v.Terminal); err != nil {
		return err
	}
	return s.putJSON("vehicle", makeKey(prefixVehicle, v.Terminal), v)
}

// Vehicle returns the vehicle with terminal id terminal.
func (s *Store) Vehicle(terminal string) (model.Vehicle, bool, error) {
	var v model.Vehicle
	ok, err := s.getJSON("vehicle", makeKey(prefixVehicle, terminal), &v)
	return v, ok, err
}

// Vehicles returns every vehicle sorted by terminal id (byte order).
func (s *Store) Vehicles() ([]model.Vehicle, error) {
	return scanJSON[model.Vehicle](s, "vehicle", prefixVehicle)
}

// PutZone inserts or replaces the zone with z.ID.
func (s *Store) PutZone(z model.Zone) error {
	if err := validateID("zone id", z.ID); err != nil {
		return err
	}
	return s.putJSON("zone", makeKey(prefixZone, z.ID), z)
}

// Zone returns the zone with id.
func (s *Store) Zone(id string) (model.Zone, bool, error) {
	var z model.Zone
	ok, err := s.getJSON("zone", makeKey(prefixZone, id), &z)
	return z, ok, err
}

// Zones returns every zone sorted by id.
func (s *Store) Zones() ([]model.Zone, error) {
	return scanJSON[model.Zone](s, "zone", prefixZone)
}

// DeleteZone removes the zone with id and reports whether it existed.
func (s *Store) DeleteZone(id string) (bool, error) {
	if err := s.rlock(); err != nil {
		return false, err
	}
	defer s.closeMu.RUnlock()
	s.entityMu.Lock()
	defer s.entityMu.Unlock()

	key := makeKey(prefixZone, id)
	ok, err := s.exists(key)
	if err != nil || !ok {
		return false, err
	}
	if err := s.db.Delete(key, pebble.NoSync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return false, fmt.Errorf("delete zone %q: %w", id, err)
	}
	return true, nil
}

// PutBooking inserts or replaces the booking with b.ID.
func (s *Store) PutBooking(b model.Booking) error {
	if err := validateID("booking id", b.ID); err != nil {
		return err
	}
	return s.putJSON("booking", makeKey(prefixBooking, b.ID), b)
}

// Bookings returns every booking sorted by id.
func (s *Store) Bookings() ([]model.Booking, error) {
	return scanJSON[model.Booking](s, "booking", prefixBooking)
}

// Booking returns the booking with id.
func (s *Store) Booking(id string) (model.Booking, bool, error) {
	var b model.Booking
	ok, err := s.getJSON("booking", makeKey(prefixBooking, id), &b)
	return b, ok, err
}

func tripByVehicleKey(terminal, id string) []byte {
	return append(terminalPrefix(prefixTripByVehicle, terminal), id...)
}

// PutTrip inserts or replaces the trip with t.ID and keeps the by-vehicle
// index in step when the trip moves to another vehicle.
func (s *Store) PutTrip(t model.Trip) error {
	var verr model.ValidationError
	if err := validateID("trip id", t.ID); err != nil {
		verr.Add("id", err.Error())
	}
	if err := validateID("terminal", t.Terminal); err != nil {
		verr.Add("terminal", err.Error())
	}
	if err := verr.Err(); err != nil {
		return err
	}
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encode trip %q: %w", t.ID, err)
	}

	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	s.entityMu.Lock()
	defer s.entityMu.Unlock()

	key := makeKey(prefixTrip, t.ID)
	var old model.Trip
	found, err := s.getJSONLocked("trip", key, &old)
	if err != nil {
		return err
	}

	b := s.db.NewBatch()
	defer b.Close()
	if found && old.Terminal != t.Terminal {
		_ = b.Delete(tripByVehicleKey(old.Terminal, t.ID), nil)
	}
	_ = b.Set(key, data, nil)
	_ = b.Set(tripByVehicleKey(t.Terminal, t.ID), nil, nil)
	if err := b.Commit(pebble.NoSync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return fmt.Errorf("store trip %q: %w", t.ID, err)
	}
	return nil
}

// Trip returns the trip with id.
func (s *Store) Trip(id string) (model.Trip, bool, error) {
	var t model.Trip
	ok, err := s.getJSON("trip", makeKey(prefixTrip, id), &t)
	return t, ok, err
}

// Trips returns every trip sorted by id.
func (s *Store) Trips() ([]model.Trip, error) {
	return scanJSON[model.Trip](s, "trip", prefixTrip)
}

// TripsForVehicle returns the trips of terminal sorted by trip id.
func (s *Store) TripsForVehicle(terminal string) ([]model.Trip, error) {
	if err := validateID("terminal", terminal); err != nil {
		return nil, err
	}
	if err := s.rlock(); err != nil {
		return nil, err
	}
	defer s.closeMu.RUnlock()

	prefix := terminalPrefix(prefixTripByVehicle, terminal)
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("open trip index iterator: %w", err)
	}
	defer iter.Close()

	var out []model.Trip
	for valid := iter.First(); valid; valid = iter.Next() {
		id := string(iter.Key()[len(prefix):])
		var t model.Trip
		found, err := s.getJSONLocked("trip", makeKey(prefixTrip, id), &t)
		if err != nil {
			return nil, err
		}
		if found {
			out = append(out, t)
		}
	}
	if err := iter.Error(); err != nil {
		return nil, fmt.Errorf("scan trips of %s: %w", terminal, err)
	}
	return out, nil
}

// PutState stores an opaque blob for another component under key.
func (s *Store) PutState(key string, value []byte) error {
	if key == "" {
		return errors.New("invalid state key: empty")
	}
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	if err := s.db.Set(makeKey(prefixState, key), value, pebble.NoSync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return fmt.Errorf("store state %q: %w", key, err)
	}
	return nil
}

// State returns a copy of the blob stored under key.
func (s *Store) State(key string) ([]byte, bool, error) {
	if err := s.rlock(); err != nil {
		return nil, false, err
	}
	defer s.closeMu.RUnlock()
	v, closer, err := s.db.Get(makeKey(prefixState, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read state %q: %w", key, err)
	}
	defer closer.Close()
	return append([]byte{}, v...), true, nil
}

// DeleteState removes the blob under key. A missing key is not an error.
func (s *Store) DeleteState(key string) error {
	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	if err := s.db.Delete(makeKey(prefixState, key), pebble.NoSync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return fmt.Errorf("delete state %q: %w", key, err)
	}
	return nil
}
