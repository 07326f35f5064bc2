package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/paulmach/orb"

	"github.com/hwtrack/hwtrack/model"
)

// maxResponseBytes bounds how much of a response body the client reads.
const maxResponseBytes = 64 << 20

// APIError is a non-2xx response from the hwtrack HTTP API. Code and
// Message come from the server's {"error":{"code","message"}} body; when
// the body has another shape, Message holds its start.
type APIError struct {
	Method  string
	Path    string
	Status  int
	Code    string
	Message string
	Fields  []model.FieldError
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: HTTP %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		msg += " " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	for _, f := range e.Fields {
		msg += "; " + f.Error()
	}
	return msg
}

// APIClient calls the hwtrack HTTP API with a bearer token. It is safe for
// concurrent use.
type APIClient struct {
	base  *url.URL
	token string
	http  *http.Client
}

// NewAPIClient returns a client for the API at baseURL (scheme and host,
// such as http://127.0.0.1:8080). A nil httpClient means one with a 30 s
// timeout.
func NewAPIClient(baseURL, token string, httpClient *http.Client) (*APIClient, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("parse api url %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("invalid api url %q: want http://host:port", baseURL)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	return &APIClient{base: u, token: token, http: httpClient}, nil
}

// VehicleRequest registers one vehicle.
type VehicleRequest struct {
	Terminal string `json:"terminal"`
	Plate    string `json:"plate"`
	Password string `json:"password"`
}

// BookingRequest creates one pickup booking with its transfer manifest.
type BookingRequest struct {
	ManifestNo string        `json:"manifest_no"`
	Shipper    model.Shipper `json:"shipper"`
	Wastes     []model.Waste `json:"wastes"`
}

// TripRequest dispatches a vehicle on a planned route.
type TripRequest struct {
	Terminal string
	Driver   string
	Escort   string
	Route    orb.LineString
	// CorridorM is the full corridor width in metres.
	CorridorM float64
	// Segments, when set, holds one entry per segment of Route (see
	// docs/api.md).
	Segments     []model.RouteSegment
	Bookings     []string
	PlannedStart time.Time
	PlannedEnd   time.Time
}

// geoJSONLineString is a GeoJSON LineString geometry. It is encoded here
// because orb's geojson package pulls in a BSON driver the project does
// not otherwise need.
type geoJSONLineString struct {
	Type        string       `json:"type"`
	Coordinates [][2]float64 `json:"coordinates"`
}

// MarshalJSON encodes the route as a GeoJSON LineString of [lon, lat]
// positions.
func (r TripRequest) MarshalJSON() ([]byte, error) {
	route := geoJSONLineString{Type: "LineString", Coordinates: make([][2]float64, len(r.Route))}
	for i, p := range r.Route {
		route.Coordinates[i] = [2]float64{p.Lon(), p.Lat()}
	}
	return json.Marshal(struct {
		Terminal     string               `json:"terminal"`
		Driver       string               `json:"driver"`
		Escort       string               `json:"escort"`
		Route        geoJSONLineString    `json:"route"`
		CorridorM    float64              `json:"corridor_m"`
		Segments     []model.RouteSegment `json:"segments,omitempty"`
		Bookings     []string             `json:"bookings"`
		PlannedStart time.Time            `json:"planned_start"`
		PlannedEnd   time.Time            `json:"planned_end"`
	}{r.Terminal, r.Driver, r.Escort, route, r.CorridorM, r.Segments, r.Bookings, r.PlannedStart, r.PlannedEnd})
}

type idResponse struct {
	ID string `json:"id"`
}

// RegisterVehicle calls POST /api/v1/vehicles.
func (c *APIClient) RegisterVehicle(ctx context.Context, v VehicleRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v1/vehicles", nil, v, nil)
}

// RegisterVehicles calls POST /api/v1/vehicles with an array, which the
// server registers all together or not at all.
func (c *APIClient) RegisterVehicles(ctx context.Context, vs []VehicleRequest) error {
	return c.do(ctx, http.MethodPost, "/api/v1/vehicles", nil, vs, nil)
}

// CreateBooking calls POST /api/v1/bookings and returns the booking id.
func (c *APIClient) CreateBooking(ctx context.Context, b BookingRequest) (string, error) {
	var out idResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/bookings", nil, b, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", errors.New("create booking: response has no id")
	}
	return out.ID, nil
}

// CreateTrip calls POST /api/v1/trips and returns the trip id.
func (c *APIClient) CreateTrip(ctx context.Context, t TripRequest) (string, error) {
	var out idResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/trips", nil, t, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", errors.New("create trip: response has no id")
	}
	return out.ID, nil
}

// CompleteTrip calls POST /api/v1/trips/{id}/complete.
func (c *APIClient) CompleteTrip(ctx context.Context, tripID string) error {
	return c.do(ctx, http.MethodPost, "/api/v1/trips/"+url.PathEscape(tripID)+"/complete", nil, nil, nil)
}

// OpenTrips calls GET /api/v1/trips?terminal=T&state=dispatched and
// returns the ids of the vehicle's trips that are not completed.
func (c *APIClient) OpenTrips(ctx context.Context, terminal string) ([]string, error) {
	var out struct {
		Trips []struct {
			ID string `json:"id"`
		} `json:"trips"`
	}
	q := url.Values{"terminal": {terminal}, "state": {"dispatched"}}
	if err := c.do(ctx, http.MethodGet, "/api/v1/trips", q, nil, &out); err != nil {
		return nil, err
	}
	ids := make([]string, len(out.Trips))
	for i, t := range out.Trips {
		ids[i] = t.ID
	}
	return ids, nil
}

// Deviations calls GET /api/v1/deviations?terminal=T.
func (c *APIClient) Deviations(ctx context.Context, terminal string) ([]model.Deviation, error) {
	var out struct {
		Deviations []model.Deviation `json:"deviations"`
	}
	q := url.Values{"terminal": {terminal}}
	if err := c.do(ctx, http.MethodGet, "/api/v1/deviations", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Deviations, nil
}

// Track calls GET /api/v1/vehicles/{terminal}/track for fixes with fix
// time in [from, to].
func (c *APIClient) Track(ctx context.Context, terminal string, from, to time.Time) ([]model.FixJSON, error) {
	var out struct {
		Terminal string          `json:"terminal"`
		Fixes    []model.FixJSON `json:"fixes"`
	}
	q := url.Values{
		"from": {from.UTC().Format(time.RFC3339Nano)},
		"to":   {to.UTC().Format(time.RFC3339Nano)},
	}
	path := "/api/v1/vehicles/" + url.PathEscape(terminal) + "/track"
	if err := c.do(ctx, http.MethodGet, path, q, nil, &out); err != nil {
		return nil, err
	}
	return out.Fixes, nil
}

// do sends one request with a JSON body (when in is not nil) and decodes
// a JSON response into out (when out is not nil).
func (c *APIClient) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	u.RawQuery = query.Encode()

	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return newAPIError(method, path, resp.StatusCode, data)
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

func newAPIError(method, path string, status int, data []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: status}
	var body struct {
		Error struct {
			Code    string             `json:"code"`
			Message string             `json:"message"`
			Fields  []model.FieldError `json:"fields"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil && body.Error.Message != "" {
		e.Code, e.Message, e.Fields = body.Error.Code, body.Error.Message, body.Error.Fields
		return e
	}
	e.Message = truncate(strings.TrimSpace(string(data)), 200)
	return e
}
