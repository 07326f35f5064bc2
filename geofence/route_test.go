package geofence

import (
	"testing"

	"github.com/paulmach/orb"
)

// uShapedJurisdiction is a U open to the north: two arms, lon 120.00 to
// 120.03 and 120.07 to 120.10, above a base from lat 28.90 to 28.93.
const uShapedJurisdiction = `{"type":"Feature","id":"county","properties":{"name":"永康市","kind":"jurisdiction"},"geometry":{"type":"Polygon","coordinates":[[[120.00,28.90],[120.10,28.90],[120.10,29.00],[120.07,29.00],[120.07,28.93],[120.03,28.93],[120.03,29.00],[120.00,29.00],[120.00,28.90]]]}}`

func TestRouteWithin(t *testing.T) {
	county := mustParse(t, uShapedJurisdiction)
	east := mustParse(t, `{"type":"Feature","id":"east","properties":{"name":"east","kind":"jurisdiction"},"geometry":{"type":"Polygon","coordinates":[[[120.10,28.90],[120.20,28.90],[120.20,29.00],[120.10,29.00],[120.10,28.90]]]}}`)
	tests := []struct {
		name  string
		route orb.LineString
		zones []*Zone
		want  bool
	}{
		{"around the notch", orb.LineString{{120.015, 28.98}, {120.015, 28.91}, {120.085, 28.91}, {120.085, 28.98}}, []*Zone{county}, true},
		{"across the notch between inside vertices", orb.LineString{{120.015, 28.98}, {120.085, 28.98}}, []*Zone{county}, false},
		{"ends outside", orb.LineString{{120.015, 28.91}, {120.25, 28.91}}, []*Zone{county}, false},
		{"starts outside", orb.LineString{{119.95, 28.91}, {120.015, 28.91}}, []*Zone{county}, false},
		{"spans two adjacent zones", orb.LineString{{120.085, 28.91}, {120.15, 28.91}}, []*Zone{county, east}, true},
		{"no zones", orb.LineString{{120.015, 28.91}, {120.02, 28.91}}, nil, false},
		{"empty route", nil, []*Zone{county}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RouteWithin(tc.route, tc.zones, 50); got != tc.want {
				t.Errorf("RouteWithin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestIndexJurisdictions(t *testing.T) {
	county := mustParse(t, uShapedJurisdiction)
	site := mustParse(t, `{"type":"Feature","id":"site","properties":{"name":"site","kind":"site","radius_m":100},"geometry":{"type":"Point","coordinates":[120.01,28.91]}}`)

	ix := NewIndex([]*Zone{site, county, nil})
	got := ix.Jurisdictions()
	if len(got) != 1 {
		t.Fatalf("Jurisdictions returned %d zones, want 1", len(got))
	}
	if got[0].ID != "county" {
		t.Errorf("Jurisdictions returned %q, want county", got[0].ID)
	}
	if n := len(NewIndex([]*Zone{site}).Jurisdictions()); n != 0 {
		t.Errorf("index without jurisdictions returned %d", n)
	}
}
