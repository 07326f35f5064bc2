package api

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hwtrack/hwtrack/model"
)

const (
	// maxBulkVehicles is the maximum number of vehicles in one registration.
	maxBulkVehicles = 10_000
	// minPasswordChars is the shortest vehicle password accepted. Vehicle
	// passwords are machine secrets checked with a fast keyed hash, so they
	// must be long enough to resist guessing on their own.
	minPasswordChars = 16
	// maxPasswordBytes bounds what is hashed per request and per MQTT
	// connect.
	maxPasswordBytes = 256
	// generatedPasswordChars is the length of a server-generated password:
	// 32 characters from 62 give about 190 bits.
	generatedPasswordChars = 32
	maxTerminalChars       = 64
	maxPlateRunes          = 16
)

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

type vehicleRequest struct {
	Terminal string `json:"terminal"`
	Plate    string `json:"plate"`
	// Password is nil when the client wants the server to generate one.
	Password *string `json:"password"`
}

type registeredVehicle struct {
	Terminal string `json:"terminal"`
	Plate    string `json:"plate"`
	// Password is set only when the server generated it. This response is
	// the only place it is ever shown.
	Password string `json:"password,omitempty"`
}

type registeredVehicles struct {
	Vehicles []registeredVehicle `json:"vehicles"`
}

// vehicleView is a vehicle as the API lists it. It never contains the
// password hash.
type vehicleView struct {
	Terminal  string     `json:"terminal"`
	Plate     string     `json:"plate"`
	Online    bool       `json:"online"`
	LastFix   *model.Fix `json:"last_fix"`
	TripID    string     `json:"trip_id"`
	CreatedAt time.Time  `json:"created_at"`
}

type vehicleList struct {
	Vehicles []vehicleView `json:"vehicles"`
}

// createVehicles registers one vehicle (a JSON object) or many (a JSON
// array). It validates every element and checks every terminal for
// conflicts before it writes anything.
func (s *server) createVehicles(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxVehicleBodyBytes)
	if err != nil {
		return err
	}
	requests, bulk, err := decodeVehicleRequests(body)
	if err != nil {
		return err
	}

	var problems model.ValidationError
	seen := make(map[string]int, len(requests))
	for i, req := range requests {
		prefix := elementPrefix(bulk, i)
		validateVehicle(req, prefix, &problems)
		if first, dup := seen[req.Terminal]; dup && req.Terminal != "" {
			problems.Add(prefix+"terminal", fmt.Sprintf("duplicates element %d of this request", first))
		} else {
			seen[req.Terminal] = i
		}
	}
	if problems.Err() != nil {
		return errInvalidInput(problems.Fields)
	}

	vehicles, response, err := s.buildVehicles(requests)
	if err != nil {
		return err
	}

	s.vehicleMu.Lock()
	defer s.vehicleMu.Unlock()

	var conflicts []model.FieldError
	for i, v := range vehicles {
		_, exists, err := s.store.Vehicle(v.Terminal)
		if err != nil {
			return fmt.Errorf("look up vehicle %q: %w", v.Terminal, err)
		}
		if exists {
			conflicts = append(conflicts, model.FieldError{Field: elementPrefix(bulk, i) + "terminal", Reason: fmt.Sprintf("terminal %q is already registered", v.Terminal)})
		}
	}
	switch len(conflicts) {
	case 0:
	case 1:
		return errConflict(conflicts[0].Reason+"; nothing was written", conflicts...)
	default:
		message := fmt.Sprintf("%d terminals are already registered, first %s; nothing was written", len(conflicts), conflicts[0].Field)
		return errConflict(message, conflicts...)
	}

	// NOTE: Store has no batch write, so a storage failure part way through
	// a bulk request leaves the vehicles before it registered.
	for _, v := range vehicles {
		if err := s.store.PutVehicle(v); err != nil {
			return fmt.Errorf("store vehicle %q: %w", v.Terminal, err)
		}
		s.hooks.VehicleRegistered(v)
	}
	setAudit(r, vehicles[0].Terminal, fmt.Sprintf("%d vehicles", len(vehicles)))
	if len(vehicles) == 1 {
		s.log.Info("vehicle registered", "vehicle_id", vehicles[0].Terminal)
	} else {
		s.log.Info("vehicles registered", "count", len(vehicles), "first_vehicle_id", vehicles[0].Terminal)
	}

	writeJSON(w, http.StatusCreated, response)
	return nil
}

// decodeVehicleRequests accepts one object or an array of up to
// maxBulkVehicles objects; bulk reports which one it got. Array elements are
// decoded one by one so that errors name the element index.
func decodeVehicleRequests(body []byte) (requests []vehicleRequest, bulk bool, err error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if trimmed[0] != '[' {
		var req vehicleRequest
		if err := decodeStrict(body, &req, ""); err != nil {
			return nil, false, err
		}
		return []vehicleRequest{req}, false, nil
	}

	var elements []json.RawMessage
	if err := decodeStrict(body, &elements, ""); err != nil {
		return nil, true, err
	}
	if len(elements) == 0 {
		return nil, true, errInvalidInput([]model.FieldError{{Field: "(body)", Reason: "array is empty; send at least one vehicle"}})
	}
	if len(elements) > maxBulkVehicles {
		return nil, true, &apiError{
			Status:  http.StatusRequestEntityTooLarge,
			Code:    codeTooLarge,
			Message: fmt.Sprintf("request has %d vehicles; at most %d are accepted per request", len(elements), maxBulkVehicles),
		}
	}

	requests = make([]vehicleRequest, len(elements))
	for i, element := range elements {
		if err := decodeStrict(element, &requests[i], elementPrefix(true, i)); err != nil {
			return nil, true, err
		}
	}
	return requests, true, nil
}

// elementPrefix returns the field path prefix of element i of a bulk
// request, such as "[3].", and "" for a single object.
func elementPrefix(bulk bool, i int) string {
	if !bulk {
		return ""
	}
	return fmt.Sprintf("[%d].", i)
}

func validateVehicle(req vehicleRequest, prefix string, problems *model.ValidationError) {
	if reason := checkTerminal(req.Terminal); reason != "" {
		problems.Add(prefix+"terminal", reason)
	}

	switch plate := req.Plate; {
	case strings.TrimSpace(plate) == "":
		problems.Add(prefix+"plate", "is required, for example 浙G·A1234")
	case utf8.RuneCountInString(plate) > maxPlateRunes:
		problems.Add(prefix+"plate", fmt.Sprintf("must be at most %d characters", maxPlateRunes))
	case strings.TrimSpace(plate) != plate:
		problems.Add(prefix+"plate", "must not start or end with white space")
	case strings.ContainsFunc(plate, unicode.IsControl):
		problems.Add(prefix+"plate", "must not contain control characters")
	}

	if req.Password != nil {
		switch password := *req.Password; {
		case utf8.RuneCountInString(password) < minPasswordChars:
			problems.Add(prefix+"password", fmt.Sprintf("must be at least %d characters, or omitted to have the server generate one", minPasswordChars))
		case len(password) > maxPasswordBytes:
			problems.Add(prefix+"password", fmt.Sprintf("must be at most %d bytes", maxPasswordBytes))
		}
	}
}

// checkTerminal returns why terminal is not a valid terminal id, or "".
// Terminal ids are MQTT usernames and topic levels, so they are restricted
// to ASCII letters, digits, '_' and '-'.
func checkTerminal(terminal string) string {
	if terminal == "" {
		return "is required"
	}
	if len(terminal) > maxTerminalChars {
		return fmt.Sprintf("must be at most %d characters", maxTerminalChars)
	}
	for _, c := range []byte(terminal) {
		if !isTerminalByte(c) {
			return "may contain only ASCII letters, digits, '_' and '-'"
		}
	}
	return ""
}

func isTerminalByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// buildVehicles turns validated requests into vehicles with hashed
// passwords, generating the passwords that were omitted.
func (s *server) buildVehicles(requests []vehicleRequest) ([]model.Vehicle, registeredVehicles, error) {
	now := s.now().UTC()
	vehicles := make([]model.Vehicle, len(requests))
	response := registeredVehicles{Vehicles: make([]registeredVehicle, len(requests))}

	for i, req := range requests {
		password := ""
		generated := req.Password == nil
		if generated {
			password = generatePassword()
		} else {
			password = *req.Password
		}

		vehicles[i] = model.Vehicle{
			Terminal:   req.Terminal,
			Plate:      req.Plate,
			SecretHash: s.hashSecret(password),
			CreatedAt:  now,
		}
		if len(vehicles[i].SecretHash) == 0 {
			return nil, registeredVehicles{}, fmt.Errorf("hash password of vehicle %q: HashSecret returned an empty hash", req.Terminal)
		}
		response.Vehicles[i] = registeredVehicle{Terminal: req.Terminal, Plate: req.Plate}
		if generated {
			response.Vehicles[i].Password = password
		}
	}
	return vehicles, response, nil
}

// generatePassword returns generatedPasswordChars characters drawn
// uniformly from passwordAlphabet with crypto/rand.
func generatePassword() string {
	out := make([]byte, 0, generatedPasswordChars)
	var buf [64]byte
	for len(out) < generatedPasswordChars {
		// crypto/rand.Read never returns an error (Go 1.24 and later).
		_, _ = rand.Read(buf[:])
		for _, b := range buf {
			// Rejection sampling: 248 is the largest multiple of 62 that
			// fits in a byte, so accepted bytes map to characters without
			// bias.
			if b < 248 && len(out) < generatedPasswordChars {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out)
}

func (s *server) listVehicles(w http.ResponseWriter, r *http.Request) error {
	vehicles, err := s.store.Vehicles()
	if err != nil {
		return fmt.Errorf("list vehicles: %w", err)
	}
	trips, err := s.store.Trips()
	if err != nil {
		return fmt.Errorf("list trips: %w", err)
	}

	tripsByTerminal := make(map[string][]model.Trip)
	for _, trip := range trips {
		tripsByTerminal[trip.Terminal] = append(tripsByTerminal[trip.Terminal], trip)
	}

	now := s.now()
	out := vehicleList{Vehicles: make([]vehicleView, 0, len(vehicles))}
	for _, v := range vehicles {
		view, err := s.viewVehicle(v, activeTripID(tripsByTerminal[v.Terminal], now))
		if err != nil {
			return err
		}
		out.Vehicles = append(out.Vehicles, view)
	}
	slices.SortFunc(out.Vehicles, func(a, b vehicleView) int { return strings.Compare(a.Terminal, b.Terminal) })

	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) getVehicle(w http.ResponseWriter, r *http.Request) error {
	terminal := r.PathValue("terminal")
	if checkTerminal(terminal) != "" {
		return errNotFound(fmt.Sprintf("vehicle %q is not registered", terminal))
	}
	v, found, err := s.store.Vehicle(terminal)
	if err != nil {
		return fmt.Errorf("look up vehicle %q: %w", terminal, err)
	}
	if !found {
		return errNotFound(fmt.Sprintf("vehicle %q is not registered", terminal))
	}

	trips, err := s.store.TripsForVehicle(terminal)
	if err != nil {
		return fmt.Errorf("list trips of vehicle %q: %w", terminal, err)
	}
	view, err := s.viewVehicle(v, activeTripID(trips, s.now()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

func (s *server) viewVehicle(v model.Vehicle, tripID string) (vehicleView, error) {
	view := vehicleView{
		Terminal:  v.Terminal,
		Plate:     v.Plate,
		Online:    s.online(v.Terminal),
		TripID:    tripID,
		CreatedAt: v.CreatedAt,
	}
	fix, found, err := s.store.LatestFix(v.Terminal)
	if err != nil {
		return vehicleView{}, fmt.Errorf("look up latest fix of vehicle %q: %w", v.Terminal, err)
	}
	if found {
		view.LastFix = &fix
	}
	return view, nil
}

// activeTripID returns the ID of the trip that is active at now, or "".
// When trips overlap despite the creation check, the latest start wins.
func activeTripID(trips []model.Trip, now time.Time) string {
	var active *model.Trip
	for i := range trips {
		trip := &trips[i]
		if trip.State == model.TripCompleted || !trip.ActiveAt(now) {
			continue
		}
		if active == nil || trip.PlannedStart.After(active.PlannedStart) {
			active = trip
		}
	}
	if active == nil {
		return ""
	}
	return active.ID
}
