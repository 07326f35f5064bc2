package storage

import (
	"reflect"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func deviation(id, terminal string, kind model.DeviationKind, state model.DeviationState, started time.Time) model.Deviation {
	d := model.Deviation{ID: id, Kind: kind, State: state, Terminal: terminal, StartedAt: started,
		Lat: 28.9, Lon: 120.05, ReceivedAt: started.Add(time.Second), TextZH: "偏离路线", TextEN: "off route"}
	if state == model.StateClosed {
		d.EndedAt = started.Add(5 * time.Minute)
	}
	return d
}

func ids(devs []model.Deviation) []string {
	var out []string
	for _, d := range devs {
		out = append(out, d.ID)
	}
	return out
}

func TestDeviationUpsert(t *testing.T) {
	s := openStore(t, Options{})
	open := deviation("d1", "T1", model.KindRouteDeviation, model.StateOpen, t0)
	if err := s.PutDeviation(open); err != nil {
		t.Fatal(err)
	}
	closed := deviation("d1", "T1", model.KindRouteDeviation, model.StateClosed, t0)
	closed.Peak = 350
	if err := s.PutDeviation(closed); err != nil {
		t.Fatal(err)
	}
	got, err := s.Deviations(DeviationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d deviations after upsert, want 1", len(got))
	}
	if !reflect.DeepEqual(got[0], closed) {
		t.Fatalf("stored %+v, want %+v", got[0], closed)
	}

	// Moving the start time must not leave a stale index entry behind.
	moved := closed
	moved.StartedAt = t0.Add(time.Hour)
	if err := s.PutDeviation(moved); err != nil {
		t.Fatal(err)
	}
	got, err = s.Deviations(DeviationQuery{Terminal: "T1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d deviations for T1 after moving the start, want 1", len(got))
	}
	if !got[0].StartedAt.Equal(moved.StartedAt) {
		t.Fatalf("started_at = %s, want %s", got[0].StartedAt, moved.StartedAt)
	}
}

func TestDeviationsFilters(t *testing.T) {
	s := openStore(t, Options{})
	all := []model.Deviation{
		deviation("a", "T1", model.KindRouteDeviation, model.StateClosed, t0),
		deviation("b", "T1", model.KindOverspeed, model.StateOpen, t0.Add(1*time.Hour)),
		deviation("c", "T2", model.KindRouteDeviation, model.StateOpen, t0.Add(2*time.Hour)),
		deviation("d", "T10", model.KindRestrictedZone, model.StateClosed, t0.Add(3*time.Hour)),
		deviation("e", "T1", model.KindRouteDeviation, model.StateOpen, t0.Add(4*time.Hour)),
	}
	for _, d := range all {
		if err := s.PutDeviation(d); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name string
		q    DeviationQuery
		want []string
	}{
		{"no filter newest first", DeviationQuery{}, []string{"e", "d", "c", "b", "a"}},
		{"terminal", DeviationQuery{Terminal: "T1"}, []string{"e", "b", "a"}},
		{"terminal is not a prefix match", DeviationQuery{Terminal: "T"}, nil},
		{"kind", DeviationQuery{Kind: model.KindRouteDeviation}, []string{"e", "c", "a"}},
		{"state", DeviationQuery{State: model.StateClosed}, []string{"d", "a"}},
		{"from inclusive", DeviationQuery{From: t0.Add(2 * time.Hour)}, []string{"e", "d", "c"}},
		{"to exclusive", DeviationQuery{To: t0.Add(2 * time.Hour)}, []string{"b", "a"}},
		{"window", DeviationQuery{From: t0.Add(time.Hour), To: t0.Add(4 * time.Hour)}, []string{"d", "c", "b"}},
		{"limit", DeviationQuery{Limit: 2}, []string{"e", "d"}},
		{"combined", DeviationQuery{Terminal: "T1", Kind: model.KindRouteDeviation, State: model.StateOpen, From: t0, Limit: 5}, []string{"e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Deviations(tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ids(got), tt.want) {
				t.Fatalf("ids = %v, want %v", ids(got), tt.want)
			}
		})
	}
}

func TestPruneFixesAndDeviations(t *testing.T) {
	s := openStore(t, Options{FixRetention: 24 * time.Hour, DeviationRetention: 48 * time.Hour})
	now := t0.Add(10 * 24 * time.Hour)

	var fixes []model.Fix
	for _, term := range []string{"T1", "T2"} {
		for h := 0; h < 72; h++ {
			fixes = append(fixes, simpleFix(term, now.Add(-time.Duration(h)*time.Hour), uint64(h)))
		}
	}
	if _, _, err := s.PutFixes(fixes, 0); err != nil {
		t.Fatal(err)
	}

	devs := []model.Deviation{
		deviation("old-closed", "T1", model.KindOverspeed, model.StateClosed, now.Add(-72*time.Hour)),
		deviation("old-open", "T1", model.KindSignalLoss, model.StateOpen, now.Add(-72*time.Hour)),
		deviation("recent", "T2", model.KindOverspeed, model.StateClosed, now.Add(-time.Hour)),
	}
	// Started before the cutoff but ended after it: kept.
	endedLate := deviation("ended-late", "T2", model.KindLongStop, model.StateClosed, now.Add(-49*time.Hour))
	endedLate.EndedAt = now.Add(-47 * time.Hour)
	devs = append(devs, endedLate)
	for _, d := range devs {
		if err := s.PutDeviation(d); err != nil {
			t.Fatal(err)
		}
	}

	stats, err := s.Prune(now)
	if err != nil {
		t.Fatal(err)
	}
	// Fixes at hours 0..24 ago are kept (the cutoff itself is not older), 25..71 go.
	if stats.Fixes != 2*47 {
		t.Errorf("pruned %d fixes, want %d", stats.Fixes, 2*47)
	}
	if stats.Deviations != 1 {
		t.Errorf("pruned %d deviations, want 1", stats.Deviations)
	}
	for _, term := range []string{"T1", "T2"} {
		track, err := s.Track(term, time.Time{}, now.Add(time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(track) != 25 {
			t.Errorf("%s keeps %d fixes, want 25", term, len(track))
		}
		if len(track) > 0 && track[0].Time.Before(now.Add(-24*time.Hour)) {
			t.Errorf("%s oldest kept fix %s is older than retention", term, track[0].Time)
		}
	}
	left, err := s.Deviations(DeviationQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"recent", "ended-late", "old-open"}; !reflect.DeepEqual(ids(left), want) {
		t.Errorf("deviations left = %v, want %v", ids(left), want)
	}

	again, err := s.Prune(now)
	if err != nil {
		t.Fatalf("second Prune: %v", err)
	}
	if again != (PruneStats{}) {
		t.Errorf("second Prune removed %+v, want nothing", again)
	}
}
