package geofence

import (
	"errors"
	"testing"

	"github.com/hwtrack/hwtrack/model"
)

// FuzzParseFeature checks that any input either parses into a zone that
// survives MarshalFeature and ParseFeature again, or fails with a
// *model.ValidationError, and never panics.
func FuzzParseFeature(f *testing.F) {
	f.Add([]byte(squareWithHole))
	f.Add([]byte(`{"type":"Feature","properties":{"name":"c","kind":"site","radius_m":200,"crs":"gcj02"},"geometry":{"type":"Point","coordinates":[120.04,28.89]}}`))
	f.Add([]byte(`{"type":"Feature","properties":{"name":"m","kind":"restricted","window":"22:00-06:00"},"geometry":{"type":"MultiPolygon","coordinates":[[[[120.0,28.8],[120.1,28.8],[120.1,28.9],[120.0,28.8]]]]}}`))
	f.Add([]byte(`{"type":"Feature","properties":{"name":"b","kind":"site"},"geometry":{"type":"Polygon","coordinates":[[[120.0,28.8],[120.1,28.9],[120.1,28.8],[120.0,28.9],[120.0,28.8]]]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		z, err := ParseFeature(raw)
		if err != nil {
			var verr *model.ValidationError
			if !errors.As(err, &verr) || len(verr.Fields) == 0 {
				t.Fatalf("error %v is not a non-empty *model.ValidationError", err)
			}
			return
		}
		b, err := z.MarshalFeature()
		if err != nil {
			t.Fatalf("MarshalFeature: %v", err)
		}
		if _, err := ParseFeature(b); err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		c := z.Bound().Center()
		z.Contains(c[1], c[0])
		z.DistanceToEdgeM(c[1], c[0])
	})
}

// FuzzParseRoute checks that any input either yields a route a corridor
// can be built on or fails with a *model.ValidationError.
func FuzzParseRoute(f *testing.F) {
	f.Add([]byte(`{"type":"LineString","coordinates":[[120.04,28.89],[120.05,28.89]]}`))
	f.Add([]byte(`{"type":"Feature","geometry":{"type":"LineString","coordinates":[[120.04,28.89],[120.04,28.89]]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		line, err := ParseRoute(raw)
		if err != nil {
			var verr *model.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error %v is not a *model.ValidationError", err)
			}
			return
		}
		c, err := NewCorridor(line, 200)
		if err != nil {
			t.Fatalf("NewCorridor on a parsed route: %v", err)
		}
		c.Distance(line[0][1], line[0][0])
	})
}

// FuzzParseZoneFile checks that any input either yields zones with
// distinct ids or fails with a non-empty *model.ValidationError.
func FuzzParseZoneFile(f *testing.F) {
	f.Add([]byte(`{"type":"FeatureCollection","crs":"gcj02","features":[{"type":"Feature","id":"a","properties":{"name":"c","kind":"site","radius_m":200},"geometry":{"type":"Point","coordinates":[120.04,28.89]}}]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","id":1,"properties":{"name":"c","kind":"site","radius_m":200},"geometry":{"type":"Point","coordinates":[120.04,28.89]}},{"type":"Feature","id":"1","properties":{"name":"d","kind":"site","radius_m":200},"geometry":{"type":"Point","coordinates":[120.05,28.89]}}]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		zones, err := ParseZoneFile(raw)
		if err != nil {
			var verr *model.ValidationError
			if !errors.As(err, &verr) || len(verr.Fields) == 0 {
				t.Fatalf("error %v is not a non-empty *model.ValidationError", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, z := range zones {
			if z.ID == "" || seen[z.ID] {
				t.Fatalf("zone id %q is empty or repeated", z.ID)
			}
			seen[z.ID] = true
		}
	})
}
