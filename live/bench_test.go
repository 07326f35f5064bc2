package live

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkPublish measures one Publish to n subscribers that keep up.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			h := NewHub()
			for range n {
				sub := h.Subscribe(1024)
				go func() {
					for {
						select {
						case <-sub.C():
						case <-sub.Done():
							return
						}
					}
				}()
			}
			ev := Event{Name: "position", Data: []byte(`{"terminal":"013300784001","lat":28.85,"lon":120.05}`)}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				h.Publish(ev)
			}
			b.StopTimer()
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
