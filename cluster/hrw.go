package cluster

import "github.com/cespare/xxhash/v2"

// Owner returns the node among nodes that owns key by rendezvous
// (highest random weight) hashing, or "" when nodes is empty. Every caller
// with the same set of nodes, in any order, gets the same owner. When a
// node leaves, only the keys it owned move; when one joins, it takes about
// 1/len(nodes) of the keys from the others.
func Owner(key string, nodes []string) string {
	var best string
	var bestScore uint64
	for _, node := range nodes {
		s := score(node, key)
		if best == "" || s > bestScore || (s == bestScore && node < best) {
			best, bestScore = node, s
		}
	}
	return best
}

// score is the weight of node for key: xxhash64 of both joined by a NUL,
// which neither a node id nor a terminal id can contain.
func score(node, key string) uint64 {
	d := xxhash.New()
	_, _ = d.WriteString(node)
	_, _ = d.Write([]byte{0})
	_, _ = d.WriteString(key)
	return d.Sum64()
}
