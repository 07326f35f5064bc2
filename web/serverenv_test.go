package web_test

import (
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/server"
)

const testAPIToken = "browser-test-admin-token-0123456789"

func listenLoopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startConsole runs the real server on free loopback ports with Debian's
// mosquitto as the regulator broker, and subscribes to the handling records
// the server forwards there. Each configure function may change the
// configuration before the server starts.
func startConsole(t *testing.T, configure ...func(*config.Config)) *consoleEnv {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("chromium is not installed at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	regulator := testenv.NewMosquitto(t, false)
	regulator.Start()

	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.MQTT.WebSocketAddr = ""
	cfg.HTTP.APITokens = []string{testAPIToken}
	cfg.Upstream.URL = regulator.URL()
	cfg.ZoneFiles = []string{"../configs/zones.geojson"}
	// The test serves the console over plain http on loopback.
	cfg.Console.InsecureCookies = true
	for _, change := range configure {
		change(&cfg)
	}

	logLevel := slog.LevelWarn
	if testing.Verbose() {
		logLevel = slog.LevelInfo
	}
	srv, err := server.Start(server.Options{
		Config:       cfg,
		MQTTListener: listenLoopback(t),
		HTTPListener: listenLoopback(t),
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
		AdminToken:   func(string) {},
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })

	handling := make(chan []byte, 16)
	opts := paho.NewClientOptions().AddBroker(regulator.URL()).SetClientID("browser-test-regulator").
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe(cfg.Upstream.TopicPrefix+"/handling/#", 1, func(_ paho.Client, m paho.Message) {
				select {
				case handling <- m.Payload():
				default:
				}
			})
		})
	sub := paho.NewClient(opts)
	if tok := sub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect to the regulator broker: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })

	return &consoleEnv{
		baseURL:  "http://" + srv.HTTPAddr().String(),
		mqttAddr: srv.MQTTAddr().String(),
		token:    testAPIToken,
		handling: handling,
	}
}
