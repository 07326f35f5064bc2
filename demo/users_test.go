package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/hwtrack/hwtrack/config"
)

func TestDemoSampleUsersSignIn(t *testing.T) {
	fleet, err := LoadFleet("../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wantRoles := map[string]string{"regulator": "regulator", "dispatcher": "dispatcher", "manager": "admin"}
	if len(fleet.Users) != len(wantRoles) {
		t.Fatalf("demo.yaml has %d users, want %d", len(fleet.Users), len(wantRoles))
	}

	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.MQTT.Addr = "127.0.0.1:0"
	cfg.MQTT.WebSocketAddr = ""
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.ZoneFiles = []string{"../configs/zones.geojson"}
	d, err := Start(context.Background(), cfg, "../configs/demo.yaml", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	for _, u := range fleet.Users {
		t.Run(u.Username, func(t *testing.T) {
			body := `{"username":"` + u.Username + `","password":"` + u.Password + `"}`
			resp, err := http.Post("http://"+d.Server.HTTPAddr().String()+"/api/v1/session", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sign-in status %d", resp.StatusCode)
			}
			var sess struct {
				User struct {
					Role string `json:"role"`
				} `json:"user"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&sess); err != nil {
				t.Fatal(err)
			}
			if sess.User.Role != wantRoles[u.Username] {
				t.Errorf("role = %q, want %q", sess.User.Role, wantRoles[u.Username])
			}
			for _, c := range resp.Cookies() {
				if c.Name == "hwt_session" && c.Secure {
					t.Error("the demo's session cookie is Secure, so a browser on plain http drops it")
				}
			}
		})
	}
}
