package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

const (
	// defaultTrackSpan is the range of a track request without from.
	defaultTrackSpan = 24 * time.Hour
	// maxTrackSpan bounds one track request; longer histories are read in
	// several requests.
	maxTrackSpan = 31 * 24 * time.Hour
	// maxTrackFixes is the default and maximum limit of a track request:
	// a day at one fix per second is 86,400 fixes.
	maxTrackFixes = 100_000
)

type trackResponse struct {
	Terminal string    `json:"terminal"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	// Fixes holds model.FixJSON values, because encoding them directly
	// takes less than half the time of calling model.Fix.MarshalJSON per
	// fix (BenchmarkTrack).
	Fixes []model.FixJSON `json:"fixes"`
	// Truncated is true when the range holds more fixes than the limit, so
	// the client should ask again from the last fix time.
	Truncated bool `json:"truncated"`
}

// getTrack returns the fixes of one vehicle with from <= time < to, in fix
// time order. Without from and to it returns the last 24 hours.
func (s *server) getTrack(w http.ResponseWriter, r *http.Request) error {
	terminal := r.PathValue("terminal")
	query := r.URL.Query()
	var problems model.ValidationError

	if err := rejectUnknownParams(query, "from", "to", "limit"); err != nil {
		return err
	}
	from, hasFrom := parseTimeParam(query, "from", &problems)
	to, hasTo := parseTimeParam(query, "to", &problems)
	limit := parseLimitParam(query, maxTrackFixes, &problems)
	if problems.Err() != nil {
		return errInvalidQuery(problems.Fields)
	}

	switch {
	case !hasTo && !hasFrom:
		to = s.now()
		from = to.Add(-defaultTrackSpan)
	case !hasTo:
		to = from.Add(defaultTrackSpan)
	case !hasFrom:
		from = to.Add(-defaultTrackSpan)
	}
	if !from.Before(to) {
		return errInvalidQuery([]model.FieldError{{Field: "from", Reason: "must be before to"}})
	}
	if to.Sub(from) > maxTrackSpan {
		return errInvalidQuery([]model.FieldError{{Field: "to", Reason: "must be at most 31 days after from; request longer ranges in parts"}})
	}

	if checkTerminal(terminal) != "" {
		return errNotFound(fmt.Sprintf("vehicle %q is not registered", terminal))
	}
	_, found, err := s.store.Vehicle(terminal)
	if err != nil {
		return fmt.Errorf("look up vehicle %q: %w", terminal, err)
	}
	if !found {
		return errNotFound(fmt.Sprintf("vehicle %q is not registered", terminal))
	}

	// Reading one fix more than the limit shows whether the range was cut
	// short.
	fixes, err := s.store.Track(terminal, from, to, limit+1)
	if err != nil {
		return fmt.Errorf("read track of vehicle %q: %w", terminal, err)
	}
	// Store.Track promises fix-time order; sorting again keeps the API
	// contract even for a store that returns receive order.
	slices.SortStableFunc(fixes, func(a, b model.Fix) int { return a.Time.Compare(b.Time) })
	out := trackResponse{Terminal: terminal, From: from.UTC(), To: to.UTC()}
	if len(fixes) > limit {
		fixes = fixes[:limit]
		out.Truncated = true
	}
	out.Fixes = make([]model.FixJSON, len(fixes))
	for i := range fixes {
		out.Fixes[i] = fixes[i].JSON()
	}

	writeJSON(w, http.StatusOK, out)
	return nil
}

// rejectUnknownParams returns invalid_query when query has a parameter not
// in allowed, so a misspelt filter is not silently ignored.
func rejectUnknownParams(query url.Values, allowed ...string) error {
	var problems model.ValidationError
	for name := range query {
		if !slices.Contains(allowed, name) {
			problems.Add(name, fmt.Sprintf("unknown query parameter; allowed: %v", allowed))
		}
	}
	if problems.Err() != nil {
		slices.SortFunc(problems.Fields, func(a, b model.FieldError) int {
			return strings.Compare(a.Field, b.Field)
		})
		return errInvalidQuery(problems.Fields)
	}
	return nil
}

// parseTimeParam parses an RFC 3339 query parameter. It reports whether the
// parameter was present and valid.
func parseTimeParam(query url.Values, name string, problems *model.ValidationError) (time.Time, bool) {
	raw := query.Get(name)
	if raw == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		problems.Add(name, "must be an RFC 3339 time such as 2026-12-04T09:30:00+08:00")
		return time.Time{}, false
	}
	return t, true
}

// parseLimitParam parses the optional limit parameter: a positive integer up
// to max, which is also the default.
func parseLimitParam(query url.Values, max int, problems *model.ValidationError) int {
	raw := query.Get("limit")
	if raw == "" {
		return max
	}
	limit, err := strconv.Atoi(raw)
	if err != nil || limit < 1 || limit > max {
		problems.Add("limit", fmt.Sprintf("must be an integer from 1 to %d", max))
		return max
	}
	return limit
}
