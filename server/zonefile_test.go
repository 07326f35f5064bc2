package server_test

import (
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/server"
)

func writeZoneFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zones.geojson")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestZoneFileRejectedAtStart(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		wants []string
	}{
		{"duplicate ids", `{"type":"FeatureCollection","features":[
			{"type":"Feature","id":"depot","geometry":{"type":"Point","coordinates":[120.0,28.9]},"properties":{"name":"A","kind":"site","radius_m":100}},
			{"type":"Feature","id":"depot","geometry":{"type":"Point","coordinates":[120.1,28.9]},"properties":{"name":"B","kind":"site","radius_m":100}}]}`,
			[]string{`features[1].id: id "depot" is already used by features[0]`}},
		{"every bad feature", `{"type":"FeatureCollection","features":[
			{"type":"Feature","id":"a","geometry":{"type":"Point","coordinates":[28.9,120.0]},"properties":{"name":"A","kind":"site","radius_m":100}},
			{"type":"Feature","id":"b","geometry":{"type":"Point","coordinates":[120.1,28.9]},"properties":{"name":"B","kind":"site","radius_m":100}},
			{"type":"Feature","id":"c","geometry":{"type":"Point","coordinates":[120.2,28.9]},"properties":{"name":"C","kind":"site","radius_m":0.5}}]}`,
			[]string{"features[0].geometry.coordinates", "features[2].properties.radius_m"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir(), "")
			cfg.ZoneFiles = []string{writeZoneFile(t, tc.body)}
			srv, err := server.Start(server.Options{
				Config: cfg, MQTTListener: listen(t), HTTPListener: listen(t),
				Logger:     slog.New(slog.DiscardHandler),
				AdminToken: func(string) {}, AdminPassword: func(string, string) {},
			})
			if err == nil {
				srv.Close()
				t.Fatal("start with an invalid zone file succeeded")
			}
			for _, want := range tc.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("start error %q does not name %q", err, want)
				}
			}
		})
	}
}

func TestZoneFileCRSConvertsFeatures(t *testing.T) {
	const gcjLat, gcjLon = 31.228458, 121.478223
	cfg := testConfig(t.TempDir(), "")
	cfg.ZoneFiles = []string{writeZoneFile(t, `{"type":"FeatureCollection","crs":"GCJ-02","features":[
		{"type":"Feature","id":"amap-site","geometry":{"type":"Point","coordinates":[121.478223,31.228458]},"properties":{"name":"A","kind":"site","radius_m":100}}]}`)}
	srv := startServer(t, cfg)

	var zone struct {
		Feature struct {
			Geometry struct {
				Coordinates []float64 `json:"coordinates"`
			} `json:"geometry"`
		} `json:"feature"`
	}
	apiGet(t, srv, "/api/v1/zones/amap-site", &zone)
	got := zone.Feature.Geometry.Coordinates
	if len(got) != 2 {
		t.Fatalf("stored centre = %v", got)
	}
	wantLat, wantLon := geofence.GCJ02ToWGS84(gcjLat, gcjLon)
	if d := geofence.HaversineM(got[1], got[0], wantLat, wantLon); d > 0.01 || math.IsNaN(d) {
		t.Errorf("stored centre %v is %.3f m from the WGS-84 position, want the file's gcj02 converted", got, d)
	}
}
