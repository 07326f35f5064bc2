package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hwtrack/hwtrack/model"
)

const (
	maxNameRunes  = 200
	maxLabelRunes = 64
	// creditCodeAlphabet is the character set of the 18-character unified
	// social credit code (GB 32100-2015): digits and capital letters
	// without I, O, Z, S and V.
	creditCodeAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
)

type bookingRequest struct {
	ManifestNo string         `json:"manifest_no"`
	Shipper    shipperRequest `json:"shipper"`
	Wastes     []model.Waste  `json:"wastes"`
}

type shipperRequest struct {
	Name       string `json:"name"`
	CreditCode string `json:"credit_code"`
	// Lat and Lon are pointers so a missing coordinate is not taken for 0.
	Lat *float64 `json:"lat"`
	Lon *float64 `json:"lon"`
}

type bookingList struct {
	Bookings []model.Booking `json:"bookings"`
}

func (s *server) createBooking(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxBodyBytes)
	if err != nil {
		return err
	}
	var req bookingRequest
	if err := decodeStrict(body, &req, ""); err != nil {
		return err
	}
	if err := validateBooking(req); err != nil {
		return err
	}

	booking := model.Booking{
		ID:         s.ids.New(prefixBooking, s.now()),
		ManifestNo: req.ManifestNo,
		Shipper: model.Shipper{
			Name:       req.Shipper.Name,
			CreditCode: req.Shipper.CreditCode,
			Lat:        *req.Shipper.Lat,
			Lon:        *req.Shipper.Lon,
		},
		Wastes:    req.Wastes,
		CreatedAt: s.now().UTC(),
	}
	if err := s.store.PutBooking(booking); err != nil {
		return fmt.Errorf("store booking %s: %w", booking.ID, err)
	}
	s.log.Info("booking created", "booking_id", booking.ID, "manifest_no", booking.ManifestNo)

	setAudit(r, booking.ID, "manifest "+booking.ManifestNo)
	writeJSON(w, http.StatusCreated, idResponse{ID: booking.ID})
	return nil
}

func validateBooking(req bookingRequest) error {
	var problems model.ValidationError

	if !isDigits(req.ManifestNo, 14) {
		problems.Add("manifest_no", "must be exactly 14 digits: year, province, prefecture and a 6-digit serial, such as 20263307000123")
	}

	checkText(&problems, "shipper.name", req.Shipper.Name, maxNameRunes, true)
	if reason := checkCreditCode(req.Shipper.CreditCode); reason != "" {
		problems.Add("shipper.credit_code", reason)
	}
	checkLatLon(&problems, "shipper.", req.Shipper.Lat, req.Shipper.Lon)

	if len(req.Wastes) == 0 {
		problems.Add("wastes", "must list at least one waste")
	}
	for i, waste := range req.Wastes {
		prefix := fmt.Sprintf("wastes[%d].", i)
		if !isWasteCode(waste.Code) {
			problems.Add(prefix+"code", "must look like 900-041-49 (NNN-NNN-NN)")
		}
		checkText(&problems, prefix+"name", waste.Name, maxNameRunes, true)
		checkText(&problems, prefix+"form", waste.Form, maxLabelRunes, false)
		checkText(&problems, prefix+"hazard", waste.Hazard, maxLabelRunes, false)
		checkText(&problems, prefix+"packaging", waste.Packaging, maxLabelRunes, false)
		if waste.Count < 0 {
			problems.Add(prefix+"count", "must be 0 or more")
		}
		if !(waste.WeightKg > 0) {
			problems.Add(prefix+"weight_kg", "must be greater than 0")
		}
	}

	if problems.Err() != nil {
		return errInvalidInput(problems.Fields)
	}
	return nil
}

// checkText records a problem when a required text is blank or a text is
// longer than maxRunes.
func checkText(problems *model.ValidationError, field, value string, maxRunes int, required bool) {
	switch {
	case required && strings.TrimSpace(value) == "":
		problems.Add(field, "is required")
	case utf8.RuneCountInString(value) > maxRunes:
		problems.Add(field, fmt.Sprintf("must be at most %d characters", maxRunes))
	}
}

// checkLatLon records problems with a required WGS-84 position. It points
// out coordinates that look swapped, the most common cause of an
// out-of-range latitude.
func checkLatLon(problems *model.ValidationError, prefix string, lat, lon *float64) {
	if lat == nil {
		problems.Add(prefix+"lat", "is required")
	}
	if lon == nil {
		problems.Add(prefix+"lon", "is required")
	}
	if lat == nil || lon == nil {
		return
	}
	if *lat < -90 || *lat > 90 {
		reason := "must be between -90 and 90"
		if *lon >= -90 && *lon <= 90 {
			reason += "; lat and lon look swapped"
		}
		problems.Add(prefix+"lat", reason)
	}
	if *lon < -180 || *lon > 180 {
		problems.Add(prefix+"lon", "must be between -180 and 180")
	}
}

func checkCreditCode(code string) string {
	if code == "" {
		return "is required"
	}
	if len(code) != 18 {
		return fmt.Sprintf("must be 18 characters, not %d", utf8.RuneCountInString(code))
	}
	for _, c := range []byte(code) {
		if !strings.ContainsRune(creditCodeAlphabet, rune(c)) {
			return "may contain only digits and the capital letters of the unified social credit code (no I, O, S, V or Z)"
		}
	}
	// NOTE: the GB 32100-2015 check character is not verified, so a
	// mistyped code with valid characters is accepted.
	return ""
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isWasteCode reports whether code has the form NNN-NNN-NN of the national
// hazardous waste list.
func isWasteCode(code string) bool {
	if len(code) != 10 || code[3] != '-' || code[7] != '-' {
		return false
	}
	return isDigits(code[0:3], 3) && isDigits(code[4:7], 3) && isDigits(code[8:10], 2)
}

func (s *server) getBooking(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	booking, found, err := s.store.Booking(id)
	if err != nil {
		return fmt.Errorf("look up booking %q: %w", id, err)
	}
	if !found {
		return errNotFound(fmt.Sprintf("booking %q not found", id))
	}
	writeJSON(w, http.StatusOK, booking)
	return nil
}

func (s *server) listBookings(w http.ResponseWriter, r *http.Request) error {
	lister, ok := s.store.(BookingLister)
	if !ok {
		return &apiError{
			Status:  http.StatusNotImplemented,
			Code:    codeNotImplemented,
			Message: "this server's store cannot list bookings; fetch each booking by id",
		}
	}
	bookings, err := lister.Bookings()
	if err != nil {
		return fmt.Errorf("list bookings: %w", err)
	}
	if bookings == nil {
		bookings = []model.Booking{}
	}
	slices.SortFunc(bookings, func(a, b model.Booking) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, bookingList{Bookings: bookings})
	return nil
}
