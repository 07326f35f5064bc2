package cluster

import "testing"

func TestVehicleTopic(t *testing.T) {
	for _, c := range []struct {
		topic    string
		terminal string
		ok       bool
	}{
		{"hwt/v1/013300786000/fix", "013300786000", true},
		{"hwt/v1/013300786000/status", "013300786000", true},
		{"owntracks/013300786000/phone", "013300786000", true},
		{"hwt/v1/013300786000/cmd", "", false},
		{"hwt/v1/013300786000/video/1/offer", "", false},
		{"hwt/v1/+/fix", "", false},
		{"owntracks/013300786000", "", false},
		{"owntracks/013300786000/phone/extra", "", false},
		{"hwtrack/test/nodes/a/in", "", false},
	} {
		t.Run(c.topic, func(t *testing.T) {
			terminal, ok := vehicleTopic(c.topic)
			if ok != c.ok || (ok && terminal != c.terminal) {
				t.Errorf("vehicleTopic = %q, %v; want %q, %v", terminal, ok, c.terminal, c.ok)
			}
		})
	}
}

func TestNodeTopics(t *testing.T) {
	tp := newTopics("g1")
	for _, c := range []struct {
		topic    string
		id       string
		isMarker bool
		ok       bool
	}{
		{tp.node("a"), "a", false, true},
		{tp.released("a"), "a", true, true},
		{tp.inbox("a"), "", false, false},
		{"hwtrack/g2/nodes/a", "", false, false},
		{"hwtrack/g1/nodes/", "", false, false},
	} {
		t.Run(c.topic, func(t *testing.T) {
			id, isMarker, ok := tp.nodeOf(c.topic)
			if id != c.id || isMarker != c.isMarker || ok != c.ok {
				t.Errorf("nodeOf = %q, %v, %v; want %q, %v, %v", id, isMarker, ok, c.id, c.isMarker, c.ok)
			}
		})
	}
}

func TestRecordTopics(t *testing.T) {
	tp := newTopics("g1")
	kind, id, ok := tp.recordOf(tp.record("trip", "trp_06h46"))
	if !ok || kind != "trip" || id != "trp_06h46" {
		t.Errorf("recordOf(record(trip, trp_06h46)) = %q, %q, %v", kind, id, ok)
	}
	for _, bad := range []string{"hwtrack/g1/records/trip", "hwtrack/g1/records/trip/a/b", "hwtrack/g1/state/x"} {
		if _, _, ok := tp.recordOf(bad); ok {
			t.Errorf("recordOf(%q) accepted a topic that is no record", bad)
		}
	}
	for _, bad := range []string{"", "a/b", "a+", "#", "a\x00"} {
		if validRecordPart(bad) {
			t.Errorf("validRecordPart(%q) = true", bad)
		}
	}
}

func TestSharedFiltersCoverRecordedTopics(t *testing.T) {
	want := []string{"$share/g1/hwt/v1/+/fix", "$share/g1/hwt/v1/+/status", "$share/g1/owntracks/+/+"}
	got := sharedFilters("g1")
	if len(got) != len(want) {
		t.Fatalf("sharedFilters = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sharedFilters[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}
