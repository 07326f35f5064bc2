package live

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestHubDelivers(t *testing.T) {
	h := NewHub()
	a, b := h.Subscribe(4), h.Subscribe(4)
	h.Publish(Event{Name: "position", Data: []byte(`{"n":1}`)})

	for name, sub := range map[string]*Subscription{"a": a, "b": b} {
		select {
		case ev := <-sub.C():
			if ev.Name != "position" || string(ev.Data) != `{"n":1}` {
				t.Errorf("subscriber %s got %+v", name, ev)
			}
		case <-time.After(time.Second):
			t.Fatalf("subscriber %s got nothing", name)
		}
	}
	if n := h.Subscribers(); n != 2 {
		t.Errorf("Subscribers = %d, want 2", n)
	}
}

func TestHubDropsSlowSubscriber(t *testing.T) {
	h := NewHub()
	slow := h.Subscribe(2)
	fast := h.Subscribe(100)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 10 {
			h.Publish(Event{Name: "position", Data: fmt.Appendf(nil, "%d", i)})
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked on a subscriber that does not read")
	}

	select {
	case <-slow.Done():
	default:
		t.Fatal("slow subscriber still subscribed after its buffer filled")
	}
	if !slow.Dropped() {
		t.Error("Dropped() = false for the slow subscriber")
	}
	if fast.Dropped() {
		t.Error("the fast subscriber was dropped")
	}
	if got := len(fast.C()); got != 10 {
		t.Errorf("fast subscriber buffered %d events, want 10", got)
	}
	if _, dropped := h.Stats(); dropped != 1 {
		t.Errorf("dropped = %d, want 1", dropped)
	}
}

func TestHubClose(t *testing.T) {
	h := NewHub()
	sub := h.Subscribe(1)
	sub.Close()
	sub.Close()
	select {
	case <-sub.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if n := h.Subscribers(); n != 0 {
		t.Errorf("Subscribers = %d after Close, want 0", n)
	}

	other := h.Subscribe(1)
	h.Close()
	h.Close()
	select {
	case <-other.Done():
	default:
		t.Error("Done not closed after the hub closed")
	}
	late := h.Subscribe(1)
	select {
	case <-late.Done():
	default:
		t.Error("a subscription on a closed hub is not done")
	}
	h.Publish(Event{Name: "vehicle"}) // must not panic or block
}

func TestHubConcurrent(t *testing.T) {
	h := NewHub()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				sub := h.Subscribe(8)
				h.Publish(Event{Name: "x"})
				sub.Close()
			}
		}()
	}
	wg.Wait()
	if n := h.Subscribers(); n != 0 {
		t.Errorf("Subscribers = %d, want 0", n)
	}
}

func TestNewestAdvance(t *testing.T) {
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	stored := map[string]time.Time{"restarted": base.Add(time.Hour)}
	known := func(terminal string) time.Time { return stored[terminal] }

	cases := []struct {
		name     string
		terminal string
		at       time.Time
		want     bool
	}{
		{"first fix", "v1", base, true},
		{"newer fix", "v1", base.Add(time.Minute), true},
		{"same time again", "v1", base.Add(time.Minute), false},
		{"late fix", "v1", base.Add(30 * time.Second), false},
		{"older than stored after restart", "restarted", base, false},
		{"equal to stored after restart", "restarted", base.Add(time.Hour), false},
		{"newer than stored after restart", "restarted", base.Add(2 * time.Hour), true},
	}
	n := NewNewest()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := n.Advance(tc.terminal, tc.at, known); got != tc.want {
				t.Errorf("Advance(%s, %s) = %v, want %v", tc.terminal, tc.at.Format(time.TimeOnly), got, tc.want)
			}
		})
	}

	// The stored newest fix is the one just stored: it counts as newest.
	fresh := NewNewest()
	if !fresh.Advance("v2", base, func(string) time.Time { return base }) {
		t.Error("a fix equal to the stored newest on first sight was not shown")
	}
}
