package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunArguments(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "no command", args: nil, wantCode: exitUsage, wantStderr: "replay"},
		{name: "help lists replay", args: []string{"help"}, wantCode: 0, wantStdout: "replay   play"},
		{name: "help lists load", args: []string{"help"}, wantCode: 0, wantStdout: "load     run a synthetic fleet"},
		{name: "unknown command", args: []string{"soak"}, wantCode: exitUsage, wantStderr: `unknown command "soak"`},
		{name: "load bad qos", args: []string{"load", "-qos", "3"}, wantCode: exitUsage, wantStderr: "invalid -qos 3"},
		{name: "load stray argument", args: []string{"load", "extra"}, wantCode: exitUsage, wantStderr: `unexpected argument "extra"`},
		{name: "load bad source net", args: []string{"load", "-source-net", "10.0.0.0/8", "-api", "http://127.0.0.1:1"}, wantCode: exitUsage, wantStderr: "only loopback addresses"},
		{name: "load bad progress", args: []string{"load", "-progress", "fancy"}, wantCode: exitUsage, wantStderr: `invalid -progress "fancy"`},
		{name: "load help", args: []string{"load", "-h"}, wantCode: 0, wantStderr: "-deviation-rate N"},
		{name: "zones without output", args: []string{"zones"}, wantCode: exitUsage, wantStderr: "-out is required"},
		{name: "replay without files", args: []string{"replay"}, wantCode: exitUsage, wantStderr: "no track files given"},
		{name: "replay bad qos", args: []string{"replay", "-qos", "3", "a.gpx"}, wantCode: exitUsage, wantStderr: "invalid -qos 3"},
		{name: "replay bad batch", args: []string{"replay", "-batch", "0", "a.gpx"}, wantCode: exitUsage, wantStderr: "invalid -batch 0"},
		{name: "replay unknown kind", args: []string{"replay", "-inject", "teleport", "a.gpx"}, wantCode: exitUsage, wantStderr: `unknown deviation kind "teleport"`},
		{name: "replay unsupported kind", args: []string{"replay", "-inject", "overspeed", "a.gpx"}, wantCode: exitUsage, wantStderr: "injecting overspeed is not supported"},
		{name: "replay help", args: []string{"replay", "-h"}, wantCode: 0, wantStderr: "-speedup N"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout.String(), tc.wantStdout)
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

func TestReplayFailsWithoutServer(t *testing.T) {
	// A listener that is closed at once gives a free port nothing serves.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()

	track := filepath.Join(t.TempDir(), "t.gpx")
	gpx := `<gpx><trk><trkseg>
<trkpt lat="28.89" lon="120.04"><time>2026-01-01T00:00:00Z</time></trkpt>
<trkpt lat="28.90" lon="120.05"><time>2026-01-01T00:01:00Z</time></trkpt>
</trkseg></trk></gpx>`
	if err := os.WriteFile(track, []byte(gpx), 0o644); err != nil {
		t.Fatalf("write track: %v", err)
	}
	report := filepath.Join(t.TempDir(), "report.json")

	var stdout, stderr strings.Builder
	code := run(context.Background(), []string{"replay", "-api", "http://" + addr, "-broker", "tcp://" + addr, "-report", report, track}, &stdout, &stderr)
	if code != exitFailed {
		t.Errorf("exit code = %d, want %d", code, exitFailed)
	}
	if !strings.Contains(stdout.String(), "FAIL") || !strings.Contains(stdout.String(), "register vehicle") {
		t.Errorf("table does not show the failure:\n%s", stdout.String())
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("read report: %v", err)
	}
	if !strings.Contains(string(data), `"error": "register vehicle`) {
		t.Errorf("report does not record the error:\n%s", data)
	}
}
