package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hwtrack/hwtrack/model"
)

const testZoneFeature = `{"type":"Feature","geometry":{"type":"Point","coordinates":[120.13,28.80]},` +
	`"properties":{"name":"杨溪水库一级保护区","kind":"restricted","radius_m":800}}`

func TestZoneLifecycle(t *testing.T) {
	api := newTestAPI(t)

	r := api.do("POST", "/api/v1/zones", testZoneFeature)
	expectStatus(t, r, http.StatusCreated)
	var created idResponse
	r.json(t, &created)
	if !strings.HasPrefix(created.ID, prefixZone) {
		t.Fatalf("zone id %q lacks prefix %q", created.ID, prefixZone)
	}
	if api.hooks.zonesChanged != 1 {
		t.Errorf("ZonesChanged called %d times after create, want 1", api.hooks.zonesChanged)
	}

	r = api.do("GET", "/api/v1/zones/"+created.ID, nil)
	expectStatus(t, r, http.StatusOK)
	var zone model.Zone
	r.json(t, &zone)
	if zone.ID != created.ID || zone.Name != "杨溪水库一级保护区" || zone.Kind != "restricted" || !zone.CreatedAt.Equal(testStart) {
		t.Errorf("zone = %+v, want the created zone", zone)
	}
	if !strings.Contains(string(zone.Feature), `"radius_m":800`) {
		t.Errorf("feature = %s, want the posted feature", zone.Feature)
	}

	second := api.do("POST", "/api/v1/zones", strings.Replace(testZoneFeature, "杨溪水库一级保护区", "太平水库", 1))
	expectStatus(t, second, http.StatusCreated)

	r = api.do("GET", "/api/v1/zones", nil)
	expectStatus(t, r, http.StatusOK)
	var list zoneList
	r.json(t, &list)
	if len(list.Zones) != 2 || list.Zones[0].ID != created.ID {
		t.Errorf("zone list = %s, want both zones oldest first", r.body)
	}

	r = api.do("DELETE", "/api/v1/zones/"+created.ID, nil)
	expectStatus(t, r, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 response has a body: %s", r.body)
	}
	if api.hooks.zonesChanged != 3 {
		t.Errorf("ZonesChanged called %d times after two creates and a delete, want 3", api.hooks.zonesChanged)
	}

	expectError(t, api.do("DELETE", "/api/v1/zones/"+created.ID, nil), http.StatusNotFound, codeNotFound, "")
	expectError(t, api.do("GET", "/api/v1/zones/"+created.ID, nil), http.StatusNotFound, codeNotFound, "")
	if api.hooks.zonesChanged != 3 {
		t.Errorf("ZonesChanged called after a failed delete")
	}
}

func TestZoneListEmpty(t *testing.T) {
	api := newTestAPI(t)
	r := api.do("GET", "/api/v1/zones", nil)
	expectStatus(t, r, http.StatusOK)
	if strings.TrimSpace(string(r.body)) != `{"zones":[]}` {
		t.Errorf("body = %s, want an empty zones array", r.body)
	}
}

func TestCreateZoneErrors(t *testing.T) {
	cases := []struct {
		name   string
		body   string
		status int
		code   string
		field  string
	}{
		{"not a feature", `{"type":"Point","coordinates":[120,28]}`, 422, codeInvalidInput, "type"},
		{"missing name", `{"type":"Feature","geometry":{"type":"Point","coordinates":[120,28]},"properties":{"kind":"site"}}`, 422, codeInvalidInput, "properties.name"},
		{"parser error", `[1,2]`, 422, codeInvalidInput, "(body)"},
		{"invalid json", `{"type":"Feature",`, 400, codeInvalidJSON, ""},
		{"empty body", ``, 400, codeInvalidJSON, ""},
		{"too large", `{"type":"Feature","pad":"` + strings.Repeat("x", maxZoneBodyBytes) + `"}`, 413, codeTooLarge, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := newTestAPI(t)
			expectError(t, api.do("POST", "/api/v1/zones", tc.body), tc.status, tc.code, tc.field)
			if len(api.store.zones) != 0 || api.hooks.zonesChanged != 0 {
				t.Errorf("rejected zone was stored or announced")
			}
		})
	}
}
