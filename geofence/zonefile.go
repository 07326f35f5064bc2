package geofence

import (
	"encoding/json"
	"fmt"

	"github.com/hwtrack/hwtrack/model"
)

type zoneFileDoc struct {
	Type     string            `json:"type"`
	CRS      json.RawMessage   `json:"crs"`
	Features []json.RawMessage `json:"features"`
}

// ParseZoneFile compiles a zone file: a GeoJSON FeatureCollection whose
// features are zones as ParseFeature reads them, each with an id that is
// unique within the file. A string crs member on the collection (wgs84,
// gcj02 or bd09) sets the datum of every feature without a crs property of
// its own. A feature's crs overrides it.
//
// It checks every feature and returns all problems at once in a
// *model.ValidationError, with field names prefixed by the feature's
// position, such as "features[2].geometry.coordinates[0][3]".
func ParseZoneFile(raw []byte) ([]*Zone, error) {
	verr := &model.ValidationError{}
	var doc zoneFileDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		verr.Add("", fmt.Sprintf("invalid JSON: %v", err))
		return nil, verr
	}
	if doc.Type != "FeatureCollection" {
		verr.Add("type", fmt.Sprintf("expected \"FeatureCollection\"; got %q", doc.Type))
		return nil, verr
	}
	fileCRS := parseFileCRS(doc.CRS, verr)

	zones := make([]*Zone, 0, len(doc.Features))
	firstWithID := map[string]int{}
	for i, raw := range doc.Features {
		prefix := fmt.Sprintf("features[%d]", i)
		z, err := parseFeature(raw, fileCRS)
		if err != nil {
			addPrefixed(verr, prefix, err)
			continue
		}
		if z.ID == "" {
			verr.Add(prefix+".id", "missing: a zone file feature needs an id so that the next start replaces it")
			continue
		}
		if first, dup := firstWithID[z.ID]; dup {
			verr.Add(prefix+".id", fmt.Sprintf("id %q is already used by features[%d]; ids in a zone file must be unique", z.ID, first))
			continue
		}
		firstWithID[z.ID] = i
		zones = append(zones, z)
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	return zones, nil
}

// parseFileCRS reads the collection's crs member, WGS-84 when absent.
func parseFileCRS(raw json.RawMessage, verr *model.ValidationError) CRS {
	if len(raw) == 0 || string(raw) == "null" {
		return CRSWGS84
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		verr.Add("crs", "must be a string: wgs84, gcj02 or bd09")
		return CRSWGS84
	}
	crs, err := ParseCRS(name)
	if err != nil {
		verr.Add("crs", err.Error())
		return CRSWGS84
	}
	return crs
}

// addPrefixed copies the problems of one feature into verr under prefix.
func addPrefixed(verr *model.ValidationError, prefix string, err error) {
	featureErr, ok := err.(*model.ValidationError)
	if !ok {
		verr.Add(prefix, err.Error())
		return
	}
	for _, f := range featureErr.Fields {
		field := prefix
		if f.Field != "" {
			field += "." + f.Field
		}
		verr.Add(field, f.Reason)
	}
}
