package simulator

import (
	"slices"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// matchSlack is how far apart in fix time an episode and a label may be
// and still count as overlapping. It absorbs an episode that starts at the
// last fix before a labelled stretch or ends one fix after it.
const matchSlack = time.Minute

// LabelResult is the outcome of one label.
type LabelResult struct {
	Label
	Found       bool   `json:"found"`
	DeviationID string `json:"deviation_id,omitempty"`
	// StartedAt and EndedAt are the matched episode's, in fix time.
	StartedAt time.Time `json:"started_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Delay is the fix time of the deciding fix less the label's start:
	// how much of the track had been sent when the episode was raised.
	Delay      time.Duration `json:"delay_ns"`
	DelayKnown bool          `json:"delay_known"`
	Bound      time.Duration `json:"bound_ns"`
}

// WithinBound reports whether the label was found within its delay bound.
func (l *LabelResult) WithinBound() bool {
	return l.Found && l.DelayKnown && l.Delay <= l.Bound
}

// EpisodeResult is one episode the server raised that matched no label.
type EpisodeResult struct {
	ID        string              `json:"id"`
	Kind      model.DeviationKind `json:"kind"`
	StartedAt time.Time           `json:"started_at"`
	EndedAt   time.Time           `json:"ended_at,omitzero"`
	Late      bool                `json:"late"`
	// Reason is why the episode is a false alarm, or what excused it.
	Reason string `json:"reason"`
}

// ScenarioResult is the outcome of one scenario.
type ScenarioResult struct {
	Name        string          `json:"name"`
	Suite       Suite           `json:"suite"`
	Source      string          `json:"source"`
	Description string          `json:"description,omitempty"`
	Terminal    string          `json:"terminal"`
	TripID      string          `json:"trip_id,omitempty"`
	Messages    int             `json:"messages"`
	Fixes       int             `json:"fixes"`
	Rejected    int             `json:"rejected"`
	Episodes    int             `json:"episodes"`
	Labels      []LabelResult   `json:"labels"`
	FalseAlarms []EpisodeResult `json:"false_alarms"`
	Excused     []EpisodeResult `json:"excused,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// OK reports whether the scenario ran, every label was found and nothing
// else was raised.
func (r *ScenarioResult) OK() bool {
	if r.Error != "" || len(r.FalseAlarms) > 0 {
		return false
	}
	for _, l := range r.Labels {
		if !l.Found {
			return false
		}
	}
	return true
}

// DetectionClock returns the newest fix time the simulator had sent when
// the server received the fix that raised episode d. ok is false when
// that time is unknown.
type DetectionClock func(d *model.Deviation) (fixTime time.Time, ok bool)

// distinctEpisodes returns one record per episode id, preferring the
// closed record, ordered by start time.
func distinctEpisodes(devs []model.Deviation) []model.Deviation {
	byID := make(map[string]int)
	var out []model.Deviation
	for _, d := range devs {
		if k, seen := byID[d.ID]; seen && d.ID != "" {
			if d.State == model.StateClosed {
				out[k] = d
			}
			continue
		}
		byID[d.ID] = len(out)
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b model.Deviation) int { return a.StartedAt.Compare(b.StartedAt) })
	return out
}

func overlaps(d *model.Deviation, from, to time.Time) bool {
	if d.StartedAt.After(to.Add(matchSlack)) {
		return false
	}
	return d.EndedAt.IsZero() || !d.EndedAt.Before(from.Add(-matchSlack))
}

// ScoreScenario compares the episodes the server raised for s with its
// labels. Each label is matched to the earliest unmatched episode of its
// kind that overlaps it in fix time. A further episode overlapping a
// label is a false alarm, because one condition must raise one episode.
// An episode overlapping an excuse of its kind is excused, and every other
// episode is a false alarm. clock may be nil, leaving delays unknown.
func ScoreScenario(s *Scenario, devs []model.Deviation, clock DetectionClock, th Thresholds) ScenarioResult {
	res := ScenarioResult{
		Name: s.Name, Suite: s.Suite, Source: s.Source, Description: s.Description,
		Fixes: len(s.Fixes), Messages: len(s.messages()),
		Labels: []LabelResult{}, FalseAlarms: []EpisodeResult{},
	}
	episodes := distinctEpisodes(devs)
	res.Episodes = len(episodes)
	used := make([]bool, len(episodes))

	labels := slices.Clone(s.Labels)
	slices.SortStableFunc(labels, func(a, b Label) int { return a.Start.Compare(b.Start) })
	for _, l := range labels {
		lr := LabelResult{Label: l, Bound: s.delayBound(l, th)}
		for k := range episodes {
			d := &episodes[k]
			if used[k] || d.Kind != l.Kind || !overlaps(d, l.Start, l.End) {
				continue
			}
			used[k] = true
			lr.Found, lr.DeviationID, lr.StartedAt, lr.EndedAt = true, d.ID, d.StartedAt, d.EndedAt
			if clock != nil {
				if at, ok := clock(d); ok {
					lr.Delay, lr.DelayKnown = at.Sub(l.Start), true
				}
			}
			break
		}
		res.Labels = append(res.Labels, lr)
	}

	for k := range episodes {
		if used[k] {
			continue
		}
		d := &episodes[k]
		er := EpisodeResult{ID: d.ID, Kind: d.Kind, StartedAt: d.StartedAt, EndedAt: d.EndedAt, Late: d.Late}
		switch {
		case overlapsLabel(d, labels):
			er.Reason = "a second episode for one labelled condition"
			res.FalseAlarms = append(res.FalseAlarms, er)
		case overlapsExcuse(d, s.Excuses) != "":
			er.Reason = overlapsExcuse(d, s.Excuses)
			res.Excused = append(res.Excused, er)
		default:
			er.Reason = "no label or excuse covers it"
			res.FalseAlarms = append(res.FalseAlarms, er)
		}
	}
	return res
}

func overlapsLabel(d *model.Deviation, labels []Label) bool {
	for _, l := range labels {
		if l.Kind == d.Kind && overlaps(d, l.Start, l.End) {
			return true
		}
	}
	return false
}

// overlapsExcuse returns the reason of the first excuse of d's kind that
// d overlaps, or "".
func overlapsExcuse(d *model.Deviation, excuses []Excuse) string {
	for _, e := range excuses {
		if e.Kind == d.Kind && overlaps(d, e.Start, e.End) {
			return e.Reason
		}
	}
	return ""
}

// publishLog records, for each message sent, the wall-clock time just
// before it was published and the newest fix time sent up to and
// including it. Entries are in publish order.
type publishLog struct {
	wall   []time.Time
	newest []time.Time
}

func (p *publishLog) add(wall time.Time, fixes []model.Fix) {
	newest := time.Time{}
	if n := len(p.newest); n > 0 {
		newest = p.newest[n-1]
	}
	for _, f := range fixes {
		if f.Time.After(newest) {
			newest = f.Time
		}
	}
	p.wall = append(p.wall, wall)
	p.newest = append(p.newest, newest)
}

// fixTimeAt returns the newest fix time sent by receivedAt. Each message
// is published only after the previous one was acknowledged, so the
// message that carried the deciding fix is the last one published before
// the server received it.
func (p *publishLog) fixTimeAt(receivedAt time.Time) (time.Time, bool) {
	k, found := slices.BinarySearchFunc(p.wall, receivedAt, func(a, b time.Time) int { return a.Compare(b) })
	if !found {
		k--
	}
	if k < 0 || k >= len(p.newest) {
		return time.Time{}, false
	}
	return p.newest[k], true
}
