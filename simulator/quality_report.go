package simulator

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// KindSummary scores one alarm kind over a quality run.
type KindSummary struct {
	Kind string `json:"kind"`
	// Labels, Found and Missed count labelled episodes in the injected
	// and field suites.
	Labels int     `json:"labels"`
	Found  int     `json:"found"`
	Missed int     `json:"missed"`
	Recall float64 `json:"recall"`
	// FalseAlarms counts unlabelled episodes in the injected and field
	// suites; NoiseFalseAlarms those on unchanged real tracks.
	FalseAlarms      int `json:"false_alarms"`
	NoiseFalseAlarms int `json:"noise_false_alarms"`
	Excused          int `json:"excused"`
	// Delays are in fix time, over the found labels whose deciding fix is
	// known; OverBound counts those slower than their bound.
	DelayMedian time.Duration `json:"delay_median_ns"`
	DelayMax    time.Duration `json:"delay_max_ns"`
	BoundMax    time.Duration `json:"bound_max_ns"`
	OverBound   int           `json:"over_bound"`
}

// SkippedInjection is a track and kind for which no scenario was built.
type SkippedInjection struct {
	File   string `json:"file"`
	Kind   string `json:"kind,omitempty"`
	Reason string `json:"reason"`
}

// QualityReport is the outcome of a quality run.
type QualityReport struct {
	RunID      string             `json:"run_id"`
	Target     string             `json:"target"`
	Started    time.Time          `json:"started"`
	Finished   time.Time          `json:"finished"`
	Thresholds Thresholds         `json:"thresholds"`
	Kinds      []KindSummary      `json:"kinds"`
	Scenarios  []ScenarioResult   `json:"scenarios"`
	Skipped    []SkippedInjection `json:"skipped,omitempty"`
}

// summarize fills r.Kinds from r.Scenarios.
func (r *QualityReport) summarize() {
	byKind := make(map[model.DeviationKind]*KindSummary)
	delays := make(map[model.DeviationKind][]time.Duration)
	r.Kinds = r.Kinds[:0]
	for _, k := range QualityKinds {
		r.Kinds = append(r.Kinds, KindSummary{Kind: k.String()})
	}
	for i := range r.Kinds {
		k, _ := model.ParseDeviationKind(r.Kinds[i].Kind)
		byKind[k] = &r.Kinds[i]
	}
	summary := func(k model.DeviationKind) *KindSummary {
		if s := byKind[k]; s != nil {
			return s
		}
		r.Kinds = append(r.Kinds, KindSummary{Kind: k.String()})
		// Appending may move the array, so rebuild the index.
		for i := range r.Kinds {
			kk, _ := model.ParseDeviationKind(r.Kinds[i].Kind)
			byKind[kk] = &r.Kinds[i]
		}
		return byKind[k]
	}

	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		for _, l := range sc.Labels {
			s := summary(l.Kind)
			s.Labels++
			if !l.Found {
				s.Missed++
				continue
			}
			s.Found++
			if l.DelayKnown {
				delays[l.Kind] = append(delays[l.Kind], l.Delay)
				s.BoundMax = max(s.BoundMax, l.Bound)
				if l.Delay > l.Bound {
					s.OverBound++
				}
			}
		}
		for _, e := range sc.FalseAlarms {
			s := summary(e.Kind)
			if sc.Suite == SuiteNoise {
				s.NoiseFalseAlarms++
			} else {
				s.FalseAlarms++
			}
		}
		for _, e := range sc.Excused {
			summary(e.Kind).Excused++
		}
	}
	for i := range r.Kinds {
		s := &r.Kinds[i]
		if s.Labels > 0 {
			s.Recall = float64(s.Found) / float64(s.Labels)
		}
		k, _ := model.ParseDeviationKind(s.Kind)
		if d := delays[k]; len(d) > 0 {
			slices.Sort(d)
			s.DelayMedian, s.DelayMax = d[len(d)/2], d[len(d)-1]
		}
	}
}

// OK reports whether every scenario ran, every label was found and no
// false alarm was raised.
func (r *QualityReport) OK() bool {
	for i := range r.Scenarios {
		if !r.Scenarios[i].OK() {
			return false
		}
	}
	return true
}

// WriteTable writes the per-kind table, the field-failure cases, and one
// line per missed label, false alarm and error.
func (r *QualityReport) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "kind\tlabels\tfound\trecall\tfalse alarms\tnoise false alarms\texcused\tdelay median\tdelay max\tbound\tover bound")
	for _, s := range r.Kinds {
		recall := "-"
		if s.Labels > 0 {
			recall = fmt.Sprintf("%.0f %%", 100*s.Recall)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%d\n", s.Kind, s.Labels, s.Found, recall,
			s.FalseAlarms, s.NoiseFalseAlarms, s.Excused, formatDelay(s.DelayMedian, s.Found), formatDelay(s.DelayMax, s.Found),
			formatDelay(s.BoundMax, s.Found), s.OverBound)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "field case\texpected\tfound\tfalse alarms\tresult")
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		if sc.Suite != SuiteField {
			continue
		}
		found := 0
		for _, l := range sc.Labels {
			if l.Found {
				found++
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", sc.Source, labelKinds(sc.Labels), found, episodeKinds(sc.FalseAlarms), result(sc.OK()))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	var failed int
	suites := map[Suite]int{}
	for i := range r.Scenarios {
		sc := &r.Scenarios[i]
		suites[sc.Suite]++
		if sc.Error != "" {
			fmt.Fprintf(w, "ERROR %s (%s): %s\n", sc.Name, sc.Terminal, sc.Error)
		}
		for _, l := range sc.Labels {
			if !l.Found {
				fmt.Fprintf(w, "MISS %s (%s): %s from %s to %s: %s\n", sc.Name, sc.Terminal, l.Kind, l.Start.Format(time.RFC3339), l.End.Format(time.RFC3339), l.Note)
			}
		}
		for _, e := range sc.FalseAlarms {
			fmt.Fprintf(w, "FALSE ALARM %s (%s): %s %s started %s: %s\n", sc.Name, sc.Terminal, e.Kind, e.ID, e.StartedAt.Format(time.RFC3339), e.Reason)
		}
		if !sc.OK() {
			failed++
		}
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "skipped %s %s: %s\n", s.File, s.Kind, s.Reason)
	}
	_, err := fmt.Fprintf(w, "%d scenarios (%d injected, %d noise, %d field), %d failed: %s\n",
		len(r.Scenarios), suites[SuiteInjected], suites[SuiteNoise], suites[SuiteField], failed, result(r.OK()))
	return err
}

// WriteJSONFile writes the report as indented JSON to path.
func (r *QualityReport) WriteJSONFile(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode quality report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write quality report: %w", err)
	}
	return nil
}

func formatDelay(d time.Duration, found int) string {
	if found == 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}

func result(ok bool) string {
	if ok {
		return "ok"
	}
	return "FAIL"
}

func labelKinds(labels []LabelResult) string {
	if len(labels) == 0 {
		return "nothing"
	}
	counts := map[string]int{}
	for _, l := range labels {
		counts[l.Kind.String()]++
	}
	return formatKinds(counts)
}

func episodeKinds(eps []EpisodeResult) string {
	if len(eps) == 0 {
		return "0"
	}
	counts := map[string]int{}
	for _, e := range eps {
		counts[e.Kind.String()]++
	}
	return formatKinds(counts)
}
