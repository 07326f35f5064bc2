package api

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
)

func TestCreateTripConvertsRouteCRS(t *testing.T) {
	// A route vertex drawn on AMap (GCJ-02) in Shanghai, and one drawn on
	// Baidu (BD-09) from the same WGS-84 point.
	const gcjLat, gcjLon = 31.228458, 121.478223
	bdLat, bdLon := geofence.GCJ02ToBD09(gcjLat, gcjLon)
	wantLat, wantLon := geofence.GCJ02ToWGS84(gcjLat, gcjLon)

	cases := []struct {
		name          string
		crs           string
		lat, lon      float64
		wantLatOfLast float64
		wantLonOfLast float64
	}{
		{"wgs84 unchanged", "", gcjLat, gcjLon, gcjLat, gcjLon},
		{"gcj02 converted", "gcj02", gcjLat, gcjLon, wantLat, wantLon},
		{"GCJ-02 spelling", "GCJ-02", gcjLat, gcjLon, wantLat, wantLon},
		{"bd09 converted", "bd09", bdLat, bdLon, wantLat, wantLon},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newTripFixture(t)
			body := f.body(testStart, testStart.Add(time.Hour))
			body["route"] = map[string]any{"type": "LineString", "coordinates": []any{
				[]any{121.47, 31.22}, []any{tc.lon, tc.lat, 12.0},
			}}
			if tc.crs != "" {
				body["crs"] = tc.crs
			}
			r := f.api.do("POST", "/api/v1/trips", body)
			expectStatus(t, r, http.StatusCreated)
			var created idResponse
			r.json(t, &created)

			var stored struct {
				Coordinates [][]float64 `json:"coordinates"`
			}
			if err := json.Unmarshal(f.api.store.trips[created.ID].Route, &stored); err != nil {
				t.Fatalf("decode stored route: %v", err)
			}
			last := stored.Coordinates[1]
			if d := geofence.HaversineM(last[1], last[0], tc.wantLatOfLast, tc.wantLonOfLast); d > 0.05 {
				t.Errorf("stored vertex [%g, %g] is %.3f m from the expected WGS-84 [%g, %g]",
					last[0], last[1], d, tc.wantLonOfLast, tc.wantLatOfLast)
			}
			if len(last) != 3 || last[2] != 12.0 {
				t.Errorf("stored vertex %v lost its altitude 12", last)
			}
			if math.Abs(stored.Coordinates[0][0]-121.47) < 1e-9 && tc.crs != "" {
				t.Errorf("first vertex %v was not converted from %s", stored.Coordinates[0], tc.crs)
			}
		})
	}
}
