package server_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/model"
)

func TestWebSocketFixIsStored(t *testing.T) {
	cfg := testConfig(t.TempDir(), "")
	wsPort := testenv.FreePort(t)
	cfg.MQTT.WebSocketAddr = "127.0.0.1:" + strconv.Itoa(wsPort)
	srv := startServer(t, cfg)
	apiPost(t, srv, "/api/v1/vehicles", `{"terminal":"ws01","plate":"浙G·W0001","password":"a-long-random-vehicle-secret-789"}`, 201, nil)

	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("ws://127.0.0.1:%d/", wsPort)).
		SetClientID("ws01").SetUsername("ws01").SetPassword("a-long-random-vehicle-secret-789")
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect over WebSocket: %v", tok.Error())
	}
	defer c.Disconnect(100)

	at := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	tok := c.Publish("hwt/v1/ws01/fix", 1, false, fmt.Sprintf(`{"time":%d,"lat":28.85,"lon":120.05}`, at.UnixMilli()))
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish over WebSocket: %v", tok.Error())
	}

	var track struct {
		Fixes []model.FixJSON `json:"fixes"`
	}
	waitFor(t, 5*time.Second, "the fix to be stored", func() bool {
		apiGet(t, srv, "/api/v1/vehicles/ws01/track", &track)
		return len(track.Fixes) == 1
	})
}
