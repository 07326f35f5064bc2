package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/server"
)

const (
	influxDB       = "hwtrack"
	influxPassword = "a-long-random-vehicle-secret-789"
)

// influxConfig selects the InfluxDB backend with small batches and short
// waits, so tests see several batches and quick retries.
func influxConfig(dataDir, influxURL string) config.Config {
	cfg := testConfig(dataDir, "")
	cfg.TimeSeries.Backend = config.BackendInfluxDB
	c := &cfg.TimeSeries.InfluxDB
	c.URL = influxURL
	c.Bucket = influxDB
	c.BatchSize = 200
	c.FlushInterval = config.Duration(100 * time.Millisecond)
	c.WriteTimeout = config.Duration(2 * time.Second)
	c.MaxRetryInterval = config.Duration(300 * time.Millisecond)
	return cfg
}

// fixKey is a fix's identity in these tests: its time in Unix ns and seq.
type fixKey struct {
	timeNs int64
	seq    int64
}

// influxFixes reads terminal's points with InfluxQL, not through the
// server, and counts each (time, seq). It returns nil while influxd does
// not respond.
func influxFixes(t testing.TB, d *testenv.InfluxD, terminal string) map[fixKey]int {
	t.Helper()
	series, err := d.Query(influxDB, fmt.Sprintf(`SELECT seq, lat FROM fix WHERE terminal = '%s'`, terminal))
	if err != nil {
		return nil
	}
	out := map[fixKey]int{}
	for _, s := range series {
		for _, row := range s.Values {
			ts, err1 := row[0].(json.Number).Int64()
			seq, err2 := row[1].(json.Number).Int64()
			if err1 != nil || err2 != nil {
				t.Fatalf("unexpected row %v", row)
			}
			out[fixKey{ts, seq}]++
		}
	}
	return out
}

// publisher sends QoS 1 fixes for one vehicle and remembers each one the
// server acknowledged.
type publisher struct {
	client   paho.Client
	terminal string
	start    time.Time

	mu    sync.Mutex
	acked map[fixKey]bool
	next  int
}

func newPublisher(t testing.TB, mqttAddr, terminal string, start time.Time) *publisher {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + mqttAddr).SetClientID(terminal).
		SetUsername(terminal).SetPassword(influxPassword).SetAutoReconnect(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", terminal, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return &publisher{client: c, terminal: terminal, start: start, acked: map[fixKey]bool{}}
}

// publish sends n fixes 100 ms of fix time apart and reports whether the
// server acknowledged all of them.
func (p *publisher) publish(n int) bool {
	for range n {
		p.mu.Lock()
		i := p.next
		p.next++
		p.mu.Unlock()
		at := p.start.Add(time.Duration(i) * 100 * time.Millisecond)
		payload := fmt.Sprintf(`{"time":%d,"lat":28.85,"lon":120.05,"speed":%d,"seq":%d}`, at.UnixMilli(), i%90, i)
		tok := p.client.Publish("hwt/v1/"+p.terminal+"/fix", 1, false, payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			return false
		}
		p.mu.Lock()
		p.acked[fixKey{at.UnixNano(), int64(i)}] = true
		p.mu.Unlock()
	}
	return true
}

func (p *publisher) acknowledged() map[fixKey]bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[fixKey]bool, len(p.acked))
	for k := range p.acked {
		out[k] = true
	}
	return out
}

// metricValue returns the value of an unlabelled metric from /metrics.
func metricValue(t testing.TB, srv *server.Server, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + srv.HTTPAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + name + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("metric %s not exposed", name)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatalf("metric %s: %v", name, err)
	}
	return v
}

// checkExactlyOnce fails unless InfluxDB holds every acknowledged fix
// exactly once.
func checkExactlyOnce(t *testing.T, acked map[fixKey]bool, stored map[fixKey]int) {
	t.Helper()
	missing, repeated := 0, 0
	for k := range acked {
		switch n := stored[k]; {
		case n == 0:
			missing++
		case n > 1:
			repeated++
		}
	}
	if missing > 0 || repeated > 0 {
		t.Fatalf("of %d acknowledged fixes, %d missing from InfluxDB and %d stored more than once", len(acked), missing, repeated)
	}
}

// trackFixes returns the track API's fixes of terminal from start on.
func trackFixes(t testing.TB, srv *server.Server, terminal string, start time.Time) []map[string]any {
	t.Helper()
	var out struct {
		Fixes []map[string]any `json:"fixes"`
	}
	apiGet(t, srv, fmt.Sprintf("/api/v1/vehicles/%s/track?from=%s&to=%s", terminal,
		start.UTC().Format(time.RFC3339), start.Add(12*time.Hour).UTC().Format(time.RFC3339)), &out)
	return out.Fixes
}

func TestInfluxTrackServedFromInfluxDB(t *testing.T) {
	d := testenv.StartInfluxD(t, influxDB)
	srv := startServer(t, influxConfig(t.TempDir(), d.URL()))
	registerVehicle(t, "http://"+srv.HTTPAddr().String(), "influx01", influxPassword)
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	pub := newPublisher(t, srv.MQTTAddr().String(), "influx01", start)
	if !pub.publish(500) {
		t.Fatal("a fix was not acknowledged")
	}
	waitFor(t, 20*time.Second, "500 fixes in InfluxDB", func() bool { return len(influxFixes(t, d, "influx01")) == 500 })

	local := trackFixes(t, srv, "influx01", start)
	if len(local) != 500 {
		t.Fatalf("track on the ingest node has %d fixes, want 500", len(local))
	}
	if got := metricValue(t, srv, "hwtrack_timeseries_points_written_total"); got < 500 {
		t.Errorf("hwtrack_timeseries_points_written_total = %v, want at least 500", got)
	}

	// A second node with an empty store of its own reads the same track
	// from InfluxDB alone.
	other := startServer(t, influxConfig(t.TempDir(), d.URL()))
	registerVehicle(t, "http://"+other.HTTPAddr().String(), "influx01", influxPassword)
	remote := trackFixes(t, other, "influx01", start)
	if len(remote) != len(local) {
		t.Fatalf("track read from InfluxDB has %d fixes, want %d", len(remote), len(local))
	}
	for i := range local {
		a, _ := json.Marshal(local[i])
		b, _ := json.Marshal(remote[i])
		if string(a) != string(b) {
			t.Fatalf("fix %d differs:\n embedded %s\n InfluxDB %s", i, a, b)
		}
	}
}

func TestInfluxOutageLosesNoAcknowledgedFix(t *testing.T) {
	d := testenv.StartInfluxD(t, influxDB)
	srv := startServer(t, influxConfig(t.TempDir(), d.URL()))
	registerVehicle(t, "http://"+srv.HTTPAddr().String(), "influx02", influxPassword)
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	pub := newPublisher(t, srv.MQTTAddr().String(), "influx02", start)

	// Keep publishing over MQTT while influxd stops and starts again.
	var stopPublishing atomic.Bool
	done := make(chan bool)
	go func() {
		ok := true
		for ok && !stopPublishing.Load() {
			ok = pub.publish(20)
		}
		done <- ok
	}()
	waitFor(t, 20*time.Second, "300 acknowledged fixes", func() bool { return len(pub.acknowledged()) >= 300 })
	d.Stop()
	before := len(pub.acknowledged())
	waitFor(t, 20*time.Second, "300 more fixes acknowledged during the outage", func() bool { return len(pub.acknowledged()) >= before+300 })

	// The operator sees the outage in the metrics.
	waitFor(t, 10*time.Second, "the metrics to show the outage and a spool", func() bool {
		return metricValue(t, srv, "hwtrack_timeseries_up") == 0 && metricValue(t, srv, "hwtrack_timeseries_spool_batches") > 0
	})

	// During the outage the track still shows every acknowledged fix,
	// from the embedded store.
	acked := pub.acknowledged()
	if got := len(trackFixes(t, srv, "influx02", start)); got < len(acked) {
		t.Errorf("track during the outage has %d fixes, fewer than the %d acknowledged", got, len(acked))
	}

	d.Start()
	waitFor(t, 20*time.Second, "300 more fixes acknowledged after the restart", func() bool { return len(pub.acknowledged()) >= len(acked)+300 })
	stopPublishing.Store(true)
	if ok := <-done; !ok {
		t.Fatal("a fix was not acknowledged")
	}
	acked = pub.acknowledged()
	waitFor(t, 30*time.Second, fmt.Sprintf("all %d acknowledged fixes in InfluxDB", len(acked)), func() bool {
		return len(influxFixes(t, d, "influx02")) == len(acked)
	})
	checkExactlyOnce(t, acked, influxFixes(t, d, "influx02"))
}

func TestInfluxShutdownSpoolsPendingFixes(t *testing.T) {
	d := testenv.NewInfluxD(t) // down while the server runs
	dir := t.TempDir()
	cfg := influxConfig(dir, d.URL())
	srv := startServer(t, cfg)
	registerVehicle(t, "http://"+srv.HTTPAddr().String(), "influx03", influxPassword)
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	pub := newPublisher(t, srv.MQTTAddr().String(), "influx03", start)
	if !pub.publish(700) {
		t.Fatal("a fix was not acknowledged")
	}
	pub.client.Disconnect(0)
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	segments, _ := filepath.Glob(filepath.Join(dir, "timeseries-spool", "*.spool"))
	if len(segments) == 0 {
		t.Fatal("no spool segment after shutting down with InfluxDB unreachable")
	}

	d.Start()
	d.CreateDatabase(influxDB)
	startServer(t, cfg)
	acked := pub.acknowledged()
	waitFor(t, 30*time.Second, "the spooled fixes in InfluxDB after the restart", func() bool {
		return len(influxFixes(t, d, "influx03")) == len(acked)
	})
	checkExactlyOnce(t, acked, influxFixes(t, d, "influx03"))
}

// influxChildEnv names the data directory when the test binary runs as
// the server that TestInfluxKillNineKeepsSpool kills.
const influxChildEnv = "HWTRACK_TEST_INFLUX_CHILD_DATA_DIR"

// TestInfluxCrashChild is the killed server: it runs only inside the
// child process started by TestInfluxKillNineKeepsSpool.
func TestInfluxCrashChild(t *testing.T) {
	dir := os.Getenv(influxChildEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestInfluxKillNineKeepsSpool")
	}
	cfg := influxConfig(dir, os.Getenv("HWTRACK_TEST_CHILD_INFLUX_URL"))
	cfg.MQTT.Addr = "127.0.0.1:" + os.Getenv("HWTRACK_TEST_CHILD_MQTT_PORT")
	cfg.HTTP.Addr = "127.0.0.1:" + os.Getenv("HWTRACK_TEST_CHILD_HTTP_PORT")
	if _, err := server.Start(server.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), AdminToken: func(string) {}, AdminPassword: func(string, string) {}}); err != nil {
		t.Fatal(err)
	}
	select {} // until killed
}

func TestInfluxKillNineKeepsSpool(t *testing.T) {
	d := testenv.NewInfluxD(t) // down until after the kill
	dir := t.TempDir()
	mqttPort, httpPort := testenv.FreePort(t), testenv.FreePort(t)
	child := exec.Command(os.Args[0], "-test.run=^TestInfluxCrashChild$", "-test.count=1")
	child.Env = append(os.Environ(), influxChildEnv+"="+dir, "HWTRACK_TEST_CHILD_INFLUX_URL="+d.URL(),
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
	registerVehicle(t, base, "influx04", influxPassword)

	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	pub := newPublisher(t, fmt.Sprintf("127.0.0.1:%d", mqttPort), "influx04", start)
	go pub.publish(100_000)
	waitFor(t, 30*time.Second, "2,000 acknowledged fixes", func() bool { return len(pub.acknowledged()) >= 2000 })
	// Let some batches reach the spool, so both the spool and the raw
	// log replay are exercised.
	waitFor(t, 10*time.Second, "a spool segment", func() bool {
		segments, _ := filepath.Glob(filepath.Join(dir, "timeseries-spool", "*.spool"))
		return len(segments) > 0
	})
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	killed = true
	pub.client.Disconnect(0)
	acked := pub.acknowledged()
	t.Logf("%d fixes acknowledged before kill -9", len(acked))

	d.Start()
	d.CreateDatabase(influxDB)
	startServer(t, influxConfig(dir, d.URL()))
	waitFor(t, 60*time.Second, "every acknowledged fix in InfluxDB after the restart", func() bool {
		stored := influxFixes(t, d, "influx04")
		for k := range acked {
			if stored[k] == 0 {
				return false
			}
		}
		return true
	})
	checkExactlyOnce(t, acked, influxFixes(t, d, "influx04"))
}
