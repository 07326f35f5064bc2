package broker

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/time/rate"
)

// mochiLogHandler cleans mochi's log records before they reach our log.
// mochi logs whole packets as attributes (a denied 200 KB publish became
// 800 KB of decimal bytes), warns with empty messages, and logs one line
// per dropped connection, so a flood of bad clients could fill the disk.
// It replaces packets by a short summary, names empty messages, and passes
// at most a few warnings a second, counting what it holds back.
type mochiLogHandler struct {
	next    slog.Handler
	limiter *rate.Limiter
	// suppressed is shared with the handlers WithAttrs and WithGroup derive.
	suppressed *atomic.Int64
}

func newMochiLogHandler(next slog.Handler) *mochiLogHandler {
	return &mochiLogHandler{next: next, limiter: rate.NewLimiter(rate.Every(200*time.Millisecond), 20), suppressed: new(atomic.Int64)}
}

func (h *mochiLogHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *mochiLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo && r.Level < slog.LevelError && !h.limiter.Allow() {
		h.suppressed.Add(1)
		return nil
	}
	msg := r.Message
	if msg == "" {
		msg = "mqtt connection ended"
	}
	out := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(summarise(a))
		return true
	})
	if n := h.suppressed.Swap(0); n > 0 {
		out.AddAttrs(slog.Int64("similar_suppressed", n))
	}
	return h.next.Handle(ctx, out)
}

func (h *mochiLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = summarise(a)
	}
	return &mochiLogHandler{next: h.next.WithAttrs(clean), limiter: h.limiter, suppressed: h.suppressed}
}

func (h *mochiLogHandler) WithGroup(name string) slog.Handler {
	return &mochiLogHandler{next: h.next.WithGroup(name), limiter: h.limiter, suppressed: h.suppressed}
}

// maxLoggedBytes caps a byte slice written to the log.
const maxLoggedBytes = 64

// summarise replaces a packet by its type, topic and payload size, and
// truncates long byte slices.
func summarise(a slog.Attr) slog.Attr {
	switch v := a.Value.Any().(type) {
	case packets.Packet:
		return slog.String(a.Key, fmt.Sprintf("%s topic=%q payload_bytes=%d", packets.PacketNames[v.FixedHeader.Type], v.TopicName, len(v.Payload)))
	case *packets.Packet:
		if v != nil {
			return slog.String(a.Key, fmt.Sprintf("%s topic=%q payload_bytes=%d", packets.PacketNames[v.FixedHeader.Type], v.TopicName, len(v.Payload)))
		}
	case []byte:
		if len(v) > maxLoggedBytes {
			return slog.String(a.Key, fmt.Sprintf("%d bytes", len(v)))
		}
	}
	return a
}
