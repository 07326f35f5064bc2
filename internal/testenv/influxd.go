package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// InfluxDEnv names the influxd binary to use; .ci/run sets it.
const InfluxDEnv = "HWTRACK_INFLUXD"

// RequireInfluxDEnv, set to 1 or true, makes tests fail instead of skip
// when influxd is missing. .ci/run sets it, so CI cannot pass without
// running them; so does CI=true.
const RequireInfluxDEnv = "HWTRACK_REQUIRE_INFLUXD"

// InfluxD is an InfluxDB 1.8 server owned by one test, listening on a fixed
// loopback port with its data in the test's temp dir, so it can be stopped
// and started again at the same address with the same data.
type InfluxD struct {
	t      testing.TB
	bin    string
	Port   int
	conf   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
}

// findInfluxD returns the influxd binary: $HWTRACK_INFLUXD, then influxd on
// PATH, then .bin/influxd in the repository root.
func findInfluxD() (string, error) {
	if p := os.Getenv(InfluxDEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", InfluxDEnv, p, err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".bin", "influxd")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("no influxd on PATH, in $%s or at %s", InfluxDEnv, p)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no influxd on PATH or in $%s, and no repository root above the working directory", InfluxDEnv)
		}
		dir = parent
	}
}

func influxDRequired() bool {
	for _, name := range []string{RequireInfluxDEnv, "CI"} {
		if v := strings.ToLower(os.Getenv(name)); v == "1" || v == "true" {
			return true
		}
	}
	return false
}

// NewInfluxD writes a config for free loopback ports without starting the
// server. When influxd is missing the test is skipped, or fails when
// HWTRACK_REQUIRE_INFLUXD or CI is set.
func NewInfluxD(t testing.TB) *InfluxD {
	t.Helper()
	bin, err := findInfluxD()
	if err != nil {
		msg := fmt.Sprintf("influxd 1.8 not found (%v); build it with: GOBIN=\"$PWD/.bin\" go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10", err)
		if influxDRequired() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	port := FreePort(t)
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "127.0.0.1:%d"
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:%d"
  log-enabled = false
  flux-enabled = true
[monitor]
  store-enabled = false
`, FreePort(t), filepath.Join(dir, "meta"), filepath.Join(dir, "data"), filepath.Join(dir, "wal"), port)
	path := filepath.Join(dir, "influxdb.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatalf("write influxd config: %v", err)
	}
	d := &InfluxD{t: t, bin: bin, Port: port, conf: path}
	t.Cleanup(d.Stop)
	return d
}

// StartInfluxD is NewInfluxD followed by Start and CreateDatabase(db).
func StartInfluxD(t testing.TB, db string) *InfluxD {
	t.Helper()
	d := NewInfluxD(t)
	d.Start()
	d.CreateDatabase(db)
	return d
}

// URL returns the server's http:// address.
func (d *InfluxD) URL() string { return "http://127.0.0.1:" + strconv.Itoa(d.Port) }

// Start runs influxd and waits until /ping responds 204.
func (d *InfluxD) Start() {
	d.t.Helper()
	d.stderr = &bytes.Buffer{}
	d.cmd = exec.Command(d.bin, "run", "-config", d.conf)
	d.cmd.Stdout = d.stderr
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("start influxd: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(d.URL() + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := d.stderr.String()
	d.Stop()
	d.t.Fatalf("influxd did not respond to /ping on port %d within 30 s; output: %s", d.Port, out)
}

// Stop sends SIGTERM to influxd's PID and waits for it to exit, killing it
// after 10 s. It does nothing when influxd is not running.
func (d *InfluxD) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	cmd := d.cmd
	d.cmd = nil
	stopProcess(cmd, 10*time.Second)
}

// CreateDatabase creates db through the InfluxQL endpoint.
func (d *InfluxD) CreateDatabase(db string) {
	d.t.Helper()
	if _, err := d.influxQL("", "CREATE DATABASE "+strconv.Quote(db)); err != nil {
		d.t.Fatalf("create database %s: %v", db, err)
	}
}

// Series is one series of an InfluxQL result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs an InfluxQL query against db with epoch=ns, so times come
// back as Unix nanoseconds, and returns the series of its first result.
// Tests use it to check what the server holds without the code under test.
func (d *InfluxD) Query(db, q string) ([]Series, error) {
	return d.influxQL(db, q)
}

func (d *InfluxD) influxQL(db, q string) ([]Series, error) {
	form := url.Values{"q": {q}, "epoch": {"ns"}}
	if db != "" {
		form.Set("db", db)
	}

	resp, err := http.PostForm(d.URL()+"/query", form)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("influxql %q: status %d: %s", q, resp.StatusCode, body)
	}
	var out struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("influxql %q: decode %s: %w", q, body, err)
	}
	if out.Error != "" {
		return nil, fmt.Errorf("influxql %q: %s", q, out.Error)
	}
	if len(out.Results) == 0 {
		return nil, nil
	}
	if out.Results[0].Error != "" {
		return nil, fmt.Errorf("influxql %q: %s", q, out.Results[0].Error)
	}
	return out.Results[0].Series, nil
}

// Write posts line protocol to db through the 1.x /write endpoint, for
// tests that prepare data without the code under test.
func (d *InfluxD) Write(db, lines string) error {
	resp, err := http.Post(d.URL()+"/write?db="+url.QueryEscape(db), "text/plain", strings.NewReader(lines))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("write to %s: status %d: %s", db, resp.StatusCode, body)
	}
	return nil
}
