package simulator

import "testing"

// TestLoadReportFailsWithoutInjection requests detours in a run too short
// for any to fit. The report must not pass as if the detours had been
// tested.
func TestLoadReportFailsWithoutInjection(t *testing.T) {
	rep := &LoadReport{QoS: 1, DeviationRate: 20}
	rep.Server.Settled = true
	if rep.OK() {
		t.Error("OK() = true with detours asked for and none injected")
	}
	rep.DeviationRate = 0
	if !rep.OK() {
		t.Error("OK() = false for a clean run without detours")
	}
}
