package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// RegulatorFeed records the open messages the server forwards to the
// regulator's broker. The API keeps only the latest state of an episode,
// so its received_at belongs to the fix that closed it. The open message
// carries the receive time of the fix that raised it, which the detection
// delay needs. It is safe for concurrent use.
type RegulatorFeed struct {
	client mqtt.Client
	log    *slog.Logger

	// mu guards opened.
	mu sync.Mutex
	// opened maps a deviation id to the received_at of its open message.
	opened map[string]time.Time

	closeOnce sync.Once
}

// NewRegulatorFeed connects to the regulator broker at url and subscribes
// to {prefix}/deviations/#.
func NewRegulatorFeed(ctx context.Context, url, prefix string, logger *slog.Logger) (*RegulatorFeed, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &RegulatorFeed{log: logger.With("component", "regulator-feed"), opened: make(map[string]time.Time)}
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(fmt.Sprintf("hwtrack-sim-feed-%d", time.Now().UnixNano())).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetOrderMatters(false).
		SetConnectTimeout(defaultConnectTimeout)
	f.client = mqtt.NewClient(opts)
	if err := waitToken(ctx, f.client.Connect(), defaultConnectTimeout); err != nil {
		return nil, fmt.Errorf("connect to regulator broker %s: %w", url, err)
	}
	topic := strings.TrimSuffix(prefix, "/") + "/deviations/#"
	if err := waitToken(ctx, f.client.Subscribe(topic, 1, f.handle), defaultConnectTimeout); err != nil {
		f.client.Disconnect(0)
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	return f, nil
}

func (f *RegulatorFeed) handle(_ mqtt.Client, m mqtt.Message) {
	var msg struct {
		DeviationID string `json:"deviation_id"`
		State       string `json:"state"`
		ReceivedAt  string `json:"received_at"`
	}
	if err := json.Unmarshal(m.Payload(), &msg); err != nil {
		f.log.Warn("undecodable regulator message", "topic", m.Topic(), "err", err)
		return
	}
	if msg.State != "open" || msg.ReceivedAt == "" {
		return
	}
	at, err := time.Parse(time.RFC3339Nano, msg.ReceivedAt)
	if err != nil {
		f.log.Warn("regulator message with an invalid received_at", "topic", m.Topic(), "err", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, seen := f.opened[msg.DeviationID]; !seen {
		f.opened[msg.DeviationID] = at
	}
}

// OpenedAt returns the received_at of the open message of deviation id.
func (f *RegulatorFeed) OpenedAt(id string) (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	at, ok := f.opened[id]
	return at, ok
}

// WaitFor waits until the open message of every id has arrived, or ctx
// or timeout ends, and returns how many are still missing.
func (f *RegulatorFeed) WaitFor(ctx context.Context, ids []string, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for _, id := range ids {
			if _, ok := f.OpenedAt(id); !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return missing
		}
		select {
		case <-ctx.Done():
			return missing
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close disconnects. It is safe to call more than once.
func (f *RegulatorFeed) Close() {
	f.closeOnce.Do(func() { f.client.Disconnect(250) })
}
