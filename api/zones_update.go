package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/hwtrack/hwtrack/model"
)

// updateZone replaces the geometry and properties of an existing zone from
// a GeoJSON Feature, keeping its id and creation time.
func (s *server) updateZone(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	body, err := readBody(w, r, maxZoneBodyBytes)
	if err != nil {
		return err
	}
	if !json.Valid(body) {
		var v any
		return decodeStrict(body, &v, "")
	}
	zone, err := s.parseZone(body)
	if err != nil {
		var invalid *model.ValidationError
		if errors.As(err, &invalid) && len(invalid.Fields) > 0 {
			return errInvalidInput(invalid.Fields)
		}
		return errInvalidInput([]model.FieldError{{Field: "(body)", Reason: err.Error()}})
	}

	s.zoneMu.Lock()
	defer s.zoneMu.Unlock()
	old, found, err := s.store.Zone(id)
	if err != nil {
		return fmt.Errorf("look up zone %q: %w", id, err)
	}
	if !found {
		return errNotFound(fmt.Sprintf("zone %q not found", id))
	}
	zone.ID, zone.CreatedAt = old.ID, old.CreatedAt
	if len(zone.Feature) == 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, body); err != nil {
			return fmt.Errorf("compact zone feature: %w", err)
		}
		zone.Feature = compact.Bytes()
	}
	if err := s.store.PutZone(zone); err != nil {
		return fmt.Errorf("store zone %s: %w", zone.ID, err)
	}
	s.hooks.ZonesChanged()
	s.log.Info("zone updated", "zone_id", zone.ID, "name", zone.Name, "kind", zone.Kind)
	setAudit(r, zone.ID, zone.Name)
	writeJSON(w, http.StatusOK, zone)
	return nil
}
