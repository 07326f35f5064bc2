package server_test

import (
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/cluster"
	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/server"
)

// measureEnv enables TestMeasureScaleout, which takes about two minutes
// and prints the figures docs/scaling.md records.
const measureEnv = "HWTRACK_SCALEOUT_MEASURE"

func TestMeasureScaleout(t *testing.T) {
	if os.Getenv(measureEnv) == "" {
		t.Skipf("set %s=1 to measure one and two ingest nodes", measureEnv)
	}
	const vehicles, duration = 200, 15 * time.Second
	for _, nodes := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d nodes flat out", nodes), func(t *testing.T) {
			measureThroughput(t, nodes, vehicles, duration, 0)
		})
		t.Run(fmt.Sprintf("%d nodes at 1000 fixes per second", nodes), func(t *testing.T) {
			measureThroughput(t, nodes, vehicles, duration, 200*time.Millisecond)
		})
	}
	t.Run("takeover after kill", measureTakeover)
	t.Run("hand-over on leave", measureLeave)
}

// measureThroughput drives a fleet whose vehicles publish one fix per
// interval, or as fast as the PUBACKs come back when interval is 0, with
// one unacknowledged message per vehicle as onboard units do. It reports
// the broker's acknowledged rate, the rate at which the nodes stored the
// fixes, the hand-offs and the raw log's latency.
func measureThroughput(t *testing.T, nodes, vehicles int, duration, interval time.Duration) {
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	var servers []*server.Server
	for i := range nodes {
		servers = append(servers, startServer(t, externalConfig(t.TempDir(), mq.URL(), fmt.Sprintf("n%d", i+1))))
	}
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	fleet := make([]*fleetVehicle, vehicles)
	for i := range fleet {
		fleet[i] = newFleetVehicle(fmt.Sprintf("0133008%05d", i), i%8, start)
		apiPost(t, servers[0], "/api/v1/vehicles", fmt.Sprintf(`{"terminal":%q,"plate":"浙G·P%04d","password":"scaleout-vehicle-secret-0123456789"}`, fleet[i].terminal, i), 201, nil)
	}

	var acked atomic.Int64
	began := time.Now()
	stop := began.Add(duration)
	var drivers sync.WaitGroup
	for _, v := range fleet {
		drivers.Go(func() { acked.Add(int64(v.flood(t, mq.URL(), stop, interval))) })
	}
	drivers.Wait()
	published := time.Since(began)

	stored := func() float64 {
		var n float64
		for _, srv := range servers {
			m := scrape(t, srv.HTTPAddr().String())
			n += m["hwtrack_fixes_stored_total"] + m["hwtrack_fixes_duplicate_total"]
		}
		return n
	}
	deadline := time.Now().Add(time.Minute)
	for stored() < float64(acked.Load()) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	done := time.Since(began)
	total := stored()
	if missing := float64(acked.Load()) - total; missing > 0 {
		t.Logf("%.0f acknowledged fixes never reached a node; mosquitto reports %s messages dropped", missing, brokerDropped(mq.URL()))
	}

	var received, handoffs float64
	var latency, fsync, appendLat []bucket
	for _, srv := range servers {
		series := scrapeSeries(t, srv.HTTPAddr().String())
		m := metricNames(series)
		received += m["hwtrack_cluster_messages_total"] - handedIn(series)
		handoffs += m["hwtrack_cluster_handoffs_total"]
		latency = append(latency, buckets(series, "hwtrack_cluster_handoff_seconds_bucket")...)
		fsync = append(fsync, buckets(series, "hwtrack_storage_raw_fsync_seconds_bucket")...)
		appendLat = append(appendLat, buckets(series, "hwtrack_storage_raw_append_seconds_bucket")...)
	}
	t.Logf("raw log fsync p50 %.1f ms p99 %.1f ms; append until durable p50 %.1f ms p99 %.1f ms",
		1000*quantile(fsync, 0.5), 1000*quantile(fsync, 0.99), 1000*quantile(appendLat, 0.5), 1000*quantile(appendLat, 0.99))
	t.Logf("%d node(s), %d vehicles: broker acknowledged %d fixes in %s (%.0f/s); %.0f stored after %s (%.0f/s end to end); %.0f%% of messages handed off, hand-off p50 %.1f ms, p99 %.1f ms",
		nodes, vehicles, acked.Load(), published.Round(time.Millisecond), float64(acked.Load())/published.Seconds(),
		total, done.Round(time.Millisecond), total/done.Seconds(), 100*handoffs/math.Max(received, 1),
		1000*quantile(latency, 0.5), 1000*quantile(latency, 0.99))
	t.Logf("load average at the end: %s", loadAverage())
}

// flood publishes the vehicle's fixes one per interval, each after the
// previous PUBACK, until stop, and returns how many were acknowledged.
func (v *fleetVehicle) flood(t testing.TB, url string, stop time.Time, interval time.Duration) int {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(v.terminal).
		SetProtocolVersion(4).SetCleanSession(true).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Errorf("vehicle %s: connect: %v", v.terminal, tok.Error())
		return 0
	}
	defer c.Disconnect(50)
	n := 0
	next := time.Now()
	for k := 0; time.Now().Before(stop); k++ {
		time.Sleep(time.Until(next))
		next = next.Add(interval)
		tok := c.Publish("hwt/v1/"+v.terminal+"/fix", 1, false, v.payload(k))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Errorf("vehicle %s: fix %d not acknowledged: %v", v.terminal, k, tok.Error())
			return n
		}
		n++
	}
	return n
}

// handedIn returns how many messages a node received from other nodes.
func handedIn(series map[string]float64) float64 {
	return series[`hwtrack_cluster_messages_total{source="handoff"}`] + series[`hwtrack_cluster_messages_total{source="adopted"}`]
}

type bucket struct {
	le    float64
	count float64
}

// buckets returns the cumulative buckets of one histogram series.
func buckets(series map[string]float64, name string) []bucket {
	var out []bucket
	for key, v := range series {
		if !strings.HasPrefix(key, name+"{") {
			continue
		}
		_, le, _ := strings.Cut(key, `le="`)
		le, _, _ = strings.Cut(le, `"`)
		bound, err := strconv.ParseFloat(le, 64)
		if err != nil {
			bound = math.Inf(1)
		}
		out = append(out, bucket{le: bound, count: v})
	}
	return out
}

// quantile estimates a quantile from cumulative buckets of one or more
// nodes, as the upper bound of the bucket it falls in.
func quantile(bs []bucket, q float64) float64 {
	if len(bs) == 0 {
		return math.NaN()
	}
	merged := map[float64]float64{}
	for _, b := range bs {
		merged[b.le] += b.count
	}
	bounds := make([]float64, 0, len(merged))
	for le := range merged {
		bounds = append(bounds, le)
	}
	sort.Float64s(bounds)
	total := merged[bounds[len(bounds)-1]]
	if total == 0 {
		return math.NaN()
	}
	for _, le := range bounds {
		if merged[le] >= q*total {
			return le
		}
	}
	return math.Inf(1)
}

// measureTakeover kills a node running as a child process while its
// vehicles publish 10 fixes a second each, and reports how long the fixes
// of its vehicles went unevaluated.
func measureTakeover(t *testing.T) {
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	a := newChildNode(t, t.TempDir(), mq.URL(), "a")
	a.start()
	b := startServer(t, externalConfig(t.TempDir(), mq.URL(), "b"))
	fleet, orphan := ownedFleet(t, b, "a")

	stop := make(chan struct{})
	var drivers sync.WaitGroup
	for _, v := range fleet {
		drivers.Go(func() { v.pace(t, mq.URL(), 100*time.Millisecond, stop) })
	}
	time.Sleep(3 * time.Second)
	a.kill()
	killed := time.Now()
	before := len(storedSeqs(t, b.Store(), orphan.terminal))
	waitFor(t, 30*time.Second, "node b to store a fix of node a's vehicle", func() bool {
		return len(storedSeqs(t, b.Store(), orphan.terminal)) > before
	})
	gap := time.Since(killed)
	close(stop)
	drivers.Wait()
	t.Logf("kill -9 of node a: node b stored the next fix of a's vehicle %s after the kill", gap.Round(time.Millisecond))
}

// measureLeave closes a node while its vehicles publish and reports how
// long Close took and how long its vehicles' fixes went unevaluated.
func measureLeave(t *testing.T) {
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	a := startServer(t, externalConfig(t.TempDir(), mq.URL(), "a"))
	b := startServer(t, externalConfig(t.TempDir(), mq.URL(), "b"))
	fleet, orphan := ownedFleet(t, b, "a")

	stop := make(chan struct{})
	var drivers sync.WaitGroup
	for _, v := range fleet {
		drivers.Go(func() { v.pace(t, mq.URL(), 100*time.Millisecond, stop) })
	}
	time.Sleep(3 * time.Second)
	began := time.Now()
	if err := a.Close(); err != nil {
		t.Errorf("close node a: %v", err)
	}
	closed := time.Since(began)
	before := len(storedSeqs(t, b.Store(), orphan.terminal))
	waitFor(t, 30*time.Second, "node b to store a fix of node a's vehicle", func() bool {
		return len(storedSeqs(t, b.Store(), orphan.terminal)) > before
	})
	gap := time.Since(began)
	close(stop)
	drivers.Wait()
	t.Logf("clean leave of node a: Close took %s; node b stored the next fix of a's vehicle %s after Close began",
		closed.Round(time.Millisecond), gap.Round(time.Millisecond))
}

// ownedFleet registers 8 vehicles through srv and returns them with one
// that node owner owns.
func ownedFleet(t *testing.T, srv *server.Server, owner string) (fleet []*fleetVehicle, owned *fleetVehicle) {
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	for i := range 8 {
		v := newFleetVehicle(fmt.Sprintf("0133009000%02d", i), i, start)
		fleet = append(fleet, v)
		apiPost(t, srv, "/api/v1/vehicles", fmt.Sprintf(`{"terminal":%q,"plate":"浙G·Q%04d","password":"scaleout-vehicle-secret-0123456789"}`, v.terminal, i), 201, nil)
		if owned == nil && cluster.Owner(v.terminal, []string{"a", "b"}) == owner {
			owned = v
		}
	}
	if owned == nil {
		t.Fatalf("no vehicle of the fleet belongs to node %s", owner)
	}
	return fleet, owned
}

// pace publishes one fix per interval until stop, reconnecting after
// errors.
func (v *fleetVehicle) pace(t testing.TB, url string, interval time.Duration, stop <-chan struct{}) {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(v.terminal).SetProtocolVersion(4))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Errorf("vehicle %s: connect: %v", v.terminal, tok.Error())
		return
	}
	defer c.Disconnect(50)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for k := 0; ; k++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		c.Publish("hwt/v1/"+v.terminal+"/fix", 1, false, v.payload(k)).WaitTimeout(5 * time.Second)
	}
}

// loadAverage returns the machine's 1, 5 and 15 minute load averages, so a
// reading taken while other work ran is recognisable.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// brokerDropped reads mosquitto's count of messages it dropped because a
// client's queue was full.
func brokerDropped(url string) string {
	got := make(chan string, 1)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("measure-sys"))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return "unknown"
	}
	defer c.Disconnect(50)
	c.Subscribe("$SYS/broker/publish/messages/dropped", 0, func(_ paho.Client, m paho.Message) {
		select {
		case got <- string(m.Payload()):
		default:
		}
	})
	select {
	case v := <-got:
		return v
	case <-time.After(15 * time.Second):
		return "unknown"
	}
}
