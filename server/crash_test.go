package server_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/server"
)

// childEnv names the data directory when the test binary runs as the
// server process that TestKillNineLosesNoAcknowledgedFix kills.
const childEnv = "HWTRACK_TEST_CHILD_DATA_DIR"

// TestCrashChild is the killed server: it runs only inside the child
// process started by TestKillNineLosesNoAcknowledgedFix.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestKillNineLosesNoAcknowledgedFix")
	}
	cfg := testConfig(dir, "")
	cfg.MQTT.Addr = "127.0.0.1:" + os.Getenv("HWTRACK_TEST_CHILD_MQTT_PORT")
	cfg.HTTP.Addr = "127.0.0.1:" + os.Getenv("HWTRACK_TEST_CHILD_HTTP_PORT")
	_, err := server.Start(server.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), AdminToken: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	select {} // until killed
}

func TestKillNineLosesNoAcknowledgedFix(t *testing.T) {
	dir := t.TempDir()
	mqttPort, httpPort := testenv.FreePort(t), testenv.FreePort(t)
	child := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	child.Env = append(os.Environ(), childEnv+"="+dir,
		"HWTRACK_TEST_CHILD_MQTT_PORT="+strconv.Itoa(mqttPort), "HWTRACK_TEST_CHILD_HTTP_PORT="+strconv.Itoa(httpPort))
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})

	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	waitFor(t, 20*time.Second, "the child server to start", func() bool {
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	registerVehicle(t, base, "crash01", "a-long-random-vehicle-secret-456")

	// Publish QoS 1 fixes from four goroutines sharing one connection and
	// record each fix whose PUBACK arrived; kill -9 the server mid-stream.
	opts := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", mqttPort)).
		SetClientID("crash01").SetUsername("crash01").SetPassword("a-long-random-vehicle-secret-456").
		SetAutoReconnect(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	start := time.Now().Add(-time.Hour).Truncate(time.Second)

	var mu sync.Mutex
	acked := map[int64]bool{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 40000; i += 4 {
				at := start.Add(time.Duration(i) * 50 * time.Millisecond)
				payload := fmt.Sprintf(`{"time":%d,"lat":28.85,"lon":120.05,"speed":0,"seq":%d}`, at.UnixMilli(), i)
				tok := c.Publish("hwt/v1/crash01/fix", 1, false, payload)
				if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
					return
				}
				mu.Lock()
				acked[at.UnixNano()] = true
				mu.Unlock()
			}
		}()
	}
	waitFor(t, 30*time.Second, "2,000 acknowledged fixes", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(acked) >= 2000
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	killed = true
	c.Disconnect(0)
	wg.Wait()

	mu.Lock()
	n := len(acked)
	mu.Unlock()
	t.Logf("%d fixes acknowledged before kill -9", n)

	srv := startServer(t, testConfig(dir, ""))
	fixes, err := srv.Store().Track("crash01", start.Add(-time.Minute), time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int64]bool{}
	for _, f := range fixes {
		stored[f.Time.UnixNano()] = true
	}
	missing := 0
	for ts := range acked {
		if !stored[ts] {
			missing++
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged fixes missing after kill -9 and restart", missing, n)
	}
	if len(fixes) < n {
		t.Fatalf("stored %d fixes, fewer than the %d acknowledged", len(fixes), n)
	}
}

func registerVehicle(t testing.TB, base, terminal, password string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/vehicles",
		stringsReader(fmt.Sprintf(`{"terminal":%q,"plate":"浙G·C0001","password":%q}`, terminal, password)))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register vehicle: status %d", resp.StatusCode)
	}
}
