package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Time-series backends, the values of timeseries.backend.
const (
	// BackendEmbedded keeps fixes in the embedded store only.
	BackendEmbedded = "embedded"
	// BackendInfluxDB also writes every fix to InfluxDB and serves tracks
	// from it.
	BackendInfluxDB = "influxdb"
)

// TimeSeries selects where fix history lives.
type TimeSeries struct {
	// Backend is embedded or influxdb.
	Backend  string   `yaml:"backend"`
	InfluxDB InfluxDB `yaml:"influxdb"`
}

// InfluxDB configures the InfluxDB writer and track reader. It speaks the
// InfluxDB 2 HTTP API, which InfluxDB 2.x, InfluxDB 1.8 and later 1.x
// versions accept.
type InfluxDB struct {
	// URL is the server's http:// or https:// address.
	URL string `yaml:"url"`
	// Token is the API token. InfluxDB 1.8 with authentication enabled
	// takes "username:password"; without authentication it may be empty.
	Token string `yaml:"token"`
	// TokenFile names a file holding the token, so the token stays out of
	// the configuration file. Set at most one of Token and TokenFile.
	TokenFile string `yaml:"token_file"`
	// Org is the organisation; InfluxDB 1.8 ignores it.
	Org string `yaml:"org"`
	// Bucket is the bucket, or for InfluxDB 1.8 "database/retention_policy"
	// or "database" for the default retention policy.
	Bucket string `yaml:"bucket"`
	// Measurement is the measurement fixes are written to.
	Measurement string `yaml:"measurement"`
	// BatchSize is the number of points in one write request.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a point waits for its batch to fill.
	FlushInterval Duration `yaml:"flush_interval"`
	// SpoolDir holds batches that could not be written yet; empty means
	// timeseries-spool under data_dir.
	SpoolDir string `yaml:"spool_dir"`
	// SpoolMaxBytes caps the spool. When it is full, fixes stay in the raw
	// log only and are written after the next start.
	SpoolMaxBytes int `yaml:"spool_max_bytes"`
	// WriteTimeout bounds one write request.
	WriteTimeout Duration `yaml:"write_timeout"`
	// QueryTimeout bounds one track query.
	QueryTimeout Duration `yaml:"query_timeout"`
	// MaxRetryInterval caps the wait between write attempts while InfluxDB
	// is unreachable.
	MaxRetryInterval Duration `yaml:"max_retry_interval"`
}

func defaultTimeSeries() TimeSeries {
	return TimeSeries{
		Backend: BackendEmbedded,
		InfluxDB: InfluxDB{
			Org:              "-",
			Bucket:           "hwtrack",
			Measurement:      "fix",
			BatchSize:        5000,
			FlushInterval:    Duration(time.Second),
			SpoolMaxBytes:    1 << 30,
			WriteTimeout:     Duration(10 * time.Second),
			QueryTimeout:     Duration(30 * time.Second),
			MaxRetryInterval: Duration(30 * time.Second),
		},
	}
}

// ResolveToken returns the token from TokenFile when it is set, with
// surrounding white space removed, else Token.
func (c InfluxDB) ResolveToken() (string, error) {
	if c.TokenFile == "" {
		return c.Token, nil
	}
	b, err := os.ReadFile(c.TokenFile)
	if err != nil {
		return "", fmt.Errorf("read timeseries.influxdb.token_file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// SpoolPath returns the spool directory, defaulting to one under dataDir.
func (c InfluxDB) SpoolPath(dataDir string) string {
	if c.SpoolDir != "" {
		return c.SpoolDir
	}
	return filepath.Join(dataDir, "timeseries-spool")
}

func checkTimeSeries(ts TimeSeries, problems *Error) {
	switch ts.Backend {
	case BackendEmbedded, BackendInfluxDB:
	default:
		problems.add("timeseries.backend: %q is not embedded or influxdb", ts.Backend)
	}

	c := ts.InfluxDB
	if ts.Backend == BackendInfluxDB || c.URL != "" {
		u, err := url.Parse(c.URL)
		switch {
		case c.URL == "":
			problems.add("timeseries.influxdb.url: must be set when timeseries.backend is influxdb, e.g. http://127.0.0.1:8086")
		case err != nil:
			problems.add("timeseries.influxdb.url: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			problems.add("timeseries.influxdb.url: scheme %q is not http or https", u.Scheme)
		case u.Host == "":
			problems.add("timeseries.influxdb.url: missing host:port, e.g. http://127.0.0.1:8086")
		}
	}

	if c.Token != "" && c.TokenFile != "" {
		problems.add("timeseries.influxdb.token_file: set either token or token_file, not both")
	}
	if c.TokenFile != "" {
		if _, err := os.Stat(c.TokenFile); err != nil {
			problems.add("timeseries.influxdb.token_file: %v", err)
		}
	}

	if c.Bucket == "" {
		problems.add("timeseries.influxdb.bucket: must not be empty; for InfluxDB 1.8 use database or database/retention_policy")
	}
	if c.Org == "" {
		problems.add("timeseries.influxdb.org: must not be empty; InfluxDB 1.8 accepts any value such as -")
	}
	if c.Measurement == "" || strings.HasPrefix(c.Measurement, "_") || strings.ContainsAny(c.Measurement, "\n\r\t\"\\") {
		problems.add("timeseries.influxdb.measurement: %q must be non-empty, not start with _ and hold no quotes, backslashes or control characters", c.Measurement)
	}

	checkRange("timeseries.influxdb.batch_size", c.BatchSize, 1, 50_000, problems)
	checkDuration("timeseries.influxdb.flush_interval", c.FlushInterval, 10*time.Millisecond, time.Minute, problems)
	checkRange("timeseries.influxdb.spool_max_bytes", c.SpoolMaxBytes, 1<<20, 1<<40, problems)
	checkDuration("timeseries.influxdb.write_timeout", c.WriteTimeout, time.Second, 10*time.Minute, problems)
	checkDuration("timeseries.influxdb.query_timeout", c.QueryTimeout, time.Second, 10*time.Minute, problems)
	checkDuration("timeseries.influxdb.max_retry_interval", c.MaxRetryInterval, 100*time.Millisecond, time.Hour, problems)
}
