package server_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/internal/testenv"
)

// operationalSeries are the series an operator needs, which /metrics must
// carry from the start, before anything happened.
var operationalSeries = []string{
	// Connections.
	"hwtrack_mqtt_clients_connected",
	"hwtrack_cluster_connected",
	"hwtrack_upstream_connected",
	// Fixes accepted and rejected by reason.
	"hwtrack_fixes_accepted_total",
	`hwtrack_fixes_rejected_total{reason="malformed_json"}`,
	`hwtrack_fix_fields_dropped_total{field="heading",reason="wrong_type"}`,
	`hwtrack_fix_fields_dropped_total{field="time",reason="time_corrected"}`,
	// Deviations opened and closed by kind.
	`hwtrack_deviations_total{kind="route_deviation",state="open"}`,
	`hwtrack_deviations_total{kind="restricted_zone",state="closed"}`,
	// Outbox depth and age.
	"hwtrack_outbox_depth",
	"hwtrack_outbox_oldest_age_seconds",
	// Storage write latency: the raw log's fsync and the pebble batches.
	"hwtrack_storage_raw_fsync_seconds_count",
	"hwtrack_storage_raw_append_seconds_count",
	`hwtrack_storage_pebble_commit_seconds_count{batch="fixes"}`,
	`hwtrack_storage_pebble_commit_seconds_count{batch="deviations"}`,
	"hwtrack_ingest_batch_seconds_count",
	// Queue depths.
	"hwtrack_ingest_queue_depth",
	"hwtrack_cluster_unacked_messages",
	"hwtrack_mqtt_inflight_messages",
	"hwtrack_timeseries_pending_points",
	// Drops.
	"hwtrack_mqtt_messages_dropped_total",
	"hwtrack_live_subscribers_dropped_total",
	"hwtrack_engine_trip_events_dropped_total",
	"hwtrack_ingest_notices_dropped_total",
	`hwtrack_cluster_dropped_total{reason="envelope"}`,
	"hwtrack_timeseries_points_dropped_total",
	"hwtrack_forward_dead_letters_total",
	`hwtrack_engine_fixes_total{verdict="stale"}`,
	// Ownership and hand-offs of the ingest nodes.
	`hwtrack_cluster_nodes{state="up"}`,
	"hwtrack_cluster_owned_vehicles",
	"hwtrack_cluster_handoffs_total",
	`hwtrack_cluster_messages_total{source="handoff"}`,
	"hwtrack_cluster_adoptions_total",
}

func TestMetricsCoverOperations(t *testing.T) {
	addr := startMetricsServer(t)
	series := scrapeSeries(t, addr)
	for _, want := range operationalSeries {
		if _, ok := series[want]; !ok {
			t.Errorf("/metrics has no series %s", want)
		}
	}

	// What the traffic of startMetricsServer must have counted.
	names := metricNames(series)
	for _, c := range []struct {
		name string
		ok   func(v float64) bool
		want string
	}{
		{"hwtrack_fixes_accepted_total", func(v float64) bool { return v == 61 }, "61"},
		{"hwtrack_fix_fields_dropped_total", func(v float64) bool { return v == 1 }, "1"},
		{"hwtrack_fixes_rejected_total", func(v float64) bool { return v == 1 }, "1"},
		{"hwtrack_deviations_total", func(v float64) bool { return v == 2 }, "2 (the detour opened and closed)"},
		{"hwtrack_storage_raw_fsync_seconds_count", func(v float64) bool { return v > 0 }, "> 0"},
		{"hwtrack_storage_pebble_commit_seconds_count", func(v float64) bool { return v >= 3 }, ">= 3"},
		{"hwtrack_timeseries_points_written_total", func(v float64) bool { return v > 0 }, "> 0"},
		{"hwtrack_cluster_owned_vehicles", func(v float64) bool { return v == 2 }, "2"},
		{"hwtrack_cluster_handoffs_total", func(v float64) bool { return v == 0 }, "0 with a single node"},
		{"hwtrack_cluster_connected", func(v float64) bool { return v == 1 }, "1"},
	} {
		if v := names[c.name]; !c.ok(v) {
			t.Errorf("%s = %v, want %s", c.name, v, c.want)
		}
	}
}

func TestGrafanaDashboardQueriesExistingMetrics(t *testing.T) {
	data, err := os.ReadFile("../docs/grafana/hwtrack-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []dashboardPanel `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" {
		t.Errorf("dashboard has title %q and uid %q; Grafana needs both to import it", dash.Title, dash.UID)
	}
	hasDatasource := slices.ContainsFunc(dash.Templating.List, func(v struct {
		Name  string `json:"name"`
		Type  string `json:"type"`
		Query any    `json:"query"`
	}) bool {
		return v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus"
	})
	if !hasDatasource {
		t.Error("dashboard has no Prometheus datasource variable named datasource")
	}

	var exprs []string
	var walk func(ps []dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if p.Type != "row" && p.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q does not use the datasource variable", p.Title)
			}
			for _, target := range p.Targets {
				if target.Datasource.UID != "${datasource}" {
					t.Errorf("a query of panel %q does not use the datasource variable", p.Title)
				}
				exprs = append(exprs, target.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	if len(exprs) < 20 {
		t.Fatalf("dashboard has %d queries, fewer than the metrics it must show", len(exprs))
	}

	addr := startMetricsServer(t)
	names := metricNames(scrapeSeries(t, addr))
	metricRef := regexp.MustCompile(`\bhwtrack_[a-z0-9_]+`)
	queried := map[string]bool{}
	for _, expr := range exprs {
		for _, name := range metricRef.FindAllString(expr, -1) {
			queried[name] = true
		}
	}
	for name := range queried {
		if _, ok := names[name]; !ok {
			t.Errorf("dashboard queries %s, which the server does not export", name)
		}
	}
	for _, want := range operationalSeries {
		name, _, _ := strings.Cut(want, "{")
		name = strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count")
		if !queried[name] && !queried[name+"_bucket"] {
			t.Errorf("dashboard shows no panel for %s", name)
		}
	}
}

type dashboardPanel struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"`
}

// startMetricsServer runs one ingest node in external mode with InfluxDB,
// so every optional component exports its metrics. It sends the node one
// vehicle on a trip with a detour, one fix with a bad optional field and
// one payload that is not JSON.
func startMetricsServer(t *testing.T) (httpAddr string) {
	t.Helper()
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	influx := testenv.StartInfluxD(t, influxDB)
	dir := t.TempDir()
	cfg := externalConfig(dir, mq.URL(), "m")
	cfg.TimeSeries = influxConfig(dir, influx.URL()).TimeSeries
	srv := startServer(t, cfg)

	v := newFleetVehicle("013300788001", 0, time.Now().Add(-2*time.Hour).Truncate(time.Second))
	v.detourFrom, v.detourTo = 5, 30
	apiPost(t, srv, "/api/v1/vehicles", fmt.Sprintf(`{"terminal":%q,"plate":"浙G·M0001","password":"metrics-vehicle-secret-0123456789"}`, v.terminal), 201, nil)
	apiPost(t, srv, "/api/v1/trips", v.tripJSON(60), 201, nil)
	v.drive(t, mq.URL(), 0, 60, time.Millisecond)

	c := paho.NewClient(paho.NewClientOptions().AddBroker(mq.URL()).SetClientID("metrics-odd-payloads"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer c.Disconnect(50)
	at := time.Now().Add(-time.Minute).UnixMilli()
	for _, payload := range []string{
		fmt.Sprintf(`{"time":%d,"lat":28.9,"lon":120.3,"odometer":-5,"seq":1}`, at),
		`not json`,
	} {
		if tok := c.Publish("hwt/v1/013300788002/fix", 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}

	httpAddr = srv.HTTPAddr().String()
	waitFor(t, 15*time.Second, "the detour to open and close and every message to be counted", func() bool {
		m := metricNames(scrapeSeries(t, httpAddr))
		return m["hwtrack_deviations_total"] == 2 && m["hwtrack_ingest_messages_total"] == 62 &&
			m["hwtrack_timeseries_points_written_total"] > 0
	})
	return httpAddr
}
