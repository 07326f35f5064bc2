package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTimeSeriesSettings(t *testing.T) {
	cases := []struct {
		name    string
		yaml    string
		env     []string
		problem string
	}{
		{"unknown backend", "timeseries:\n  backend: prometheus\n", nil, "timeseries.backend"},
		{"influxdb without url", "timeseries:\n  backend: influxdb\n", nil, "timeseries.influxdb.url: must be set"},
		{"udp url", "timeseries:\n  backend: influxdb\n  influxdb:\n    url: udp://127.0.0.1:8089\n", nil, "timeseries.influxdb.url: scheme"},
		{"url without host", "", []string{"HWTRACK_TIMESERIES_BACKEND=influxdb", "HWTRACK_TIMESERIES_INFLUXDB_URL=http://"}, "timeseries.influxdb.url: missing host"},
		{"token and file", "timeseries:\n  influxdb:\n    token: abc\n    token_file: /etc/hostname\n", nil, "timeseries.influxdb.token_file: set either"},
		{"missing token file", "timeseries:\n  influxdb:\n    token_file: /nonexistent/token\n", nil, "timeseries.influxdb.token_file"},
		{"empty bucket", "timeseries:\n  influxdb:\n    bucket: \"\"\n", nil, "timeseries.influxdb.bucket"},
		{"system measurement", "timeseries:\n  influxdb:\n    measurement: _fix\n", nil, "timeseries.influxdb.measurement"},
		{"zero batch", "", []string{"HWTRACK_TIMESERIES_INFLUXDB_BATCH_SIZE=0"}, "timeseries.influxdb.batch_size"},
		{"tiny spool", "timeseries:\n  influxdb:\n    spool_max_bytes: 1000\n", nil, "timeseries.influxdb.spool_max_bytes"},
		{"instant flush", "timeseries:\n  influxdb:\n    flush_interval: 1ms\n", nil, "timeseries.influxdb.flush_interval"},
		{"short write timeout", "timeseries:\n  influxdb:\n    write_timeout: 10ms\n", nil, "timeseries.influxdb.write_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeFile(t, tc.yaml), tc.env, Flags{})
			var cfgErr *Error
			if !errors.As(err, &cfgErr) {
				t.Fatalf("Load error = %v, want *Error", err)
			}
			if !strings.Contains(err.Error(), tc.problem) {
				t.Errorf("error %q does not name %s", err, tc.problem)
			}
		})
	}
}

func TestTimeSeriesInfluxDB(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("  secret-token-from-a-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(writeFile(t, "timeseries:\n  backend: influxdb\n  influxdb:\n    url: http://127.0.0.1:8086\n    bucket: telematics/autogen\n"),
		[]string{"HWTRACK_TIMESERIES_INFLUXDB_TOKEN_FILE=" + tokenFile, "HWTRACK_TIMESERIES_INFLUXDB_FLUSH_INTERVAL=250ms"}, Flags{})
	if err != nil {
		t.Fatal(err)
	}
	ts := cfg.TimeSeries
	if ts.Backend != BackendInfluxDB || ts.InfluxDB.Bucket != "telematics/autogen" || ts.InfluxDB.FlushInterval.Std() != 250*time.Millisecond {
		t.Errorf("timeseries = %+v", ts)
	}
	token, err := ts.InfluxDB.ResolveToken()
	if err != nil || token != "secret-token-from-a-file" {
		t.Errorf("ResolveToken = %q, %v; want the file's token without white space", token, err)
	}
	if got, want := ts.InfluxDB.SpoolPath("/var/lib/hwtrack"), filepath.Join("/var/lib/hwtrack", "timeseries-spool"); got != want {
		t.Errorf("SpoolPath = %q, want %q", got, want)
	}
}
