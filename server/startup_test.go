package server_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/hwtrack/hwtrack/server"
)

func TestFailedStartKeepsAdminTokenUnshown(t *testing.T) {
	dir := t.TempDir()
	shown, passwords := 0, 0
	var token string
	opts := func(zoneFile string) server.Options {
		cfg := testConfig(dir, "")
		cfg.ZoneFiles = []string{zoneFile}
		return server.Options{
			Config: cfg, MQTTListener: listen(t), HTTPListener: listen(t),
			Logger:        slog.New(slog.DiscardHandler),
			AdminToken:    func(tok string) { shown++; token = tok },
			AdminPassword: func(string, string) { passwords++ },
		}
	}

	if _, err := server.Start(opts("no-such-zones.geojson")); err == nil {
		t.Fatal("start with a missing configured zone file succeeded")
	}
	if shown != 0 || passwords != 0 {
		t.Fatalf("a failed start showed the admin token %d times and the console password %d times", shown, passwords)
	}

	srv, err := server.Start(opts("../configs/zones.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if shown != 1 || token == "" || passwords != 1 {
		t.Fatalf("after a successful start the admin token was shown %d times and the console password %d times, want once each", shown, passwords)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+srv.HTTPAddr().String()+"/api/v1/vehicles", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the shown admin token gets status %d", resp.StatusCode)
	}
}
