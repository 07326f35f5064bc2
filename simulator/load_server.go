package simulator

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// metricSnapshot holds a server's /metrics samples summed over their
// labels, by metric name.
type metricSnapshot map[string]float64

func (m metricSnapshot) get(name string) float64 { return m[name] }

func (m metricSnapshot) has(name string) bool {
	_, ok := m[name]
	return ok
}

// scrapeMetrics reads the Prometheus text exposition at base/metrics.
func scrapeMetrics(ctx context.Context, base string, client *http.Client) (metricSnapshot, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	return parseMetrics(body), nil
}

// parseMetrics sums every sample of the text format by metric name; the
// load run only needs totals.
func parseMetrics(body []byte) metricSnapshot {
	out := metricSnapshot{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		end := strings.IndexAny(line, "{ ")
		if end <= 0 {
			continue
		}
		name := line[:end]
		rest := line[end:]
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out[name] += v
	}
	return out
}

// ServerCounts holds the server's /metrics counters for a run, as
// differences from before the run unless named otherwise.
type ServerCounts struct {
	BrokerOnly bool `json:"broker_only"`
	// Messages and FixesStored come from the full pipeline; in broker-only
	// mode Messages counts the fix messages the broker acknowledged.
	Messages       float64 `json:"messages"`
	FixesAccepted  float64 `json:"fixes_accepted"`
	FixesStored    float64 `json:"fixes_stored"`
	FixesDuplicate float64 `json:"fixes_duplicate"`
	FixesRejected  float64 `json:"fixes_rejected"`
	// CPUSeconds is the server process's CPU time during the run.
	CPUSeconds float64 `json:"cpu_seconds"`
	// Resident memory of the server process after setup, once the fleet
	// was connected, and at the end of the publishing.
	RSSIdleBytes      float64 `json:"rss_idle_bytes"`
	RSSConnectedBytes float64 `json:"rss_connected_bytes"`
	RSSLoadedBytes    float64 `json:"rss_loaded_bytes"`
	// BytesPerVehicle is (RSSConnectedBytes - RSSIdleBytes) / connected.
	BytesPerVehicle float64 `json:"rss_bytes_per_connected_vehicle"`
	// Settled is false when the server was still storing fixes at the end
	// of the drain time.
	Settled bool   `json:"settled"`
	Error   string `json:"error,omitempty"`
	// Unchecked is the reason the server's counts were not read, if so.
	Unchecked string `json:"unchecked,omitempty"`
}

// fill waits until the server has stored everything it acknowledged, then
// records its counters relative to before.
func (s *ServerCounts) fill(ctx context.Context, run *loadRun, before metricSnapshot) {
	opts := run.opts
	deadline := time.Now().Add(opts.Drain)
	var now metricSnapshot
	prev := -1.0
	for {
		m, err := scrapeMetrics(ctx, opts.API, opts.HTTPClient)
		if err != nil {
			s.Error = err.Error()
			return
		}
		now = m
		done := now.get("hwtrack_fixes_stored_total") + now.get("hwtrack_fixes_duplicate_total")
		if s.BrokerOnly || (now.get("hwtrack_ingest_queue_depth") == 0 && done == prev) {
			s.Settled = true
			break
		}
		prev = done
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	delta := func(name string) float64 { return now.get(name) - before.get(name) }
	if s.BrokerOnly {
		s.Messages = delta("hwtrack_broker_only_fix_messages_total")
	} else {
		s.Messages = delta("hwtrack_ingest_messages_total")
	}
	s.FixesAccepted = delta("hwtrack_fixes_accepted_total")
	s.FixesStored = delta("hwtrack_fixes_stored_total")
	s.FixesDuplicate = delta("hwtrack_fixes_duplicate_total")
	s.FixesRejected = delta("hwtrack_fixes_rejected_total")
	s.CPUSeconds = delta("process_cpu_seconds_total")
	if n := float64(run.connected.Load()); n > 0 && s.RSSConnectedBytes > 0 {
		s.BytesPerVehicle = (s.RSSConnectedBytes - s.RSSIdleBytes) / n
	}
}
