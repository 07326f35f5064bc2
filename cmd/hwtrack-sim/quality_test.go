package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/simulator"
)

// sharedData is the shared sample data beside the repository.
const sharedData = "../../../shared/data"

func TestQualityArguments(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{name: "help", args: []string{"quality", "-h"}, wantCode: 0, wantStderr: "-inject-per-kind N"},
		{name: "api without broker", args: []string{"quality", "-api", "http://127.0.0.1:1"}, wantCode: exitUsage, wantStderr: "-api and -broker go together"},
		{name: "missing data", args: []string{"quality", "-data", filepath.Join(t.TempDir(), "absent")}, wantCode: exitUsage, wantStderr: "no track data"},
		{name: "unknown kind", args: []string{"quality", "-kind", "speeding"}, wantCode: exitUsage, wantStderr: `unknown deviation kind "speeding"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.wantStderr)
			}
		})
	}
}

// cloneScenario copies s under another name, so it plays as one more
// vehicle.
func cloneScenario(s *simulator.Scenario, name string) *simulator.Scenario {
	c := *s
	c.Name = name
	c.Fixes = slices.Clone(s.Fixes)
	c.Route = slices.Clone(s.Route)
	c.Labels = slices.Clone(s.Labels)
	c.Excuses = slices.Clone(s.Excuses)
	c.Zones = slices.Clone(s.Zones)
	return &c
}

// TestQualityReducedSuite plays a few real tracks, each kind injected
// once, and the field cases through an in-process server. It checks the
// scoring end to end with two planted scenarios: a label with nothing
// injected must count as a miss, and an injected detour without its label
// as a false alarm. Recall of the other kinds is logged, not asserted, so
// the test does not depend on the engine being complete.
func TestQualityReducedSuite(t *testing.T) {
	geolife := filepath.Join(sharedData, "trajectories", "geolife")
	if _, err := os.Stat(geolife); err != nil {
		t.Skipf("real tracks not available at %s: %v", geolife, err)
	}
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	var target qualityTarget
	srv, err := startQualityServer(&target, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})

	// signal_loss is left out: the server counts only a gap in reception,
	// so its scenario spends 10 minutes of wall-clock time.
	kinds := slices.DeleteFunc(slices.Clone(simulator.QualityKinds), func(k model.DeviationKind) bool { return k == model.KindSignalLoss })
	const plantedMiss, plantedFalse = "planted/miss", "planted/false-alarm"
	var plantedLabel simulator.Label
	adjust := func(scenarios []*simulator.Scenario) []*simulator.Scenario {
		var noise, detour *simulator.Scenario
		for _, s := range scenarios {
			switch {
			case noise == nil && s.Suite == simulator.SuiteNoise:
				noise = s
			case detour == nil && strings.HasPrefix(s.Name, model.KindRouteDeviation.String()+"/"):
				detour = s
			}
		}
		if noise == nil || detour == nil {
			t.Fatalf("suite has no noise or no route_deviation scenario to plant from")
		}
		miss := cloneScenario(noise, plantedMiss)
		mid := miss.Fixes[len(miss.Fixes)/2].Time
		plantedLabel = simulator.Label{Kind: model.KindDeviceAlarm, Start: mid, End: mid.Add(time.Minute), Note: "planted, nothing injected"}
		miss.Labels = []simulator.Label{plantedLabel}
		spurious := cloneScenario(detour, plantedFalse)
		spurious.Labels = nil
		return append(scenarios, miss, spurious)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report, err := playQuality(ctx, target, simulator.SuiteOptions{
		Paths: []string{geolife}, Kinds: kinds, MaxTracks: 3, InjectPerKind: 1, LiveLead: 5 * time.Second,
	}, 10*time.Second, 16, logger, adjust)
	if err != nil {
		t.Fatal(err)
	}
	var table strings.Builder
	if err := report.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	t.Logf("quality table:\n%s", table.String())

	byName := map[string]*simulator.ScenarioResult{}
	for i := range report.Scenarios {
		sc := &report.Scenarios[i]
		byName[sc.Name] = sc
		if sc.Error != "" {
			t.Errorf("scenario %s failed to run: %s", sc.Name, sc.Error)
		}
	}

	t.Run("planted miss", func(t *testing.T) {
		sc := byName[plantedMiss]
		if sc == nil {
			t.Fatal("planted miss not in the report")
		}
		if len(sc.Labels) != 1 || sc.Labels[0].Found {
			t.Errorf("labels %+v, want the one planted label not found", sc.Labels)
		}
		if sc.OK() {
			t.Error("scenario with a missed label is OK")
		}
	})
	t.Run("planted false alarm", func(t *testing.T) {
		sc := byName[plantedFalse]
		if sc == nil {
			t.Fatal("planted false alarm not in the report")
		}
		if !slices.ContainsFunc(sc.FalseAlarms, func(e simulator.EpisodeResult) bool { return e.Kind == model.KindRouteDeviation }) {
			t.Errorf("false alarms %+v, want the unlabelled detour", sc.FalseAlarms)
		}
	})
	t.Run("injected detour found", func(t *testing.T) {
		for _, sc := range report.Scenarios {
			if sc.Suite != simulator.SuiteInjected || !strings.HasPrefix(sc.Name, "route_deviation/") {
				continue
			}
			if len(sc.Labels) != 1 || !sc.Labels[0].Found {
				t.Errorf("%s: labels %+v, want the detour found", sc.Name, sc.Labels)
			}
			if !sc.Labels[0].DelayKnown {
				t.Errorf("%s: detection delay unknown, want it from the regulator feed", sc.Name)
			}
		}
	})
	t.Run("every kind labelled", func(t *testing.T) {
		for _, k := range report.Kinds {
			kind, _ := model.ParseDeviationKind(k.Kind)
			if slices.Contains(kinds, kind) && k.Labels == 0 {
				t.Errorf("no %s label in the reduced suite", k.Kind)
			}
		}
	})
	if report.OK() {
		t.Error("report is OK despite the planted miss and false alarm")
	}
}
