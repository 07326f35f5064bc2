package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/server"
	"github.com/hwtrack/hwtrack/simulator"
)

// startLoadServer starts a real server on free loopback ports, forwarding
// to upstream when it is not empty, and returns its broker URL, API URL
// and API token.
func startLoadServer(t *testing.T, upstream string, brokerOnly bool) (string, string, string) {
	t.Helper()
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(b[:])
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.MQTT.WebSocketAddr = ""
	// The video relay stays on loopback, on a free port.
	cfg.Video.UDPAddr = "127.0.0.1:0"
	cfg.Video.TCPAddr = ""
	cfg.ZoneFiles = []string{"../../configs/zones.geojson"}
	cfg.HTTP.APITokens = []string{token}
	cfg.Upstream.URL = upstream
	cfg.LogLevel = "warn"

	mqttLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	srv, err := server.Start(server.Options{
		Config: cfg, MQTTListener: mqttLn, HTTPListener: httpLn, BrokerOnly: brokerOnly,
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		AdminToken: func(string) {}, AdminPassword: func(string, string) {},
	})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return "tcp://" + srv.MQTTAddr().String(), "http://" + srv.HTTPAddr().String(), token
}

func readLoadReport(t *testing.T, path string) simulator.LoadReport {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read report: %v", err)
	}
	var rep simulator.LoadReport
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("decode report: %v", err)
	}
	return rep
}

// checkSVG parses path as XML and checks that it is an SVG document with
// at least one data line.
func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read chart: %v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root string
	polylines := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s is not valid XML: %v", path, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
			}
			if se.Name.Local == "polyline" {
				polylines++
			}
		}
	}
	if root != "svg" {
		t.Errorf("%s: root element %q, want svg", path, root)
	}
	if polylines == 0 {
		t.Errorf("%s: no polyline", path)
	}
}

// TestLoadFullServer runs 200 vehicles for a few seconds against a real
// server that forwards to mosquitto, with detours injected, and checks
// that every acknowledged fix was stored and every detour raised exactly
// one route deviation at the regulator broker. Fix time runs 60 times
// faster than the wall clock so a detour passes the server's 30 s
// persistence within seconds.
func TestLoadFullServer(t *testing.T) {
	regulator := testenv.NewMosquitto(t, false)
	regulator.Start()
	broker, api, token := startLoadServer(t, regulator.URL(), false)

	dir := t.TempDir()
	reportPath := filepath.Join(dir, "report.json")
	chartDir := filepath.Join(dir, "charts")
	args := []string{"load",
		"-broker", broker, "-api", api, "-api-token", token,
		"-vehicles", "200", "-interval", "100ms", "-time-scale", "60", "-duration", "10s", "-ramp-up", "1s",
		"-qos", "1", "-window", "4", "-zones", "20", "-deviation-rate", "40",
		"-regulator", regulator.URL(), "-per-source", "50", "-drain", "40s",
		"-routes", "../../configs/demo.yaml", "-synthetic-routes", "20",
		"-report", reportPath, "-charts", chartDir, "-progress", "none",
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr strings.Builder
	code := run(ctx, args, &stdout, &stderr)
	t.Logf("summary:\n%s", stdout.String())
	if code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, stderr.String())
	}

	rep := readLoadReport(t, reportPath)
	if rep.Connected != 200 {
		t.Errorf("connected = %d, want 200", rep.Connected)
	}
	if rep.AckedFixes == 0 || rep.AckedFixes != rep.SentFixes {
		t.Errorf("acked %d of %d sent fixes, want all and more than none", rep.AckedFixes, rep.SentFixes)
	}
	if got := int64(rep.Server.FixesStored); got < rep.AckedFixes {
		t.Errorf("server stored %d fixes, want at least the %d acknowledged", got, rep.AckedFixes)
	}
	if rep.LostFixes != 0 {
		t.Errorf("lost fixes = %d, want 0", rep.LostFixes)
	}
	d := rep.Deviations
	if d.Injected == 0 {
		t.Fatalf("no detour injected; report: %+v", d)
	}
	if d.Opened != d.Injected || d.Missing != 0 {
		t.Errorf("opened %d of %d injected deviations, %d missing", d.Opened, d.Injected, d.Missing)
	}
	if d.Unexpected != 0 {
		t.Errorf("unexpected route deviations = %d, want 0", d.Unexpected)
	}
	if d.Source != "regulator" || d.EndToEnd.Count != uint64(d.Opened) {
		t.Errorf("end-to-end latencies: %d from %q, want %d from the regulator", d.EndToEnd.Count, d.Source, d.Opened)
	}
	if len(rep.Seconds) == 0 {
		t.Error("report has no per-second series")
	}
	for _, name := range []string{"throughput.svg", "latency.svg"} {
		checkSVG(t, filepath.Join(chartDir, name))
	}
}

// TestLoadBrokerOnly checks that a broker-only server acknowledges and
// counts every message, and that a full run compared with it reports a
// ratio.
func TestLoadBrokerOnly(t *testing.T) {
	broker, api, token := startLoadServer(t, "", true)
	dir := t.TempDir()
	basePath := filepath.Join(dir, "broker-only.json")
	args := []string{"load",
		"-broker", broker, "-api", api, "-api-token", token,
		"-vehicles", "50", "-interval", "0", "-duration", "3s", "-window", "8", "-batch", "4",
		"-synthetic-routes", "5", "-routes", "../../configs/demo.yaml", "-source-net", "none",
		"-report", basePath, "-progress", "none",
	}
	var stdout, stderr strings.Builder
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit code %d; stdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	rep := readLoadReport(t, basePath)
	if !rep.Server.BrokerOnly {
		t.Error("report does not mark the server as broker-only")
	}
	if rep.AckedMessages == 0 || int64(rep.Server.Messages) != rep.AckedMessages {
		t.Errorf("server counted %.0f messages, client had %d acknowledged", rep.Server.Messages, rep.AckedMessages)
	}
	if rep.AckedFixes != 4*rep.AckedMessages {
		t.Errorf("acked fixes %d, want 4 per message of %d", rep.AckedFixes, rep.AckedMessages)
	}
	if rep.Deviations.NotChecked == "" {
		t.Error("deviations checked against a broker-only server")
	}

	// A second run against the same server, compared with the first.
	args = append(args[:len(args)-4], "-baseline", basePath, "-progress", "none", "-run-id", "second")
	stdout.Reset()
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("compared run: exit code %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "vs broker-only") {
		t.Errorf("summary has no ratio to the baseline:\n%s", stdout.String())
	}
}
