package geofence

import (
	"math"
	"sort"

	"github.com/paulmach/orb"
)

// Index finds the zones that contain a point.
//
// It is a uniform grid in degrees, stored as two flat arrays (a cell's
// zone numbers are cellItems[cellStart[c]:cellStart[c+1]]). A grid suits
// this workload better than an R-tree: city geofences have similar sizes,
// so one cell size fits nearly all of them, and a lookup is one division
// and a short scan with no tree descent or pointer chasing. A cell is half
// the median zone extent, so a zone usually lands in 4 to 9 cells and a
// cell contains few zones that miss the point. The cell count is capped
// near 4 per zone. Zones much larger than a cell
// (a jurisdiction boundary, a reservoir's catchment) would fill many
// cells; they go to a separate list that every query checks by bounding
// box instead.
//
// An Index is immutable after NewIndex and safe for concurrent Query calls.
// The zones it holds must not be modified.
type Index struct {
	zones []*Zone
	byID  map[string]*Zone
	// jurisdictions lists the zones of kind jurisdiction, in input order.
	jurisdictions []*Zone

	bound        orb.Bound
	cellW, cellH float64 // cell size in degrees of longitude and latitude
	cols, rows   int
	cellStart    []int32
	cellItems    []int32
	large        []int32
}

// largeZoneCells is the number of grid cells above which a zone goes to the
// large list instead of the grid.
const largeZoneCells = 64

// NewIndex builds an index over zones. Nil zones are skipped. When two
// zones share an ID, Lookup returns the first.
func NewIndex(zones []*Zone) *Index {
	ix := &Index{byID: make(map[string]*Zone, len(zones))}
	for _, z := range zones {
		if z == nil {
			continue
		}
		ix.zones = append(ix.zones, z)
		if z.Kind == KindJurisdiction {
			ix.jurisdictions = append(ix.jurisdictions, z)
		}
		if _, dup := ix.byID[z.ID]; !dup {
			ix.byID[z.ID] = z
		}
	}
	if len(ix.zones) == 0 {
		return ix
	}

	ix.bound = ix.zones[0].bound
	widths := make([]float64, len(ix.zones))
	heights := make([]float64, len(ix.zones))
	for i, z := range ix.zones {
		ix.bound = ix.bound.Union(z.bound)
		widths[i] = z.bound.Max[0] - z.bound.Min[0]
		heights[i] = z.bound.Max[1] - z.bound.Min[1]
	}
	ix.chooseCells(median(widths), median(heights))
	ix.fill()
	return ix
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// chooseCells sets the cell size to half the median zone extent, grown
// until the grid has at most about four cells per zone.
func (ix *Index) chooseCells(medianW, medianH float64) {
	spanW := ix.bound.Max[0] - ix.bound.Min[0]
	spanH := ix.bound.Max[1] - ix.bound.Min[1]
	const minCellDeg = 1e-6
	ix.cellW = math.Max(medianW/2, math.Max(spanW/1024, minCellDeg))
	ix.cellH = math.Max(medianH/2, math.Max(spanH/1024, minCellDeg))

	maxCells := 4*len(ix.zones) + 64
	for {
		ix.cols = int(spanW/ix.cellW) + 1
		ix.rows = int(spanH/ix.cellH) + 1
		if ix.cols*ix.rows <= maxCells {
			return
		}
		scale := math.Sqrt(float64(ix.cols*ix.rows) / float64(maxCells))
		ix.cellW *= math.Max(scale, 1.01)
		ix.cellH *= math.Max(scale, 1.01)
	}
}

func (ix *Index) cellRange(b orb.Bound) (c0, r0, c1, r1 int) {
	c0 = ix.col(b.Min[0])
	c1 = ix.col(b.Max[0])
	r0 = ix.row(b.Min[1])
	r1 = ix.row(b.Max[1])
	return c0, r0, c1, r1
}

func (ix *Index) col(lon float64) int {
	return min(max(int((lon-ix.bound.Min[0])/ix.cellW), 0), ix.cols-1)
}

func (ix *Index) row(lat float64) int {
	return min(max(int((lat-ix.bound.Min[1])/ix.cellH), 0), ix.rows-1)
}

// fill counts the zones per cell, then places them: two passes keep the
// cell lists in one contiguous array.
func (ix *Index) fill() {
	counts := make([]int32, ix.cols*ix.rows+1)
	gridded := make([]bool, len(ix.zones))
	for i, z := range ix.zones {
		c0, r0, c1, r1 := ix.cellRange(z.bound)
		if (c1-c0+1)*(r1-r0+1) > largeZoneCells {
			ix.large = append(ix.large, int32(i))
			continue
		}
		gridded[i] = true
		for r := r0; r <= r1; r++ {
			for c := c0; c <= c1; c++ {
				counts[r*ix.cols+c+1]++
			}
		}
	}
	for c := 1; c < len(counts); c++ {
		counts[c] += counts[c-1]
	}
	ix.cellStart = counts
	ix.cellItems = make([]int32, counts[len(counts)-1])
	next := make([]int32, ix.cols*ix.rows)
	copy(next, counts[:len(counts)-1])
	for i, z := range ix.zones {
		if !gridded[i] {
			continue
		}
		c0, r0, c1, r1 := ix.cellRange(z.bound)
		for r := r0; r <= r1; r++ {
			for c := c0; c <= c1; c++ {
				cell := r*ix.cols + c
				ix.cellItems[next[cell]] = int32(i)
				next[cell]++
			}
		}
	}
}

// Query calls fn for every zone that contains the point (lat, lon) in
// WGS-84 degrees, as Zone.Contains decides, in no particular order. Each
// containing zone is reported once. The index holds no lock while fn
// runs, so fn may query the index again.
func (ix *Index) Query(lat, lon float64, fn func(z *Zone)) {
	if len(ix.zones) == 0 {
		return
	}
	p := orb.Point{lon, lat}
	if !ix.bound.Contains(p) {
		return
	}
	cell := ix.row(lat)*ix.cols + ix.col(lon)
	for _, i := range ix.cellItems[ix.cellStart[cell]:ix.cellStart[cell+1]] {
		z := ix.zones[i]
		if z.bound.Contains(p) && z.Contains(lat, lon) {
			fn(z)
		}
	}
	for _, i := range ix.large {
		z := ix.zones[i]
		if z.bound.Contains(p) && z.Contains(lat, lon) {
			fn(z)
		}
	}
}

// Overlapping calls fn once for every zone whose bounding box intersects
// b, in no particular order. It is a coarse filter: fn decides with the
// zone's own geometry.
func (ix *Index) Overlapping(b orb.Bound, fn func(z *Zone)) {
	if len(ix.zones) == 0 || !ix.bound.Intersects(b) {
		return
	}
	c0, r0, c1, r1 := ix.cellRange(b)
	var seen map[int32]bool
	for r := r0; r <= r1; r++ {
		for c := c0; c <= c1; c++ {
			cell := r*ix.cols + c
			for _, i := range ix.cellItems[ix.cellStart[cell]:ix.cellStart[cell+1]] {
				if seen[i] || !ix.zones[i].bound.Intersects(b) {
					continue
				}
				if seen == nil {
					seen = make(map[int32]bool)
				}
				seen[i] = true
				fn(ix.zones[i])
			}
		}
	}
	for _, i := range ix.large {
		if ix.zones[i].bound.Intersects(b) {
			fn(ix.zones[i])
		}
	}
}

// Lookup returns the zone with the given ID.
func (ix *Index) Lookup(id string) (*Zone, bool) {
	z, ok := ix.byID[id]
	return z, ok
}

// Jurisdictions returns the zones of kind jurisdiction in the order given
// to NewIndex. The slice is shared and must not be modified.
func (ix *Index) Jurisdictions() []*Zone { return ix.jurisdictions }

// Len returns the number of zones in the index.
func (ix *Index) Len() int { return len(ix.zones) }
