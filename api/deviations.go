package api

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

const maxDeviations = 10_000

// allowedKinds and allowedStates list the filter values for error messages.
var (
	allowedKinds = []string{
		"route_deviation", "restricted_zone", "overspeed", "long_stop",
		"signal_loss", "trip_overtime", "device_alarm", "video_loss",
	}
	allowedStates = []string{"open", "closed"}
)

// deviationView is a deviation episode as the API returns it. Unlike
// model.Deviation it always has trip_id and ended_at, with ended_at null
// while the episode is open and received_at null when it is unknown.
type deviationView struct {
	ID         string               `json:"id"`
	Kind       model.DeviationKind  `json:"kind"`
	State      model.DeviationState `json:"state"`
	Terminal   string               `json:"terminal"`
	TripID     string               `json:"trip_id"`
	StartedAt  time.Time            `json:"started_at"`
	EndedAt    *time.Time           `json:"ended_at"`
	Lat        float64              `json:"lat"`
	Lon        float64              `json:"lon"`
	EndLat     *float64             `json:"end_lat"`
	EndLon     *float64             `json:"end_lon"`
	ZoneID     string               `json:"zone_id,omitempty"`
	ZoneName   string               `json:"zone_name,omitempty"`
	Segment    *int                 `json:"segment,omitempty"`
	Channel    int                  `json:"channel,omitempty"`
	Peak       float64              `json:"peak"`
	Late       bool                 `json:"late"`
	ReceivedAt *time.Time           `json:"received_at"`
	Severity   string               `json:"severity,omitempty"`
	Text       string               `json:"text"`
	TextEN     string               `json:"text_en"`
	Handling   handlingView         `json:"handling"`
}

type deviationList struct {
	Deviations []deviationView `json:"deviations"`
}

func (s *server) listDeviations(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query()
	if err := rejectUnknownParams(query, "terminal", "kind", "state", "from", "to", "limit"); err != nil {
		return err
	}

	var problems model.ValidationError
	q := DeviationQuery{Terminal: query.Get("terminal")}
	if q.Terminal != "" {
		if reason := checkTerminal(q.Terminal); reason != "" {
			problems.Add("terminal", reason)
		}
	}
	if raw := query.Get("kind"); raw != "" {
		kind, ok := model.ParseDeviationKind(raw)
		if !ok {
			problems.Add("kind", fmt.Sprintf("unknown deviation kind %q; allowed: %s", raw, strings.Join(allowedKinds, ", ")))
		}
		q.Kind = kind
	}
	if raw := query.Get("state"); raw != "" {
		state, ok := model.ParseDeviationState(raw)
		if !ok {
			problems.Add("state", fmt.Sprintf("unknown deviation state %q; allowed: %s", raw, strings.Join(allowedStates, ", ")))
		}
		q.State = state
	}
	q.From, _ = parseTimeParam(query, "from", &problems)
	q.To, _ = parseTimeParam(query, "to", &problems)
	q.Limit = parseLimitParam(query, maxDeviations, &problems)
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		problems.Add("from", "must be before to")
	}
	if problems.Err() != nil {
		return errInvalidQuery(problems.Fields)
	}

	deviations, err := s.store.Deviations(q)
	if err != nil {
		return fmt.Errorf("list deviations: %w", err)
	}
	// Newest first, as the store applies the limit: a limited query returns
	// the latest episodes.
	slices.SortStableFunc(deviations, func(a, b model.Deviation) int { return b.StartedAt.Compare(a.StartedAt) })
	if err := s.withHandling(deviations); err != nil {
		return err
	}

	out := deviationList{Deviations: make([]deviationView, 0, len(deviations))}
	for i := range deviations {
		out.Deviations = append(out.Deviations, viewDeviation(&deviations[i]))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func viewDeviation(d *model.Deviation) deviationView {
	view := deviationView{
		ID:        d.ID,
		Kind:      d.Kind,
		State:     d.State,
		Terminal:  d.Terminal,
		TripID:    d.TripID,
		StartedAt: d.StartedAt,
		Lat:       d.Lat,
		Lon:       d.Lon,
		ZoneID:    d.ZoneID,
		ZoneName:  d.ZoneName,
		Peak:      d.Peak,
		Channel:   d.Channel,
		Late:      d.Late,
		Severity:  d.Severity,
		Text:      d.TextZH,
		TextEN:    d.TextEN,
		Handling:  viewHandling(d.Handling),
	}
	if !d.EndedAt.IsZero() {
		view.EndedAt = &d.EndedAt
		view.EndLat = &d.EndLat
		view.EndLon = &d.EndLon
	}
	if !d.ReceivedAt.IsZero() {
		view.ReceivedAt = &d.ReceivedAt
	}
	if d.Kind == model.KindRouteDeviation {
		view.Segment = &d.Segment
	}
	return view
}
