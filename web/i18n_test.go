package web

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func loadCatalogue(t *testing.T, name string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("src", "i18n", name))
	if err != nil {
		t.Fatalf("read catalogue: %v", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return m
}

func TestCataloguesHaveSameKeys(t *testing.T) {
	zh := loadCatalogue(t, "zh-CN.json")
	en := loadCatalogue(t, "en.json")
	for k := range zh {
		if _, ok := en[k]; !ok {
			t.Errorf("key %q is in zh-CN.json but not in en.json", k)
		}
	}
	for k := range en {
		if _, ok := zh[k]; !ok {
			t.Errorf("key %q is in en.json but not in zh-CN.json", k)
		}
	}
}

func TestCataloguesHaveSamePlaceholders(t *testing.T) {
	zh := loadCatalogue(t, "zh-CN.json")
	en := loadCatalogue(t, "en.json")
	placeholder := regexp.MustCompile(`\{\w+\}`)
	for k, zhText := range zh {
		want := placeholder.FindAllString(zhText, -1)
		got := placeholder.FindAllString(en[k], -1)
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Errorf("key %q: zh-CN placeholders %v, en placeholders %v", k, want, got)
		}
	}
}

// TestSourceKeysInCatalogue checks that every literal key the source passes
// to t() or names in a data-i18n attribute is in the catalogue. Keys built
// at run time (such as kind.${kind}) are checked through their prefixes.
func TestSourceKeysInCatalogue(t *testing.T) {
	zh := loadCatalogue(t, "zh-CN.json")
	literal := regexp.MustCompile(`\bt\("([\w.]+)"`)
	attribute := regexp.MustCompile(`data-i18n(?:-placeholder|-title)?="([\w.]+)"`)
	var used []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".js") && !strings.HasSuffix(path, ".html") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range literal.FindAllStringSubmatch(string(b), -1) {
			used = append(used, m[1])
		}
		for _, m := range attribute.FindAllStringSubmatch(string(b), -1) {
			used = append(used, m[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 50 {
		t.Fatalf("found only %d keys in the source; the scan is broken", len(used))
	}
	for _, k := range used {
		if _, ok := zh[k]; !ok {
			t.Errorf("key %q is used in the source but missing from the catalogues", k)
		}
	}

	dynamic := map[string][]string{
		"kind.":              {"route_deviation", "restricted_zone", "overspeed", "long_stop", "signal_loss", "trip_overtime", "device_alarm", "video_loss"},
		"status.":            {"on_trip", "deviation", "no_signal", "offline", "idle"},
		"handling.":          {"new", "acknowledged", "handled"},
		"role.":              {"admin", "dispatcher", "regulator"},
		"zoneKind.":          {"restricted", "site", "speed_limit", "jurisdiction"},
		"feed.":              {"connecting", "connected", "error"},
		"lang.":              {"zh-CN", "en"},
		"camera.state.":      {"idle", "connecting", "playing", "reconnecting", "stopped", "failed"},
		"camera.side.":       {"local", "remote"},
		"camera.channel.":    {"1", "2", "3", "10"},
		"camera.browserIce.": {"failed", "timeout"},
		"action.": {"login", "login_failed", "logout", "deviation_ack", "deviation_handle", "booking_create", "zone_create",
			"zone_update", "zone_delete", "user_create", "trip_create", "trip_complete", "vehicle_register"},
	}
	for prefix, names := range dynamic {
		for _, name := range names {
			if _, ok := zh[prefix+name]; !ok {
				t.Errorf("key %q is missing from the catalogues", prefix+name)
			}
		}
	}
}

func TestDistHasIndexAndAssets(t *testing.T) {
	index, err := fs.ReadFile(Dist, "dist/index.html")
	if err != nil {
		t.Fatalf("embedded dist/index.html: %v", err)
	}
	if !strings.Contains(string(index), `<script type="module"`) {
		t.Errorf("dist/index.html has no module script; was it built by Vite?")
	}
	if strings.Contains(string(index), "/src/main.js") {
		t.Errorf("dist/index.html still points at /src/main.js; run npm run build")
	}
	assets, err := fs.ReadDir(Dist, "dist/assets")
	if err != nil {
		t.Fatalf("embedded dist/assets: %v", err)
	}
	for _, a := range assets {
		if strings.HasSuffix(a.Name(), ".map") {
			t.Errorf("dist/assets/%s: source maps must not be committed", a.Name())
		}
	}
}
