package geofence

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/paulmach/orb"

	"github.com/hwtrack/hwtrack/model"
)

// Corridor limits for NewCorridor.
const (
	MinCorridorWidthM = 10.0
	MaxCorridorWidthM = 20_000.0
)

// Corridor is a planned route with a corridor width: the band a truck on
// its trip should stay in. Distances are measured in an equirectangular
// plane centred on the route, which is accurate to well under 1 % over a
// city or a regional run.
//
// Segments are bucketed in a uniform grid of square cells, so Distance
// searches outwards ring by ring from the point's cell and stops as soon as
// no unvisited cell can hold a nearer segment. Near the route that is the
// 3×3 block around the point, independent of route length. Far from the
// route the cost grows with the square of the distance in cells.
//
// A Corridor is immutable after NewCorridor and safe for concurrent use.
type Corridor struct {
	widthM float64
	plane  localPlane
	xs, ys []float64 // vertices in metres east and north of plane's origin

	minX, minY float64 // grid origin in plane metres
	cellM      float64
	cols, rows int
	cellStart  []int32
	cellItems  []int32 // segment i joins vertex i and i+1

	// halfM holds each segment's half-width when NewCorridorWidths gave
	// segments their own widths, and is nil for a uniform corridor.
	// maxHalfM is the largest of them.
	halfM    []float64
	maxHalfM float64
}

// NewCorridor builds a corridor around route (WGS-84 [lon, lat] points)
// whose full width is widthM metres: a point is inside when its distance
// to the route is at most widthM/2, as JT/T 808 route segments define it.
func NewCorridor(route orb.LineString, widthM float64) (*Corridor, error) {
	if len(route) < 2 {
		return nil, fmt.Errorf("build corridor: route has %d point(s), needs at least 2", len(route))
	}
	if !(widthM >= MinCorridorWidthM && widthM <= MaxCorridorWidthM) {
		return nil, fmt.Errorf("build corridor: width %g m is out of range [%g, %g] m", widthM, MinCorridorWidthM, MaxCorridorWidthM)
	}
	for i, p := range route {
		if math.IsNaN(p[0]) || math.IsNaN(p[1]) || math.Abs(p[1]) > 90 || math.Abs(p[0]) > 180 {
			return nil, fmt.Errorf("build corridor: route point %d [%g, %g] is not a valid [lon, lat]", i, p[0], p[1])
		}
	}

	b := route.Bound()
	c := b.Center()
	cor := &Corridor{
		widthM: widthM,
		plane:  newLocalPlane(c[1], c[0]),
		xs:     make([]float64, len(route)),
		ys:     make([]float64, len(route)),
	}
	totalM := 0.0
	for i, p := range route {
		cor.xs[i], cor.ys[i] = cor.plane.project(p[1], p[0])
		if i > 0 {
			totalM += math.Hypot(cor.xs[i]-cor.xs[i-1], cor.ys[i]-cor.ys[i-1])
		}
	}
	cor.buildGrid(totalM / float64(len(route)-1))
	return cor, nil
}

// buildGrid sizes cells at twice the mean segment length (at least 25 m),
// grown until there are at most about 4 cells per segment.
func (c *Corridor) buildGrid(meanSegM float64) {
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for i := range c.xs {
		minX, maxX = math.Min(minX, c.xs[i]), math.Max(maxX, c.xs[i])
		minY, maxY = math.Min(minY, c.ys[i]), math.Max(maxY, c.ys[i])
	}
	c.minX, c.minY = minX, minY
	c.cellM = math.Max(2*meanSegM, 25)
	segments := len(c.xs) - 1
	maxCells := 4*segments + 64
	for {
		c.cols = int((maxX-minX)/c.cellM) + 1
		c.rows = int((maxY-minY)/c.cellM) + 1
		if c.cols*c.rows <= maxCells {
			break
		}
		c.cellM *= math.Max(math.Sqrt(float64(c.cols*c.rows)/float64(maxCells)), 1.01)
	}

	counts := make([]int32, c.cols*c.rows+1)
	c.eachSegmentCell(func(_, cell int) { counts[cell+1]++ })
	for i := 1; i < len(counts); i++ {
		counts[i] += counts[i-1]
	}
	c.cellStart = counts
	c.cellItems = make([]int32, counts[len(counts)-1])
	next := make([]int32, c.cols*c.rows)
	copy(next, counts[:len(counts)-1])
	c.eachSegmentCell(func(seg, cell int) {
		c.cellItems[next[cell]] = int32(seg)
		next[cell]++
	})
}

// eachSegmentCell calls fn for every cell a segment's bounding box touches.
func (c *Corridor) eachSegmentCell(fn func(seg, cell int)) {
	for s := 0; s+1 < len(c.xs); s++ {
		c0, c1 := c.cellCol(math.Min(c.xs[s], c.xs[s+1])), c.cellCol(math.Max(c.xs[s], c.xs[s+1]))
		r0, r1 := c.cellRow(math.Min(c.ys[s], c.ys[s+1])), c.cellRow(math.Max(c.ys[s], c.ys[s+1]))
		for r := r0; r <= r1; r++ {
			for col := c0; col <= c1; col++ {
				fn(s, r*c.cols+col)
			}
		}
	}
}

// cellCol and cellRow return the grid cell of a plane coordinate, clamped
// to the grid.
func (c *Corridor) cellCol(x float64) int {
	return min(max(int(math.Floor((x-c.minX)/c.cellM)), 0), c.cols-1)
}

func (c *Corridor) cellRow(y float64) int {
	return min(max(int(math.Floor((y-c.minY)/c.cellM)), 0), c.rows-1)
}

// WidthM returns the full corridor width in metres.
func (c *Corridor) WidthM() float64 { return c.widthM }

// Segments returns the number of route segments.
func (c *Corridor) Segments() int { return len(c.xs) - 1 }

// Distance returns the distance in metres from (lat, lon) to the nearest
// route segment and that segment's index (segment i joins route points i
// and i+1). On a tie the lower segment index is returned.
func (c *Corridor) Distance(lat, lon float64) (metres float64, segment int) {
	px, py := c.plane.project(lat, lon)
	fc := math.Floor((px - c.minX) / c.cellM)
	fr := math.Floor((py - c.minY) / c.cellM)

	// Rings nearer than the grid's edge are empty for a point off the grid,
	// so the search starts at the first ring that overlaps the grid.
	startRing := int(math.Max(math.Max(-fc, fc-float64(c.cols-1)), math.Max(-fr, fr-float64(c.rows-1))))
	startRing = max(startRing, 0)
	pc, pr := int(fc), int(fr)
	maxRing := max(pc, c.cols-1-pc, pr, c.rows-1-pr, startRing)

	bestSq, bestSeg := math.Inf(1), -1
	for k := startRing; k <= maxRing; k++ {
		c.scanRing(pc, pr, k, px, py, &bestSq, &bestSeg)
		// Any cell of ring k+1 or beyond is at least k cells away.
		if ringM := float64(k) * c.cellM; bestSq <= ringM*ringM {
			break
		}
	}
	return math.Sqrt(bestSq), bestSeg
}

// scanRing visits the cells of ring k around cell (pc, pr) and lowers
// bestSq, the squared distance to the nearest segment so far, and bestSeg.
func (c *Corridor) scanRing(pc, pr, k int, px, py float64, bestSq *float64, bestSeg *int) {
	for r := pr - k; r <= pr+k; r++ {
		if r < 0 || r >= c.rows {
			continue
		}
		edge := r == pr-k || r == pr+k
		step := 2 * k
		if edge || k == 0 {
			step = 1
		}
		for col := pc - k; col <= pc+k; col += step {
			if col < 0 || col >= c.cols {
				continue
			}
			cell := r*c.cols + col
			items := c.cellItems[c.cellStart[cell]:c.cellStart[cell+1]]
			if len(items) == 0 || c.cellGapSquared(col, r, px, py) >= *bestSq {
				continue
			}
			for _, s := range items {
				d := segmentDistanceSquared(px, py, c.xs[s], c.ys[s], c.xs[s+1], c.ys[s+1])
				if d < *bestSq || (d == *bestSq && int(s) < *bestSeg) {
					*bestSq, *bestSeg = d, int(s)
				}
			}
		}
	}
}

// cellGapSquared returns the squared distance from (px, py) to the
// rectangle of a cell, 0 inside it. No segment in the cell is nearer.
func (c *Corridor) cellGapSquared(col, row int, px, py float64) float64 {
	x0 := c.minX + float64(col)*c.cellM
	y0 := c.minY + float64(row)*c.cellM
	dx := max(0, x0-px, px-(x0+c.cellM))
	dy := max(0, y0-py, py-(y0+c.cellM))
	return dx*dx + dy*dy
}

// Contains reports whether (lat, lon) lies within the corridor.
func (c *Corridor) Contains(lat, lon float64) bool {
	offsetM, _, _ := c.Offset(lat, lon)
	return offsetM <= 0
}

// ParseRoute decodes a planned route: a GeoJSON LineString geometry, or a
// Feature holding one, in WGS-84. Problems come back as a
// *model.ValidationError with field names under "route".
func ParseRoute(raw []byte) (orb.LineString, error) {
	var doc struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
		Geometry    *struct {
			Type        string          `json:"type"`
			Coordinates json.RawMessage `json:"coordinates"`
		} `json:"geometry"`
	}
	verr := &model.ValidationError{}
	if err := json.Unmarshal(raw, &doc); err != nil {
		verr.Add("route", fmt.Sprintf("invalid JSON: %v", err))
		return nil, verr
	}

	geomType, coords, path := doc.Type, doc.Coordinates, "route.coordinates"
	if doc.Type == "Feature" {
		if doc.Geometry == nil {
			verr.Add("route.geometry", "missing: expected a LineString")
			return nil, verr
		}
		geomType, coords, path = doc.Geometry.Type, doc.Geometry.Coordinates, "route.geometry.coordinates"
	}
	if geomType != "LineString" {
		verr.Add("route.type", fmt.Sprintf("expected a GeoJSON LineString; got %q", geomType))
		return nil, verr
	}

	var positions [][]float64
	if err := json.Unmarshal(coords, &positions); err != nil {
		verr.Add(path, "a LineString needs an array of [lon, lat] positions")
		return nil, verr
	}
	if len(positions) < 2 {
		verr.Add(path, fmt.Sprintf("a route needs at least 2 positions; got %d", len(positions)))
	}

	line := make(orb.LineString, 0, len(positions))
	for i, pos := range positions {
		if !checkPosition(fmt.Sprintf("%s[%d]", path, i), pos, verr) {
			continue
		}
		if i > 0 && len(positions[i-1]) >= 2 {
			if reason := LongitudeSpanReason("segment", positions[i-1][0], pos[0]); reason != "" {
				verr.Add(fmt.Sprintf("%s[%d]", path, i), reason)
				continue
			}
		}
		line = append(line, orb.Point{pos[0], pos[1]})
	}
	if err := verr.Err(); err != nil {
		return nil, err
	}
	return line, nil
}
