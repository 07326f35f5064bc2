package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// VictoriaMetricsPath is the server binary installed by Debian's
// victoria-metrics package.
const VictoriaMetricsPath = "/usr/bin/victoria-metrics"

// VictoriaMetrics is a single-node VictoriaMetrics server owned by one
// test, on a free loopback port, with its data in the test's temp dir. It
// accepts InfluxDB line protocol on /api/v2/write but cannot run Flux or
// InfluxQL, so tests read data back through its export API.
type VictoriaMetrics struct {
	Port   int
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// StartVictoriaMetrics starts the server and waits until /health reports
// OK. Without the package the test is skipped, or fails when CI is set.
func StartVictoriaMetrics(t testing.TB) *VictoriaMetrics {
	t.Helper()
	if _, err := os.Stat(VictoriaMetricsPath); err != nil {
		msg := fmt.Sprintf("victoria-metrics not installed at %s (apt-get install victoria-metrics): %v", VictoriaMetricsPath, err)
		if v := os.Getenv("CI"); v == "true" || v == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	vm := &VictoriaMetrics{Port: FreePort(t), stderr: &bytes.Buffer{}}
	vm.cmd = exec.Command(VictoriaMetricsPath,
		"-storageDataPath="+t.TempDir(),
		"-httpListenAddr=127.0.0.1:"+strconv.Itoa(vm.Port),
		"-retentionPeriod=1y",
		// Without this, queries leave out the last 30 s of samples.
		"-search.latencyOffset=0s")
	vm.cmd.Stdout = vm.stderr
	vm.cmd.Stderr = vm.stderr
	if err := vm.cmd.Start(); err != nil {
		t.Fatalf("start victoria-metrics: %v", err)
	}
	t.Cleanup(vm.stop)

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(vm.URL() + "/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if bytes.Contains(body, []byte("OK")) {
				return vm
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("victoria-metrics did not report healthy on port %d within 10 s; output: %s", vm.Port, vm.stderr)
	return nil
}

// URL returns the server's http:// address.
func (vm *VictoriaMetrics) URL() string { return "http://127.0.0.1:" + strconv.Itoa(vm.Port) }

// Export flushes recent writes and returns the JSON lines of
// /api/v1/export for the series selector match, one series a line.
func (vm *VictoriaMetrics) Export(match string) ([]byte, error) {
	resp, err := http.Get(vm.URL() + "/internal/force_flush")
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	resp, err = http.PostForm(vm.URL()+"/api/v1/export", url.Values{"match[]": {match}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("export %s: status %d: %s", match, resp.StatusCode, body)
	}
	return body, nil
}

// stop sends SIGTERM to the server's PID and waits for it to exit,
// killing it after 10 s.
func (vm *VictoriaMetrics) stop() {
	if vm.cmd == nil || vm.cmd.Process == nil {
		return
	}
	cmd := vm.cmd
	vm.cmd = nil
	stopProcess(cmd, 10*time.Second)
}
