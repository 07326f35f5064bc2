package simulator

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/deviation"
	"github.com/hwtrack/hwtrack/model"
)

var scoreT0 = time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)

func at(seconds int) time.Time { return scoreT0.Add(time.Duration(seconds) * time.Second) }

func dev(id string, kind model.DeviationKind, from, to int) model.Deviation {
	d := model.Deviation{ID: id, Kind: kind, State: model.StateOpen, StartedAt: at(from)}
	if to >= 0 {
		d.State, d.EndedAt = model.StateClosed, at(to)
	}
	return d
}

// scoreScenario is a 10-minute scenario with a fix every 10 s.
func scoreScenario(labels []Label, excuses []Excuse) *Scenario {
	s := &Scenario{Name: "score", Suite: SuiteInjected, Labels: labels, Excuses: excuses}
	for k := 0; k <= 60; k++ {
		s.Fixes = append(s.Fixes, model.Fix{Time: at(10 * k), Valid: true})
	}
	return s
}

func TestScoreScenario(t *testing.T) {
	th := ThresholdsFrom(deviation.DefaultConfig())
	route := Label{Kind: model.KindRouteDeviation, Start: at(120), End: at(240)}
	tests := []struct {
		name        string
		labels      []Label
		excuses     []Excuse
		devs        []model.Deviation
		wantFound   []bool
		wantFalse   []string // kinds of false alarms
		wantExcused int
		wantOK      bool
		wantReason  string
	}{
		{name: "hit", labels: []Label{route}, devs: []model.Deviation{dev("d1", model.KindRouteDeviation, 130, 240)},
			wantFound: []bool{true}, wantOK: true},
		{name: "open episode is a hit", labels: []Label{route}, devs: []model.Deviation{dev("d1", model.KindRouteDeviation, 130, -1)},
			wantFound: []bool{true}, wantOK: true},
		{name: "missed label", labels: []Label{route},
			wantFound: []bool{false}, wantOK: false},
		{name: "spurious episode", devs: []model.Deviation{dev("d1", model.KindOverspeed, 30, 60)},
			wantFalse: []string{"overspeed"}, wantOK: false, wantReason: "no label"},
		{name: "episode of another kind", labels: []Label{route}, devs: []model.Deviation{dev("d1", model.KindRestrictedZone, 130, 240)},
			wantFound: []bool{false}, wantFalse: []string{"restricted_zone"}, wantOK: false},
		{name: "episode outside the label", labels: []Label{route}, devs: []model.Deviation{dev("d1", model.KindRouteDeviation, 400, 500)},
			wantFound: []bool{false}, wantFalse: []string{"route_deviation"}, wantOK: false},
		{name: "second episode for one label", labels: []Label{route},
			devs:      []model.Deviation{dev("d1", model.KindRouteDeviation, 130, 170), dev("d2", model.KindRouteDeviation, 200, 240)},
			wantFound: []bool{true}, wantFalse: []string{"route_deviation"}, wantOK: false, wantReason: "second episode"},
		{name: "open and closed records of one episode", labels: []Label{route},
			devs:      []model.Deviation{dev("d1", model.KindRouteDeviation, 130, -1), dev("d1", model.KindRouteDeviation, 130, 240)},
			wantFound: []bool{true}, wantOK: true},
		{name: "excused by the track itself",
			excuses:     []Excuse{{Kind: model.KindSignalLoss, Start: at(300), End: at(420), Reason: "gap"}},
			devs:        []model.Deviation{dev("d1", model.KindSignalLoss, 300, 420)},
			wantExcused: 1, wantOK: true},
		{name: "excuse of another kind excuses nothing",
			excuses:   []Excuse{{Kind: model.KindSignalLoss, Start: at(300), End: at(420), Reason: "gap"}},
			devs:      []model.Deviation{dev("d1", model.KindLongStop, 300, 420)},
			wantFalse: []string{"long_stop"}, wantOK: false},
		{name: "two labels two episodes",
			labels:    []Label{route, {Kind: model.KindRouteDeviation, Start: at(400), End: at(500)}},
			devs:      []model.Deviation{dev("d2", model.KindRouteDeviation, 410, 500), dev("d1", model.KindRouteDeviation, 125, 240)},
			wantFound: []bool{true, true}, wantOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := ScoreScenario(scoreScenario(tc.labels, tc.excuses), tc.devs, nil, th)
			if len(res.Labels) != len(tc.wantFound) {
				t.Fatalf("labels scored: %d, want %d", len(res.Labels), len(tc.wantFound))
			}
			for k, want := range tc.wantFound {
				if res.Labels[k].Found != want {
					t.Errorf("label %d found = %v, want %v", k, res.Labels[k].Found, want)
				}
			}
			var kinds []string
			for _, e := range res.FalseAlarms {
				kinds = append(kinds, e.Kind.String())
				if tc.wantReason != "" && !strings.Contains(e.Reason, tc.wantReason) {
					t.Errorf("false alarm reason %q, want it to contain %q", e.Reason, tc.wantReason)
				}
			}
			if strings.Join(kinds, ",") != strings.Join(tc.wantFalse, ",") {
				t.Errorf("false alarms %v, want %v", kinds, tc.wantFalse)
			}
			if len(res.Excused) != tc.wantExcused {
				t.Errorf("excused %d, want %d", len(res.Excused), tc.wantExcused)
			}
			if res.OK() != tc.wantOK {
				t.Errorf("OK() = %v, want %v", res.OK(), tc.wantOK)
			}
		})
	}
}

func TestScoreScenarioDelay(t *testing.T) {
	th := ThresholdsFrom(deviation.DefaultConfig())
	s := scoreScenario([]Label{{Kind: model.KindRouteDeviation, Start: at(120), End: at(240)}}, nil)
	wall := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var log publishLog
	for k, f := range s.Fixes {
		log.add(wall.Add(time.Duration(k)*time.Millisecond), []model.Fix{f})
	}
	d := dev("d1", model.KindRouteDeviation, 130, 240)
	// Received while the fix of 08:02:30 (index 15) was the newest sent.
	d.ReceivedAt = wall.Add(15*time.Millisecond + 300*time.Microsecond)

	clock := func(d *model.Deviation) (time.Time, bool) { return log.fixTimeAt(d.ReceivedAt) }
	res := ScoreScenario(s, []model.Deviation{d}, clock, th)
	l := res.Labels[0]
	if !l.DelayKnown {
		t.Fatal("delay unknown, want it mapped from received_at")
	}
	if l.Delay != 30*time.Second {
		t.Errorf("delay %s, want 30s", l.Delay)
	}
	// The first fix 30 s after the label's start is at 08:02:30.
	if want := th.Persistence; l.Bound != want {
		t.Errorf("bound %s, want %s", l.Bound, want)
	}
	if !l.WithinBound() {
		t.Error("WithinBound() = false, want true")
	}
}

func TestPublishLogFixTime(t *testing.T) {
	wall := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var log publishLog
	log.add(wall, []model.Fix{{Time: at(10)}})
	log.add(wall.Add(time.Second), []model.Fix{{Time: at(60)}, {Time: at(50)}})
	log.add(wall.Add(2*time.Second), []model.Fix{{Time: at(5)}}) // a late fix
	tests := []struct {
		name     string
		received time.Time
		want     time.Time
		wantOK   bool
	}{
		{name: "before the first publish", received: wall.Add(-time.Millisecond), wantOK: false},
		{name: "at the first publish", received: wall, want: at(10), wantOK: true},
		{name: "after a batch", received: wall.Add(1500 * time.Millisecond), want: at(60), wantOK: true},
		{name: "late fix keeps the newest", received: wall.Add(3 * time.Second), want: at(60), wantOK: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := log.fixTimeAt(tc.received)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if ok && !got.Equal(tc.want) {
				t.Errorf("fix time %s, want %s", got, tc.want)
			}
		})
	}
}

func TestQualityReportSummary(t *testing.T) {
	r := QualityReport{Scenarios: []ScenarioResult{
		{Suite: SuiteInjected, Labels: []LabelResult{
			{Label: Label{Kind: model.KindOverspeed}, Found: true, Delay: 20 * time.Second, DelayKnown: true, Bound: 15 * time.Second},
			{Label: Label{Kind: model.KindOverspeed}, Found: false},
		}},
		{Suite: SuiteNoise, FalseAlarms: []EpisodeResult{{Kind: model.KindLongStop}}, Excused: []EpisodeResult{{Kind: model.KindSignalLoss}}},
		{Suite: SuiteField, FalseAlarms: []EpisodeResult{{Kind: model.KindLongStop}}},
	}}
	r.summarize()

	kinds := map[string]KindSummary{}
	for _, k := range r.Kinds {
		kinds[k.Kind] = k
	}
	if len(r.Kinds) != len(QualityKinds) {
		t.Errorf("%d kinds in the table, want %d", len(r.Kinds), len(QualityKinds))
	}
	over := kinds["overspeed"]
	if over.Labels != 2 || over.Found != 1 || over.Missed != 1 {
		t.Errorf("overspeed labels/found/missed = %d/%d/%d, want 2/1/1", over.Labels, over.Found, over.Missed)
	}
	if over.Recall != 0.5 {
		t.Errorf("overspeed recall %v, want 0.5", over.Recall)
	}
	if over.OverBound != 1 {
		t.Errorf("overspeed over bound %d, want 1", over.OverBound)
	}
	stop := kinds["long_stop"]
	if stop.NoiseFalseAlarms != 1 || stop.FalseAlarms != 1 {
		t.Errorf("long_stop noise/other false alarms = %d/%d, want 1/1", stop.NoiseFalseAlarms, stop.FalseAlarms)
	}
	if kinds["signal_loss"].Excused != 1 {
		t.Errorf("signal_loss excused %d, want 1", kinds["signal_loss"].Excused)
	}

	if r.OK() {
		t.Error("OK() = true with a miss and false alarms")
	}
	var out strings.Builder
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "FAIL") {
		t.Errorf("table does not say FAIL:\n%s", out.String())
	}
}

func TestDelayBound(t *testing.T) {
	th := ThresholdsFrom(deviation.DefaultConfig())
	s := scoreScenario(nil, nil)
	// A recording gap from 08:02:00 to 08:04:00 delays the first fix
	// that can confirm an episode starting at 08:01:50.
	s.Fixes = slices.DeleteFunc(s.Fixes, func(f model.Fix) bool { return f.Time.After(at(120)) && f.Time.Before(at(240)) })
	batched := scoreScenario(nil, nil)
	for k := 0; k < len(batched.Fixes); k += 6 {
		batched.Messages = append(batched.Messages, Message{Fixes: batched.Fixes[k:min(k+6, len(batched.Fixes))], Batch: true})
	}
	tests := []struct {
		name     string
		scenario *Scenario
		label    Label
		want     time.Duration
	}{
		{name: "regular reports", scenario: scoreScenario(nil, nil), label: Label{Kind: model.KindRouteDeviation, Start: at(100)}, want: 30 * time.Second},
		{name: "between reports", scenario: scoreScenario(nil, nil), label: Label{Kind: model.KindOverspeed, Start: at(105)}, want: 15 * time.Second},
		{name: "recording gap", scenario: s, label: Label{Kind: model.KindRouteDeviation, Start: at(110)}, want: 130 * time.Second},
		{name: "batches of six", scenario: batched, label: Label{Kind: model.KindRestrictedZone, Start: at(60)}, want: 50 * time.Second},
		{name: "long stop", scenario: scoreScenario(nil, nil), label: Label{Kind: model.KindLongStop, Start: at(0)}, want: 10 * time.Minute},
		{name: "signal loss waits for the server tick", scenario: scoreScenario(nil, nil), label: Label{Kind: model.KindSignalLoss, Start: at(0)}, want: th.SignalLoss + ServerTickEvery},
		{name: "trip overtime waits for the server tick", scenario: scoreScenario(nil, nil), label: Label{Kind: model.KindTripOvertime, Start: at(0)}, want: ServerTickEvery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.scenario.delayBound(tc.label, th); got != tc.want {
				t.Errorf("bound %s, want %s", got, tc.want)
			}
		})
	}
}

func TestEndAtLiveFrom(t *testing.T) {
	s := scoreScenario(nil, nil)
	s.LiveFrom = at(300)
	end := time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)
	s.endAt(end)
	if !s.LiveFrom.Equal(end) {
		t.Errorf("LiveFrom %s, want %s", s.LiveFrom, end)
	}
	if last := s.Fixes[len(s.Fixes)-1].Time; !last.Equal(end.Add(5 * time.Minute)) {
		t.Errorf("last fix %s, want 5 minutes after the end", last)
	}

	plain := scoreScenario(nil, nil)
	plain.endAt(end)
	if last := plain.Fixes[len(plain.Fixes)-1].Time; !last.Equal(end) {
		t.Errorf("last fix %s, want %s", last, end)
	}
}
