package forwarder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	dto "github.com/prometheus/client_model/go"

	"github.com/prometheus/client_golang/prometheus"
)

// subscriber records the ids of every message received on {prefix}/#.
type subscriber struct {
	client mqtt.Client

	mu  sync.Mutex
	ids []string // in arrival order, duplicates included
}

// subscribe connects a paho subscriber that resubscribes on every connect.
// cleanSession=false keeps its queue on a persistent broker while it is
// disconnected.
func subscribe(t *testing.T, url, clientID string, cleanSession bool) *subscriber {
	t.Helper()

	s := &subscriber{}
	handler := func(_ mqtt.Client, msg mqtt.Message) {
		var body struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(msg.Payload(), &body); err != nil {
			body.ID = "undecodable: " + err.Error()
		}
		s.mu.Lock()
		s.ids = append(s.ids, body.ID)
		s.mu.Unlock()
	}
	opts := mqtt.NewClientOptions().
		AddBroker(url).
		SetClientID(clientID).
		SetProtocolVersion(4).
		SetCleanSession(cleanSession).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(50 * time.Millisecond).
		SetMaxReconnectInterval(100 * time.Millisecond).
		SetOrderMatters(true).
		SetOnConnectHandler(func(c mqtt.Client) {
			// Subscribing from the handler must not wait on the token
			// inside paho's callback, so the SUBACK is not awaited here.
			c.Subscribe(DefaultTopicPrefix+"/#", 1, handler)
		})

	s.client = mqtt.NewClient(opts)
	token := s.client.Connect()
	if !token.WaitTimeout(5*time.Second) || token.Error() != nil {
		t.Fatalf("subscriber connect to %s: %v", url, token.Error())
	}

	// A direct subscribe with a checked SUBACK, so the test does not start
	// publishing before the subscription exists.
	sub := s.client.Subscribe(DefaultTopicPrefix+"/#", 1, handler)
	if !sub.WaitTimeout(5*time.Second) || sub.Error() != nil {
		t.Fatalf("subscribe: %v", sub.Error())
	}
	t.Cleanup(func() { s.client.Disconnect(100) })
	return s
}

func (s *subscriber) received() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ids)
}

// distinct returns the ids in order of first arrival.
func distinct(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testMessages builds n messages spread round-robin over terminalCount
// terminals, each with a JSON payload carrying its id for the subscriber.
func testMessages(prefix string, n, terminalCount int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		terminal := fmt.Sprintf("T%03d", i%terminalCount)
		id := fmt.Sprintf("%s-%05d", prefix, i)
		body, _ := json.Marshal(map[string]any{"id": id, "terminal": terminal, "n": i})
		msgs[i] = Message{ID: id, Topic: "deviations/" + terminal, Key: terminal, Payload: body}
	}
	return msgs
}

func messageIDs(msgs []Message) []string {
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

// testOptions returns options for a forwarder on dir with short reconnect
// delays, logging to the test log at Debug when -v is set.
func testOptions(t *testing.T, url, dir string) Options {
	return Options{
		URL:               url,
		ClientID:          "hwtrack-test-" + t.Name(),
		Dir:               dir,
		MinReconnectDelay: 50 * time.Millisecond,
		MaxReconnectDelay: 300 * time.Millisecond,
		Logger:            testLogger(t),
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

var _ io.Writer = testWriter{}

// counterValue reads the counter named name with the given label value from
// the forwarder's collectors.
func counterValue(t *testing.T, f *Forwarder, name, labelValue string) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 64)
	go func() {
		for _, c := range f.Collectors() {
			c.Collect(ch)
		}
		close(ch)
	}()
	var value float64
	found := false
	for m := range ch {
		if !bytes.Contains([]byte(m.Desc().String()), []byte(`"`+name+`"`)) {
			continue
		}
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			t.Fatalf("read metric %s: %v", name, err)
		}
		for _, lp := range out.GetLabel() {
			if lp.GetValue() == labelValue {
				value, found = out.GetCounter().GetValue()+out.GetGauge().GetValue(), true
			}
		}
		if labelValue == "" && len(out.GetLabel()) == 0 {
			value, found = out.GetCounter().GetValue()+out.GetGauge().GetValue(), true
		}
	}
	if !found {
		t.Fatalf("metric %s{%s} not found", name, labelValue)
	}
	return value
}
