package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func seedDeviations(api *testAPI) {
	api.store.deviations = []model.Deviation{
		{ID: "dev_3", Kind: model.KindOverspeed, State: model.StateOpen, Terminal: "T2",
			StartedAt: testStart.Add(-10 * time.Minute), Lat: 28.86, Lon: 120.04, Peak: 78, TextZH: "超速", TextEN: "overspeed"},
		{ID: "dev_1", Kind: model.KindRouteDeviation, State: model.StateClosed, Terminal: "T1", TripID: "trp_1",
			StartedAt: testStart.Add(-2 * time.Hour), EndedAt: testStart.Add(-90 * time.Minute),
			Lat: 28.89, Lon: 120.04, EndLat: 28.88, EndLon: 120.05, Segment: 0, Peak: 640, Late: true,
			TextZH: "偏离路线 640 米", TextEN: "640 m off the route"},
		{ID: "dev_2", Kind: model.KindRestrictedZone, State: model.StateOpen, Terminal: "T1", TripID: "trp_1",
			StartedAt: testStart.Add(-time.Hour), Lat: 28.80, Lon: 120.13, ZoneID: "zon_1", ZoneName: "杨溪水库",
			TextZH: "进入饮用水源保护区", TextEN: "entered a drinking-water protection zone"},
	}
}

func TestListDeviations(t *testing.T) {
	api := newTestAPI(t)
	seedDeviations(api)

	cases := []struct {
		name  string
		query string
		ids   []string
		want  DeviationQuery
	}{
		{"all", "", []string{"dev_3", "dev_2", "dev_1"}, DeviationQuery{Limit: maxDeviations}},
		{"by terminal", "?terminal=T1", []string{"dev_2", "dev_1"}, DeviationQuery{Terminal: "T1", Limit: maxDeviations}},
		{"by kind", "?kind=overspeed", []string{"dev_3"}, DeviationQuery{Kind: model.KindOverspeed, Limit: maxDeviations}},
		{"by state", "?state=open", []string{"dev_3", "dev_2"}, DeviationQuery{State: model.StateOpen, Limit: maxDeviations}},
		{"closed of T1", "?terminal=T1&state=closed", []string{"dev_1"}, DeviationQuery{Terminal: "T1", State: model.StateClosed, Limit: maxDeviations}},
		{"time range", "?from=2026-12-04T07:30:00Z&to=2026-12-04T08:30:00Z", []string{"dev_2"},
			DeviationQuery{From: testStart.Add(-90 * time.Minute), To: testStart.Add(-30 * time.Minute), Limit: maxDeviations}},
		{"limit", "?limit=1", []string{"dev_3"}, DeviationQuery{Limit: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := api.do("GET", "/api/v1/deviations"+tc.query, nil)
			expectStatus(t, r, http.StatusOK)
			var list deviationList
			r.json(t, &list)
			var ids []string
			for _, d := range list.Deviations {
				ids = append(ids, d.ID)
			}
			if strings.Join(ids, ",") != strings.Join(tc.ids, ",") {
				t.Errorf("ids = %v, want %v, newest first", ids, tc.ids)
			}
			got := api.store.queries[len(api.store.queries)-1]
			if got.Terminal != tc.want.Terminal || got.Kind != tc.want.Kind || got.State != tc.want.State ||
				!got.From.Equal(tc.want.From) || !got.To.Equal(tc.want.To) || got.Limit != tc.want.Limit {
				t.Errorf("store query = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDeviationShape(t *testing.T) {
	api := newTestAPI(t)
	seedDeviations(api)
	r := api.do("GET", "/api/v1/deviations?terminal=T1", nil)
	expectStatus(t, r, http.StatusOK)

	var list struct {
		Deviations []map[string]any `json:"deviations"`
	}
	r.json(t, &list)
	open, closed := list.Deviations[0], list.Deviations[1]

	for _, key := range []string{"id", "kind", "state", "terminal", "trip_id", "started_at", "ended_at", "lat", "lon", "late", "text", "text_en"} {
		if _, ok := open[key]; !ok {
			t.Errorf("open deviation lacks %q: %v", key, open)
		}
	}
	if closed["kind"] != "route_deviation" || closed["state"] != "closed" || closed["late"] != true {
		t.Errorf("closed deviation = %v, want kind, state and late as strings and booleans", closed)
	}
	if closed["ended_at"] != "2026-12-04T07:30:00Z" || closed["end_lat"] != 28.88 || closed["segment"] != 0.0 {
		t.Errorf("closed deviation = %v, want ended_at, end position and segment 0", closed)
	}
	if open["ended_at"] != nil || open["end_lat"] != nil {
		t.Errorf("open deviation ended_at = %v, end_lat = %v; want null", open["ended_at"], open["end_lat"])
	}
	if open["text"] != "进入饮用水源保护区" || open["zone_name"] != "杨溪水库" {
		t.Errorf("open deviation = %v, want the Chinese text and zone name", open)
	}
	if _, ok := open["segment"]; ok {
		t.Errorf("a restricted-zone deviation has a route segment: %v", open)
	}
}

func TestListDeviationsQueryErrors(t *testing.T) {
	api := newTestAPI(t)
	cases := []struct {
		name   string
		query  string
		field  string
		reason string
	}{
		{"unknown kind", "?kind=speeding", "kind", "allowed: route_deviation, restricted_zone, overspeed, long_stop, signal_loss, trip_overtime, device_alarm, video_loss"},
		{"kind unknown literal", "?kind=unknown", "kind", "allowed:"},
		{"unknown state", "?state=active", "state", "allowed: open, closed"},
		{"bad from", "?from=2026-12-04", "from", "RFC 3339"},
		{"from after to", "?from=2026-12-04T09:00:00Z&to=2026-12-04T08:00:00Z", "from", "before to"},
		{"bad terminal", "?terminal=T/1", "terminal", "ASCII"},
		{"bad limit", "?limit=-5", "limit", "1 to 10000"},
		{"unknown parameter", "?vehicle=T1", "vehicle", "unknown query parameter"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := expectError(t, api.do("GET", "/api/v1/deviations"+tc.query, nil), http.StatusBadRequest, codeInvalidQuery, tc.field)
			if !strings.Contains(e.Fields[0].Reason, tc.reason) {
				t.Errorf("reason %q does not contain %q", e.Fields[0].Reason, tc.reason)
			}
		})
	}
}

func TestAllowedKindsMatchModel(t *testing.T) {
	if len(allowedKinds) != int(model.KindVideoLoss) {
		t.Fatalf("allowedKinds has %d entries, model has %d kinds", len(allowedKinds), model.KindVideoLoss)
	}
	for i, name := range allowedKinds {
		kind, ok := model.ParseDeviationKind(name)
		if !ok || kind != model.DeviationKind(i+1) {
			t.Errorf("allowedKinds[%d] = %q parses to %v, %v", i, name, kind, ok)
		}
	}
}
