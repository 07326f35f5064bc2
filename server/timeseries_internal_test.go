package server

import (
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func TestMergeTracks(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 9, 30, 0, 0, time.UTC)
	fix := func(sec int, seq uint64, lat float64) model.Fix {
		return model.Fix{Terminal: "T1", Time: t0.Add(time.Duration(sec) * time.Second), Seq: seq, Lat: lat}
	}
	type key struct {
		sec int
		seq uint64
		lat float64
	}
	cases := []struct {
		name          string
		local, remote []model.Fix
		limit         int
		want          []key
	}{
		{"disjoint", []model.Fix{fix(1, 1, 1), fix(3, 3, 1)}, []model.Fix{fix(2, 2, 2), fix(4, 4, 2)}, 0,
			[]key{{1, 1, 1}, {2, 2, 2}, {3, 3, 1}, {4, 4, 2}}},
		{"same fix once, local kept", []model.Fix{fix(1, 1, 1), fix(2, 2, 1)}, []model.Fix{fix(2, 2, 2), fix(3, 3, 2)}, 0,
			[]key{{1, 1, 1}, {2, 2, 1}, {3, 3, 2}}},
		{"same time, other seq", []model.Fix{fix(1, 1, 1), fix(1, 2, 1)}, []model.Fix{fix(1, 2, 2)}, 0,
			[]key{{1, 1, 1}, {1, 2, 1}}},
		{"limit", []model.Fix{fix(1, 1, 1), fix(3, 3, 1)}, []model.Fix{fix(2, 2, 2), fix(4, 4, 2)}, 3,
			[]key{{1, 1, 1}, {2, 2, 2}, {3, 3, 1}}},
		{"only InfluxDB", nil, []model.Fix{fix(5, 5, 2)}, 0, []key{{5, 5, 2}}},
		{"both empty", nil, nil, 10, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mergeTracks(c.local, c.remote, c.limit)
			if len(got) != len(c.want) {
				t.Fatalf("merged %d fixes, want %d: %+v", len(got), len(c.want), got)
			}
			for i, w := range c.want {
				g := key{int(got[i].Time.Sub(t0) / time.Second), got[i].Seq, got[i].Lat}
				if g != w {
					t.Errorf("fix %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
