package api

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func trackFix(at time.Time, seq uint64) model.Fix {
	return model.Fix{Terminal: "T1", Time: at, Lat: 28.89, Lon: 120.04, Valid: true, Source: model.SourceRealtime, Seq: seq, Has: model.HasSeq}
}

type trackBody struct {
	Terminal  string          `json:"terminal"`
	From      time.Time       `json:"from"`
	To        time.Time       `json:"to"`
	Fixes     []model.FixJSON `json:"fixes"`
	Truncated bool            `json:"truncated"`
}

func TestTrack(t *testing.T) {
	api := newTestAPI(t)
	api.register("T1", "浙G·A0001")
	// Stored out of time order: the blind-area fix 3 arrived last.
	api.store.fixes["T1"] = []model.Fix{
		trackFix(testStart.Add(-30*time.Minute), 2),
		trackFix(testStart.Add(-10*time.Minute), 4),
		trackFix(testStart.Add(-50*time.Minute), 1),
		trackFix(testStart.Add(-20*time.Minute), 3),
		trackFix(testStart.Add(-25*time.Hour), 0), // outside the default day
	}

	cases := []struct {
		name      string
		query     string
		wantSeqs  []uint64
		truncated bool
		from, to  time.Time
	}{
		{"default last day", "", []uint64{1, 2, 3, 4}, false, testStart.Add(-24 * time.Hour), testStart},
		{"explicit range", "?from=2026-12-04T08:15:00Z&to=2026-12-04T08:45:00Z", []uint64{2, 3}, false,
			testStart.Add(-45 * time.Minute), testStart.Add(-15 * time.Minute)},
		{"offset time", "?from=" + url.QueryEscape("2026-12-04T16:15:00+08:00") + "&to=" + url.QueryEscape("2026-12-04T16:45:00+08:00"), []uint64{2, 3}, false,
			testStart.Add(-45 * time.Minute), testStart.Add(-15 * time.Minute)},
		{"only from", "?from=2026-12-04T08:35:00Z", []uint64{3, 4}, false, testStart.Add(-25 * time.Minute), testStart.Add(-25*time.Minute + 24*time.Hour)},
		{"limit cuts", "?limit=2", []uint64{1, 2}, true, testStart.Add(-24 * time.Hour), testStart},
		{"limit equal to count", "?limit=4", []uint64{1, 2, 3, 4}, false, testStart.Add(-24 * time.Hour), testStart},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := api.do("GET", "/api/v1/vehicles/T1/track"+tc.query, nil)
			expectStatus(t, r, http.StatusOK)
			var out trackBody
			r.json(t, &out)
			if out.Terminal != "T1" {
				t.Errorf("terminal = %q, want T1", out.Terminal)
			}
			if !out.From.Equal(tc.from) || !out.To.Equal(tc.to) {
				t.Errorf("range = %v to %v, want %v to %v", out.From, out.To, tc.from, tc.to)
			}
			var seqs []uint64
			for _, f := range out.Fixes {
				seqs = append(seqs, *f.Seq)
			}
			if len(seqs) != len(tc.wantSeqs) {
				t.Fatalf("fix seqs = %v, want %v", seqs, tc.wantSeqs)
			}
			for i := range seqs {
				if seqs[i] != tc.wantSeqs[i] {
					t.Fatalf("fix seqs = %v, want %v in fix-time order", seqs, tc.wantSeqs)
				}
			}
			if out.Truncated != tc.truncated {
				t.Errorf("truncated = %v, want %v", out.Truncated, tc.truncated)
			}
		})
	}

	t.Run("empty range", func(t *testing.T) {
		r := api.do("GET", "/api/v1/vehicles/T1/track?from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", nil)
		expectStatus(t, r, http.StatusOK)
		var out map[string]any
		r.json(t, &out)
		if fixes, ok := out["fixes"].([]any); !ok || len(fixes) != 0 {
			t.Errorf("fixes = %v, want an empty array", out["fixes"])
		}
	})
}

func TestTrackQueryErrors(t *testing.T) {
	api := newTestAPI(t)
	api.register("T1", "浙G·A0001")
	cases := []struct {
		name   string
		path   string
		status int
		code   string
		field  string
	}{
		{"bad from", "/api/v1/vehicles/T1/track?from=yesterday", 400, codeInvalidQuery, "from"},
		{"date without time", "/api/v1/vehicles/T1/track?to=2026-12-04", 400, codeInvalidQuery, "to"},
		{"from equals to", "/api/v1/vehicles/T1/track?from=2026-12-04T08:00:00Z&to=2026-12-04T08:00:00Z", 400, codeInvalidQuery, "from"},
		{"from after to", "/api/v1/vehicles/T1/track?from=2026-12-04T09:00:00Z&to=2026-12-04T08:00:00Z", 400, codeInvalidQuery, "from"},
		{"span over 31 days", "/api/v1/vehicles/T1/track?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:01Z", 400, codeInvalidQuery, "to"},
		{"zero limit", "/api/v1/vehicles/T1/track?limit=0", 400, codeInvalidQuery, "limit"},
		{"limit too big", "/api/v1/vehicles/T1/track?limit=100001", 400, codeInvalidQuery, "limit"},
		{"limit not a number", "/api/v1/vehicles/T1/track?limit=ten", 400, codeInvalidQuery, "limit"},
		{"unknown parameter", "/api/v1/vehicles/T1/track?since=2026-12-04T08:00:00Z", 400, codeInvalidQuery, "since"},
		{"unknown vehicle", "/api/v1/vehicles/NOPE/track", 404, codeNotFound, ""},
		{"invalid terminal", "/api/v1/vehicles/T%001/track", 404, codeNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectError(t, api.do("GET", tc.path, nil), tc.status, tc.code, tc.field)
		})
	}

	t.Run("span of exactly 31 days", func(t *testing.T) {
		r := api.do("GET", "/api/v1/vehicles/T1/track?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z", nil)
		expectStatus(t, r, http.StatusOK)
	})
}
