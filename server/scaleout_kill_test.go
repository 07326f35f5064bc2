package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/cluster"
	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/server"
)

// nodeChildEnv names the data directory when the test binary runs as the
// ingest node that TestKilledNodeLosesNoFix kills.
const nodeChildEnv = "HWTRACK_TEST_NODE_DIR"

// TestScaleoutNodeChild is the killed node: it runs only inside the child
// process started by TestKilledNodeLosesNoFix.
func TestScaleoutNodeChild(t *testing.T) {
	dir := os.Getenv(nodeChildEnv)
	if dir == "" {
		t.Skip("runs only as the child process of TestKilledNodeLosesNoFix")
	}
	cfg := externalConfig(dir, os.Getenv("HWTRACK_TEST_NODE_BROKER"), os.Getenv("HWTRACK_TEST_NODE_ID"))
	cfg.MQTT.Addr = "127.0.0.1:" + os.Getenv("HWTRACK_TEST_NODE_MQTT_PORT")
	cfg.HTTP.Addr = "127.0.0.1:" + os.Getenv("HWTRACK_TEST_NODE_HTTP_PORT")
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("HWTRACK_TEST_NODE_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if _, err := server.Start(server.Options{Config: cfg, Logger: logger, AdminToken: func(string) {}, AdminPassword: func(string, string) {}}); err != nil {
		t.Fatal(err)
	}
	select {} // until killed
}

// childNode is an ingest node running in a child process.
type childNode struct {
	t    *testing.T
	id   string
	dir  string
	url  string
	base string
	env  []string
	cmd  *exec.Cmd
}

func newChildNode(t *testing.T, dir, brokerURL, id string) *childNode {
	httpPort := testenv.FreePort(t)
	c := &childNode{t: t, id: id, dir: dir, url: brokerURL, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort)}
	c.env = append(os.Environ(), nodeChildEnv+"="+dir, "HWTRACK_TEST_NODE_BROKER="+brokerURL, "HWTRACK_TEST_NODE_ID="+id,
		"HWTRACK_TEST_NODE_MQTT_PORT="+strconv.Itoa(testenv.FreePort(t)), "HWTRACK_TEST_NODE_HTTP_PORT="+strconv.Itoa(httpPort))
	t.Cleanup(c.kill)
	return c
}

// start runs the node and waits until it is ready.
func (c *childNode) start() {
	c.t.Helper()
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestScaleoutNodeChild$", "-test.count=1")
	c.cmd.Env = c.env
	c.cmd.Stderr = os.Stderr
	if err := c.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	waitFor(c.t, 30*time.Second, "node "+c.id+" to start", func() bool {
		resp, err := http.Get(c.base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// kill ends the node with SIGKILL, by the PID this test started.
func (c *childNode) kill() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
	c.cmd = nil
}

// get decodes a JSON response of the node's API.
func (c *childNode) get(path string, out any) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
}

// storedSeqs returns the seqs of terminal's fixes the node stored.
func (c *childNode) storedSeqs(terminal string) map[int]bool {
	var track struct {
		Fixes []struct {
			Seq int `json:"seq"`
		} `json:"fixes"`
	}
	q := url.Values{"from": {time.Now().Add(-48 * time.Hour).Format(time.RFC3339)}, "to": {time.Now().Add(time.Hour).Format(time.RFC3339)}}
	c.get("/api/v1/vehicles/"+terminal+"/track?"+q.Encode(), &track)
	out := map[int]bool{}
	for _, f := range track.Fixes {
		out[f.Seq] = true
	}
	return out
}

// deviationIDs returns the IDs of terminal's deviations of kind the node
// stored.
func (c *childNode) deviationIDs(terminal string, kind model.DeviationKind) map[string]bool {
	var list struct {
		Deviations []struct {
			ID string `json:"id"`
		} `json:"deviations"`
	}
	c.get("/api/v1/deviations?"+url.Values{"terminal": {terminal}, "kind": {kind.String()}}.Encode(), &list)
	out := map[string]bool{}
	for _, d := range list.Deviations {
		out[d.ID] = true
	}
	return out
}

func TestKilledNodeLosesNoFix(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process twice")
	}
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	reg := subscribeRegulator(t, mq.URL())
	a := newChildNode(t, t.TempDir(), mq.URL(), "a")
	a.start()
	b := startServer(t, externalConfig(t.TempDir(), mq.URL(), "b"))

	// The detour vehicle belongs to node a, the one that is killed while
	// the detour is open.
	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	var fleet []*fleetVehicle
	for i := 0; len(fleet) < 6; i++ {
		terminal := fmt.Sprintf("0133007870%02d", i)
		if len(fleet) == 0 && cluster.Owner(terminal, []string{"a", "b"}) != "a" {
			continue
		}
		v := newFleetVehicle(terminal, len(fleet), start)
		fleet = append(fleet, v)
		apiPost(t, b, "/api/v1/vehicles", fmt.Sprintf(`{"terminal":%q,"plate":"浙G·K%04d","password":"scaleout-vehicle-secret-0123456789"}`, terminal, i), 201, nil)
		apiPost(t, b, "/api/v1/trips", v.tripJSON(130), 201, nil)
	}
	detour := fleet[0]
	detour.detourFrom, detour.detourTo = detourFrom, detourTo
	waitFor(t, 5*time.Second, "node a to receive every trip", func() bool {
		var trips struct {
			Trips []struct{} `json:"trips"`
		}
		a.get("/api/v1/trips", &trips)
		return len(trips.Trips) == len(fleet)
	})
	ownedByA := 0
	for _, v := range fleet {
		if cluster.Owner(v.terminal, []string{"a", "b"}) == "a" {
			ownedByA++
		}
	}
	t.Logf("node a owns %d of %d vehicles", ownedByA, len(fleet))

	regulatorStates := func() map[string]map[string]bool {
		out := map[string]map[string]bool{}
		for _, m := range reg.messages() {
			if m.Terminal == detour.terminal && m.Kind == model.KindRouteDeviation.String() {
				if out[m.DeviationID] == nil {
					out[m.DeviationID] = map[string]bool{}
				}
				out[m.DeviationID][m.State] = true
			}
		}
		return out
	}

	// Phase 1: the fleet drives 100 fixes; node a is killed as soon as
	// the regulator has the opened detour.
	var drivers sync.WaitGroup
	for _, v := range fleet {
		drivers.Go(func() { v.drive(t, mq.URL(), 0, 100, 40*time.Millisecond) })
	}
	waitFor(t, 20*time.Second, "node a to forward the opened detour", func() bool { return len(regulatorStates()) > 0 })
	a.kill()
	killedAt := time.Now()
	drivers.Wait()
	t.Logf("node a killed %s into the drive", time.Since(killedAt))

	waitFor(t, 20*time.Second, "node b to close the detour", func() bool {
		for _, states := range regulatorStates() {
			if states["closed"] {
				return true
			}
		}
		return false
	})
	if n := scrapeSum(t, b.HTTPAddr().String(), "hwtrack_cluster_adoptions_total"); n != 1 {
		t.Errorf("node b adopted %v sessions, want node a's", n)
	}

	// Phase 2: node a comes back, recovers from its raw log, takes its
	// vehicles back and evaluates their next fixes.
	a.start()
	waitFor(t, 10*time.Second, "node b to hand node a's vehicles back", func() bool {
		return scrapeSum(t, b.HTTPAddr().String(), "hwtrack_cluster_owned_vehicles") == float64(len(fleet)-ownedByA)
	})
	for _, v := range fleet {
		drivers.Go(func() { v.drive(t, mq.URL(), 100, 120, 20*time.Millisecond) })
	}
	drivers.Wait()

	type placement struct{ a, b map[int]bool }
	placed := func(v *fleetVehicle) placement {
		return placement{a: a.storedSeqs(v.terminal), b: storedSeqs(t, b.Store(), v.terminal)}
	}
	waitFor(t, 20*time.Second, "every acknowledged fix to be stored by a node", func() bool {
		for _, v := range fleet {
			p := placed(v)
			for _, k := range v.ackedSeqs() {
				if !p.a[k] && !p.b[k] {
					return false
				}
			}
		}
		return true
	})

	duplicates := 0
	for _, v := range fleet {
		p := placed(v)
		if n := len(v.ackedSeqs()); n != 120 {
			t.Errorf("vehicle %s: %d of 120 fixes acknowledged by the broker", v.terminal, n)
		}
		// In fix order, a vehicle's fixes move from one node to another
		// at most at the kill and at the return: at most two changes,
		// none for a vehicle node b owned throughout. A fix both nodes
		// stored was in node a's unacknowledged window when it died.
		var seqs []int
		for k := range p.a {
			seqs = append(seqs, k)
		}
		for k := range p.b {
			if !p.a[k] {
				seqs = append(seqs, k)
			}
		}
		sort.Ints(seqs)
		changes, last := 0, ""
		for _, k := range seqs {
			where := "a"
			switch {
			case p.a[k] && p.b[k]:
				duplicates++
				continue
			case p.b[k]:
				where = "b"
			}
			if last != "" && where != last {
				changes++
			}
			last = where
		}
		limit := 2
		if cluster.Owner(v.terminal, []string{"a", "b"}) == "b" {
			limit = 0
		}
		if changes > limit {
			t.Errorf("vehicle %s: its fixes changed node %d times in fix order, want at most %d", v.terminal, changes, limit)
		}
	}
	t.Logf("%d fixes stored by both nodes (node a's unacknowledged window when it died)", duplicates)

	episodes := regulatorStates()
	if len(episodes) != 1 {
		t.Errorf("regulator received %d route_deviation episodes of the detour vehicle, want 1: %v", len(episodes), episodes)
	}
	for id, states := range episodes {
		if !states["open"] || !states["closed"] {
			t.Errorf("episode %s: regulator saw states %v, want open and closed", id, states)
		}
	}
	stored := map[string]bool{}
	for id := range a.deviationIDs(detour.terminal, model.KindRouteDeviation) {
		stored[id] = true
	}
	for id := range deviationIDs(t, b.Store(), detour.terminal, model.KindRouteDeviation) {
		stored[id] = true
	}
	if len(stored) != 1 {
		t.Errorf("the nodes stored %d route_deviation episodes of the detour vehicle, want 1: %v", len(stored), stored)
	}
	for _, m := range reg.messages() {
		if m.Kind != "" && m.Terminal != detour.terminal {
			t.Errorf("unexpected %s deviation of %s forwarded: %s", m.Kind, m.Terminal, m.Text)
		}
	}
}
