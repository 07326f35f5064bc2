package geofence

import (
	"fmt"
	"math"

	"github.com/paulmach/orb"
)

// NewCorridorWidths builds a corridor around route whose segment i (from
// route point i to i+1) is segmentWidthsM[i] metres wide, or widthM wide
// where segmentWidthsM[i] is 0, as JT/T 808 route segments each carry a
// width. A nil segmentWidthsM gives NewCorridor's uniform corridor.
func NewCorridorWidths(route orb.LineString, widthM float64, segmentWidthsM []float64) (*Corridor, error) {
	c, err := NewCorridor(route, widthM)
	if err != nil || segmentWidthsM == nil {
		return c, err
	}
	if len(segmentWidthsM) != c.Segments() {
		return nil, fmt.Errorf("build corridor: %d segment widths for a route of %d segments", len(segmentWidthsM), c.Segments())
	}

	c.halfM = make([]float64, len(segmentWidthsM))
	c.maxHalfM = widthM / 2
	for i, w := range segmentWidthsM {
		if w == 0 {
			w = widthM
		}
		if !(w >= MinCorridorWidthM && w <= MaxCorridorWidthM) {
			return nil, fmt.Errorf("build corridor: segment %d width %g m is out of range [%g, %g] m", i, w, MinCorridorWidthM, MaxCorridorWidthM)
		}
		c.halfM[i] = w / 2
		c.maxHalfM = math.Max(c.maxHalfM, w/2)
	}
	return c, nil
}

// SegmentLengthM returns the length of segment i in metres, measured in
// the corridor's plane.
func (c *Corridor) SegmentLengthM(i int) float64 {
	return math.Hypot(c.xs[i+1]-c.xs[i], c.ys[i+1]-c.ys[i])
}

// SegmentWidthM returns the full corridor width of segment i in metres.
func (c *Corridor) SegmentWidthM(i int) float64 {
	if c.halfM == nil {
		return c.widthM
	}
	return 2 * c.halfM[i]
}

// Offset measures (lat, lon) against the corridor. offsetM is how far the
// point lies outside the corridor, negative inside it: the least, over all
// segments, of the distance to the segment minus half its width. segment
// is the segment that least is measured against and distM the distance to
// it. On a tie the lower segment index is returned.
func (c *Corridor) Offset(lat, lon float64) (offsetM, distM float64, segment int) {
	if c.halfM == nil {
		d, s := c.Distance(lat, lon)
		return d - c.widthM/2, d, s
	}

	px, py := c.plane.project(lat, lon)
	fc := math.Floor((px - c.minX) / c.cellM)
	fr := math.Floor((py - c.minY) / c.cellM)
	startRing := int(math.Max(math.Max(-fc, fc-float64(c.cols-1)), math.Max(-fr, fr-float64(c.rows-1))))
	startRing = max(startRing, 0)
	pc, pr := int(fc), int(fr)
	maxRing := max(pc, c.cols-1-pc, pr, c.rows-1-pr, startRing)

	best, bestDist, bestSeg := math.Inf(1), math.Inf(1), -1
	for k := startRing; k <= maxRing; k++ {
		c.scanRingOffset(pc, pr, k, px, py, &best, &bestDist, &bestSeg)
		// A segment in ring k+1 or beyond is at least k cells away, so its
		// offset is at least that minus the widest half-width.
		if best <= float64(k)*c.cellM-c.maxHalfM {
			break
		}
	}
	return best, bestDist, bestSeg
}

func (c *Corridor) scanRingOffset(pc, pr, k int, px, py float64, best, bestDist *float64, bestSeg *int) {
	for r := pr - k; r <= pr+k; r++ {
		if r < 0 || r >= c.rows {
			continue
		}
		step := 2 * k
		if r == pr-k || r == pr+k || k == 0 {
			step = 1
		}
		for col := pc - k; col <= pc+k; col += step {
			if col < 0 || col >= c.cols {
				continue
			}
			cell := r*c.cols + col
			items := c.cellItems[c.cellStart[cell]:c.cellStart[cell+1]]
			if len(items) == 0 {
				continue
			}
			if gap := math.Sqrt(c.cellGapSquared(col, r, px, py)); gap-c.maxHalfM >= *best {
				continue
			}
			for _, s := range items {
				d := segmentDistance(px, py, c.xs[s], c.ys[s], c.xs[s+1], c.ys[s+1])
				off := d - c.halfM[s]
				if off < *best || (off == *best && int(s) < *bestSeg) {
					*best, *bestDist, *bestSeg = off, d, int(s)
				}
			}
		}
	}
}
