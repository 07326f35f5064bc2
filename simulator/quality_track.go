package simulator

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geo"

	"github.com/hwtrack/hwtrack/model"
)

// QualityKinds are the alarm kinds a quality run injects, in table order.
var QualityKinds = []model.DeviationKind{
	model.KindRouteDeviation, model.KindRestrictedZone, model.KindOverspeed, model.KindLongStop,
	model.KindSignalLoss, model.KindTripOvertime, model.KindDeviceAlarm,
}

// Injection shapes for the quality scenarios.
const (
	qualityCorridorM = 300.0
	// overspeedKmh is the speed of an injected speeding stretch, well
	// above the 60 km/h default limit and below the 150 km/h jump limit.
	overspeedKmh       = 95.0
	overspeedMinPathM  = 1300.0
	overspeedMaxPathM  = 3000.0
	overspeedMaxOrigKm = 45.0
	stopDuration       = 15 * time.Minute
	stopInterval       = 10 * time.Second
	stopNoiseM         = 4.0
	stopSpeedNoiseKmh  = 4.0
	gapDuration        = 10 * time.Minute
	// maxLiveTail bounds the real-time end of an overtime scenario.
	maxLiveTail   = 2 * time.Minute
	alarmDuration = 2 * time.Minute
	// excuseSlack widens every stretch a real track itself explains, so
	// an injection keeps clear of it and an episode that runs on a little
	// is still excused.
	excuseSlack = 2 * time.Minute
)

// ErrNotInjectable means a track has no stretch that fits the injection.
var ErrNotInjectable = errors.New("no stretch of the track fits the injection")

// QualityTrack is a real track prepared for quality scenarios: re-timed,
// with its planned route and the stretches the recording itself explains.
type QualityTrack struct {
	Path    string
	Fixes   []model.Fix
	Route   orb.LineString
	Excuses []Excuse
}

// LoadQualityTrack reads a track file and re-times it to end at end.
func LoadQualityTrack(path string, end time.Time, th Thresholds) (QualityTrack, error) {
	fixes, _, _, err := ReadTrack(path)
	if err != nil {
		return QualityTrack{}, err
	}
	fixes = Retime(fixes, end, DefaultMaxGap)
	route := PlannedRoute(fixes)
	if len(route) < 2 {
		return QualityTrack{}, fmt.Errorf("%s: fewer than 2 distinct valid positions", path)
	}
	return QualityTrack{Path: path, Fixes: fixes, Route: route, Excuses: NativeExcuses(fixes, th)}, nil
}

func (t *QualityTrack) base() string {
	return truncateASCII(terminalUnsafe.ReplaceAllString(filepath.Base(t.Path), "_"), 40)
}

// scenario returns an unchanged copy of the track as a scenario.
func (t *QualityTrack) scenario(suite Suite, name string) *Scenario {
	s := &Scenario{
		Name: name, Suite: suite, Source: t.Path,
		Fixes:     slices.Clone(t.Fixes),
		Route:     slices.Clone(t.Route),
		CorridorM: qualityCorridorM,
		Excuses:   slices.Clone(t.Excuses),
	}
	return s
}

// NoiseScenario replays the track with no injection.
func (t *QualityTrack) NoiseScenario() *Scenario {
	s := t.scenario(SuiteNoise, "noise/"+t.base())
	s.Description = "real track replayed unchanged"
	finishTrackScenario(s)
	return s
}

// InjectedScenario returns the track with one condition of kind injected
// and labelled. It returns ErrNotInjectable when no stretch fits.
func (t *QualityTrack) InjectedScenario(kind model.DeviationKind, th Thresholds) (*Scenario, error) {
	s := t.scenario(SuiteInjected, kind.String()+"/"+t.base())
	var err error
	switch kind {
	case model.KindRouteDeviation:
		err = injectDetour(s, th)
	case model.KindRestrictedZone:
		err = injectZoneCrossing(s, th)
	case model.KindOverspeed:
		err = injectSpeeding(s, th)
	case model.KindLongStop:
		err = injectStop(s)
	case model.KindSignalLoss:
		err = injectGap(s)
	case model.KindTripOvertime:
		err = injectOvertime(s, th)
	case model.KindDeviceAlarm:
		err = injectDeviceAlarm(s)
	default:
		return nil, fmt.Errorf("injecting %s is not supported", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("%s into %s: %w", kind, t.Path, err)
	}
	finishTrackScenario(s)
	return s, nil
}

// finishTrackScenario numbers the fixes and sets the trip window unless
// an injection set it.
func finishTrackScenario(s *Scenario) {
	numberFixes(s.Fixes)
	if s.PlannedStart.IsZero() {
		s.PlannedStart = s.Fixes[0].Time.Add(-time.Minute)
	}
	if s.PlannedEnd.IsZero() {
		s.PlannedEnd = s.Fixes[len(s.Fixes)-1].Time.Add(30 * time.Minute)
	}
}

// excused reports whether [from, to], widened by excuseSlack, overlaps an
// excuse of any kind.
func excused(excuses []Excuse, from, to time.Time) bool {
	for _, e := range excuses {
		if from.Before(e.End.Add(excuseSlack)) && to.After(e.Start.Add(-excuseSlack)) {
			return true
		}
	}
	return false
}

// pickStretch returns the stretch i..j whose fix-time span is at least
// span and that accept approves, trying the stretches nearest the middle
// of the track first.
func pickStretch(fixes []model.Fix, span time.Duration, accept func(i, j int) bool) (int, int, bool) {
	if len(fixes) < 3 {
		return 0, 0, false
	}
	type stretch struct {
		i, j    int
		fromMid time.Duration
	}
	mid := fixes[0].Time.Add(fixes[len(fixes)-1].Time.Sub(fixes[0].Time) / 2)
	var candidates []stretch
	j := 1
	for i := 1; i < len(fixes)-1; i++ {
		j = max(j, i+1)
		for j < len(fixes)-1 && fixes[j].Time.Sub(fixes[i].Time) < span {
			j++
		}
		if fixes[j].Time.Sub(fixes[i].Time) < span || j >= len(fixes)-1 {
			break
		}
		centre := fixes[i].Time.Add(fixes[j].Time.Sub(fixes[i].Time) / 2)
		candidates = append(candidates, stretch{i: i, j: j, fromMid: absDuration(centre.Sub(mid))})
	}
	slices.SortStableFunc(candidates, func(a, b stretch) int { return cmp.Compare(a.fromMid, b.fromMid) })
	for _, c := range candidates {
		if accept(c.i, c.j) {
			return c.i, c.j, true
		}
	}
	return 0, 0, false
}

func injectDetour(s *Scenario, th Thresholds) error {
	fixes, inj, err := InjectRouteDeviation(s.Fixes, s.Route)
	if err != nil {
		return err
	}
	// The label runs from the first moved fix beyond the corridor edge by
	// the margin, as the engine measures it, to the last one.
	index := newRouteIndex(s.Route, 10*s.CorridorM)
	first, last := -1, -1
	for k := inj.First; k <= inj.Last; k++ {
		if index.distanceM(fixPoint(fixes[k])) > s.CorridorM/2+marginOf(fixes[k], th) {
			if first < 0 {
				first = k
			}
			last = k
		}
	}
	if first < 0 {
		return ErrNotInjectable
	}
	s.Fixes = fixes
	s.Description = fmt.Sprintf("detour up to %.0f m off the route", inj.MaxOffsetM)
	s.Labels = []Label{{Kind: model.KindRouteDeviation, Start: fixes[first].Time, End: fixes[last].Time, Note: s.Description}}
	return nil
}

// injectZoneCrossing creates a restricted circle over a moving stretch of
// the track, sized so the crossing lasts the persistence and 90 s more.
func injectZoneCrossing(s *Scenario, th Thresholds) error {
	profile := newTrackProfile(s.Fixes)
	fixes := s.Fixes
	var zone CircleZone
	var first, last int
	_, _, ok := pickStretch(fixes, 3*time.Minute, func(i, j int) bool {
		if !profile.denseMoving(i, j) || excused(s.Excuses, fixes[i].Time, fixes[j].Time) {
			return false
		}
		c := (i + j) / 2
		speedMs := (profile.pathM[j] - profile.pathM[i]) / fixes[j].Time.Sub(fixes[i].Time).Seconds()
		radius := math.Min(math.Max(speedMs*(th.Persistence.Seconds()+90)/2+th.MarginM, 200), 1500)
		z := CircleZone{Kind: "restricted", Center: fixPoint(fixes[c]), RadiusM: radius}
		f, l, ok := singleCrossing(fixes, z, th)
		if ok {
			zone, first, last = z, f, l
		}
		return ok
	})
	if !ok {
		return ErrNotInjectable
	}
	zone.Name = "quality restricted " + s.Name
	s.Zones = []CircleZone{zone}
	s.Description = fmt.Sprintf("restricted circle of %.0f m radius over the track", zone.RadiusM)
	s.Labels = []Label{{Kind: model.KindRestrictedZone, Start: fixes[first].Time, End: fixes[last].Time, Note: s.Description}}
	return nil
}

// singleCrossing reports whether the track enters zone exactly once. The
// fixes within the margin of the edge or inside must form one run, and
// those beyond the edge by the margin must span the persistence and 30 s
// more. first is the first fix beyond the edge by the margin, where the
// engine starts counting, and last the last fix inside.
func singleCrossing(fixes []model.Fix, z CircleZone, th Thresholds) (first, last int, ok bool) {
	first, last = -1, -1
	deepFirst := -1
	var deepLast time.Time
	for k, f := range fixes {
		if !f.Valid {
			continue
		}
		d := geo.Distance(z.Center, fixPoint(f))
		if d > z.RadiusM+th.MarginM {
			continue
		}
		if last >= 0 && k != last+1 {
			return 0, 0, false // a second visit, or a fix skipped inside
		}
		if first < 0 {
			first = k
		}
		last = k
		if d < z.RadiusM-marginOf(f, th) {
			if deepFirst < 0 {
				deepFirst = k
			}
			deepLast = f.Time
		}
	}
	if first < 0 || deepFirst < 0 || deepLast.Sub(fixes[deepFirst].Time) < th.Persistence+30*time.Second {
		return 0, 0, false
	}
	return deepFirst, last, true
}

// marginOf returns how far beyond an edge f must lie to count, as the
// engine measures it: the margin or the fix's reported accuracy.
func marginOf(f model.Fix, th Thresholds) float64 {
	if f.Has&model.HasAccuracy != 0 {
		return math.Max(th.MarginM, f.AccuracyM)
	}
	return th.MarginM
}

// injectSpeeding replaces a slow moving stretch by the same path driven at
// overspeedKmh, resampled at the track's report interval, and moves the
// rest of the track earlier by the time saved.
func injectSpeeding(s *Scenario, th Thresholds) error {
	fixes := s.Fixes
	profile := newTrackProfile(fixes)
	interval := min(max((&Scenario{Fixes: fixes}).interval(), time.Second), 5*time.Second)
	accept := func(i, j int) bool {
		pathM := profile.pathM[j] - profile.pathM[i]
		secs := fixes[j].Time.Sub(fixes[i].Time).Seconds()
		if pathM < overspeedMinPathM || pathM > overspeedMaxPathM || pathM/secs*3.6 > overspeedMaxOrigKm {
			return false
		}
		return profile.denseMoving(i, j) && !excused(s.Excuses, fixes[i].Time, fixes[j].Time)
	}
	// Slower stretches need longer spans to cover the path length.
	var i, j int
	ok := false
	for span := time.Minute; span <= 5*time.Minute && !ok; span += time.Minute {
		i, j, ok = pickStretch(fixes, span, accept)
	}
	if !ok {
		return ErrNotInjectable
	}

	path := make(orb.LineString, 0, j-i+1)
	for k := i; k <= j; k++ {
		path = append(path, fixPoint(fixes[k]))
	}
	lengthM := geo.Length(path)
	entryMs := speedAround(fixes, i)
	exitMs := speedAround(fixes, j)
	fast, durationS := driveFast(fixes[i], path, lengthM, entryMs, exitMs, interval, uint64(i))
	t0 := fixes[i].Time
	saved := fixes[j].Time.Sub(t0) - time.Duration(durationS*float64(time.Second))
	rest := slices.Clone(fixes[j:])
	shiftFixes(rest, -saved)
	if rest[0].Time.Sub(fast[len(fast)-1].Time) < time.Second {
		rest = rest[1:]
	}
	// On a track without reported speeds, the fixes of the next minute
	// report the exit speed, so the speeding visibly ends.
	for k := range rest {
		if rest[k].Time.Sub(fast[len(fast)-1].Time) > time.Minute {
			break
		}
		if rest[k].Has&model.HasSpeed == 0 {
			rest[k].SpeedKmh = exitMs * 3.6
			rest[k].Has |= model.HasSpeed
		}
	}

	out := slices.Concat(fixes[:i], fast, rest)
	first := slices.IndexFunc(fast, func(f model.Fix) bool { return f.SpeedKmh > th.DefaultLimitKmh })
	last := first
	for k := range fast {
		if fast[k].SpeedKmh > th.DefaultLimitKmh {
			last = k
		}
	}
	if first < 0 || fast[last].Time.Sub(fast[first].Time) < 30*time.Second {
		return ErrNotInjectable
	}
	s.Fixes = out
	s.Description = fmt.Sprintf("%.1f km driven at up to %.0f km/h (limit %.0f), accelerating at %.1f m/s²", lengthM/1000, overspeedKmh, th.DefaultLimitKmh, accelMs2)
	s.Labels = []Label{{Kind: model.KindOverspeed, Start: fast[first].Time, End: fast[last].Time, Note: s.Description}}
	shiftExcusesAfter(s, fixes[j].Time, -saved)
	return nil
}

// accelMs2 is the acceleration and braking of an injected speeding
// stretch, about what a loaded truck manages.
const accelMs2 = 1.5

// speedAround returns the speed implied by the fixes next to fixes[k], in
// m/s, clamped to 3-14 m/s (about 10-50 km/h).
func speedAround(fixes []model.Fix, k int) float64 {
	a, b := fixes[max(k-1, 0)], fixes[min(k+1, len(fixes)-1)]
	dt := b.Time.Sub(a.Time).Seconds()
	if dt <= 0 {
		return 8
	}
	return min(max(geo.Distance(fixPoint(a), fixPoint(b))/dt, 3), 14)
}

// driveFast drives path, lengthM long, starting at entryMs, accelerating
// at accelMs2 to overspeedKmh and braking in time to leave at exitMs. It
// returns a fix every interval, based on template and starting at its
// time, and the time the whole path takes in seconds.
func driveFast(template model.Fix, path orb.LineString, lengthM, entryMs, exitMs float64, interval time.Duration, seed uint64) ([]model.Fix, float64) {
	const stepS = 0.05
	rng := rand.New(rand.NewPCG(seed, uint64(lengthM)))
	topMs := overspeedKmh / 3.6
	var out []model.Fix
	emit := func(elapsedS, distM, speedMs float64) {
		p, bearing := geo.PointAtDistanceAlongLine(path, distM)
		f := template
		f.Time = template.Time.Add(time.Duration(elapsedS * float64(time.Second)))
		f.Lat, f.Lon = p.Lat(), p.Lon()
		f.SpeedKmh = speedMs * 3.6
		if speedMs >= topMs-0.01 {
			f.SpeedKmh += 2 * (rng.Float64() - 0.5) // receiver noise at cruise
		}
		f.HeadingDeg = math.Mod(bearing+360, 360)
		f.Valid = true
		f.Has |= model.HasSpeed | model.HasHeading
		out = append(out, f)
	}

	elapsedS, distM, v := 0.0, 0.0, entryMs
	nextEmit := 0.0
	for distM < lengthM {
		if elapsedS >= nextEmit-1e-9 {
			emit(elapsedS, distM, v)
			nextEmit += interval.Seconds()
		}
		brakeM := (v*v - exitMs*exitMs) / (2 * accelMs2)
		switch {
		case lengthM-distM <= brakeM:
			v = math.Max(v-accelMs2*stepS, exitMs)
		case v < topMs:
			v = math.Min(v+accelMs2*stepS, topMs)
		}
		distM += v * stepS
		elapsedS += stepS
	}
	return out, elapsedS
}

// shiftExcusesAfter moves the excuses that start after at by d, as the
// fixes after at were moved.
func shiftExcusesAfter(s *Scenario, at time.Time, d time.Duration) {
	for k := range s.Excuses {
		if !s.Excuses[k].Start.Before(at) {
			s.Excuses[k].Start = s.Excuses[k].Start.Add(d)
			s.Excuses[k].End = s.Excuses[k].End.Add(d)
		}
	}
}

// injectStop inserts a 15-minute stop with GPS and speed noise at a fix
// of a moving stretch, and starts the rest of the track 15 minutes later.
func injectStop(s *Scenario) error {
	fixes := s.Fixes
	profile := newTrackProfile(fixes)
	i, _, ok := pickStretch(fixes, 2*time.Minute, func(i, j int) bool {
		return profile.denseMoving(i, j) && !excused(s.Excuses, fixes[i].Time.Add(-stopDuration), fixes[j].Time.Add(stopDuration))
	})
	if !ok {
		return ErrNotInjectable
	}
	rng := rand.New(rand.NewPCG(uint64(len(fixes)), uint64(i)))
	at := fixes[i]
	var stop []model.Fix
	for t := stopInterval; t <= stopDuration; t += stopInterval {
		f := at
		f.Time = at.Time.Add(t)
		p := offsetPoint(fixPoint(at), rng.NormFloat64()*stopNoiseM, rng.NormFloat64()*stopNoiseM)
		f.Lat, f.Lon = p.Lat(), p.Lon()
		f.SpeedKmh = stopSpeedNoiseKmh * rng.Float64()
		f.Has |= model.HasSpeed
		stop = append(stop, f)
	}
	delay := stopDuration + stopInterval
	rest := slices.Clone(fixes[i+1:])
	shiftFixes(rest, delay)
	shiftExcusesAfter(s, fixes[i+1].Time, delay)
	s.Fixes = slices.Concat(fixes[:i+1], stop, rest)
	s.Description = fmt.Sprintf("stop of %s with %.0f m position noise and speeds up to %.0f km/h", stopDuration, stopNoiseM, stopSpeedNoiseKmh)
	s.Labels = []Label{{Kind: model.KindLongStop, Start: at.Time, End: stop[len(stop)-1].Time, Note: s.Description}}
	return nil
}

// injectGap removes 10 minutes of fixes from a stretch on which the
// vehicle moves at least 10 km/h, so the gap cannot pass for a stop.
func injectGap(s *Scenario) error {
	fixes := s.Fixes
	profile := newTrackProfile(fixes)
	i, j, ok := pickStretch(fixes, gapDuration, func(i, j int) bool {
		if profile.invalid[j+1]-profile.invalid[i] > 0 || profile.longGaps[j]-profile.longGaps[i] > 0 {
			return false
		}
		if j-i < 3 || geo.Distance(fixPoint(fixes[i]), fixPoint(fixes[j])) < 1000 {
			return false
		}
		return !excused(s.Excuses, fixes[i].Time, fixes[j].Time)
	})
	if !ok {
		return ErrNotInjectable
	}
	s.Description = fmt.Sprintf("%d fixes over %s removed; the gap is played in real time", j-i-1, fixes[j].Time.Sub(fixes[i].Time).Round(time.Second))
	s.Labels = []Label{{Kind: model.KindSignalLoss, Start: fixes[i].Time, End: fixes[j].Time, Note: s.Description}}
	// The server counts only a gap in reception as signal loss, so the
	// gap must pass in wall-clock time. A minute of fixes after it is
	// enough to show the loss ending.
	tail := j
	for tail+1 < len(fixes) && fixes[tail+1].Time.Sub(fixes[j].Time) <= time.Minute {
		tail++
	}
	s.LiveFrom = fixes[i].Time
	s.Fixes = slices.Concat(fixes[:i+1], fixes[j:tail+1])
	return nil
}

// injectOvertime sets the planned end so the grace runs out shortly
// before the track ends. The server also checks overtime against the wall
// clock, so the end of the track is played in real time from just before
// the grace runs out. Without that, the server's timer would find the
// replayed trip overdue before its fixes reached the planned end.
func injectOvertime(s *Scenario, th Thresholds) error {
	first, last := s.Fixes[0].Time, s.Fixes[len(s.Fixes)-1].Time
	tail := max(20*time.Second, 3*s.interval())
	if tail > maxLiveTail {
		return ErrNotInjectable // too sparse to play its end in real time
	}
	plannedEnd := last.Add(-th.TripOvertimeGrace - tail)
	if plannedEnd.Sub(first) < 5*time.Minute {
		return ErrNotInjectable
	}
	due := plannedEnd.Add(th.TripOvertimeGrace)
	after := 0
	for _, f := range s.Fixes {
		if !f.Time.Before(due) && f.Valid {
			after++
		}
	}
	if after < 2 {
		return ErrNotInjectable
	}
	s.PlannedEnd = plannedEnd
	s.LiveFrom = due.Add(-5 * time.Second)
	s.Description = fmt.Sprintf("planned end %s before the last fix; the last %s played in real time", last.Sub(plannedEnd).Round(time.Second), last.Sub(s.LiveFrom).Round(time.Second))
	s.Labels = []Label{{Kind: model.KindTripOvertime, Start: due, End: last, Note: s.Description}}
	return nil
}

// injectDeviceAlarm sets JT/T 808 alarm bit 0 (emergency) on a 2-minute
// stretch; every fix carries the alarm word.
func injectDeviceAlarm(s *Scenario) error {
	fixes := s.Fixes
	i, j, ok := pickStretch(fixes, alarmDuration, func(i, j int) bool {
		return fixes[j].Time.Sub(fixes[i].Time) <= 2*alarmDuration
	})
	if !ok {
		return ErrNotInjectable
	}
	for k := range fixes {
		fixes[k].Has |= model.HasAlarm
		fixes[k].Alarm = 0
		if k >= i && k <= j {
			fixes[k].Alarm = 1
		}
	}
	s.Description = "JT/T 808 alarm bit 0 (emergency) set on a 2-minute stretch"
	s.Labels = []Label{{Kind: model.KindDeviceAlarm, Start: fixes[i].Time, End: fixes[j].Time, Note: s.Description}}
	return nil
}
