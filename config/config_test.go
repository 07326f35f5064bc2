package config

import (
	"github.com/hwtrack/hwtrack/deviation"

	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hwtrack.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExampleConfigMatchesDefaults(t *testing.T) {
	cfg, err := Load("../configs/hwtrack.example.yaml", nil, Flags{})
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	def := Default()
	if cfg.MQTT != def.MQTT || cfg.Retention != def.Retention || cfg.Rules != def.Rules || cfg.Ingest != def.Ingest {
		t.Errorf("example config differs from defaults:\n got %+v\nwant %+v", cfg, def)
	}
	if !reflect.DeepEqual(cfg.Console, def.Console) {
		t.Errorf("example console settings differ from defaults:\n got %+v\nwant %+v", cfg.Console, def.Console)
	}
	if cfg.TimeSeries != def.TimeSeries {
		t.Errorf("example timeseries settings differ from defaults:\n got %+v\nwant %+v", cfg.TimeSeries, def.TimeSeries)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, "mqtt:\n  addr: \":2883\"\nhttp:\n  addr: \":9080\"\ndata_dir: /tmp/from-file\n")
	env := []string{"HWTRACK_HTTP_ADDR=:9090", "HWTRACK_RETENTION_FIXES=30d", "PATH=/bin"}
	dataDir := "/tmp/from-flag"
	cfg, err := Load(path, env, Flags{DataDir: &dataDir})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.Addr != ":2883" {
		t.Errorf("mqtt.addr = %q, want the file's :2883", cfg.MQTT.Addr)
	}
	if cfg.HTTP.Addr != ":9090" {
		t.Errorf("http.addr = %q, want the environment's :9090", cfg.HTTP.Addr)
	}
	if cfg.DataDir != dataDir {
		t.Errorf("data_dir = %q, want the flag's %q", cfg.DataDir, dataDir)
	}
	if cfg.Retention.Fixes.Std() != 30*24*time.Hour {
		t.Errorf("retention.fixes = %s, want 30d", cfg.Retention.Fixes)
	}
}

func TestEveryBadKeyNamed(t *testing.T) {
	path := writeFile(t, `
mqtt:
  addr: "nonsense"
  max_inflight: 0
  colour: blue
retention:
  fixes: 3 weeks
ingest:
  workers: many
bogus: 1
`)
	env := []string{"HWTRACK_RULES_MARGIN_M=-5", "HWTRACK_RULES_ROUTE_MIN_FIXES=-1", "HWTRACK_NOPE=1", "HWTRACK_DEMO=maybe"}
	_, err := Load(path, env, Flags{})
	var cfgErr *Error
	if !errors.As(err, &cfgErr) {
		t.Fatalf("err = %v, want *Error", err)
	}
	text := err.Error()
	for _, want := range []string{
		"mqtt.colour: unknown key",
		"bogus: unknown key",
		"retention.fixes: line 7",
		"ingest.workers: line 9",
		"mqtt.addr",
		"mqtt.max_inflight",
		"rules.margin_m",
		"rules.route.min_fixes",
		"HWTRACK_NOPE: unknown environment variable",
		"HWTRACK_DEMO: invalid boolean",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("error does not mention %q:\n%s", want, text)
		}
	}
}

func TestShortAPITokenRejected(t *testing.T) {
	token := "short"
	_, err := Load("", nil, Flags{APIToken: &token})
	if err == nil || !strings.Contains(err.Error(), "http.api_tokens[0]") {
		t.Fatalf("err = %v, want a complaint about http.api_tokens[0]", err)
	}
}

func TestUpstreamURLScheme(t *testing.T) {
	cases := []struct {
		name, url string
		ok        bool
	}{
		{"tcp", "tcp://127.0.0.1:1883", true},
		{"ssl", "ssl://regulator.example:8883", true},
		{"ws", "ws://127.0.0.1:9001/mqtt", true},
		{"http rejected", "http://127.0.0.1:1883", false},
		{"no host", "tcp://", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := c.url
			_, err := Load("", nil, Flags{UpstreamURL: &url})
			if (err == nil) != c.ok {
				t.Fatalf("Load(%q) err = %v, want ok=%v", c.url, err, c.ok)
			}
		})
	}
}

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{"30s": 30 * time.Second, "180d": 180 * 24 * time.Hour, "1h30m": 90 * time.Minute}
	for in, want := range cases {
		got, err := ParseDuration(in)
		if err != nil || got.Std() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseDuration("1.5d"); err == nil {
		t.Error("ParseDuration(1.5d) accepted a fractional day")
	}
}

func TestConsoleSettings(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		env     []string
		problem string
	}{
		{"tile url without z", "console:\n  tile_url: https://t.example/{x}/{y}.png\n", nil, "console.tile_url"},
		{"ftp tile url", "console:\n  tile_url: ftp://t.example/{z}/{x}/{y}\n", nil, "console.tile_url"},
		{"bad crs", "console:\n  tile_crs: bd09\n", nil, "console.tile_crs"},
		{"bad language", "console:\n  default_language: fr\n", nil, "console.default_language"},
		{"one number center", "console:\n  center: [28.9]\n", nil, "console.center"},
		{"center out of range", "", []string{"HWTRACK_CONSOLE_CENTER=120.04,28.89"}, "console.center"},
		{"zoom too far", "console:\n  zoom: 30\n", nil, "console.zoom"},
		{"markup in attribution", "console:\n  tile_attribution: <b>x</b>\n", nil, "console.tile_attribution"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.yaml), tc.env, Flags{})
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load error = %v, want *Error", err)
			}
			if !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("error %q does not name %s", err, tc.problem)
			}
		})
	}

	cfg, err := Load(writeFile(t, "console:\n  tile_url: https://t{s}.tiles.example/{z}/{x}/{y}.png\n  tile_crs: gcj02\n  insecure_cookies: true\n"),
		[]string{"HWTRACK_CONSOLE_CENTER=28.5, 120.5", "HWTRACK_CONSOLE_ZOOM=10"}, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Console.TileCRS != "gcj02" || !cfg.Console.InsecureCookies || cfg.Console.Zoom != 10 {
		t.Errorf("console = %+v", cfg.Console)
	}
	if len(cfg.Console.Center) != 2 || cfg.Console.Center[0] != 28.5 || cfg.Console.Center[1] != 120.5 {
		t.Errorf("center = %v, want [28.5 120.5] from the environment", cfg.Console.Center)
	}
	if got := TileHost(cfg.Console.TileURL); got != "https://*.tiles.example" {
		t.Errorf("TileHost = %q, want https://*.tiles.example", got)
	}
}

func TestRuleDefaultsMatchEngine(t *testing.T) {
	r := Default().Rules
	e := deviation.DefaultConfig()
	cases := []struct {
		key       string
		got, want any
	}{
		{"margin_m", r.MarginM, e.MarginM},
		{"max_accuracy_m", r.MaxAccuracyM, e.MaxAccuracyM},
		{"min_fixes", r.MinFixes, e.MinFixes},
		{"persistence", r.Persistence.Std(), e.Persistence},
		{"default_limit_kmh", r.DefaultLimitKmh, e.DefaultLimitKmh},
		{"expressway_limit_kmh", r.ExpresswayLimitKmh, e.ExpresswayLimitKmh},
		{"overspeed_min_duration", r.OverspeedMinDuration.Std(), e.OverspeedMinDuration},
		{"max_implied_kmh", r.MaxImpliedKmh, e.MaxImpliedKmh},
		{"long_stop", r.LongStop.Std(), e.LongStop},
		{"signal_loss", r.SignalLoss.Std(), e.SignalLoss},
		{"trip_overtime_grace", r.TripOvertimeGrace.Std(), e.TripOvertimeGrace},
		{"site_dwell", r.SiteDwell.Std(), e.SiteDwell},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("rules.%s default %v differs from the engine's %v", c.key, c.got, c.want)
		}
	}
}

func TestAPITokenScopes(t *testing.T) {
	cases := []struct {
		entry, scope, token string
	}{
		{"regulator:abcdefghijklmnopqrstuvwxyz01", "regulator", "abcdefghijklmnopqrstuvwxyz01"},
		{"abcdefghijklmnopqrstuvwxyz01", "admin", "abcdefghijklmnopqrstuvwxyz01"},
		{"Ab-9:abcdefghijklmnopqrstuvwxyz01", "admin", "Ab-9:abcdefghijklmnopqrstuvwxyz01"},
	}
	for _, c := range cases {
		scope, token := SplitAPIToken(c.entry)
		if scope != c.scope || token != c.token {
			t.Errorf("SplitAPIToken(%q) = %q, %q; want %q, %q", c.entry, scope, token, c.scope, c.token)
		}
	}

	bad := "operator:abcdefghijklmnopqrstuvwxyz01"
	_, err := Load("", nil, Flags{APIToken: &bad})
	if err == nil || !strings.Contains(err.Error(), `unknown scope "operator"`) {
		t.Errorf("Load with scope operator: err = %v, want an unknown scope error", err)
	}
}

func TestRuleGateFromEnvironment(t *testing.T) {
	cfg, err := Load("", []string{"HWTRACK_RULES_RESTRICTED_PERSISTENCE=10s", "HWTRACK_RULES_JURISDICTION_MARGIN_M=50"}, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Rules.Restricted.Persistence.Std(); got != 10*time.Second {
		t.Errorf("rules.restricted.persistence = %v, want 10s", got)
	}
	if got := cfg.Rules.Jurisdiction.MarginM; got != 50 {
		t.Errorf("rules.jurisdiction.margin_m = %v, want 50", got)
	}
	if cfg.Rules.Route != (RuleGate{}) {
		t.Errorf("rules.route = %+v, want the shared values", cfg.Rules.Route)
	}
}
