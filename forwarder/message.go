package forwarder

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// Message is one record queued for the regulator.
type Message struct {
	// ID is stable for the record's whole life: a resend after an outage
	// or a restart carries the same ID, so the receiver can drop duplicates.
	ID string
	// Topic is relative to Options.TopicPrefix, e.g. "deviations/{terminal}".
	Topic string
	// Key is the ordering key (the vehicle's terminal id). Messages are
	// delivered in enqueue order, so order per key is kept too.
	Key     string
	Payload []byte
	// CreatedAt is when the message was built. Enqueue sets it to the
	// current time when it is zero. It drives hwtrack_outbox_oldest_age_seconds.
	CreatedAt time.Time
}

// Topic roots under Options.TopicPrefix.
const (
	deviationTopicRoot = "deviations"
	tripTopicRoot      = "trips"
)

// maxTrackFixes is the number of most recent fixes kept in a deviation's
// track excerpt. It keeps a message well under common broker payload limits
// while still showing how the vehicle got where it is.
const maxTrackFixes = 30

// Trip lifecycle events accepted by TripMessage.
const (
	TripEventDispatched = "dispatched"
	TripEventArrived    = "arrived"
	TripEventCompleted  = "completed"
	// TripEventDeparted is a vehicle leaving a site it had arrived at.
	TripEventDeparted = "departed"
)

// DeviationPayload is the JSON body of a {prefix}/deviations/{terminal}
// message. Times are RFC 3339 in UTC with millisecond precision; positions
// are WGS-84 degrees.
//
//   - id: the message id, "{deviation_id}:{state}", stable across resends.
//   - deviation_id: the episode id, shared by its open and close messages.
//   - kind: route_deviation, restricted_zone, overspeed, long_stop,
//     signal_loss, trip_overtime, device_alarm or video_loss.
//   - state: "open" or "closed".
//   - terminal, plate: the vehicle.
//   - started_at, lat, lon: when and where the episode started.
//   - ended_at, end_lat, end_lon: when and where it ended; null while open.
//   - late: true when the episode was decided from fixes that arrived after
//     newer ones; received_at is when the deciding fix reached the server.
//   - zone: {id, name} of the zone involved, or null. For a route deviation
//     the zone is the trip's route and segment is the index of the nearest
//     route segment (null for other kinds).
//   - channel: the camera channel of a video_loss episode; absent for
//     other kinds.
//   - peak: the episode's extreme value (metres off route, km/h, seconds).
//   - severity: free-form level set by the rules engine, "" when unset.
//   - text, text_en: the description in Simplified Chinese and in English.
//   - trip: the trip the vehicle was on, or null.
//   - bookings: every booking on the trip, in the trip's order.
//   - track: the most recent fixes before the message, oldest first, at
//     most 30.
//   - sent_at: when hwtrack built the message. A resend keeps this value,
//     so equal ids always carry identical bytes.
type DeviationPayload struct {
	ID          string           `json:"id"`
	DeviationID string           `json:"deviation_id"`
	Kind        string           `json:"kind"`
	State       string           `json:"state"`
	Terminal    string           `json:"terminal"`
	Plate       string           `json:"plate"`
	StartedAt   string           `json:"started_at"`
	EndedAt     *string          `json:"ended_at"`
	Lat         float64          `json:"lat"`
	Lon         float64          `json:"lon"`
	EndLat      *float64         `json:"end_lat"`
	EndLon      *float64         `json:"end_lon"`
	Late        bool             `json:"late"`
	ReceivedAt  string           `json:"received_at"`
	Zone        *ZonePayload     `json:"zone"`
	Segment     *int             `json:"segment"`
	Channel     *int             `json:"channel,omitempty"`
	Peak        float64          `json:"peak"`
	Severity    string           `json:"severity"`
	Text        string           `json:"text"`
	TextEN      string           `json:"text_en"`
	Trip        *TripPayload     `json:"trip"`
	Bookings    []BookingPayload `json:"bookings"`
	Track       []TrackPoint     `json:"track"`
	SentAt      string           `json:"sent_at"`
}

// TripEventPayload is the JSON body of a {prefix}/trips/{trip} message.
//
//   - id: the message id, "{trip}:{event}" for dispatched and completed,
//     "{trip}:{event}:{unix ms of at}" for arrivals and departures, which
//     repeat per site.
//   - event: "dispatched", "arrived", "departed" or "completed".
//   - trip, plate, terminal, bookings: as in DeviationPayload.
//   - site: the site zone of an arrival or departure, absent for
//     dispatched and completed.
//   - at: when the event happened.
//   - sent_at: when hwtrack built the message.
type TripEventPayload struct {
	ID       string           `json:"id"`
	Event    string           `json:"event"`
	Trip     TripPayload      `json:"trip"`
	Plate    string           `json:"plate"`
	Terminal string           `json:"terminal"`
	Bookings []BookingPayload `json:"bookings"`
	Site     *SitePayload     `json:"site,omitempty"`
	At       string           `json:"at"`
	SentAt   string           `json:"sent_at"`
}

// SitePayload is the site zone a vehicle arrived at or departed from. Lat
// and Lon, in WGS-84 degrees, are the position of the fix that decided the
// event: the first fix inside the site for an arrival, the first fix
// outside it for a departure.
type SitePayload struct {
	ID   string  `json:"id"`
	Name string  `json:"name"`
	Lat  float64 `json:"lat"`
	Lon  float64 `json:"lon"`
}

// ZonePayload names a geofence or route.
type ZonePayload struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// TripPayload is a trip in the form sent to the regulator. Route is the
// planned route as a GeoJSON LineString, or null when the trip has none.
// CorridorM is the full corridor width in metres.
type TripPayload struct {
	ID           string          `json:"id"`
	Driver       string          `json:"driver"`
	Escort       string          `json:"escort"`
	Route        json.RawMessage `json:"route"`
	CorridorM    float64         `json:"corridor_m"`
	PlannedStart string          `json:"planned_start"`
	PlannedEnd   string          `json:"planned_end"`
	State        string          `json:"state"`
	CompletedAt  *string         `json:"completed_at"`
}

// BookingPayload is one pickup booking with its transfer manifest.
type BookingPayload struct {
	ID         string         `json:"id"`
	ManifestNo string         `json:"manifest_no"`
	Shipper    ShipperPayload `json:"shipper"`
	Wastes     []WastePayload `json:"wastes"`
}

// ShipperPayload is the enterprise a booking collects from.
type ShipperPayload struct {
	Name       string  `json:"name"`
	CreditCode string  `json:"credit_code"`
	Lat        float64 `json:"lat"`
	Lon        float64 `json:"lon"`
}

// WastePayload is one manifest line. WeightKg is in kilograms.
type WastePayload struct {
	Code      string  `json:"code"`
	Name      string  `json:"name"`
	Form      string  `json:"form"`
	Hazard    string  `json:"hazard"`
	Packaging string  `json:"packaging"`
	Count     int     `json:"count"`
	WeightKg  float64 `json:"weight_kg"`
}

// TrackPoint is one fix of a track excerpt. Speed is in km/h and omitted
// when the unit did not report it.
type TrackPoint struct {
	Time  string   `json:"time"`
	Lat   float64  `json:"lat"`
	Lon   float64  `json:"lon"`
	Speed *float64 `json:"speed,omitempty"`
}

// DeviationMessage builds the message for one deviation episode state change
// on {prefix}/deviations/{terminal}, keyed by the terminal. The message id is
// the deviation id plus ":" plus the state, so the open and the close of one
// episode are two messages and a rebuild of either has the same id.
//
// trip may be nil. When it is set, bookings must hold exactly the bookings
// the trip lists; they are emitted in the trip's order. excerpt may be in any
// order; the most recent fixes are kept. It returns a *model.ValidationError
// naming every invalid field.
func DeviationMessage(d model.Deviation, v model.Vehicle, trip *model.Trip, bookings []model.Booking, excerpt []model.Fix) (Message, error) {
	var verr model.ValidationError
	if d.ID == "" {
		verr.Add("deviation.id", "missing")
	}
	if d.Kind == model.KindUnknown || d.Kind.String() == "unknown" {
		verr.Add("deviation.kind", "unknown deviation kind")
	}
	if d.State != model.StateOpen && d.State != model.StateClosed {
		verr.Add("deviation.state", "must be open or closed")
	}
	checkTopicLevel(&verr, "deviation.terminal", d.Terminal)
	if v.Terminal != d.Terminal {
		verr.Add("vehicle.terminal", fmt.Sprintf("%q does not match deviation terminal %q", v.Terminal, d.Terminal))
	}
	if d.StartedAt.IsZero() {
		verr.Add("deviation.started_at", "missing")
	}
	if d.State == model.StateClosed && d.EndedAt.IsZero() {
		verr.Add("deviation.ended_at", "missing on a closed deviation")
	}
	if trip != nil && d.TripID != "" && trip.ID != d.TripID {
		verr.Add("trip.id", fmt.Sprintf("%q does not match deviation trip_id %q", trip.ID, d.TripID))
	}
	var orderedBookings []BookingPayload
	if trip != nil {
		orderedBookings = tripBookings(&verr, *trip, bookings)
	} else {
		orderedBookings = bookingPayloads(bookings)
	}
	if err := verr.Err(); err != nil {
		return Message{}, err
	}

	now := time.Now()
	id := d.ID + ":" + d.State.String()
	p := DeviationPayload{
		ID:          id,
		DeviationID: d.ID,
		Kind:        d.Kind.String(),
		State:       d.State.String(),
		Terminal:    d.Terminal,
		Plate:       v.Plate,
		StartedAt:   formatTime(d.StartedAt),
		Lat:         d.Lat,
		Lon:         d.Lon,
		Late:        d.Late,
		ReceivedAt:  formatReceiveTime(d.ReceivedAt),
		Peak:        d.Peak,
		Severity:    d.Severity,
		Text:        d.TextZH,
		TextEN:      d.TextEN,
		Bookings:    orderedBookings,
		Track:       trackExcerpt(excerpt),
		SentAt:      formatTime(now),
	}
	if d.State == model.StateClosed {
		ended := formatTime(d.EndedAt)
		endLat, endLon := d.EndLat, d.EndLon
		p.EndedAt, p.EndLat, p.EndLon = &ended, &endLat, &endLon
	}
	if d.ZoneID != "" || d.ZoneName != "" {
		p.Zone = &ZonePayload{ID: d.ZoneID, Name: d.ZoneName}
	}
	if d.Kind == model.KindRouteDeviation {
		segment := d.Segment
		p.Segment = &segment
	}
	if d.Kind == model.KindVideoLoss {
		channel := d.Channel
		p.Channel = &channel
	}
	if trip != nil {
		tp := tripPayload(*trip)
		p.Trip = &tp
	}

	body, err := json.Marshal(p)
	if err != nil {
		return Message{}, fmt.Errorf("encode deviation %s: %w", d.ID, err)
	}
	return Message{
		ID:        id,
		Topic:     deviationTopicRoot + "/" + d.Terminal,
		Key:       d.Terminal,
		Payload:   body,
		CreatedAt: now,
	}, nil
}

// TripMessage builds the message for one trip lifecycle event on
// {prefix}/trips/{trip}, keyed by the trip's terminal. event is one of
// TripEventDispatched, TripEventArrived, TripEventDeparted or
// TripEventCompleted; at is when the event happened. Arrival and departure
// repeat once per site, so their ids also carry at in Unix milliseconds:
// rebuilding the same event from the same fix gives the same id. bookings must hold exactly the bookings the trip lists.
// site is required for arrivals and departures and must be nil otherwise.
// It returns a *model.ValidationError naming every invalid field.
func TripMessage(event string, trip model.Trip, v model.Vehicle, bookings []model.Booking, site *SitePayload, at time.Time) (Message, error) {
	var verr model.ValidationError
	switch event {
	case TripEventArrived, TripEventDeparted:
		checkSite(&verr, site)
	case TripEventDispatched, TripEventCompleted:
		if site != nil {
			verr.Add("site", fmt.Sprintf("applies only to arrived and departed events, not %s", event))
		}
	default:
		verr.Add("event", fmt.Sprintf("%q is not dispatched, arrived, departed or completed", event))
	}
	checkTopicLevel(&verr, "trip.id", trip.ID)
	checkTopicLevel(&verr, "trip.terminal", trip.Terminal)
	if v.Terminal != trip.Terminal {
		verr.Add("vehicle.terminal", fmt.Sprintf("%q does not match trip terminal %q", v.Terminal, trip.Terminal))
	}
	if at.IsZero() {
		verr.Add("at", "missing")
	}
	orderedBookings := tripBookings(&verr, trip, bookings)
	if err := verr.Err(); err != nil {
		return Message{}, err
	}

	id := trip.ID + ":" + event
	if event == TripEventArrived || event == TripEventDeparted {
		id += ":" + strconv.FormatInt(at.UnixMilli(), 10)
	}
	now := time.Now()
	p := TripEventPayload{
		ID:       id,
		Event:    event,
		Trip:     tripPayload(trip),
		Plate:    v.Plate,
		Terminal: trip.Terminal,
		Bookings: orderedBookings,
		Site:     site,
		At:       formatTime(at),
		SentAt:   formatTime(now),
	}
	body, err := json.Marshal(p)
	if err != nil {
		return Message{}, fmt.Errorf("encode trip %s event %s: %w", trip.ID, event, err)
	}
	return Message{
		ID:        id,
		Topic:     tripTopicRoot + "/" + trip.ID,
		Key:       trip.Terminal,
		Payload:   body,
		CreatedAt: now,
	}, nil
}

// checkSite records a problem when an arrival or departure has no site or
// an invalid one.
func checkSite(verr *model.ValidationError, site *SitePayload) {
	if site == nil {
		verr.Add("site", "missing: an arrival or departure names its site")
		return
	}
	if site.ID == "" {
		verr.Add("site.id", "missing")
	}
	if !(site.Lat >= -90 && site.Lat <= 90) || !(site.Lon >= -180 && site.Lon <= 180) {
		verr.Add("site", fmt.Sprintf("position [%g, %g] [lat, lon] is out of range", site.Lat, site.Lon))
	}
}

// checkTopicLevel records a problem when s cannot be one MQTT topic level:
// empty, or containing a level separator, a wildcard or NUL (MQTT 3.1.1
// sections 4.7.1 and 4.7.3).
func checkTopicLevel(verr *model.ValidationError, field, s string) {
	if s == "" {
		verr.Add(field, "missing")
		return
	}
	if strings.ContainsAny(s, "/+#\x00") {
		verr.Add(field, fmt.Sprintf("%q must not contain '/', '+', '#' or NUL", s))
	}
}

// tripBookings returns bookings in the order trip.Bookings lists them and
// records a problem for every listed booking that is missing and every
// booking the trip does not list.
func tripBookings(verr *model.ValidationError, trip model.Trip, bookings []model.Booking) []BookingPayload {
	byID := make(map[string]model.Booking, len(bookings))
	for i, b := range bookings {
		if !slices.Contains(trip.Bookings, b.ID) {
			verr.Add(fmt.Sprintf("bookings[%d].id", i), fmt.Sprintf("%q is not on trip %q", b.ID, trip.ID))
			continue
		}
		byID[b.ID] = b
	}
	ordered := make([]model.Booking, 0, len(trip.Bookings))
	for i, id := range trip.Bookings {
		b, ok := byID[id]
		if !ok {
			verr.Add(fmt.Sprintf("trip.bookings[%d]", i), fmt.Sprintf("booking %q not provided", id))
			continue
		}
		ordered = append(ordered, b)
	}
	return bookingPayloads(ordered)
}

func bookingPayloads(bookings []model.Booking) []BookingPayload {
	out := make([]BookingPayload, 0, len(bookings))
	for _, b := range bookings {
		wastes := make([]WastePayload, 0, len(b.Wastes))
		for _, w := range b.Wastes {
			wastes = append(wastes, WastePayload{
				Code:      w.Code,
				Name:      w.Name,
				Form:      w.Form,
				Hazard:    w.Hazard,
				Packaging: w.Packaging,
				Count:     w.Count,
				WeightKg:  w.WeightKg,
			})
		}
		out = append(out, BookingPayload{
			ID:         b.ID,
			ManifestNo: b.ManifestNo,
			Shipper: ShipperPayload{
				Name:       b.Shipper.Name,
				CreditCode: b.Shipper.CreditCode,
				Lat:        b.Shipper.Lat,
				Lon:        b.Shipper.Lon,
			},
			Wastes: wastes,
		})
	}
	return out
}

func tripPayload(t model.Trip) TripPayload {
	route := t.Route
	if len(route) == 0 {
		route = json.RawMessage("null")
	}
	p := TripPayload{
		ID:           t.ID,
		Driver:       t.Driver,
		Escort:       t.Escort,
		Route:        route,
		CorridorM:    t.CorridorM,
		PlannedStart: formatTime(t.PlannedStart),
		PlannedEnd:   formatTime(t.PlannedEnd),
		State:        t.State.String(),
	}
	if !t.CompletedAt.IsZero() {
		completed := formatTime(t.CompletedAt)
		p.CompletedAt = &completed
	}
	return p
}

// trackExcerpt returns the last maxTrackFixes fixes by fix time, oldest
// first. The input is not modified.
func trackExcerpt(fixes []model.Fix) []TrackPoint {
	// Sort indexes rather than the fixes: a Fix is large, and moving it
	// was about half the time of BenchmarkDeviationMessage.
	order := make([]int, len(fixes))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return fixes[a].Time.Compare(fixes[b].Time) })
	if len(order) > maxTrackFixes {
		order = order[len(order)-maxTrackFixes:]
	}

	out := make([]TrackPoint, 0, len(order))
	for _, i := range order {
		f := &fixes[i]
		pt := TrackPoint{Time: formatTime(f.Time), Lat: f.Lat, Lon: f.Lon}
		if f.Has&model.HasSpeed != 0 {
			speed := f.SpeedKmh
			pt.Speed = &speed
		}
		out = append(out, pt)
	}
	return out
}

// formatTime renders t as RFC 3339 in UTC with milliseconds, or "" for the
// zero time.
// formatReceiveTime formats a receive time to the microsecond: fixes a
// few hundred microseconds apart can decide transitions, and a receiver
// that orders them, or matches them to what it sent, needs to tell them
// apart.
func formatReceiveTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
