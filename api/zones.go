package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hwtrack/hwtrack/model"
)

type idResponse struct {
	ID string `json:"id"`
}

type zoneList struct {
	Zones []model.Zone `json:"zones"`
}

// readZone reads a GeoJSON Feature request body and validates it with
// Options.ParseZone. The zone keeps the compacted body as its feature when
// ParseZone returns none.
func (s *server) readZone(w http.ResponseWriter, r *http.Request) (model.Zone, error) {
	body, err := readBody(w, r, maxZoneBodyBytes)
	if err != nil {
		return model.Zone{}, err
	}
	if !json.Valid(body) {
		// Decoding into an empty value reports where the syntax breaks.
		var v any
		return model.Zone{}, decodeStrict(body, &v, "")
	}

	zone, err := s.parseZone(body)
	if err != nil {
		var invalid *model.ValidationError
		if errors.As(err, &invalid) && len(invalid.Fields) > 0 {
			return model.Zone{}, errInvalidInput(invalid.Fields)
		}
		// ParseZone does no I/O, so any error it returns is about the input.
		return model.Zone{}, errInvalidInput([]model.FieldError{{Field: "(body)", Reason: err.Error()}})
	}

	if len(zone.Feature) == 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, body); err != nil {
			return model.Zone{}, fmt.Errorf("compact zone feature: %w", err)
		}
		zone.Feature = compact.Bytes()
	}
	return zone, nil
}

// createZone stores a geofence from a GeoJSON Feature. Options.ParseZone
// does the GeoJSON validation and the CRS conversion.
func (s *server) createZone(w http.ResponseWriter, r *http.Request) error {
	zone, err := s.readZone(w, r)
	if err != nil {
		return err
	}
	zone.ID = s.ids.New(prefixZone, s.now())
	zone.CreatedAt = s.now().UTC()
	if err := s.store.PutZone(zone); err != nil {
		return fmt.Errorf("store zone %s: %w", zone.ID, err)
	}
	s.hooks.ZonesChanged()
	s.log.Info("zone created", "zone_id", zone.ID, "name", zone.Name, "kind", zone.Kind)

	setAudit(r, zone.ID, zone.Name)
	writeJSON(w, http.StatusCreated, idResponse{ID: zone.ID})
	return nil
}

func (s *server) listZones(w http.ResponseWriter, r *http.Request) error {
	zones, err := s.store.Zones()
	if err != nil {
		return fmt.Errorf("list zones: %w", err)
	}
	if zones == nil {
		zones = []model.Zone{}
	}
	slices.SortFunc(zones, func(a, b model.Zone) int { return strings.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, zoneList{Zones: zones})
	return nil
}

func (s *server) getZone(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	zone, found, err := s.store.Zone(id)
	if err != nil {
		return fmt.Errorf("look up zone %q: %w", id, err)
	}
	if !found {
		return errNotFound(fmt.Sprintf("zone %q not found", id))
	}
	writeJSON(w, http.StatusOK, zone)
	return nil
}

func (s *server) deleteZone(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	deleted, err := s.store.DeleteZone(id)
	if err != nil {
		return fmt.Errorf("delete zone %q: %w", id, err)
	}
	if !deleted {
		return errNotFound(fmt.Sprintf("zone %q not found", id))
	}
	s.hooks.ZonesChanged()
	s.log.Info("zone deleted", "zone_id", id)

	w.WriteHeader(http.StatusNoContent)
	return nil
}
