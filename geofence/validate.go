package geofence

import (
	"fmt"
	"math"
	"sort"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/hwtrack/hwtrack/model"
)

// buildPolygon validates the rings of one polygon, given as decoded
// GeoJSON positions in crs, and converts them to WGS-84. path is the JSON
// path of the polygon's coordinates. Checks run on the input coordinates,
// so the locations in messages are the ones the client sent.
func buildPolygon(path string, rings [][][]float64, crs CRS, verr *model.ValidationError) (orb.Polygon, bool) {
	if len(rings) == 0 {
		verr.Add(path, "a polygon needs at least one ring (the outer boundary)")
		return nil, false
	}

	ok := true
	cleaned := make([]orb.Ring, len(rings))
	for r, positions := range rings {
		ringPath := fmt.Sprintf("%s[%d]", path, r)
		ring, ringOK := checkRing(ringPath, positions, verr)
		if !ringOK {
			ok = false
			continue
		}
		cleaned[r] = ring
	}
	if !ok {
		return nil, false
	}

	if c, found := findCrossing(cleaned); found {
		if c.ringA == c.ringB {
			verr.Add(fmt.Sprintf("%s[%d]", path, c.ringA), fmt.Sprintf(
				"ring intersects itself near [%.6f, %.6f] [lon, lat]: edge %d-%d meets edge %d-%d",
				c.at[0], c.at[1], c.edgeA, c.edgeA+1, c.edgeB, c.edgeB+1))
		} else {
			verr.Add(fmt.Sprintf("%s[%d]", path, c.ringB), fmt.Sprintf(
				"ring %d crosses ring %d near [%.6f, %.6f] [lon, lat]: holes must lie inside the outer ring without crossing any other ring",
				c.ringB, c.ringA, c.at[0], c.at[1]))
		}
		return nil, false
	}
	// After the crossing check, so a symmetric bow tie (net area zero) is
	// reported as the crossing it is.
	for r, ring := range cleaned {
		if signedArea(ring) == 0 {
			verr.Add(fmt.Sprintf("%s[%d]", path, r), "ring encloses no area: its corners lie on one line")
			return nil, false
		}
	}

	if !checkHoles(path, rings, cleaned, verr) {
		return nil, false
	}

	poly := make(orb.Polygon, len(cleaned))
	for r, ring := range cleaned {
		out := make(orb.Ring, len(ring))
		for i, p := range ring {
			lat, lon := toWGS84(crs, p[1], p[0])
			out[i] = orb.Point{lon, lat}
		}
		poly[r] = out
	}
	return poly, true
}

// checkRing validates one ring and returns it with consecutive duplicate
// positions removed, still closed.
func checkRing(path string, positions [][]float64, verr *model.ValidationError) (orb.Ring, bool) {
	ok := true
	for i, pos := range positions {
		if !checkPosition(fmt.Sprintf("%s[%d]", path, i), pos, verr) {
			ok = false
		}
	}
	if !ok {
		return nil, false
	}
	if len(positions) < 4 {
		verr.Add(path, fmt.Sprintf("ring has %d position(s); a closed ring needs at least 4 (3 corners, then the first repeated)", len(positions)))
		return nil, false
	}
	first, last := positions[0], positions[len(positions)-1]
	if first[0] != last[0] || first[1] != last[1] {
		verr.Add(path, fmt.Sprintf("ring is not closed: the last position [%g, %g] must repeat the first [%g, %g]", last[0], last[1], first[0], first[1]))
		return nil, false
	}

	ring := make(orb.Ring, 0, len(positions))
	for i, pos := range positions {
		p := orb.Point{pos[0], pos[1]}
		if len(ring) > 0 && ring[len(ring)-1] == p {
			continue
		}
		if i > 0 {
			if reason := LongitudeSpanReason("edge", positions[i-1][0], pos[0]); reason != "" {
				verr.Add(fmt.Sprintf("%s[%d]", path, i), reason)
				return nil, false
			}
		}
		ring = append(ring, p)
	}
	if len(ring) < 4 {
		verr.Add(path, fmt.Sprintf("ring has %d distinct corner(s) after removing repeated positions; it needs at least 3", len(ring)-1))
		return nil, false
	}
	return ring, true
}

func signedArea(r orb.Ring) float64 {
	sum := 0.0
	for i := 1; i < len(r); i++ {
		sum += r[i-1][0]*r[i][1] - r[i][0]*r[i-1][1]
	}
	return sum / 2
}

type ringEdge struct {
	ring, index int
	a, b        orb.Point
	minX, maxX  float64
}

type crossing struct {
	ringA, edgeA int
	ringB, edgeB int
	at           orb.Point
}

// findCrossing looks for two edges of a polygon's rings that touch where
// they should not. Within one ring, only consecutive edges may share a
// point. Between rings, only a proper crossing is an error, because OGC
// simple features let a hole touch the outer ring at a point. Edges are swept in
// order of their minimum longitude, so only edges whose longitude ranges
// overlap are compared: close to linear for real boundaries.
func findCrossing(rings []orb.Ring) (crossing, bool) {
	var edges []ringEdge
	for r, ring := range rings {
		for i := 1; i < len(ring); i++ {
			a, b := ring[i-1], ring[i]
			edges = append(edges, ringEdge{ring: r, index: i - 1, a: a, b: b, minX: math.Min(a[0], b[0]), maxX: math.Max(a[0], b[0])})
		}
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].minX < edges[j].minX })

	for i := range edges {
		e := &edges[i]
		for j := i + 1; j < len(edges) && edges[j].minX <= e.maxX; j++ {
			f := &edges[j]
			if math.Max(e.a[1], e.b[1]) < math.Min(f.a[1], f.b[1]) || math.Max(f.a[1], f.b[1]) < math.Min(e.a[1], e.b[1]) {
				continue
			}
			if e.ring == f.ring && adjacentEdges(e.index, f.index, len(rings[e.ring])-1) {
				continue
			}
			at, hit := segmentsTouch(e.a, e.b, f.a, f.b, e.ring != f.ring)
			if !hit {
				continue
			}
			first, second := e, f
			if first.ring > second.ring || (first.ring == second.ring && first.index > second.index) {
				first, second = second, first
			}
			return crossing{ringA: first.ring, edgeA: first.index, ringB: second.ring, edgeB: second.index, at: at}, true
		}
	}
	return crossing{}, false
}

func adjacentEdges(i, j, edgeCount int) bool {
	d := i - j
	if d < 0 {
		d = -d
	}
	return d == 1 || d == edgeCount-1
}

func orientation(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func onSegment(a, b, p orb.Point) bool {
	return math.Min(a[0], b[0]) <= p[0] && p[0] <= math.Max(a[0], b[0]) &&
		math.Min(a[1], b[1]) <= p[1] && p[1] <= math.Max(a[1], b[1])
}

// segmentsTouch reports whether segments ab and cd share a point, and
// where. With properOnly it reports only crossings where each segment
// passes strictly through the other.
func segmentsTouch(a, b, c, d orb.Point, properOnly bool) (orb.Point, bool) {
	o1 := orientation(a, b, c)
	o2 := orientation(a, b, d)
	o3 := orientation(c, d, a)
	o4 := orientation(c, d, b)
	if ((o1 > 0 && o2 < 0) || (o1 < 0 && o2 > 0)) && ((o3 > 0 && o4 < 0) || (o3 < 0 && o4 > 0)) {
		t := o3 / (o3 - o4)
		return orb.Point{a[0] + t*(b[0]-a[0]), a[1] + t*(b[1]-a[1])}, true
	}
	if properOnly {
		return orb.Point{}, false
	}
	switch {
	case o1 == 0 && onSegment(a, b, c):
		return c, true
	case o2 == 0 && onSegment(a, b, d):
		return d, true
	case o3 == 0 && onSegment(c, d, a):
		return a, true
	case o4 == 0 && onSegment(c, d, b):
		return b, true
	}
	return orb.Point{}, false
}

// checkHoles reports the first hole of a polygon that does not lie inside
// its outer ring. It runs after findCrossing has ruled out proper
// crossings, so a hole edge can only leave the outer ring through one of
// the outer ring's corners. Testing each hole corner and each hole edge's
// midpoint therefore finds a hole that lies partly or wholly outside. A
// hole whose corners and midpoints all lie on the outer boundary coincides
// with the outer ring and would cut the whole polygon away. input holds
// the positions as sent, so messages can name their indices.
func checkHoles(path string, input [][][]float64, rings []orb.Ring, verr *model.ValidationError) bool {
	outer := rings[0]
	for r := 1; r < len(rings); r++ {
		hole := rings[r]
		onBoundaryOnly := true
		for _, corner := range hole[:len(hole)-1] {
			if onRingBoundary(outer, corner) {
				continue
			}
			onBoundaryOnly = false
			if !planar.RingContains(outer, corner) {
				verr.Add(fmt.Sprintf("%s[%d][%d]", path, r, positionIndex(input[r], corner)), fmt.Sprintf(
					"hole corner [%.6f, %.6f] [lon, lat] lies outside the outer ring; holes must lie inside ring 0",
					corner[0], corner[1]))
				return false
			}
		}
		for k := 0; k+1 < len(hole); k++ {
			mid := orb.Point{(hole[k][0] + hole[k+1][0]) / 2, (hole[k][1] + hole[k+1][1]) / 2}
			if onRingBoundary(outer, mid) {
				continue
			}
			onBoundaryOnly = false
			if !planar.RingContains(outer, mid) {
				from := positionIndex(input[r], hole[k])
				verr.Add(fmt.Sprintf("%s[%d][%d]", path, r, from), fmt.Sprintf(
					"hole edge %d-%d leaves the outer ring near [%.6f, %.6f] [lon, lat]; holes must lie inside ring 0",
					from, positionIndex(input[r], hole[k+1]), mid[0], mid[1]))
				return false
			}
		}
		if onBoundaryOnly {
			verr.Add(fmt.Sprintf("%s[%d]", path, r),
				"hole coincides with the outer ring, so it would remove the whole polygon; delete the hole")
			return false
		}
	}
	return true
}

// onRingBoundary reports whether p lies on an edge of ring.
func onRingBoundary(ring orb.Ring, p orb.Point) bool {
	for i := 1; i < len(ring); i++ {
		if orientation(ring[i-1], ring[i], p) == 0 && onSegment(ring[i-1], ring[i], p) {
			return true
		}
	}
	return false
}

// positionIndex returns the index of the first input position equal to p.
// checkRing drops repeated positions, so indices in the cleaned ring can
// differ from the ones the client sent.
func positionIndex(positions [][]float64, p orb.Point) int {
	for i, pos := range positions {
		if pos[0] == p[0] && pos[1] == p[1] {
			return i
		}
	}
	return 0
}
