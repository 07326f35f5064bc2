package api

import (
	"fmt"
	"net/http"
)

// updateZone replaces the geometry and properties of an existing zone from
// a GeoJSON Feature, keeping its id and creation time.
func (s *server) updateZone(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	zone, err := s.readZone(w, r)
	if err != nil {
		return err
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
	if err := s.store.PutZone(zone); err != nil {
		return fmt.Errorf("store zone %s: %w", zone.ID, err)
	}
	s.hooks.ZonesChanged()
	s.log.Info("zone updated", "zone_id", zone.ID, "name", zone.Name, "kind", zone.Kind)
	setAudit(r, zone.ID, zone.Name)
	writeJSON(w, http.StatusOK, zone)
	return nil
}
