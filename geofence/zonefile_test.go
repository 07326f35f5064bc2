package geofence

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/hwtrack/hwtrack/model"
)

// circleFeature is a site circle with the given id and extra properties.
func circleFeature(id, extraProps string, lon, lat float64) string {
	return fmt.Sprintf(`{"type":"Feature","id":%q,"geometry":{"type":"Point","coordinates":[%g,%g]},`+
		`"properties":{"name":"n","kind":"site","radius_m":100%s}}`, id, lon, lat, extraProps)
}

func zoneFile(fileMembers string, features ...string) []byte {
	return []byte(`{"type":"FeatureCollection",` + fileMembers + `"features":[` + strings.Join(features, ",") + `]}`)
}

func TestParseZoneFileCRS(t *testing.T) {
	const gcjLat, gcjLon = 31.228458, 121.478223
	wantLat, wantLon := GCJ02ToWGS84(gcjLat, gcjLon)

	zones, err := ParseZoneFile(zoneFile(`"crs":"gcj02",`,
		circleFeature("file-crs", "", gcjLon, gcjLat),
		circleFeature("own-crs", `,"crs":"wgs84"`, gcjLon, gcjLat)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zones) != 2 {
		t.Fatalf("got %d zones, want 2", len(zones))
	}

	converted, own := zones[0].center, zones[1].center
	if d := HaversineM(converted[1], converted[0], wantLat, wantLon); d > 0.01 {
		t.Errorf("feature without crs in a gcj02 file is %.3f m from the converted centre", d)
	}
	if zones[0].SourceCRS != CRSGCJ02 {
		t.Errorf("feature without crs has source crs %s, want gcj02 from the file", zones[0].SourceCRS)
	}
	if math.Abs(own[1]-gcjLat) > 1e-12 || math.Abs(own[0]-gcjLon) > 1e-12 {
		t.Errorf("feature with its own crs wgs84 was moved to %v", own)
	}
}

func TestParseZoneFileErrors(t *testing.T) {
	good := circleFeature("a", "", 120.0, 28.9)
	cases := []struct {
		name string
		file []byte
		want []model.FieldError
	}{
		{"duplicate ids", zoneFile("", good, circleFeature("b", "", 120.1, 28.9), circleFeature("a", "", 120.2, 28.9)),
			[]model.FieldError{{Field: "features[2].id", Reason: `id "a" is already used by features[0]`}}},
		{"every bad feature", zoneFile("", circleFeature("x", "", 28.9, 120.0), good, circleFeature("y", `,"kind":"nope"`, 120.0, 28.9), `{"type":"Feature","geometry":{"type":"Point","coordinates":[120,28]},"properties":{"name":"n","kind":"site","radius_m":100}}`),
			[]model.FieldError{
				{Field: "features[0].geometry.coordinates", Reason: "latitude 120 is out of range"},
				{Field: "features[2].properties.kind", Reason: `unknown kind "nope"`},
				{Field: "features[3].id", Reason: "missing"},
			}},
		{"unknown file crs", zoneFile(`"crs":"utm",`, good), []model.FieldError{{Field: "crs", Reason: "expected wgs84, gcj02 or bd09"}}},
		{"crs object", zoneFile(`"crs":{"type":"name"},`, good), []model.FieldError{{Field: "crs", Reason: "must be a string"}}},
		{"not a collection", []byte(good), []model.FieldError{{Field: "type", Reason: "FeatureCollection"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseZoneFile(tc.file)
			var verr *model.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error = %v, want a *model.ValidationError", err)
			}
			if len(verr.Fields) != len(tc.want) {
				t.Fatalf("got %d problems %v, want %d", len(verr.Fields), verr.Fields, len(tc.want))
			}
			for i, want := range tc.want {
				got := verr.Fields[i]
				if got.Field != want.Field || !strings.Contains(got.Reason, want.Reason) {
					t.Errorf("problem %d = %s: %s, want %s with %q", i, got.Field, got.Reason, want.Field, want.Reason)
				}
			}
		})
	}
}
