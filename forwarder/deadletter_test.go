package forwarder

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/internal/testenv"
)

// regulatorWithLimits starts mosquitto with a per-topic ACL (anonymous
// clients may publish only under deviations/ and trips/) and a 4 KiB
// maximum packet size, the two ways a regulator broker refuses a message.
func regulatorWithLimits(t *testing.T) *testenv.Mosquitto {
	t.Helper()
	broker := testenv.NewMosquittoWith(t, false, func(dir string) string {
		acl := filepath.Join(dir, "acl")
		rules := "topic write " + DefaultTopicPrefix + "/deviations/#\n" +
			"topic write " + DefaultTopicPrefix + "/trips/#\n" +
			"topic read " + DefaultTopicPrefix + "/#\n"
		if err := os.WriteFile(acl, []byte(rules), 0o600); err != nil {
			t.Fatal(err)
		}
		return "acl_file " + acl + "\nmax_packet_size 4096\n"
	})
	broker.Start()
	return broker
}

func TestPermanentRejectionDeadLettered(t *testing.T) {
	broker := regulatorWithLimits(t)
	sub := subscribe(t, broker.URL(), "regulator-"+t.Name(), true)

	before := testMessages("before", 5, 2)
	after := testMessages("after", 5, 2)
	oversized := Message{ID: "oversized-1", Topic: "deviations/T000", Key: "T000",
		Payload: fmt.Appendf(nil, `{"id":"oversized-1","pad":%q}`, strings.Repeat("x", 8192))}
	denied := Message{ID: "denied-1", Topic: "forbidden/T000", Key: "T000", Payload: []byte(`{"id":"denied-1"}`)}

	dir := t.TempDir()
	opts := testOptions(t, broker.URL(), dir)
	opts.MaxDeliveryFailures = 3
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msgs := slices.Concat(before, []Message{oversized}, after, []Message{denied})
	if err := f.Enqueue(msgs...); err != nil {
		t.Fatal(err)
	}
	f.Start(context.Background())

	want := slices.Concat(messageIDs(before), messageIDs(after))
	waitFor(t, 30*time.Second, "every acceptable message at the regulator", func() bool {
		return len(distinct(sub.received())) >= len(want) && f.Depth() == 0
	})

	got := distinct(sub.received())
	if !slices.Equal(got, want) {
		t.Errorf("regulator received %v, want %v in order", got, want)
	}

	dead, err := f.DeadLetters()
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 1 || dead[0].ID != oversized.ID {
		t.Fatalf("dead letters %v, want only %s", messageIDs(dead), oversized.ID)
	}
	var payload struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(dead[0].Payload, &payload); err != nil || payload.ID != oversized.ID {
		t.Errorf("dead letter payload not kept intact: %v", err)
	}
	if got := counterValue(t, f, "hwtrack_forward_dead_letters_total", ""); got != 1 {
		t.Errorf("dead-letter alert counter = %v, want 1", got)
	}
	if got := counterValue(t, f, "hwtrack_outbox_dead_letters", ""); got != 1 {
		t.Errorf("dead-letter gauge = %v, want 1", got)
	}

	// mosquitto 2.0 acknowledges an MQTT 3.1.1 publish its ACL denies and
	// drops it, so the forwarder cannot tell it from a delivery. This pins
	// that documented limit: the message leaves the outbox, is not
	// dead-lettered and never reaches the regulator's subscriber.
	if slices.Contains(sub.received(), denied.ID) {
		t.Errorf("ACL-denied message %s reached the subscriber", denied.ID)
	}

	// No hot retry loop. The rejected message costs MaxDeliveryFailures
	// probe sessions plus one full-window session; each message ahead of it
	// whose PUBACK was lost with the connection costs at most one more
	// session and one probe. A session counts at most two publish errors
	// (the unacknowledged message and a later publish that could not be
	// written).
	failures := counterValue(t, f, "hwtrack_forward_errors_total", stagePublish)
	if limit := float64(2 * (opts.MaxDeliveryFailures + 1 + 2*len(before))); failures > limit {
		t.Errorf("%v publish failures for one rejected message, want at most %v", failures, limit)
	}
	time.Sleep(time.Second)
	if later := counterValue(t, f, "hwtrack_forward_errors_total", stagePublish); later != failures {
		t.Errorf("publish failures went on after the dead letter: %v then %v", failures, later)
	}

	// The dead-letter store survives a restart and is never sent again.
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if n := f2.DeadLetterCount(); n != 1 {
		t.Fatalf("dead letters after reopen = %d, want 1", n)
	}
	if d := f2.Depth(); d != 0 {
		t.Fatalf("outbox depth after reopen = %d, want 0", d)
	}
}

func TestFailureTrackerNeedsConsecutiveSessions(t *testing.T) {
	a := &record{seq: 1, msg: Message{ID: "a"}}
	b := &record{seq: 2, msg: Message{ID: "b"}}
	// session is how one session ended: its first unacknowledged record,
	// and whether the tracker asked for that session to be a probe.
	type session struct {
		head       *record
		wantRetire bool
	}
	cases := []struct {
		name     string
		sessions []session
	}{
		{"suspect then three failed probes", []session{{a, false}, {a, false}, {a, false}, {a, true}}},
		{"probe acknowledged in between", []session{{a, false}, {a, false}, {nil, false}, {a, false}, {a, false}, {a, false}}},
		{"other message fails in between", []session{{a, false}, {a, false}, {b, false}, {a, false}, {a, false}}},
		{"count restarts after retiring", []session{{a, false}, {a, false}, {a, false}, {a, true}, {a, false}, {a, false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tracker failureTracker
			for i, s := range tc.sessions {
				probed := tracker.probing()
				if got := tracker.observe(s.head, probed, 3); got != s.wantRetire {
					t.Fatalf("session %d: retire = %v, want %v", i, got, s.wantRetire)
				}
			}
		})
	}
}
