package live

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPublish measures one Publish to n subscribers plus each
// subscriber's receive, done in the benchmark goroutine so no subscriber
// falls behind and is dropped, which would leave fewer to publish to.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h := NewHub()
			subs := make([]*Subscription, n)
			for i := range subs {
				subs[i] = h.Subscribe(1)
			}
			ev := Event{Name: "position", Data: []byte(`{"terminal":"013300784001","lat":28.85,"lon":120.05}`)}
			b.ReportAllocs()
			for b.Loop() {
				h.Publish(ev)
				for _, sub := range subs {
					<-sub.C()
				}
			}
			if _, dropped := h.Stats(); dropped != 0 {
				b.Fatalf("%d subscribers dropped; the measurement covers fewer than %d", dropped, n)
			}
			h.Close()
		})
	}
}

// BenchmarkNewestAdvance measures the live feed's per-batch newest check.
func BenchmarkNewestAdvance(b *testing.B) {
	n := NewNewest()
	terminals := make([]string, 1000)
	for i := range terminals {
		terminals[i] = fmt.Sprintf("0133007%05d", i)
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var i int
	b.ReportAllocs()
	for b.Loop() {
		n.Advance(terminals[i%len(terminals)], base.Add(time.Duration(i)*time.Second), nil)
		i++
	}
}
