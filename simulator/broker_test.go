package simulator

import (
	"log/slog"
	"sync"
	"testing"

	mqttserver "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// received is one PUBLISH packet as the embedded test broker saw it.
type received struct {
	client  string
	topic   string
	qos     byte
	payload []byte
}

// recordHook records every PUBLISH that reaches the broker.
type recordHook struct {
	mqttserver.HookBase
	mu   sync.Mutex
	msgs []received
}

func (h *recordHook) ID() string { return "record" }

func (h *recordHook) Provides(b byte) bool { return b == mqttserver.OnPublish }

func (h *recordHook) OnPublish(cl *mqttserver.Client, pk packets.Packet) (packets.Packet, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, received{
		client:  cl.ID,
		topic:   pk.TopicName,
		qos:     pk.FixedHeader.Qos,
		payload: append([]byte(nil), pk.Payload...),
	})
	return pk, nil
}

func (h *recordHook) byTopic(topic string) []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []received
	for _, m := range h.msgs {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// startBroker starts an embedded mochi broker on a free loopback port that
// admits every client, and returns its URL, the broker and the recorder.
func startBroker(t testing.TB) (string, *mqttserver.Server, *recordHook) {
	t.Helper()
	server := mqttserver.New(&mqttserver.Options{
		InlineClient: true,
		Logger:       slog.New(slog.DiscardHandler),
	})
	if err := server.AddHook(new(auth.AllowHook), nil); err != nil {
		t.Fatalf("add allow hook: %v", err)
	}
	rec := &recordHook{}
	if err := server.AddHook(rec, nil); err != nil {
		t.Fatalf("add record hook: %v", err)
	}
	tcp := listeners.NewTCP(listeners.Config{ID: "t", Address: "127.0.0.1:0"})
	if err := server.AddListener(tcp); err != nil {
		t.Fatalf("add listener: %v", err)
	}
	if err := server.Serve(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return "tcp://" + tcp.Address(), server, rec
}
