package demo

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/model"
)

func TestSampleFleetLoads(t *testing.T) {
	f, err := LoadFleet("../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Vehicles) < 3 {
		t.Fatalf("sample fleet has %d vehicles, want at least 3", len(f.Vehicles))
	}
	deviating := 0
	for _, v := range f.Vehicles {
		if len(v.Driven) > 0 {
			deviating++
		}
	}
	if deviating == 0 {
		t.Error("no sample truck leaves its route, so the demo shows no deviation")
	}
}

func TestDemoTrucksMove(t *testing.T) {
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

	var list struct {
		Vehicles []struct {
			Terminal string         `json:"terminal"`
			Online   bool           `json:"online"`
			LastFix  *model.FixJSON `json:"last_fix"`
			TripID   string         `json:"trip_id"`
		} `json:"vehicles"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.Server.HTTPAddr().String()+"/api/v1/vehicles", nil)
		req.Header.Set("Authorization", "Bearer "+d.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		moving := 0
		for _, v := range list.Vehicles {
			if v.Online && v.TripID != "" && v.LastFix != nil {
				moving++
			}
		}
		if len(list.Vehicles) == 4 && moving == 4 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo vehicles after 20 s: %+v, want 4 online on a trip with a last fix", list.Vehicles)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestDemoRestartStartsNewTrips(t *testing.T) {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.MQTT.Addr = "127.0.0.1:0"
	cfg.MQTT.WebSocketAddr = ""
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.ZoneFiles = []string{"../configs/zones.geojson"}
	log := slog.New(slog.DiscardHandler)

	first, err := Start(context.Background(), cfg, "../configs/demo.yaml", log)
	if err != nil {
		t.Fatal(err)
	}
	before := waitForTrips(t, first, nil)
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second, err := Start(context.Background(), cfg, "../configs/demo.yaml", log)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	waitForTrips(t, second, before)
}

// waitForTrips returns each sample vehicle's current trip once all four
// are on a trip other than the one listed in old.
func waitForTrips(t *testing.T, d *Demo, old map[string]string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var list struct {
			Vehicles []struct {
				Terminal string `json:"terminal"`
				TripID   string `json:"trip_id"`
			} `json:"vehicles"`
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+d.Server.HTTPAddr().String()+"/api/v1/vehicles", nil)
		req.Header.Set("Authorization", "Bearer "+d.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		trips := map[string]string{}
		for _, v := range list.Vehicles {
			if v.TripID != "" && v.TripID != old[v.Terminal] {
				trips[v.Terminal] = v.TripID
			}
		}
		if len(trips) == 4 {
			return trips
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s only %d of 4 demo vehicles are on a new trip: %+v (earlier trips %v)", len(trips), list.Vehicles, old)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
