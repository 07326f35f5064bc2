package api

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hwtrack/hwtrack/live"
	"github.com/hwtrack/hwtrack/model"
)

// Live feed timing: a comment line every pingInterval keeps proxies and
// the browser from closing an idle stream, and one write may take at most
// liveWriteTimeout before the subscriber is given up.
const (
	pingInterval     = 15 * time.Second
	liveWriteTimeout = 10 * time.Second
	// liveBuffer is how many events a subscriber may fall behind before
	// it is dropped; the browser's EventSource then reconnects.
	liveBuffer = 512
)

// Live feed event names.
const (
	EventPosition  = "position"
	EventDeviation = "deviation"
	EventVehicle   = "vehicle"
)

// DeviationEvent encodes d as a live feed deviation event, in the JSON
// shape of GET /api/v1/deviations.
func DeviationEvent(d model.Deviation) (live.Event, error) {
	data, err := json.Marshal(viewDeviation(&d))
	if err != nil {
		return live.Event{}, err
	}
	return live.Event{Name: EventDeviation, Data: data}, nil
}

// streamLive serves the live feed as Server-Sent Events until the client
// goes away, the subscriber falls behind, or the hub closes.
func (s *server) streamLive(w http.ResponseWriter, r *http.Request) error {
	if s.live == nil {
		return &apiError{Status: http.StatusNotImplemented, Code: codeNotImplemented, Message: "the live feed is not enabled on this server"}
	}
	rc := http.NewResponseController(w)
	// The stream outlives the server's read timeout, which would otherwise
	// cancel the request when it expires.
	_ = rc.SetReadDeadline(time.Time{})
	sub := s.live.Subscribe(liveBuffer)
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	write := func(chunk []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(liveWriteTimeout))
		if _, err := w.Write(chunk); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	// The retry field sets how soon EventSource reconnects after a drop.
	if !write([]byte("retry: 2000\n: connected\n\n")) {
		return nil
	}

	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	buf := make([]byte, 0, 1024)
	for {
		select {
		case ev := <-sub.C():
			buf = append(buf[:0], "event: "...)
			buf = append(buf, ev.Name...)
			buf = append(buf, "\ndata: "...)
			buf = append(buf, ev.Data...)
			buf = append(buf, "\n\n"...)
			if !write(buf) {
				return nil
			}
		case <-ping.C:
			if !write([]byte(": ping\n\n")) {
				return nil
			}
		case <-sub.Done():
			if sub.Dropped() {
				s.log.Info("live feed subscriber dropped for falling behind", "user", principalFrom(r).user)
			}
			return nil
		case <-r.Context().Done():
			return nil
		}
	}
}
