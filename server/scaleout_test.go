package server_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/cluster"
	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/server"
)

// scaleoutFixes is how many fixes each vehicle sends, 2 s of fix time
// apart; the detour vehicle leaves its route for fixes 15 to 44, long
// enough to confirm the episode and to close it again afterwards.
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
