package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/server"
)

// The chaos test runs the server as a child process and loads it with
// simulated vehicles. Meanwhile it kills the server with SIGKILL and
// restarts it, and stops and starts the regulator's mosquitto. Then it
// compares what the vehicles had acknowledged with what was stored and
// what reached the regulator. scripts/chaos.sh runs it with a larger load
// and more faults.

const (
	chaosChildDir      = "HWTRACK_CHAOS_CHILD_DIR"
	chaosChildMQTT     = "HWTRACK_CHAOS_CHILD_MQTT_PORT"
	chaosChildHTTP     = "HWTRACK_CHAOS_CHILD_HTTP_PORT"
	chaosChildUpstream = "HWTRACK_CHAOS_CHILD_UPSTREAM"
)

// chaosScale is the load and the faults of one chaos run.
type chaosScale struct {
	vehicles       int
	fixesPerTrip   int
	serverKills    int
	brokerRestarts int
	// faultEvery is the time between two faults.
	faultEvery time.Duration
}

// chaosScaleFromEnv returns the short run, or the values scripts/chaos.sh
// sets in HWTRACK_CHAOS_* variables.
func chaosScaleFromEnv(t *testing.T) chaosScale {
	s := chaosScale{vehicles: 8, fixesPerTrip: 300, serverKills: 3, brokerRestarts: 2, faultEvery: 2 * time.Second}
	setInt := func(name string, dst *int) {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q is not a non-negative integer", name, v)
			}
			*dst = n
		}
	}
	setInt("HWTRACK_CHAOS_VEHICLES", &s.vehicles)
	setInt("HWTRACK_CHAOS_FIXES", &s.fixesPerTrip)
	setInt("HWTRACK_CHAOS_KILLS", &s.serverKills)
	setInt("HWTRACK_CHAOS_BROKER_RESTARTS", &s.brokerRestarts)
	if v := os.Getenv("HWTRACK_CHAOS_FAULT_EVERY"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("HWTRACK_CHAOS_FAULT_EVERY=%q is not a positive duration", v)
		}
		s.faultEvery = d
	}
	return s
}

// TestChaosChild is the server process the chaos test kills; it runs only
// inside the child started by TestChaosNothingLost.
func TestChaosChild(t *testing.T) {
	dir := os.Getenv(chaosChildDir)
	if dir == "" {
		t.Skip("runs only as the child process of TestChaosNothingLost")
	}
	cfg := testConfig(dir, os.Getenv(chaosChildUpstream))
	cfg.MQTT.Addr = "127.0.0.1:" + os.Getenv(chaosChildMQTT)
	cfg.HTTP.Addr = "127.0.0.1:" + os.Getenv(chaosChildHTTP)
	_, err := server.Start(server.Options{Config: cfg, Logger: slog.New(slog.DiscardHandler), AdminToken: func(string) {}})
	if err != nil {
		t.Fatal(err)
	}
	select {} // until killed
}

// chaosServer is the child server process, restarted on the same data
// directory and ports after each kill.
type chaosServer struct {
	t        *testing.T
	dir      string
	mqttPort int
	httpPort int
	upstream string

	mu    sync.Mutex
	child *exec.Cmd
}

func (s *chaosServer) base() string { return fmt.Sprintf("http://127.0.0.1:%d", s.httpPort) }

func (s *chaosServer) start() {
	s.t.Helper()
	child := exec.Command(os.Args[0], "-test.run=^TestChaosChild$", "-test.count=1")
	child.Env = append(os.Environ(), chaosChildDir+"="+s.dir, chaosChildUpstream+"="+s.upstream,
		chaosChildMQTT+"="+strconv.Itoa(s.mqttPort), chaosChildHTTP+"="+strconv.Itoa(s.httpPort))
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.child = child
	s.mu.Unlock()
	waitFor(s.t, 30*time.Second, "the child server to become ready", func() bool {
		resp, err := http.Get(s.base() + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill sends SIGKILL to the child's PID and waits for it to exit.
func (s *chaosServer) kill() {
	s.mu.Lock()
	child := s.child
	s.child = nil
	s.mu.Unlock()
	if child == nil {
		return
	}
	_ = child.Process.Signal(syscall.SIGKILL)
	_ = child.Wait()
}

// chaosRegulator subscribes to the regulator broker with a persistent
// session, so messages queued while it reconnects are not lost.
type chaosRegulator struct {
	mu   sync.Mutex
	msgs []regulatorMessage
}

func subscribeChaosRegulator(t *testing.T, url string) *chaosRegulator {
	t.Helper()
	r := &chaosRegulator{}
	handler := func(_ paho.Client, m paho.Message) {
		var msg regulatorMessage
		if err := json.Unmarshal(m.Payload(), &msg); err != nil {
			t.Errorf("forwarded message on %s is not JSON: %v", m.Topic(), err)
			return
		}
		msg.Topic = m.Topic()
		r.mu.Lock()
		r.msgs = append(r.msgs, msg)
		r.mu.Unlock()
	}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID("chaos-regulator").
		SetProtocolVersion(4).SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) { c.Subscribe("hwt/regulator/v1/#", 1, handler) })
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect regulator subscriber: %v", tok.Error())
	}
	if tok := c.Subscribe("hwt/regulator/v1/#", 1, handler); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe regulator: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return r
}

func (r *chaosRegulator) messages() []regulatorMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]regulatorMessage(nil), r.msgs...)
}

// chaosVehicle drives a straight route north with one detour 500 m east,
// and publishes each fix at QoS 1 until it is acknowledged, reconnecting
// as often as it takes.
type chaosVehicle struct {
	terminal string
	password string
	fixes    []string // JSON payloads in order
	times    []time.Time

	mu    sync.Mutex
	acked map[int64]bool // fix time in Unix nanoseconds
}

func newChaosVehicle(i, fixes int, start time.Time) *chaosVehicle {
	v := &chaosVehicle{
		terminal: fmt.Sprintf("0133007850%02d", i),
		password: fmt.Sprintf("chaos-vehicle-secret-%04d-abcdef", i),
		acked:    map[int64]bool{},
	}
	lon0 := 120.00 + 0.02*float64(i)
	detourFrom, detourTo := fixes/2, fixes/2+fixes/6
	for k := range fixes {
		at := start.Add(time.Duration(k) * 2 * time.Second)
		lon := lon0
		if k >= detourFrom && k < detourTo {
			lon += 0.005 // about 490 m east, outside the 100 m corridor
		}
		lat := 28.80 + float64(k)*0.00025 // about 28 m per 2 s: 50 km/h
		v.times = append(v.times, at)
		v.fixes = append(v.fixes, fmt.Sprintf(`{"time":%d,"lat":%.6f,"lon":%.6f,"speed":50,"heading":0,"seq":%d}`, at.UnixMilli(), lat, lon, k))
	}
	return v
}

func (v *chaosVehicle) routeJSON() string {
	lon0 := strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.6f", 120.00+0.02*float64(v.index())), "0"), ".")
	return fmt.Sprintf(`{"type":"LineString","coordinates":[[%s,28.79],[%s,%.6f]]}`, lon0, lon0, 28.80+float64(len(v.fixes))*0.00025+0.01)
}

func (v *chaosVehicle) index() int {
	n, _ := strconv.Atoi(v.terminal[len(v.terminal)-2:])
	return n
}

// drive publishes every fix in order, one per pace, and returns when all
// are acknowledged or ctx ends.
func (v *chaosVehicle) drive(ctx context.Context, broker string, pace time.Duration) {
	var c paho.Client
	defer func() {
		if c != nil {
			c.Disconnect(0)
		}
	}()
	for k := 0; k < len(v.fixes) && ctx.Err() == nil; {
		if c == nil || !c.IsConnectionOpen() {
			if c != nil {
				c.Disconnect(0)
			}
			// A clean session and no automatic reconnect: paho then fails
			// a token on connection loss instead of completing it on a
			// resend, so an acknowledged token means a real PUBACK.
			c = paho.NewClient(paho.NewClientOptions().AddBroker(broker).
				SetClientID(v.terminal).SetUsername(v.terminal).SetPassword(v.password).
				SetProtocolVersion(4).SetCleanSession(true).
				SetAutoReconnect(false).SetConnectTimeout(2 * time.Second))
			tok := c.Connect()
			if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
				c = nil
				sleepCtx(ctx, 100*time.Millisecond)
				continue
			}
		}
		tok := c.Publish("hwt/v1/"+v.terminal+"/fix", 1, false, v.fixes[k])
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			c.Disconnect(0)
			c = nil
			continue // send the same fix again
		}
		v.mu.Lock()
		v.acked[v.times[k].UnixNano()] = true
		v.mu.Unlock()
		k++
		sleepCtx(ctx, pace)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// chaosAPI sends one authenticated API request and decodes the response,
// retrying while the server is down.
func chaosAPI(t *testing.T, base, method, path, body string, out any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 300 {
				if out != nil {
					if err := json.Unmarshal(data, out); err != nil {
						t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
					}
				}
				return
			}
			t.Fatalf("%s %s: status %d: %s", method, path, resp.StatusCode, data)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// outboxDepth reads hwtrack_outbox_depth from the server's metrics, or
// returns -1 when the server is unreachable.
func outboxDepth(base string) int {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if value, ok := strings.CutPrefix(sc.Text(), "hwtrack_outbox_depth "); ok {
			f, err := strconv.ParseFloat(value, 64)
			if err != nil {
				return -1
			}
			return int(f)
		}
	}
	return -1
}

func TestChaosNothingLost(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	scale := chaosScaleFromEnv(t)
	mq := testenv.NewMosquitto(t, true)
	mq.Start()
	regulator := subscribeChaosRegulator(t, mq.URL())

	srv := &chaosServer{t: t, dir: t.TempDir(), mqttPort: testenv.FreePort(t), httpPort: testenv.FreePort(t), upstream: mq.URL()}
	srv.start()
	t.Cleanup(srv.kill)

	// Every vehicle gets a booking and a trip, whose records the server
	// forwards to the regulator.
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	vehicles := make([]*chaosVehicle, scale.vehicles)
	tripIDs := map[string]string{} // trip id -> terminal
	for i := range vehicles {
		v := newChaosVehicle(i, scale.fixesPerTrip, start)
		vehicles[i] = v
		chaosAPI(t, srv.base(), http.MethodPost, "/api/v1/vehicles",
			fmt.Sprintf(`{"terminal":%q,"plate":"浙G·C%04d","password":%q}`, v.terminal, i, v.password), nil)
		var booking, trip struct {
			ID string `json:"id"`
		}
		chaosAPI(t, srv.base(), http.MethodPost, "/api/v1/bookings", fmt.Sprintf(`{"manifest_no":"20263307%06d",`+
			`"shipper":{"name":"永康市某五金制品有限公司","credit_code":"91330784MA2E12345X","lat":28.85,"lon":120.05},`+
			`"wastes":[{"code":"900-006-09","name":"废乳化液","form":"液态","hazard":"T","packaging":"IBC吨桶","count":2,"weight_kg":1850.5}]}`, i), &booking)
		chaosAPI(t, srv.base(), http.MethodPost, "/api/v1/trips", fmt.Sprintf(`{"terminal":%q,"driver":"王师傅","escort":"李押运",`+
			`"route":%s,"corridor_m":100,"bookings":[%q],"planned_start":%q,"planned_end":%q}`,
			v.terminal, v.routeJSON(), booking.ID, start.Add(-time.Minute).Format(time.RFC3339), time.Now().Add(3*time.Hour).Format(time.RFC3339)), &trip)
		tripIDs[trip.ID] = v.terminal
	}

	// The vehicles are paced to keep publishing until the last fault is
	// over: each fault takes faultEvery, a broker restart half as much
	// again, and a server restart about a second.
	faults := scale.serverKills + scale.brokerRestarts
	loadSpan := time.Duration(faults+1)*scale.faultEvery*3/2 + time.Duration(scale.serverKills)*time.Second
	pace := loadSpan / time.Duration(max(scale.fixesPerTrip, 1))
	ctx, cancel := context.WithTimeout(context.Background(), loadSpan+5*time.Minute)
	defer cancel()
	loadStart := time.Now()
	var load sync.WaitGroup
	for _, v := range vehicles {
		load.Add(1)
		go func() {
			defer load.Done()
			v.drive(ctx, fmt.Sprintf("tcp://127.0.0.1:%d", srv.mqttPort), pace)
		}()
	}

	// Faults alternate between the server and the regulator broker.
	kills, restarts := 0, 0
	for kills < scale.serverKills || restarts < scale.brokerRestarts {
		time.Sleep(scale.faultEvery)
		if kills < scale.serverKills && (kills <= restarts || restarts >= scale.brokerRestarts) {
			srv.kill()
			srv.start()
			kills++
			continue
		}
		mq.Stop()
		time.Sleep(scale.faultEvery / 2)
		mq.Start()
		restarts++
	}
	faultsEnd := time.Since(loadStart)
	load.Wait()
	if ctx.Err() != nil {
		t.Fatal("the vehicles did not get every fix acknowledged in time")
	}
	loadEnd := time.Since(loadStart)
	if loadEnd < faultsEnd {
		t.Errorf("the load ended %v after start, before the last fault at %v, so the faults hit no traffic", loadEnd, faultsEnd)
	}

	waitFor(t, 60*time.Second, "the outbox to drain", func() bool { return outboxDepth(srv.base()) == 0 })
	time.Sleep(time.Second) // let the last forwarded messages reach the subscriber

	// Fixes: every acknowledged fix is stored, exactly once.
	acked, missing := 0, 0
	for _, v := range vehicles {
		var track struct {
			Fixes []model.FixJSON `json:"fixes"`
		}
		chaosAPI(t, srv.base(), http.MethodGet, "/api/v1/vehicles/"+v.terminal+"/track?from="+start.Add(-time.Minute).Format(time.RFC3339), "", &track)
		stored := map[int64]int{}
		for _, f := range track.Fixes {
			at, err := time.Parse(time.RFC3339Nano, f.Time)
			if err != nil {
				t.Fatalf("stored fix time %q: %v", f.Time, err)
			}
			stored[at.UnixNano()]++
		}
		for ts, n := range stored {
			if n > 1 {
				t.Errorf("%s: fix at %s stored %d times", v.terminal, time.Unix(0, ts).UTC(), n)
			}
		}
		for ts := range v.acked {
			acked++
			if stored[ts] == 0 {
				missing++
			}
		}
	}

	// Deviations: every stored episode reached the regulator, and the
	// regulator got no episode the server does not have (a replay after a
	// kill must not raise it again under a new id).
	var list struct {
		Deviations []struct {
			ID       string `json:"id"`
			Kind     string `json:"kind"`
			Terminal string `json:"terminal"`
			State    string `json:"state"`
		} `json:"deviations"`
	}
	chaosAPI(t, srv.base(), http.MethodGet, "/api/v1/deviations?limit=10000", "", &list)
	storedEpisodes := map[string]bool{}
	routeDeviations := map[string]int{}
	kinds := map[string]int{}
	for _, d := range list.Deviations {
		storedEpisodes[d.ID] = true
		kinds[d.Kind]++
		if d.Kind == model.KindRouteDeviation.String() {
			routeDeviations[d.Terminal]++
		}
	}
	for _, v := range vehicles {
		if n := routeDeviations[v.terminal]; n != 1 {
			t.Errorf("%s: %d route deviation episodes stored, want exactly 1", v.terminal, n)
		}
	}

	// messageIDs maps an episode and state, or a trip and event, to the
	// distinct message ids the regulator received for it.
	messageIDs := map[string]map[string]bool{}
	regulatorEpisodes := map[string]bool{}
	regulatorTrips := map[string]bool{}
	for _, m := range regulator.messages() {
		key := "trip " + m.Trip.ID + " " + m.Event
		if m.DeviationID != "" {
			key = "episode " + m.DeviationID + " " + m.State
			regulatorEpisodes[m.DeviationID] = true
		} else {
			regulatorTrips[m.Trip.ID] = true
		}
		if messageIDs[key] == nil {
			messageIDs[key] = map[string]bool{}
		}
		messageIDs[key][m.ID] = true
	}
	duplicates := 0
	for key, ids := range messageIDs {
		if len(ids) > 1 {
			duplicates++
			t.Errorf("%s reached the regulator under %d ids", key, len(ids))
		}
	}
	missingEpisodes, phantomEpisodes := 0, 0
	for id := range storedEpisodes {
		if !regulatorEpisodes[id] {
			missingEpisodes++
			t.Errorf("episode %s never reached the regulator", id)
		}
	}
	for id := range regulatorEpisodes {
		if !storedEpisodes[id] {
			phantomEpisodes++
			t.Errorf("the regulator received episode %s, which the server does not store", id)
		}
	}
	missingTrips := 0
	for id := range tripIDs {
		if !regulatorTrips[id] {
			missingTrips++
			t.Errorf("trip %s never reached the regulator", id)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged fixes missing", missing, acked)
	}
	t.Logf("chaos: load %v, faults over at %v; episodes by kind %v", loadEnd.Round(time.Millisecond), faultsEnd.Round(time.Millisecond), kinds)
	t.Logf("chaos: %d vehicles, %d fixes acknowledged, %d missing; %d server kills, %d broker restarts; "+
		"%d episodes stored, %d missing at the regulator, %d unknown there; %d trips, %d missing; %d records under more than one id; %d regulator messages",
		len(vehicles), acked, missing, kills, restarts, len(storedEpisodes), missingEpisodes, phantomEpisodes,
		len(tripIDs), missingTrips, duplicates, len(regulator.messages()))
}
