package cluster

import (
	"fmt"
	"testing"
)

func TestOwnerIgnoresNodeOrder(t *testing.T) {
	for i := range 200 {
		key := fmt.Sprintf("0133%08d", i)
		a := Owner(key, []string{"n1", "n2", "n3"})
		b := Owner(key, []string{"n3", "n1", "n2"})
		if a != b {
			t.Fatalf("Owner(%s) = %s for one order and %s for another", key, a, b)
		}
	}
}

func TestOwnerOfNoNodes(t *testing.T) {
	if got := Owner("013300000001", nil); got != "" {
		t.Errorf("Owner with no nodes = %q, want empty", got)
	}
}

func TestOwnerSpreadsKeys(t *testing.T) {
	nodes := []string{"a", "b", "c"}
	counts := map[string]int{}
	const keys = 30000
	for i := range keys {
		counts[Owner(fmt.Sprintf("0133%08d", i), nodes)]++
	}
	for _, n := range nodes {
		share := float64(counts[n]) / keys
		if share < 0.30 || share > 0.37 {
			t.Errorf("node %s owns %.3f of the keys, want about 1/3", n, share)
		}
	}
}

func TestOwnerMovesOnlyTheLeaversKeys(t *testing.T) {
	before := []string{"a", "b", "c", "d"}
	after := []string{"a", "b", "d"}
	moved := 0
	for i := range 10000 {
		key := fmt.Sprintf("0133%08d", i)
		was, is := Owner(key, before), Owner(key, after)
		if was != "c" && was != is {
			t.Fatalf("key %s moved from %s to %s although only c left", key, was, is)
		}
		if was == "c" {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no key was owned by c")
	}
}

func TestOwnerIsStableAcrossVersions(t *testing.T) {
	// Nodes of different builds must agree on every owner during a
	// rolling upgrade, so the weights must never change. These owners
	// were computed with xxhash64 of "node\x00key"; a change that breaks
	// this test makes nodes of mixed versions both evaluate vehicles.
	nodes := []string{"node-1", "node-2", "node-3"}
	for _, c := range []struct{ key, want string }{
		{"013300786000", "node-1"},
		{"013300786001", "node-2"},
		{"013300786002", "node-3"},
		{"013300786003", "node-3"},
	} {
		if got := Owner(c.key, nodes); got != c.want {
			t.Errorf("Owner(%s) = %s, want %s", c.key, got, c.want)
		}
	}
}
