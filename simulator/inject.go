package simulator

import (
	"errors"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/hwtrack/hwtrack/model"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"
)

// Injection parameters. The core of a detour lasts 3 to 5 minutes of fix
// time and holds at least 8 fixes, every one at least MinDeviationM from
// the whole route.
const (
	MinDeviationM = 600.0

	injectTargetSpan = 4 * time.Minute
	injectMinSpan    = 3 * time.Minute
	injectMaxSpan    = 5 * time.Minute
	injectMinFixes   = 8
	// injectMinSpeedKmh is the mean speed a stretch must keep to count as
	// moving.
	injectMinSpeedKmh = 15.0
	// injectMaxFixGap is the longest gap allowed between two fixes of the
	// core, so the detour is densely recorded.
	injectMaxFixGap = 60 * time.Second
	// injectSidewaysMs is the sideways speed of the ramps in m/s (40
	// km/h), so leaving the route by 700 m takes 63 s.
	injectSidewaysMs = 40 / 3.6
	// injectBaseM and injectBumpM shape the core offset: base at both
	// ends of the core, base plus bump in the middle.
	injectBaseM = 700.0
	injectBumpM = 400.0
	// rampToleranceM absorbs the difference between a recorded fix and
	// the simplified route, which is up to the simplification tolerance.
	rampToleranceM = 25.0
)

// injectTurnsDeg are the directions tried for the sideways move, in
// degrees counterclockwise from the direction of travel: square to the
// left and right first, then slanted ones for curved stretches.
var injectTurnsDeg = []float64{90, -90, 60, -60, 120, -120, 30, -30, 150, -150}

// ErrNoInjectionStretch means the track has no stretch dense, long and
// fast enough to carry an injected deviation.
var ErrNoInjectionStretch = errors.New("no moving stretch of 3-5 minutes with at least 8 fixes")

// Injection describes an injected route deviation. Fixes First..Last of
// the returned slice were moved: the ramp out (First..CoreFirst-1) drifts
// steadily away from the route, the core (CoreFirst..CoreLast) lies at
// least MinDeviationM from every segment of the route, and the ramp back
// (CoreLast+1..Last) returns steadily.
type Injection struct {
	Kind       model.DeviationKind `json:"kind"`
	Start      time.Time           `json:"start"` // time of the first core fix
	End        time.Time           `json:"end"`   // time of the last core fix
	First      int                 `json:"first"`
	CoreFirst  int                 `json:"core_first"`
	CoreLast   int                 `json:"core_last"`
	Last       int                 `json:"last"`
	MaxOffsetM float64             `json:"max_offset_m"`
	// MinRouteDistanceM is the smallest distance of a core fix to the
	// route after the move.
	MinRouteDistanceM float64 `json:"min_route_distance_m"`
}

// InjectRouteDeviation moves one stretch in the middle of a moving part of
// fixes sideways off route, so a server checking the trip against route
// raises exactly one route deviation. fixes must be sorted by time (see
// Retime), and the input slice is not modified. It returns
// ErrNoInjectionStretch when no stretch qualifies, for example on sparse
// or parked tracks.
func InjectRouteDeviation(fixes []model.Fix, route orb.LineString) ([]model.Fix, Injection, error) {
	if len(fixes) < injectMinFixes {
		return nil, Injection{}, ErrNoInjectionStretch
	}
	mid := fixes[0].Time.Add(fixes[len(fixes)-1].Time.Sub(fixes[0].Time) / 2)

	index := newRouteIndex(route, injectBaseM*3+injectBumpM*3)
	profile := newTrackProfile(fixes)

	// Small detours first; a larger one is needed where the track loops
	// back near itself, and a shorter core where it winds.
	for _, span := range []time.Duration{injectTargetSpan, injectMinSpan} {
		for _, scale := range []float64{1, 1.5, 2, 3} {
			ramp := time.Duration(injectBaseM * scale / injectSidewaysMs * float64(time.Second))
			candidates := injectionCandidates(profile, span, ramp)
			sort.SliceStable(candidates, func(i, j int) bool {
				return absDuration(candidates[i].midTime(fixes).Sub(mid)) < absDuration(candidates[j].midTime(fixes).Sub(mid))
			})
			var tried []injectCandidate
			for _, c := range candidates {
				if nearTried(fixes, c, tried) {
					continue
				}
				tried = append(tried, c)
				moved := make([]orb.Point, c.last-c.first+1)
				for _, turn := range injectTurnsDeg {
					if inj, ok := c.apply(fixes, moved, index, turn, scale); ok {
						return movedFixes(fixes, c.first, moved), inj, nil
					}
				}
			}
		}
	}
	return nil, Injection{}, ErrNoInjectionStretch
}

// movedFixes returns a copy of fixes with fixes first.. at the moved
// positions. A moved fix that reports a speed reports the speed along the
// moved path, at least its recorded one, as a unit on the detour would:
// a sideways ramp driven while the recording crawled must not look like a
// parked truck's drifting fixes, which the engine rightly ignores.
func movedFixes(fixes []model.Fix, first int, moved []orb.Point) []model.Fix {
	out := slices.Clone(fixes)
	for k, p := range moved {
		f := &out[first+k]
		prev := out[first+k-1]
		f.Lat, f.Lon = p.Lat(), p.Lon()
		dt := f.Time.Sub(prev.Time).Seconds()
		if f.Has&model.HasSpeed == 0 || dt <= 0 {
			continue
		}
		pathKmh := geo.Distance(orb.Point{prev.Lon, prev.Lat}, p) / dt * 3.6
		f.SpeedKmh = math.Max(f.SpeedKmh, math.Min(pathKmh, injectSidewaysMs*3.6))
	}
	return out
}

// injectStride is how far apart in time the cores of two tried
// candidates start; closer ones overlap almost entirely and fail alike.
const injectStride = 20 * time.Second

// nearTried reports whether c starts within injectStride of a candidate
// already tried.
func nearTried(fixes []model.Fix, c injectCandidate, tried []injectCandidate) bool {
	for _, t := range tried {
		if absDuration(fixes[c.coreFirst].Time.Sub(fixes[t.coreFirst].Time)) < injectStride {
			return true
		}
	}
	return false
}

type injectCandidate struct {
	first, coreFirst, coreLast, last int
}

func (c injectCandidate) midTime(fixes []model.Fix) time.Time {
	a, b := fixes[c.coreFirst].Time, fixes[c.coreLast].Time
	return a.Add(b.Sub(a) / 2)
}

// injectionCandidates lists every core window that is dense, valid and
// moving, with room for the ramps on both sides.
func injectionCandidates(profile *trackProfile, target, ramp time.Duration) []injectCandidate {
	fixes := profile.fixes
	var out []injectCandidate
	n := len(fixes)
	j := 0
	for i := 1; i < n; i++ {
		// The end of the shortest window starting at i never moves back
		// as i grows, so j carries over.
		j = max(j, i)
		for j < n-1 && (fixes[j].Time.Sub(fixes[i].Time) < target || j-i+1 < injectMinFixes) {
			j++
		}
		span := fixes[j].Time.Sub(fixes[i].Time)
		if span < injectMinSpan || span > injectMaxSpan || j-i+1 < injectMinFixes {
			continue
		}
		if !profile.denseMoving(i, j) {
			continue
		}

		first := i
		for first > 0 && fixes[i].Time.Sub(fixes[first-1].Time) <= ramp {
			first--
		}
		last := j
		for last < n-1 && fixes[last+1].Time.Sub(fixes[j].Time) <= ramp {
			last++
		}
		// The ramps need at least one unmoved fix before and after them.
		if first == 0 || last == n-1 || first == i || last == j {
			continue
		}
		if !profile.denseMoving(first, i) || !profile.denseMoving(j, last) {
			continue
		}
		out = append(out, injectCandidate{first: first, coreFirst: i, coreLast: j, last: last})
	}
	return out
}

// trackProfile holds prefix sums over a track so any stretch can be
// checked for density, validity and speed in constant time.
type trackProfile struct {
	fixes    []model.Fix
	pathM    []float64 // pathM[i]: metres travelled from fix 0 to fix i
	invalid  []int     // invalid[i]: invalid fixes among 0..i-1
	longGaps []int     // longGaps[i]: gaps over injectMaxFixGap before fix i
}

func newTrackProfile(fixes []model.Fix) *trackProfile {
	n := len(fixes)
	p := &trackProfile{fixes: fixes, pathM: make([]float64, n), invalid: make([]int, n+1), longGaps: make([]int, n)}
	for i := range fixes {
		p.invalid[i+1] = p.invalid[i]
		if !fixes[i].Valid {
			p.invalid[i+1]++
		}
		if i == 0 {
			continue
		}
		p.pathM[i] = p.pathM[i-1] + geo.Distance(fixPoint(fixes[i-1]), fixPoint(fixes[i]))
		p.longGaps[i] = p.longGaps[i-1]
		if fixes[i].Time.Sub(fixes[i-1].Time) > injectMaxFixGap {
			p.longGaps[i]++
		}
	}
	return p
}

// denseMoving reports whether fixes i..j are all valid, no gap between
// them exceeds injectMaxFixGap and their mean speed is at least
// injectMinSpeedKmh.
func (p *trackProfile) denseMoving(i, j int) bool {
	if p.invalid[j+1]-p.invalid[i] > 0 || p.longGaps[j]-p.longGaps[i] > 0 {
		return false
	}
	secs := p.fixes[j].Time.Sub(p.fixes[i].Time).Seconds()
	return secs > 0 && (p.pathM[j]-p.pathM[i])/secs*3.6 >= injectMinSpeedKmh
}

// apply computes the moved positions of the candidate's fixes in the
// direction turnDeg counterclockwise from the chord of the core, with
// offsets multiplied by scale. It writes them to moved (one per fix from
// first to last) and reports whether they meet the Injection contract.
// All fixes move in one direction, so distances between core fixes, and
// the speeds they imply, stay as recorded.
func (c injectCandidate) apply(fixes []model.Fix, moved []orb.Point, route *routeIndex, turnDeg, scale float64) (Injection, bool) {
	a, b := fixPoint(fixes[c.coreFirst]), fixPoint(fixes[c.coreLast])
	dx, dy := localXY(a, b)
	length := math.Hypot(dx, dy)
	if length == 0 {
		return Injection{}, false
	}
	sin, cos := math.Sincos(turnDeg * math.Pi / 180)
	nx, ny := (dx*cos-dy*sin)/length, (dx*sin+dy*cos)/length

	base, bump := injectBaseM*scale, injectBumpM*scale
	t0, t1 := fixes[c.coreFirst].Time, fixes[c.coreLast].Time
	// The ramps run linearly from the unmoved fixes on either side, so
	// the sideways speed stays at or below base/ramp.
	rampIn := t0.Sub(fixes[c.first-1].Time).Seconds()
	rampOut := fixes[c.last+1].Time.Sub(t1).Seconds()
	coreSecs := t1.Sub(t0).Seconds()
	offsetAt := func(k int) float64 {
		switch {
		case k < c.coreFirst:
			return base * (1 - t0.Sub(fixes[k].Time).Seconds()/rampIn)
		case k > c.coreLast:
			return base * (1 - fixes[k].Time.Sub(t1).Seconds()/rampOut)
		default:
			u := fixes[k].Time.Sub(t0).Seconds() / coreSecs
			return base + bump*math.Sin(math.Pi*u)
		}
	}
	move := func(k int) orb.Point {
		offset := offsetAt(k)
		return offsetPoint(fixPoint(fixes[k]), nx*offset, ny*offset)
	}

	// A sparse look at the core rejects most bad directions cheaply.
	for k := c.coreFirst; k <= c.coreLast; k += 8 {
		if route.distanceM(move(k)) < MinDeviationM {
			return Injection{}, false
		}
	}

	inj := Injection{
		Kind: model.KindRouteDeviation, Start: t0, End: t1,
		First: c.first, CoreFirst: c.coreFirst, CoreLast: c.coreLast, Last: c.last,
		MinRouteDistanceM: math.Inf(1),
	}
	prevDist := 0.0
	for k := c.first; k <= c.last; k++ {
		p := move(k)
		moved[k-c.first] = p
		inj.MaxOffsetM = max(inj.MaxOffsetM, offsetAt(k))

		dist := route.distanceM(p)
		switch {
		case k < c.coreFirst && dist < prevDist-rampToleranceM:
			return inj, false // the ramp out must move steadily away
		case k > c.coreLast && dist > prevDist+rampToleranceM:
			return inj, false // the ramp back must move steadily closer
		case k >= c.coreFirst && k <= c.coreLast:
			if dist < MinDeviationM {
				return inj, false
			}
			inj.MinRouteDistanceM = min(inj.MinRouteDistanceM, dist)
		}
		prevDist = dist
	}
	return inj, true
}

func fixPoint(f model.Fix) orb.Point { return orb.Point{f.Lon, f.Lat} }

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
