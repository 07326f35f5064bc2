package timeseries

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/internal/testenv"
)

// TestWriterVictoriaMetrics writes through the same InfluxDB v2 write API
// to VictoriaMetrics, which stores each numeric field as its own series
// named measurement_field, in milliseconds.
func TestWriterVictoriaMetrics(t *testing.T) {
	vm := testenv.StartVictoriaMetrics(t)
	w := startWriter(t, testOptions(t, vm.URL()))
	start := time.Now().Add(-time.Hour).Truncate(time.Second)
	fixes := makeFixes("VM1", start, 120, 1)
	w.WriteFixes(fixes)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}

	var lat struct {
		Values     []float64 `json:"values"`
		Timestamps []int64   `json:"timestamps"`
	}
	waitFor(t, 10*time.Second, "120 lat samples in VictoriaMetrics", func() bool {
		body, err := vm.Export(`fix_lat{terminal="VM1"}`)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if err := json.Unmarshal(sc.Bytes(), &lat); err != nil {
				t.Fatalf("decode export line %s: %v", sc.Bytes(), err)
			}
		}
		return len(lat.Values) == len(fixes)
	})
	for i, f := range fixes {
		// VictoriaMetrics stores values as decimals: 1.79.5 returns
		// 28.890050000000002 as 28.89005.
		if lat.Timestamps[i] != f.Time.UnixMilli() || math.Abs(lat.Values[i]-f.Lat) > 1e-9 {
			t.Fatalf("sample %d = (%d, %v), want (%d, %v)", i, lat.Timestamps[i], lat.Values[i], f.Time.UnixMilli(), f.Lat)
		}
	}
	if w.spool.stats().batches != 0 || w.outage.Load() {
		t.Error("writes to VictoriaMetrics failed and were spooled")
	}
}
