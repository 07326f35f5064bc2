package deviation

import (
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func TestDeviceAlarmEdges(t *testing.T) {
	const (
		emergency  = 1 << 0
		powerLost  = 1 << 8
		preWarning = 1 << 13
	)
	type want struct {
		fix   int // index of the fix that raises it
		state model.DeviationState
		bit   string
	}
	cases := []struct {
		name  string
		mask  uint32
		words []uint32
		want  []want
	}{
		{"latched bit opens and closes with the bit", 0, []uint32{0, powerLost, powerLost, powerLost, 0, 0},
			[]want{{1, model.StateOpen, "main power lost"}, {4, model.StateClosed, "main power lost"}}},
		{"ack-clear bit raises once per rising edge", 0, []uint32{0, emergency, emergency, emergency, 0, emergency},
			[]want{{1, model.StateOpen, "emergency button"}, {1, model.StateClosed, "emergency button"},
				{5, model.StateOpen, "emergency button"}, {5, model.StateClosed, "emergency button"}}},
		{"bit set on the first word", 0, []uint32{powerLost, powerLost},
			[]want{{0, model.StateOpen, "main power lost"}}},
		{"masked bit ignored", namedAlarmBits &^ preWarning, []uint32{0, preWarning, preWarning | powerLost, 0},
			[]want{{2, model.StateOpen, "main power lost"}, {3, model.StateClosed, "main power lost"}}},
		{"no alarm word", 0, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DeviceAlarmMask = tc.mask
			e := New(cfg, nil)
			fixes := parked("T1", t0, 10*time.Second, max(len(tc.words), 3), ykLat, ykLon)
			for i, w := range tc.words {
				alarmWord(w)(fixes[i])
			}
			var got []want
			var ids []string
			for i, f := range fixes {
				for _, d := range e.Process(f) {
					if d.Kind != model.KindDeviceAlarm {
						t.Errorf("fix %d raised %v, want only device_alarm", i, d.Kind)
						continue
					}
					if !d.StartedAt.Equal(fixes[i].Time) && d.State == model.StateOpen {
						t.Errorf("fix %d: StartedAt = %v, want %v", i, d.StartedAt, fixes[i].Time)
					}
					name := strings.TrimPrefix(strings.TrimPrefix(d.TextEN, "Device alarm ended: "), "Device alarm: ")
					got = append(got, want{i, d.State, name})
					ids = append(ids, d.ID)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("deviation %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			// Each open and its close share an ID.
			for i := 0; i+1 < len(ids); i += 2 {
				if ids[i] != ids[i+1] {
					t.Errorf("deviations %d and %d have ids %s and %s, want one episode", i, i+1, ids[i], ids[i+1])
				}
			}
		})
	}
}

func TestDeviceAlarmTexts(t *testing.T) {
	e := New(DefaultConfig(), nil)
	fixes := parked("T1", t0, 10*time.Second, 2, ykLat, ykLon)
	alarmWord(0)(fixes[0])
	alarmWord(1 << 29)(fixes[1])
	devs := processAll(e, fixes)
	if len(devs) != 1 {
		t.Fatalf("got %+v, want one opening", devs)
	}
	d := devs[0]
	if d.TextZH != "终端报警：碰撞侧翻报警" || d.TextEN != "Device alarm: collision or rollover" {
		t.Errorf("texts = %q / %q", d.TextZH, d.TextEN)
	}
	if d.Severity != "high" {
		t.Errorf("Severity = %q, want high", d.Severity)
	}
}
