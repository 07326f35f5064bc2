package geofence

import (
	"math"
	"testing"
)

func TestCRSRoundTrip(t *testing.T) {
	cases := []struct {
		name     string
		lat, lon float64
	}{
		{"yongkang centre", 28.8908, 120.0425},
		{"shanghai people's square", 31.2304, 121.4737},
		{"harbin", 45.75, 126.65},
		{"urumqi", 43.83, 87.62},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gLat, gLon := WGS84ToGCJ02(tc.lat, tc.lon)
			shift := HaversineM(tc.lat, tc.lon, gLat, gLon)
			if shift < 100 || shift > 1000 {
				t.Errorf("GCJ-02 shift = %.1f m, want between 100 m and 1000 m inside China", shift)
			}
			wLat, wLon := GCJ02ToWGS84(gLat, gLon)
			if r := HaversineM(tc.lat, tc.lon, wLat, wLon); r >= 0.5 {
				t.Errorf("WGS-84 → GCJ-02 → WGS-84 residual = %.4f m, want < 0.5 m", r)
			}

			bLat, bLon := GCJ02ToBD09(gLat, gLon)
			g2Lat, g2Lon := BD09ToGCJ02(bLat, bLon)
			if r := HaversineM(gLat, gLon, g2Lat, g2Lon); r >= 0.5 {
				t.Errorf("GCJ-02 → BD-09 → GCJ-02 residual = %.4f m, want < 0.5 m", r)
			}
		})
	}
}

func TestWGS84ToGCJ02KnownPoint(t *testing.T) {
	// Reference image of People's Square, Shanghai, under the public formula.
	gLat, gLon := WGS84ToGCJ02(31.2304, 121.4737)
	if math.Abs(gLat-31.228458) > 2e-6 || math.Abs(gLon-121.478223) > 2e-6 {
		t.Errorf("WGS84ToGCJ02(31.2304, 121.4737) = (%.6f, %.6f), want ≈ (31.228458, 121.478223)", gLat, gLon)
	}
}

func TestGCJ02OutsideChinaUnchanged(t *testing.T) {
	cases := []struct {
		name     string
		lat, lon float64
	}{
		{"berlin", 52.52, 13.405},
		{"tokyo east of range", 35.68, 139.76},
		{"sydney", -33.87, 151.21},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gLat, gLon := WGS84ToGCJ02(tc.lat, tc.lon)
			if gLat != tc.lat || gLon != tc.lon {
				t.Errorf("WGS84ToGCJ02 = (%v, %v), want the input unchanged", gLat, gLon)
			}
			wLat, wLon := GCJ02ToWGS84(tc.lat, tc.lon)
			if wLat != tc.lat || wLon != tc.lon {
				t.Errorf("GCJ02ToWGS84 = (%v, %v), want the input unchanged", wLat, wLon)
			}
		})
	}
}

func TestParseCRS(t *testing.T) {
	cases := []struct {
		in      string
		want    CRS
		wantErr bool
	}{
		{"wgs84", CRSWGS84, false},
		{"GCJ-02", CRSGCJ02, false},
		{"bd09", CRSBD09, false},
		{"BD_09", CRSBD09, false},
		{"epsg:4326", CRSUnknown, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseCRS(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ParseCRS(%q) error = %v, want error %v", tc.in, err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("ParseCRS(%q) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
