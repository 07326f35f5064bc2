package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

const (
	// minCorridorM and maxCorridorM bound the full corridor width in
	// metres. Narrower corridors raise deviations from GNSS noise alone.
	minCorridorM = 20
	maxCorridorM = 5000
	// maxFieldProblems caps per-position errors in one response, so a
	// route of thousands of swapped positions does not produce thousands of
	// entries.
	maxFieldProblems = 10
)

type tripRequest struct {
	Terminal string          `json:"terminal"`
	Driver   string          `json:"driver"`
	Escort   string          `json:"escort"`
	Route    json.RawMessage `json:"route"`
	// CRS is the datum of the route: wgs84 (the default), gcj02 or bd09.
	CRS       string               `json:"crs"`
	CorridorM float64              `json:"corridor_m"`
	Segments  []model.RouteSegment `json:"segments"`
	Bookings  []string             `json:"bookings"`
	// CameraRequired is optional and false when absent.
	CameraRequired bool   `json:"camera_required"`
	PlannedStart   string `json:"planned_start"`
	PlannedEnd     string `json:"planned_end"`
}

// lineString is a GeoJSON LineString geometry (RFC 7946, section 3.1.4).
type lineString struct {
	Type        string      `json:"type"`
	Coordinates [][]float64 `json:"coordinates"`
	BBox        []float64   `json:"bbox,omitempty"`
}

// tripView is a trip with its bookings expanded into booking objects.
type tripView struct {
	model.Trip
	Bookings []model.Booking `json:"bookings"`
}

type tripList struct {
	Trips []model.Trip `json:"trips"`
}

func (s *server) createTrip(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxBodyBytes)
	if err != nil {
		return err
	}
	var req tripRequest
	if err := decodeStrict(body, &req, ""); err != nil {
		return err
	}

	var problems model.ValidationError
	if reason := checkTerminal(req.Terminal); reason != "" {
		problems.Add("terminal", reason)
	}
	checkText(&problems, "driver", req.Driver, maxLabelRunes, true)
	checkText(&problems, "escort", req.Escort, maxLabelRunes, true)
	crs := parseTripCRS(req.CRS, &problems)
	route := parseRoute(req.Route, crs, &problems)
	if req.CorridorM < minCorridorM || req.CorridorM > maxCorridorM {
		problems.Add("corridor_m", fmt.Sprintf("must be the full corridor width from %d to %d metres", minCorridorM, maxCorridorM))
	}
	checkSegments(&problems, req.Segments, route)
	start := parseTimeField(&problems, "planned_start", req.PlannedStart)
	end := parseTimeField(&problems, "planned_end", req.PlannedEnd)
	if !start.IsZero() && !end.IsZero() && !start.Before(end) {
		problems.Add("planned_end", "must be after planned_start")
	}
	if err := s.checkTripReferences(req, &problems); err != nil {
		return err
	}
	if problems.Err() != nil {
		return errInvalidInput(problems.Fields)
	}

	now := s.now()
	trip := model.Trip{
		ID:             s.ids.New(prefixTrip, now),
		Terminal:       req.Terminal,
		Driver:         req.Driver,
		Escort:         req.Escort,
		Route:          route,
		CorridorM:      req.CorridorM,
		Segments:       req.Segments,
		Bookings:       req.Bookings,
		CameraRequired: req.CameraRequired,
		PlannedStart:   start.UTC(),
		PlannedEnd:     end.UTC(),
		State:          model.TripDispatched,
		CreatedAt:      now.UTC(),
	}
	if trip.Bookings == nil {
		trip.Bookings = []string{}
	}

	s.tripMu.Lock()
	defer s.tripMu.Unlock()

	if err := s.checkTripOverlap(trip, now); err != nil {
		return err
	}
	if err := s.store.PutTrip(trip); err != nil {
		return fmt.Errorf("store trip %s: %w", trip.ID, err)
	}
	log := s.log.With("trip_id", trip.ID, "vehicle_id", trip.Terminal)
	log.Info("trip created", "bookings", len(trip.Bookings))

	if err := s.hooks.TripCreated(trip); err != nil {
		return fmt.Errorf("trip %s is stored but notifying the rules engine and forwarder failed: %w", trip.ID, err)
	}

	setAudit(r, trip.ID, "vehicle "+trip.Terminal)
	writeJSON(w, http.StatusCreated, idResponse{ID: trip.ID})
	return nil
}

// checkTripReferences records problems with the vehicle and bookings that a
// trip names. It returns an error only when the store fails.
func (s *server) checkTripReferences(req tripRequest, problems *model.ValidationError) error {
	if checkTerminal(req.Terminal) == "" {
		_, found, err := s.store.Vehicle(req.Terminal)
		if err != nil {
			return fmt.Errorf("look up vehicle %q: %w", req.Terminal, err)
		}
		if !found {
			problems.Add("terminal", fmt.Sprintf("vehicle %q is not registered; register it with POST /api/v1/vehicles first", req.Terminal))
		}
	}

	seen := make(map[string]int, len(req.Bookings))
	for i, id := range req.Bookings {
		field := fmt.Sprintf("bookings[%d]", i)
		if first, dup := seen[id]; dup {
			problems.Add(field, fmt.Sprintf("duplicates bookings[%d]", first))
			continue
		}
		seen[id] = i
		_, found, err := s.store.Booking(id)
		if err != nil {
			return fmt.Errorf("look up booking %q: %w", id, err)
		}
		if !found {
			problems.Add(field, fmt.Sprintf("booking %q not found", id))
		}
	}
	return nil
}

// checkTripOverlap returns a conflict when the vehicle has another trip that
// is not completed and whose time overlaps trip's planned time. A trip that
// runs past its planned end is taken to last until now, because it stays
// active until it is completed.
func (s *server) checkTripOverlap(trip model.Trip, now time.Time) error {
	existing, err := s.store.TripsForVehicle(trip.Terminal)
	if err != nil {
		return fmt.Errorf("list trips of vehicle %q: %w", trip.Terminal, err)
	}
	for _, other := range existing {
		if other.State == model.TripCompleted {
			continue
		}
		otherEnd := other.PlannedEnd
		if now.After(otherEnd) {
			otherEnd = now
		}
		if trip.PlannedStart.Before(otherEnd) && other.PlannedStart.Before(trip.PlannedEnd) {
			return errConflict(
				fmt.Sprintf("vehicle %q already has trip %s planned from %s to %s; complete it or choose another time",
					trip.Terminal, other.ID, other.PlannedStart.UTC().Format(time.RFC3339), otherEnd.UTC().Format(time.RFC3339)),
				model.FieldError{Field: "planned_start", Reason: "overlaps trip " + other.ID})
		}
	}
	return nil
}

func parseTimeField(problems *model.ValidationError, field, raw string) time.Time {
	if raw == "" {
		problems.Add(field, "is required")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		problems.Add(field, "must be an RFC 3339 time such as 2026-12-04T09:30:00+08:00")
		return time.Time{}
	}
	return t
}

// parseTripCRS reads the datum a route was drawn in. An empty value means
// WGS-84.
func parseTripCRS(raw string, problems *model.ValidationError) geofence.CRS {
	if raw == "" {
		return geofence.CRSWGS84
	}
	crs, err := geofence.ParseCRS(raw)
	if err != nil {
		problems.Add("crs", err.Error())
		return geofence.CRSWGS84
	}
	return crs
}

// parseRoute validates a GeoJSON LineString drawn in crs and returns it
// converted to WGS-84 and re-encoded without its bbox, or nil after
// recording the problems. Checks run on the positions as sent, so the
// messages quote the client's numbers.
func parseRoute(raw json.RawMessage, crs geofence.CRS, problems *model.ValidationError) json.RawMessage {
	if len(raw) == 0 || string(raw) == "null" {
		problems.Add("route", `is required: a GeoJSON LineString such as {"type":"LineString","coordinates":[[120.04,28.89],[120.05,28.88]]}`)
		return nil
	}
	var line lineString
	if err := decodeStrict(raw, &line, "route."); err != nil {
		if apiErr, ok := err.(*apiError); ok && len(apiErr.Fields) > 0 {
			problems.Fields = append(problems.Fields, apiErr.Fields...)
		} else {
			problems.Add("route", "must be a GeoJSON LineString object")
		}
		return nil
	}
	before := len(problems.Fields)
	if line.Type != "LineString" {
		problems.Add("route.type", fmt.Sprintf(`must be "LineString", not %q`, line.Type))
	}
	if len(line.Coordinates) < 2 {
		problems.Add("route.coordinates", "must have at least 2 positions")
	}

	invalid := 0
	distinct := false
	for i, position := range line.Coordinates {
		reason := checkPosition(position)
		if reason != "" {
			invalid++
			if invalid <= maxFieldProblems {
				problems.Add(fmt.Sprintf("route.coordinates[%d]", i), reason)
			}
			continue
		}
		if i > 0 && len(line.Coordinates[0]) >= 2 && (position[0] != line.Coordinates[0][0] || position[1] != line.Coordinates[0][1]) {
			distinct = true
		}
		if i > 0 && checkPosition(line.Coordinates[i-1]) == "" {
			if reason := geofence.LongitudeSpanReason("segment", line.Coordinates[i-1][0], position[0]); reason != "" {
				invalid++
				if invalid <= maxFieldProblems {
					problems.Add(fmt.Sprintf("route.coordinates[%d]", i), reason)
				}
			}
		}
	}
	if invalid > maxFieldProblems {
		problems.Add("route.coordinates", fmt.Sprintf("%d more positions are invalid", invalid-maxFieldProblems))
	}
	if invalid == 0 && len(line.Coordinates) >= 2 && !distinct {
		problems.Add("route.coordinates", "must contain at least 2 different positions")
	}
	if len(problems.Fields) > before {
		return nil
	}

	line.BBox = nil
	for _, position := range line.Coordinates {
		position[1], position[0] = geofence.ToWGS84(crs, position[1], position[0])
	}
	encoded, err := json.Marshal(line)
	if err != nil {
		problems.Add("route", "cannot be encoded: "+err.Error())
		return nil
	}
	return encoded
}

// checkPosition returns why a GeoJSON position is not a valid WGS-84
// [lon, lat] or [lon, lat, alt], or "".
func checkPosition(position []float64) string {
	if len(position) != 2 && len(position) != 3 {
		return "must be [lon, lat] or [lon, lat, alt]"
	}
	lon, lat := position[0], position[1]
	if lat < -90 || lat > 90 {
		if lon >= -90 && lon <= 90 && lat >= -180 && lat <= 180 {
			return fmt.Sprintf("latitude %g is out of range; GeoJSON positions are [lon, lat] and this one looks swapped", lat)
		}
		return fmt.Sprintf("latitude %g is out of range [-90, 90]", lat)
	}
	if lon < -180 || lon > 180 {
		return fmt.Sprintf("longitude %g is out of range [-180, 180]", lon)
	}
	return ""
}

func (s *server) listTrips(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query()
	if err := rejectUnknownParams(query, "terminal", "state"); err != nil {
		return err
	}
	terminal := query.Get("terminal")
	var problems model.ValidationError
	if terminal != "" {
		if reason := checkTerminal(terminal); reason != "" {
			problems.Add("terminal", reason)
		}
	}
	state := model.TripUnknown
	switch raw := query.Get("state"); raw {
	case "":
	case "dispatched":
		state = model.TripDispatched
	case "completed":
		state = model.TripCompleted
	default:
		problems.Add("state", fmt.Sprintf("unknown trip state %q; allowed: dispatched, completed", raw))
	}
	if problems.Err() != nil {
		return errInvalidQuery(problems.Fields)
	}

	var trips []model.Trip
	var err error
	if terminal != "" {
		trips, err = s.store.TripsForVehicle(terminal)
	} else {
		trips, err = s.store.Trips()
	}
	if err != nil {
		return fmt.Errorf("list trips: %w", err)
	}

	out := tripList{Trips: make([]model.Trip, 0, len(trips))}
	for _, trip := range trips {
		if state == model.TripUnknown || trip.State == state {
			out.Trips = append(out.Trips, trip)
		}
	}
	slices.SortFunc(out.Trips, func(a, b model.Trip) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) getTrip(w http.ResponseWriter, r *http.Request) error {
	trip, err := s.lookUpTrip(r.PathValue("id"))
	if err != nil {
		return err
	}
	view, err := s.expandTrip(trip)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

// completeTrip ends a dispatched trip. Completing a trip twice is a
// conflict, so a retried request cannot send a second "completed" record.
func (s *server) completeTrip(w http.ResponseWriter, r *http.Request) error {
	s.tripMu.Lock()
	defer s.tripMu.Unlock()

	trip, err := s.lookUpTrip(r.PathValue("id"))
	if err != nil {
		return err
	}
	if trip.State == model.TripCompleted {
		return errConflict(fmt.Sprintf("trip %s was already completed at %s", trip.ID, trip.CompletedAt.UTC().Format(time.RFC3339)))
	}

	trip.State = model.TripCompleted
	trip.CompletedAt = s.now().UTC()
	if err := s.store.PutTrip(trip); err != nil {
		return fmt.Errorf("store completed trip %s: %w", trip.ID, err)
	}
	log := s.log.With("trip_id", trip.ID, "vehicle_id", trip.Terminal)
	log.Info("trip completed")

	if err := s.hooks.TripCompleted(trip); err != nil {
		return fmt.Errorf("trip %s is stored as completed but notifying the rules engine and forwarder failed: %w", trip.ID, err)
	}

	view, err := s.expandTrip(trip)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (s *server) lookUpTrip(id string) (model.Trip, error) {
	trip, found, err := s.store.Trip(id)
	if err != nil {
		return model.Trip{}, fmt.Errorf("look up trip %q: %w", id, err)
	}
	if !found {
		return model.Trip{}, errNotFound(fmt.Sprintf("trip %q not found", id))
	}
	return trip, nil
}

// expandTrip replaces the trip's booking IDs with the bookings. A booking
// that is no longer stored is returned with only its ID and logged.
func (s *server) expandTrip(trip model.Trip) (tripView, error) {
	view := tripView{Trip: trip, Bookings: make([]model.Booking, 0, len(trip.Bookings))}
	for _, id := range trip.Bookings {
		booking, found, err := s.store.Booking(id)
		if err != nil {
			return tripView{}, fmt.Errorf("look up booking %q of trip %s: %w", id, trip.ID, err)
		}
		if !found {
			s.log.Warn("trip refers to a missing booking", "trip_id", trip.ID, "booking_id", id)
			booking = model.Booking{ID: id}
		}
		view.Bookings = append(view.Bookings, booking)
	}
	return view, nil
}
