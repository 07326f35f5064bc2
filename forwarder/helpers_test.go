package forwarder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	dto "github.com/prometheus/client_model/go"

	"github.com/prometheus/client_golang/prometheus"
)

const mosquittoPath = "/usr/sbin/mosquitto"

// mosquitto is a broker process owned by one test, listening on a fixed
// loopback port so it can be stopped and started again at the same address.
type mosquitto struct {
	t      testing.TB
	port   int
	conf   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// newMosquitto writes a config for a free loopback port without starting
// the broker. With persistent set, the broker saves its sessions and queued
// messages on SIGTERM and restores them on start, so a subscriber does not
// miss messages across a broker restart.
func newMosquitto(t testing.TB, persistent bool) *mosquitto {
	return newMosquittoWith(t, persistent, func(string) string { return "" })
}

// newMosquittoWith is newMosquitto with listener options: extra receives
// the broker's private directory and returns lines to add under the
// listener, such as TLS files it wrote there.
func newMosquittoWith(t testing.TB, persistent bool, extra func(dir string) string) *mosquitto {
	t.Helper()
	if _, err := os.Stat(mosquittoPath); err != nil {
		t.Skipf("mosquitto not installed at %s (apt-get install mosquitto): %v", mosquittoPath, err)
	}
	dir := t.TempDir()
	port := freePort(t)
	conf := fmt.Sprintf("listener %d 127.0.0.1\n%sallow_anonymous true\nmax_queued_messages 100000\nlog_dest stderr\nlog_type error\n", port, extra(dir))
	if os.Geteuid() == 0 {
		// Started as root, mosquitto switches to the "mosquitto" user,
		// which can neither read nor write this test's private temp dir.
		conf += "user root\n"
	}
	if persistent {
		conf += fmt.Sprintf("persistence true\npersistence_location %s/\n", dir)
	} else {
		conf += "persistence false\n"
	}
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatalf("write mosquitto config: %v", err)
	}
	m := &mosquitto{t: t, port: port, conf: path}
	t.Cleanup(m.stop)
	return m
}

func (m *mosquitto) url() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.port) }

func (m *mosquitto) start() {
	m.t.Helper()
	m.stderr = &bytes.Buffer{}
	m.cmd = exec.Command(mosquittoPath, "-c", m.conf)
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(m.port), 100*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.stop()
	m.t.Fatalf("mosquitto did not accept connections on port %d within 5 s; stderr: %s", m.port, m.stderr)
}

// stop sends SIGTERM to the broker's PID and waits for it to exit, killing
// it after 5 s.
func (m *mosquitto) stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	cmd := m.cmd
	m.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// subscriber records the ids of every message received on {prefix}/#.
type subscriber struct {
	client mqtt.Client

	mu  sync.Mutex
	ids []string // in arrival order, duplicates included
}

// subscribe connects a paho subscriber that resubscribes on every connect.
// cleanSession=false keeps its queue on a persistent broker while it is
// disconnected.
func subscribe(t *testing.T, url, clientID string, cleanSession bool) *subscriber {
	t.Helper()

	s := &subscriber{}
	handler := func(_ mqtt.Client, msg mqtt.Message) {
		var body struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(msg.Payload(), &body); err != nil {
			body.ID = "undecodable: " + err.Error()
		}
		s.mu.Lock()
		s.ids = append(s.ids, body.ID)
		s.mu.Unlock()
	}
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetCleanSession(cleanSession).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(50 * time.Millisecond).
		SetMaxReconnectInterval(100 * time.Millisecond).
		SetOrderMatters(true).
		SetOnConnectHandler(func(c mqtt.Client) {
			// Subscribing from the handler must not wait on the token
			// inside paho's callback, so the SUBACK is not awaited here.
			c.Subscribe(DefaultTopicPrefix+"/#", 1, handler)
		})

	s.client = mqtt.NewClient(opts)
	token := s.client.Connect()
	if !token.WaitTimeout(5*time.Second) || token.Error() != nil {
		t.Fatalf("subscriber connect to %s: %v", url, token.Error())
	}

	// A direct subscribe with a checked SUBACK, so the test does not start
	// publishing before the subscription exists.
	sub := s.client.Subscribe(DefaultTopicPrefix+"/#", 1, handler)
	if !sub.WaitTimeout(5*time.Second) || sub.Error() != nil {
		t.Fatalf("subscribe: %v", sub.Error())
	}
	t.Cleanup(func() { s.client.Disconnect(100) })
	return s
}

func (s *subscriber) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// distinct returns the ids in order of first arrival.
func distinct(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testMessages builds n messages spread round-robin over terminalCount
// terminals, each with a JSON payload carrying its id for the subscriber.
func testMessages(prefix string, n, terminalCount int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		terminal := fmt.Sprintf("T%03d", i%terminalCount)
		id := fmt.Sprintf("%s-%05d", prefix, i)
		body, _ := json.Marshal(map[string]any{"id": id, "terminal": terminal, "n": i})
		msgs[i] = Message{ID: id, Topic: "deviations/" + terminal, Key: terminal, Payload: body}
	}
	return msgs
}

func messageIDs(msgs []Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// testOptions returns options for a forwarder on dir with short reconnect
// delays, logging to the test log at Debug when -v is set.
func testOptions(t *testing.T, url, dir string) Options {
	return Options{
		URL:               url,
		ClientID:          "hwtrack-test-" + t.Name(),
		Dir:               dir,
		MinReconnectDelay: 50 * time.Millisecond,
		MaxReconnectDelay: 300 * time.Millisecond,
		Logger:            testLogger(t),
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// counterValue reads the counter named name with the given label value from
// the forwarder's collectors.
func counterValue(t *testing.T, f *Forwarder, name, labelValue string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() {
		for _, c := range f.Collectors() {
			c.Collect(ch)
		}
		close(ch)
	}()
	var value float64
	found := false
	for m := range ch {
		if !bytes.Contains([]byte(m.Desc().String()), []byte(`"`+name+`"`)) {
			continue
		}
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			t.Fatalf("read metric %s: %v", name, err)
		}
		for _, lp := range out.GetLabel() {
			if lp.GetValue() == labelValue {
				value, found = out.GetCounter().GetValue()+out.GetGauge().GetValue(), true
			}
		}
		if labelValue == "" && len(out.GetLabel()) == 0 {
			value, found = out.GetCounter().GetValue()+out.GetGauge().GetValue(), true
		}
	}
	if !found {
		t.Fatalf("metric %s{%s} not found", name, labelValue)
	}
	return value
}
