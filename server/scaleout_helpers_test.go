package server_test

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/server"
	"github.com/hwtrack/hwtrack/storage"
)

// externalConfig is testConfig for one ingest node of group "test" that
// consumes from the broker at url and forwards to the same broker. The
// membership timings are short so a lost node is noticed in a test's time.
func externalConfig(dir, url, nodeID string) config.Config {
	cfg := testConfig(dir, url)
	cfg.MQTT.Mode = config.ModeExternal
	cfg.External.URL = url
	cfg.External.Group = "test"
	cfg.External.NodeID = nodeID
	cfg.External.Heartbeat = config.Duration(200 * time.Millisecond)
	cfg.External.NodeTimeout = config.Duration(2 * time.Second)
	cfg.External.StateInterval = config.Duration(500 * time.Millisecond)
	cfg.External.SettleTimeout = config.Duration(3 * time.Second)
	return cfg
}

// fleetVehicle is a synthetic truck driving north at 50 km/h along its
// own route, one fix every 2 s of fix time, optionally leaving the route
// for a stretch of fixes. Routes lie 0.01° of longitude apart from 120.00°
// east; up to 8 of them stay clear of the sample zones.
type fleetVehicle struct {
	terminal string
	lon      float64
	start    time.Time
	// detourFrom and detourTo bound the fixes driven 490 m east of the
	// route, outside its 100 m corridor; equal values mean no detour.
	detourFrom, detourTo int

	// mu guards acked, the seqs of the fixes the broker acknowledged.
	mu    sync.Mutex
	acked map[int]bool
}

func newFleetVehicle(terminal string, index int, start time.Time) *fleetVehicle {
	return &fleetVehicle{terminal: terminal, lon: 120.00 + 0.01*float64(index), start: start, acked: map[int]bool{}}
}

// fixTime returns the fix time of fix k.
func (v *fleetVehicle) fixTime(k int) time.Time {
	return v.start.Add(time.Duration(k) * 2 * time.Second)
}

func (v *fleetVehicle) payload(k int) string {
	lon := v.lon
	if k >= v.detourFrom && k < v.detourTo {
		lon += 0.005
	}
	lat := 28.80 + float64(k)*0.00025
	return fmt.Sprintf(`{"time":%d,"lat":%.6f,"lon":%.6f,"speed":50,"heading":0,"seq":%d}`, v.fixTime(k).UnixMilli(), lat, lon, k)
}

// tripJSON is the body of a trip along the vehicle's route for fixes up
// to n.
func (v *fleetVehicle) tripJSON(n int) string {
	return fmt.Sprintf(`{"terminal":%q,"driver":"王师傅","escort":"李押运",`+
		`"route":{"type":"LineString","coordinates":[[%.2f,28.79],[%.2f,%.6f]]},"corridor_m":100,"bookings":[],`+
		`"planned_start":%q,"planned_end":%q}`,
		v.terminal, v.lon, v.lon, 28.80+float64(n)*0.00025+0.01,
		v.start.Add(-time.Minute).Format(time.RFC3339), time.Now().Add(3*time.Hour).Format(time.RFC3339))
}

// drive publishes fixes from..to-1 at QoS 1 to the broker at url, one per
// pace, each after the previous one's PUBACK, and records the
// acknowledged ones.
func (v *fleetVehicle) drive(t testing.TB, url string, from, to int, pace time.Duration) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(v.terminal).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(2 * time.Second))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Errorf("vehicle %s: connect: %v", v.terminal, tok.Error())
		return
	}
	defer c.Disconnect(50)
	next := time.Now()
	for k := from; k < to; k++ {
		time.Sleep(time.Until(next))
		next = next.Add(pace)
		tok := c.Publish("hwt/v1/"+v.terminal+"/fix", 1, false, v.payload(k))
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Errorf("vehicle %s: fix %d not acknowledged: %v", v.terminal, k, tok.Error())
			return
		}
		v.mu.Lock()
		v.acked[k] = true
		v.mu.Unlock()
	}
}

func (v *fleetVehicle) ackedSeqs() []int {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make([]int, 0, len(v.acked))
	for k := range v.acked {
		out = append(out, k)
	}
	return out
}

// storedSeqs returns the seqs of terminal's fixes in a store.
func storedSeqs(t testing.TB, store *storage.Store, terminal string) map[int]bool {
	t.Helper()
	fixes, err := store.Track(terminal, time.Now().Add(-48*time.Hour), time.Now().Add(time.Hour), 0)
	if err != nil {
		t.Fatalf("track of %s: %v", terminal, err)
	}
	out := make(map[int]bool, len(fixes))
	for _, f := range fixes {
		out[int(f.Seq)] = true
	}
	return out
}

// deviationIDs returns the IDs of terminal's deviations of kind in a store.
func deviationIDs(t testing.TB, store *storage.Store, terminal string, kind model.DeviationKind) map[string]bool {
	t.Helper()
	ds, err := store.Deviations(storage.DeviationQuery{Terminal: terminal, Kind: kind})
	if err != nil {
		t.Fatalf("deviations of %s: %v", terminal, err)
	}
	out := map[string]bool{}
	for _, d := range ds {
		out[d.ID] = true
	}
	return out
}

// scrapeSum returns the sum of every sample of metric name on the server's
// /metrics, labels ignored.
func scrapeSum(t testing.TB, httpAddr, name string) float64 {
	t.Helper()
	return metricNames(scrapeSeries(t, httpAddr))[name]
}

// scrape reads /metrics and sums the samples of each metric name.
func scrape(t testing.TB, httpAddr string) map[string]float64 {
	t.Helper()
	return metricNames(scrapeSeries(t, httpAddr))
}

// scrapeSeries reads /metrics and returns the value of every series, keyed
// by its name and labels as exposed, such as
// hwtrack_cluster_nodes{state="up"}.
func scrapeSeries(t testing.TB, httpAddr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cut := strings.LastIndexByte(line, '}')
		if cut < 0 {
			cut = strings.IndexByte(line, ' ') - 1
		}
		key, value := line[:cut+1], strings.TrimSpace(line[cut+1:])
		value, _, _ = strings.Cut(value, " ")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[key] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read /metrics: %v", err)
	}
	return out
}

// metricNames sums series by metric name.
func metricNames(series map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for key, v := range series {
		name, _, _ := strings.Cut(key, "{")
		out[name] += v
	}
	return out
}

// waitShared waits until srv has the vehicle another node registered.
func waitShared(t testing.TB, srv *server.Server, terminal string) {
	t.Helper()
	waitFor(t, 5*time.Second, "vehicle "+terminal+" to be shared", func() bool {
		_, ok, err := srv.Store().Vehicle(terminal)
		return err == nil && ok
	})
}

// waitTripShared waits until srv has a trip of the vehicle that another
// node created.
func waitTripShared(t testing.TB, srv *server.Server, terminal string) {
	t.Helper()
	waitFor(t, 5*time.Second, "the trip of "+terminal+" to be shared", func() bool {
		trips, err := srv.Store().TripsForVehicle(terminal)
		return err == nil && len(trips) > 0
	})
}
