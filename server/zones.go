package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
)

// parseZone validates a GeoJSON Feature and returns it as stored: in
// WGS-84, whatever datum it was drawn in.
func parseZone(raw []byte) (model.Zone, error) {
	z, err := geofence.ParseFeature(raw)
	if err != nil {
		return model.Zone{}, err
	}
	z.ID = "" // the API assigns ids
	feature, err := z.MarshalFeature()
	if err != nil {
		return model.Zone{}, fmt.Errorf("encode zone: %w", err)
	}
	return model.Zone{Name: z.Name, Kind: z.Kind.String(), Feature: feature}, nil
}

// loadZoneFiles stores every feature of the configured GeoJSON files under
// its feature id, replacing the previous version of that zone. A file with
// any invalid feature stops the start, and its error lists every problem.
func (s *Server) loadZoneFiles(paths []string) error {
	usingDefault := slices.Equal(paths, config.Default().ZoneFiles)
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) && usingDefault {
			// Run outside the repository, the sample zones are not there;
			// that must not stop a server whose configuration never named them.
			s.log.Warn("sample zone file not found; starting without sample zones", "path", path)
			continue
		}
		if err != nil {
			return fmt.Errorf("read zone file: %w", err)
		}
		zones, err := geofence.ParseZoneFile(data)
		if err != nil {
			return fmt.Errorf("zone file %s: %w", path, err)
		}
		for _, z := range zones {
			feature, err := z.MarshalFeature()
			if err != nil {
				return fmt.Errorf("zone file %s: zone %s: %w", path, z.ID, err)
			}
			mz := model.Zone{ID: z.ID, Name: z.Name, Kind: z.Kind.String(), Feature: feature, CreatedAt: time.Now().UTC()}
			if err := s.store.PutZone(mz); err != nil {
				return fmt.Errorf("store zone %s: %w", z.ID, err)
			}
		}
		s.log.Info("zone file loaded", "path", path, "zones", len(zones))
	}
	return nil
}

// compileZones compiles every stored zone for the engine's index.
func (s *Server) compileZones() ([]*geofence.Zone, error) {
	stored, err := s.store.Zones()
	if err != nil {
		return nil, fmt.Errorf("load zones: %w", err)
	}
	zones := make([]*geofence.Zone, 0, len(stored))
	for i := range stored {
		z, err := geofence.FromModel(&stored[i])
		if err != nil {
			// One bad stored zone must not disable every other fence.
			s.log.Error("stored zone skipped", "zone_id", stored[i].ID, "err", err)
			continue
		}
		zones = append(zones, z)
	}
	return zones, nil
}

// reloadZones gives the running engine the stored zones after a change. A
// vehicle already inside a new restricted zone is reported as present
// there, stamped with the time of the change, never as a later entry.
func (s *Server) reloadZones() error {
	zones, err := s.compileZones()
	if err != nil {
		return err
	}
	s.forwardByVehicle(s.engine.SetZonesAt(zones, time.Now()))
	return nil
}
