package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// CreateCircleZone calls POST /api/v1/zones with z as a GeoJSON Point
// feature with radius_m, and returns the zone id.
func (c *APIClient) CreateCircleZone(ctx context.Context, z CircleZone) (string, error) {
	feature := map[string]any{
		"type":     "Feature",
		"geometry": map[string]any{"type": "Point", "coordinates": [2]float64{z.Center.Lon(), z.Center.Lat()}},
		"properties": map[string]any{
			"name": z.Name, "kind": z.Kind, "radius_m": z.RadiusM,
		},
	}
	var out idResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/zones", nil, feature, &out); err != nil {
		return "", err
	}
	if out.ID == "" {
		return "", errors.New("create zone: response has no id")
	}
	return out.ID, nil
}

// DeleteZone calls DELETE /api/v1/zones/{id}.
func (c *APIClient) DeleteZone(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/zones/"+url.PathEscape(id), nil, nil, nil)
}

// VehicleOnline calls GET /api/v1/vehicles/{terminal} and returns whether
// the broker holds a connection for it.
func (c *APIClient) VehicleOnline(ctx context.Context, terminal string) (bool, error) {
	var out struct {
		Online bool `json:"online"`
	}
	if err := c.do(ctx, http.MethodGet, "/api/v1/vehicles/"+url.PathEscape(terminal), nil, nil, &out); err != nil {
		return false, err
	}
	return out.Online, nil
}

// PublishFixes sends fixes as one message, a JSON array when batched, and
// waits for its acknowledgement. Unlike Play it keeps each fix's Seq, so a
// re-sent fix is a true duplicate. It also keeps each fix's Source, and
// marks a fix without one realtime, or batch when batched.
func (p *Publisher) PublishFixes(ctx context.Context, fixes []model.Fix, batched bool) error {
	if len(fixes) == 0 {
		return nil
	}
	objects := make([]model.FixJSON, len(fixes))
	for i := range fixes {
		f := fixes[i]
		if f.Source == model.SourceUnknown {
			f.Source = model.SourceRealtime
			if batched {
				f.Source = model.SourceBatch
			}
		}
		f.ReceivedAt = time.Time{}
		objects[i] = f.JSON()
		objects[i].Time = f.Time.In(chinaStandardTime).Format(time.RFC3339Nano)
	}
	var v any = objects
	if !batched {
		v = objects[0]
	}
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode fixes: %w", err)
	}
	if err := waitToken(ctx, p.client.Publish(p.topic("fix"), p.cfg.QoS, false, payload), p.cfg.AckTimeout); err != nil {
		return fmt.Errorf("publish %d fixes: %w", len(fixes), err)
	}
	return nil
}
