package forwarder

import (
	"github.com/hwtrack/hwtrack/internal/testenv"

	"slices"
	"strconv"
	"testing"
	"time"
)

func TestMessageKind(t *testing.T) {
	tests := []struct {
		topic string
		want  string
	}{
		{"deviations/013800000001", kindDeviation},
		{"trips/trip-42", kindTrip},
		{"deviations", kindDeviation},
		{"status/013800000001", kindOther},
		{"", kindOther},
	}
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			if got := messageKind(tt.topic); got != tt.want {
				t.Errorf("messageKind(%q) = %q, want %q", tt.topic, got, tt.want)
			}
		})
	}
}

// BenchmarkForward measures enqueue plus delivery to a local mosquitto
// until the outbox is empty, so ns/op is the end-to-end cost per message.
func BenchmarkForward(b *testing.B) {
	for _, window := range []int{1, 64} {
		b.Run("window="+strconv.Itoa(window), func(b *testing.B) {
			broker := testenv.NewMosquitto(b, false)
			broker.Start()
			f, err := New(Options{URL: broker.URL(), Dir: b.TempDir(), MaxInflight: window, ClientID: "bench-forward"})
			if err != nil {
				b.Fatalf("New: %v", err)
			}
			defer f.Close()
			f.Start(b.Context())
			msgs := testMessages("bench", b.N, 16)

			b.ResetTimer()
			for chunk := range slices.Chunk(msgs, 256) {
				if err := f.Enqueue(chunk...); err != nil {
					b.Fatalf("Enqueue: %v", err)
				}
			}
			deadline := time.Now().Add(5 * time.Minute)
			for f.Depth() > 0 {
				if time.Now().After(deadline) {
					b.Fatalf("outbox still holds %d messages after 5 min", f.Depth())
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}
