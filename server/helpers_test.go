package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/server"
)

const testToken = "test-token-0123456789abcdefghij"

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func testConfig(dataDir, upstream string) config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.MQTT.WebSocketAddr = ""
	cfg.HTTP.APITokens = []string{testToken}
	cfg.Upstream.URL = upstream
	cfg.ZoneFiles = []string{"../configs/zones.geojson"}
	return cfg
}

// startServer runs a server on free loopback ports and closes it when the
// test ends.
func startServer(t testing.TB, cfg config.Config) *server.Server {
	t.Helper()
	logLevel := slog.LevelWarn
	if testing.Verbose() {
		logLevel = slog.LevelInfo
	}
	srv, err := server.Start(server.Options{
		Config:       cfg,
		MQTTListener: listen(t),
		HTTPListener: listen(t),
		Logger:       slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel})),
		AdminToken:   func(string) {},
		// Tests that sign in use startServerWith.
		AdminPassword: func(string, string) {},
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// startServerWith is startServer with a receiver for the first console
// admin's password.
func startServerWith(t testing.TB, cfg config.Config, adminPassword func(user, password string)) (*server.Server, error) {
	t.Helper()
	srv, err := server.Start(server.Options{
		Config:        cfg,
		MQTTListener:  listen(t),
		HTTPListener:  listen(t),
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		AdminToken:    func(string) {},
		AdminPassword: adminPassword,
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { srv.Close() })
	return srv, nil
}

// apiGet decodes a JSON response from the server's API into out.
func apiGet(t testing.TB, srv *server.Server, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+srv.HTTPAddr().String()+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: decode %s: %v", path, body, err)
	}
}

// apiPost sends a JSON body and decodes the response; it fails the test
// unless the status is want.
func apiPost(t testing.TB, srv *server.Server, path, body string, want int, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTPAddr().String()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("POST %s: status %d, want %d: %s", path, resp.StatusCode, want, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("POST %s: decode %s: %v", path, data, err)
		}
	}
}

// regulatorMessage is what the tests read of a forwarded message.
type regulatorMessage struct {
	Topic       string
	ID          string `json:"id"`
	DeviationID string `json:"deviation_id"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	Event       string `json:"event"`
	Terminal    string `json:"terminal"`
	Plate       string `json:"plate"`
	Text        string `json:"text"`
	Trip        struct {
		ID string `json:"id"`
	} `json:"trip"`
	Bookings []struct {
		ManifestNo string `json:"manifest_no"`
	} `json:"bookings"`
	Site *struct {
		ID   string  `json:"id"`
		Name string  `json:"name"`
		Lat  float64 `json:"lat"`
		Lon  float64 `json:"lon"`
	} `json:"site"`
}

// regulator is a paho subscriber on the regulator broker that keeps every
// forwarded message.
type regulator struct {
	mu   sync.Mutex
	msgs []regulatorMessage
}

func subscribeRegulator(t testing.TB, url string) *regulator {
	t.Helper()
	r := &regulator{}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID("regulator-test").
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe("hwt/regulator/v1/#", 1, func(_ paho.Client, m paho.Message) {
				var msg regulatorMessage
				if err := json.Unmarshal(m.Payload(), &msg); err != nil {
					t.Errorf("forwarded message on %s is not JSON: %v", m.Topic(), err)
					return
				}
				msg.Topic = m.Topic()
				r.mu.Lock()
				r.msgs = append(r.msgs, msg)
				r.mu.Unlock()
			})
		})
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect regulator subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	time.Sleep(100 * time.Millisecond) // let the subscription settle
	return r
}

func (r *regulator) messages() []regulatorMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]regulatorMessage(nil), r.msgs...)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func splitAddr(t testing.TB, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
