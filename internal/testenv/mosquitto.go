// Package testenv starts the real external components tests run against,
// each on free loopback ports, owned and stopped by the test: a mosquitto
// broker standing in for the regulator's network, and an InfluxDB 1.8
// server for the time-series backend.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// MosquittoPath is where Debian's mosquitto package installs the broker.
const MosquittoPath = "/usr/sbin/mosquitto"

// Mosquitto is a broker process owned by one test, listening on a fixed
// loopback port so it can be stopped and started again at the same address.
type Mosquitto struct {
	t      testing.TB
	Port   int
	conf   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// NewMosquitto writes a config for a free loopback port without starting
// the broker; the test is skipped when mosquitto is not installed. With
// persistent set, the broker saves its sessions and queued messages on
// SIGTERM and restores them on start, so a subscriber does not miss
// messages across a broker restart.
func NewMosquitto(t testing.TB, persistent bool) *Mosquitto {
	return NewMosquittoWith(t, persistent, func(string) string { return "" })
}

// NewMosquittoWith is NewMosquitto with listener options: extra receives
// the broker's private directory and returns lines to add under the
// listener, such as TLS files it wrote there.
func NewMosquittoWith(t testing.TB, persistent bool, extra func(dir string) string) *Mosquitto {
	t.Helper()
	if _, err := os.Stat(MosquittoPath); err != nil {
		t.Skipf("mosquitto not installed at %s (apt-get install mosquitto): %v", MosquittoPath, err)
	}
	dir := t.TempDir()
	port := FreePort(t)
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
	m := &Mosquitto{t: t, Port: port, conf: path}
	t.Cleanup(m.Stop)
	return m
}

// URL returns the broker's tcp:// address.
func (m *Mosquitto) URL() string { return "tcp://127.0.0.1:" + strconv.Itoa(m.Port) }

// Start runs the broker and waits until it accepts connections.
func (m *Mosquitto) Start() {
	m.t.Helper()
	m.stderr = &bytes.Buffer{}
	m.cmd = exec.Command(MosquittoPath, "-c", m.conf)
	m.cmd.Stderr = m.stderr
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(m.Port), 100*time.Millisecond)
		if err == nil {
			_ = conn.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.Stop()
	m.t.Fatalf("mosquitto did not accept connections on port %d within 5 s; stderr: %s", m.Port, m.stderr)
}

// Stop sends SIGTERM to the broker's PID and waits for it to exit, killing
// it after 5 s. It does nothing when the broker is not running.
func (m *Mosquitto) Stop() {
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	cmd := m.cmd
	m.cmd = nil
	stopProcess(cmd, 5*time.Second)
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// SharedData returns the path of the shared real-data folder beside the
// repository, or skips the test with a message when it is absent.
func SharedData(t testing.TB, repoRoot string, rel string) string {
	t.Helper()
	path := filepath.Join(repoRoot, "..", "shared", "data", rel)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("real test data %s not found (it lives in ../shared/data beside the repository): %v", rel, err)
	}
	return path
}
