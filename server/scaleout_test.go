package server_test

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/cluster"
	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/server"
	"github.com/hwtrack/hwtrack/storage"
)

// scaleoutFixes is how many fixes each vehicle sends, 2 s of fix time
// apart. The detour vehicle leaves its route for fixes 15 to 44, which is
// long enough to confirm the episode and to close it again afterwards.
const (
	scaleoutFixes = 80
	detourFrom    = 15
	detourTo      = 45
)

func TestTwoNodesEvaluateEachVehicleOnce(t *testing.T) {
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	reg := subscribeRegulator(t, mq.URL())
	nodes := map[string]*server.Server{
		"a": startServer(t, externalConfig(t.TempDir(), mq.URL(), "a")),
		"b": startServer(t, externalConfig(t.TempDir(), mq.URL(), "b")),
	}

	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	var fleet []*fleetVehicle
	for i := range 8 {
		v := newFleetVehicle(fmt.Sprintf("0133007860%02d", i), i, start)
		if i == 0 {
			v.detourFrom, v.detourTo = detourFrom, detourTo
		}
		fleet = append(fleet, v)
		// Each node's API takes half of the changes; the nodes share
		// them with each other.
		apiPost(t, nodes["a"], "/api/v1/vehicles", fmt.Sprintf(`{"terminal":%q,"plate":"浙G·D%04d","password":"scaleout-vehicle-secret-0123456789"}`, v.terminal, i), 201, nil)
		waitShared(t, nodes["b"], v.terminal)
		apiPost(t, nodes["b"], "/api/v1/trips", v.tripJSON(scaleoutFixes), 201, nil)
	}
	for _, v := range fleet {
		waitTripShared(t, nodes["a"], v.terminal)
	}

	var drivers sync.WaitGroup
	for _, v := range fleet {
		drivers.Go(func() { v.drive(t, mq.URL(), 0, scaleoutFixes, 20*time.Millisecond) })
	}
	drivers.Wait()

	stored := func(v *fleetVehicle) map[string]map[int]bool {
		out := map[string]map[int]bool{}
		for id, srv := range nodes {
			out[id] = storedSeqs(t, srv.Store(), v.terminal)
		}
		return out
	}
	waitFor(t, 20*time.Second, "every acknowledged fix to be stored", func() bool {
		for _, v := range fleet {
			got := stored(v)
			for _, k := range v.ackedSeqs() {
				if !got["a"][k] && !got["b"][k] {
					return false
				}
			}
		}
		return true
	})

	for _, v := range fleet {
		got := stored(v)
		owner := cluster.Owner(v.terminal, []string{"a", "b"})
		if n := len(v.ackedSeqs()); n != scaleoutFixes {
			t.Errorf("vehicle %s: %d of %d fixes acknowledged", v.terminal, n, scaleoutFixes)
		}
		for id, seqs := range got {
			if id != owner && len(seqs) > 0 {
				t.Errorf("vehicle %s: node %s stored %d fixes, but node %s owns the vehicle", v.terminal, id, len(seqs), owner)
			}
		}
		if n := len(got[owner]); n != scaleoutFixes {
			t.Errorf("vehicle %s: owner %s stored %d fixes, want %d", v.terminal, owner, n, scaleoutFixes)
		}
	}

	detour := fleet[0]
	waitFor(t, 15*time.Second, "the detour to be forwarded as opened and closed", func() bool {
		states := map[string]bool{}
		for _, m := range reg.messages() {
			if m.Terminal == detour.terminal && m.Kind == model.KindRouteDeviation.String() {
				states[m.State] = true
			}
		}
		return states["open"] && states["closed"]
	})
	episodes := map[string]bool{}
	for _, m := range reg.messages() {
		if m.Kind == "" {
			continue // a trip lifecycle record
		}
		if m.Terminal != detour.terminal || m.Kind != model.KindRouteDeviation.String() {
			t.Errorf("unexpected %s deviation of %s forwarded: %s", m.Kind, m.Terminal, m.Text)
			continue
		}
		episodes[m.DeviationID] = true
	}
	if len(episodes) != 1 {
		t.Errorf("regulator received %d route_deviation episodes of the detour vehicle, want 1: %v", len(episodes), episodes)
	}
	for id, srv := range nodes {
		ids := deviationIDs(t, srv.Store(), detour.terminal, model.KindRouteDeviation)
		want := 0
		if id == cluster.Owner(detour.terminal, []string{"a", "b"}) {
			want = 1
		}
		if len(ids) != want {
			t.Errorf("node %s stored %d route deviations of the detour vehicle, want %d", id, len(ids), want)
		}
	}

	var handoffs, owned float64
	for id, srv := range nodes {
		m := scrape(t, srv.HTTPAddr().String())
		handoffs += m["hwtrack_cluster_handoffs_total"]
		owned += m["hwtrack_cluster_owned_vehicles"]
		t.Logf("node %s: received %.0f vehicle messages, handed off %.0f, owns %.0f vehicles",
			id, m["hwtrack_cluster_messages_total"], m["hwtrack_cluster_handoffs_total"], m["hwtrack_cluster_owned_vehicles"])
	}
	if handoffs == 0 {
		t.Error("no message was handed off, so the hand-off path went untested")
	}
	if owned != float64(len(fleet)) {
		t.Errorf("the nodes own %v vehicles in all, want %d", owned, len(fleet))
	}
}

func TestLeavingNodeHandsVehiclesOver(t *testing.T) {
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	reg := subscribeRegulator(t, mq.URL())
	dirA := t.TempDir()
	a := startServer(t, externalConfig(dirA, mq.URL(), "a"))
	b := startServer(t, externalConfig(t.TempDir(), mq.URL(), "b"))

	start := time.Now().Add(-2 * time.Hour).Truncate(time.Second)
	var fleet []*fleetVehicle
	for i := 0; len(fleet) < 6; i++ {
		terminal := fmt.Sprintf("0133007880%02d", i)
		if len(fleet) == 0 && cluster.Owner(terminal, []string{"a", "b"}) != "a" {
			continue // the detour vehicle belongs to the leaving node
		}
		v := newFleetVehicle(terminal, len(fleet), start)
		fleet = append(fleet, v)
		apiPost(t, a, "/api/v1/vehicles", fmt.Sprintf(`{"terminal":%q,"plate":"浙G·L%04d","password":"scaleout-vehicle-secret-0123456789"}`, terminal, i), 201, nil)
		apiPost(t, a, "/api/v1/trips", v.tripJSON(100), 201, nil)
		waitTripShared(t, b, terminal)
	}
	detour := fleet[0]
	detour.detourFrom, detour.detourTo = detourFrom, detourTo

	episodes := func() map[string]map[string]bool {
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

	var drivers sync.WaitGroup
	for _, v := range fleet {
		drivers.Go(func() { v.drive(t, mq.URL(), 0, 100, 40*time.Millisecond) })
	}
	waitFor(t, 20*time.Second, "node a to forward the opened detour", func() bool { return len(episodes()) > 0 })
	if err := a.Close(); err != nil {
		t.Errorf("node a did not leave cleanly: %v", err)
	}
	drivers.Wait()
	waitFor(t, 20*time.Second, "node b to close the detour", func() bool {
		for _, states := range episodes() {
			if states["closed"] {
				return true
			}
		}
		return false
	})

	// Node a's store, opened again now that node a is gone.
	storeA, err := storage.Open(storage.Options{Dir: filepath.Join(dirA, "store"), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer storeA.Close()
	waitFor(t, 20*time.Second, "every acknowledged fix to be stored", func() bool {
		for _, v := range fleet {
			onA, onB := storedSeqs(t, storeA, v.terminal), storedSeqs(t, b.Store(), v.terminal)
			for _, k := range v.ackedSeqs() {
				if !onA[k] && !onB[k] {
					return false
				}
			}
		}
		return true
	})
	for _, v := range fleet {
		onA, onB := storedSeqs(t, storeA, v.terminal), storedSeqs(t, b.Store(), v.terminal)
		both, lastOnA, firstOnB := 0, -1, 1<<30
		for k := range onA {
			if onB[k] {
				both++
			}
			lastOnA = max(lastOnA, k)
		}
		for k := range onB {
			firstOnB = min(firstOnB, k)
		}
		if both > 0 {
			t.Errorf("vehicle %s: %d fixes stored by both nodes; a node that leaves cleanly acknowledges all it recorded", v.terminal, both)
		}
		if lastOnA > firstOnB {
			t.Errorf("vehicle %s: node a stored fix %d after node b took over at fix %d", v.terminal, lastOnA, firstOnB)
		}
		if cluster.Owner(v.terminal, []string{"a", "b"}) == "b" && len(onA) > 0 {
			t.Errorf("vehicle %s: node a stored %d fixes of a vehicle node b owned throughout", v.terminal, len(onA))
		}
	}

	got := episodes()
	if len(got) != 1 {
		t.Errorf("regulator received %d route_deviation episodes of the detour vehicle, want 1: %v", len(got), got)
	}
	m := scrape(t, b.HTTPAddr().String())
	if m["hwtrack_cluster_state_restored_total"] < 1 {
		t.Error("node b restored no state image from node a")
	}
	if n := m["hwtrack_cluster_settle_timeouts_total"]; n != 0 {
		t.Errorf("node b waited out the settle timeout %v times; node a's release marker should end the wait", n)
	}
	if n := m["hwtrack_cluster_adoptions_total"]; n != 0 {
		t.Errorf("node b adopted %v sessions of a node that left cleanly", n)
	}
}
