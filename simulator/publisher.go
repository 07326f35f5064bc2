package simulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/model"
)

// chinaStandardTime is UTC+8, the offset onboard units in China report in.
var chinaStandardTime = time.FixedZone("CST", 8*3600)

// TopicPrefix is the protocol v1 topic prefix for vehicles.
const TopicPrefix = "hwt/v1/"

// Publisher defaults.
const (
	DefaultQoS            = 1
	DefaultMaxInflight    = 16
	defaultConnectTimeout = 10 * time.Second
	defaultAckTimeout     = 30 * time.Second
)

// PublisherConfig configures one vehicle's MQTT connection.
type PublisherConfig struct {
	// Broker is the MQTT server URL, such as tcp://127.0.0.1:1883.
	Broker   string
	Terminal string // client id and username
	Password string
	// QoS is the publish QoS, 0, 1 or 2.
	QoS byte
	// BatchSize above 1 sends fixes as JSON arrays of up to that many
	// fixes, each marked with source "batch".
	BatchSize int
	// MaxInflight is how many published messages may wait for their
	// acknowledgement at once; 0 means DefaultMaxInflight.
	MaxInflight    int
	ConnectTimeout time.Duration // 0 means 10 s
	AckTimeout     time.Duration // 0 means 30 s
	Logger         *slog.Logger
}

// PublishStats counts one publisher's traffic. Published and
// Acknowledged count fixes, not messages; for QoS 0 Acknowledged counts
// fixes handed to the network, since there is no acknowledgement.
type PublishStats struct {
	Published    int           `json:"published"`
	Acknowledged int           `json:"acknowledged"`
	Rejected     int           `json:"rejected"`
	Duration     time.Duration `json:"duration_ns"`
}

// Publisher sends one vehicle's fixes to hwt/v1/{terminal}/fix over its
// own paho client and counts the rejection notices the server sends to
// hwt/v1/{terminal}/error. Its methods are not safe for concurrent use,
// except Close and Rejected.
type Publisher struct {
	cfg    PublisherConfig
	log    *slog.Logger
	client mqtt.Client

	seq       uint64
	rejected  atomic.Int64
	closeOnce sync.Once
}

// NewPublisher connects to the broker, announces the vehicle online on its
// status topic (with an offline last will) and subscribes to its error
// topic.
func NewPublisher(ctx context.Context, cfg PublisherConfig) (*Publisher, error) {
	if cfg.Terminal == "" {
		return nil, errors.New("new publisher: terminal is required")
	}
	if cfg.QoS > 2 {
		return nil, fmt.Errorf("new publisher: invalid qos %d: must be 0, 1 or 2", cfg.QoS)
	}
	if cfg.MaxInflight <= 0 {
		cfg.MaxInflight = DefaultMaxInflight
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = defaultAckTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{cfg: cfg, log: cfg.Logger.With("client_id", cfg.Terminal, "vehicle_id", cfg.Terminal)}

	opts := mqtt.NewClientOptions().
		AddBroker(cfg.Broker).
		SetClientID(cfg.Terminal).
		SetUsername(cfg.Terminal).
		SetPassword(cfg.Password).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetWriteTimeout(cfg.AckTimeout).
		SetOrderMatters(false).
		SetWill(p.topic("status"), `{"online":false}`, 1, false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			p.log.Warn("mqtt connection lost", "err", err)
		})
	p.client = mqtt.NewClient(opts)

	if err := waitToken(ctx, p.client.Connect(), cfg.ConnectTimeout); err != nil {
		return nil, fmt.Errorf("connect to %s as %s: %w", cfg.Broker, cfg.Terminal, err)
	}
	sub := p.client.Subscribe(p.topic("error"), 1, func(_ mqtt.Client, m mqtt.Message) {
		if onlyDropped(m.Payload()) {
			p.log.Info("server dropped optional fields", "notice", truncate(string(m.Payload()), 300))
			return
		}
		p.rejected.Add(1)
		p.log.Warn("server rejected a message", "err", truncate(string(m.Payload()), 300))
	})
	if err := waitToken(ctx, sub, cfg.ConnectTimeout); err != nil {
		p.client.Disconnect(0)
		return nil, fmt.Errorf("subscribe to %s: %w", p.topic("error"), err)
	}
	if err := waitToken(ctx, p.client.Publish(p.topic("status"), 1, false, `{"online":true}`), cfg.AckTimeout); err != nil {
		p.client.Disconnect(0)
		return nil, fmt.Errorf("publish online status: %w", err)
	}
	p.log.Debug("publisher connected", "broker", cfg.Broker)
	return p, nil
}

// onlyDropped reports whether an error notice only lists optional fields
// dropped from fixes the server kept (docs/protocol.md, Rejections), so
// nothing was rejected.
func onlyDropped(notice []byte) bool {
	var doc struct {
		Rejected []json.RawMessage `json:"rejected"`
		Dropped  []json.RawMessage `json:"dropped"`
	}
	return json.Unmarshal(notice, &doc) == nil && len(doc.Rejected) == 0 && len(doc.Dropped) > 0
}

func (p *Publisher) topic(leaf string) string { return TopicPrefix + p.cfg.Terminal + "/" + leaf }

// Client returns the publisher's MQTT connection, so a simulated camera
// can share it (see CameraConfig.Client).
func (p *Publisher) Client() mqtt.Client { return p.client }

// Rejected returns how many rejection notices the server has sent so far.
func (p *Publisher) Rejected() int { return int(p.rejected.Load()) }

// Play publishes fixes in order, paced so that the wall-clock gap between
// two messages is their fix-time gap divided by speedup. A speedup of zero
// or less publishes as fast as acknowledgements allow. Play waits for
// every outstanding acknowledgement before it returns; on error the stats
// count what was done until then.
func (p *Publisher) Play(ctx context.Context, fixes []model.Fix, speedup float64) (stats PublishStats, err error) {
	if len(fixes) == 0 {
		return stats, nil
	}
	batch := max(p.cfg.BatchSize, 1)
	started := time.Now()
	defer func() { stats.Duration = time.Since(started) }()

	type pending struct {
		token mqtt.Token
		fixes int
	}
	var window []pending
	waitOldest := func() error {
		head := window[0]
		window = window[1:]
		if err := waitToken(ctx, head.token, p.cfg.AckTimeout); err != nil {
			return fmt.Errorf("wait for acknowledgement: %w", err)
		}
		stats.Acknowledged += head.fixes
		return nil
	}
	drain := func() error {
		for len(window) > 0 {
			if err := waitOldest(); err != nil {
				return err
			}
		}
		return nil
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := 0; i < len(fixes); i += batch {
		group := fixes[i:min(i+batch, len(fixes))]

		// A batch leaves when its last fix is due, as a unit that
		// buffers fixes would send it.
		if speedup > 0 {
			due := started.Add(time.Duration(float64(group[len(group)-1].Time.Sub(fixes[0].Time)) / speedup))
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return stats, errors.Join(ctx.Err(), drain())
				case <-timer.C:
				}
			}
		}

		var payload []byte
		if payload, err = p.encode(group, batch > 1); err != nil {
			return stats, err
		}
		if len(window) >= p.cfg.MaxInflight {
			if err := waitOldest(); err != nil {
				return stats, err
			}
		}
		token := p.client.Publish(p.topic("fix"), p.cfg.QoS, false, payload)
		stats.Published += len(group)
		window = append(window, pending{token: token, fixes: len(group)})
	}
	if err := drain(); err != nil {
		return stats, err
	}
	stats.Rejected = p.Rejected()
	return stats, nil
}

// encode builds the protocol v1 payload of group: one fix object, or an
// array when batched. It numbers the fixes with the publisher's sequence.
func (p *Publisher) encode(group []model.Fix, batched bool) ([]byte, error) {
	objects := make([]model.FixJSON, len(group))
	for i := range group {
		p.seq++
		f := group[i]
		f.Seq = p.seq
		f.Has |= model.HasSeq
		f.Source = model.SourceRealtime
		if batched {
			f.Source = model.SourceBatch
		}
		f.ReceivedAt = time.Time{}
		objects[i] = f.JSON()
		objects[i].Time = f.Time.In(chinaStandardTime).Format(time.RFC3339Nano)
	}
	var v any = objects
	if !batched {
		v = objects[0]
	}
	payload, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode fix: %w", err)
	}
	return payload, nil
}

// Close announces the vehicle offline and disconnects. It is safe to call
// more than once.
func (p *Publisher) Close() error {
	var err error
	p.closeOnce.Do(func() {
		if p.client.IsConnectionOpen() {
			t := p.client.Publish(p.topic("status"), 1, false, `{"online":false}`)
			if !t.WaitTimeout(p.cfg.AckTimeout) {
				err = errors.New("publish offline status: timed out")
			} else if t.Error() != nil {
				err = fmt.Errorf("publish offline status: %w", t.Error())
			}
		}
		// Disconnect waits up to the quiesce time for work in flight.
		p.client.Disconnect(250)
	})
	return err
}

// waitToken waits for a paho token, the context, or the timeout.
func waitToken(ctx context.Context, t mqtt.Token, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return fmt.Errorf("timed out after %s", timeout)
	}
}
