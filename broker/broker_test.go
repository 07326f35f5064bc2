package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

type staticCreds map[string]string

func (c staticCreds) Check(terminal, password string) bool {
	want, ok := c[terminal]
	return ok && want == password
}

// recorder is a Handler that keeps what it was given and can be told to
// fail, standing in for a full disk.
type recorder struct {
	mu   sync.Mutex
	msgs []Message
	fail atomic.Bool
}

func (r *recorder) HandlePublish(m Message) error {
	if r.fail.Load() {
		return ErrUnavailable
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) topics() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		out = append(out, m.Topic)
	}
	return out
}

func startBroker(t *testing.T, h Handler) *Broker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{
		Listener:       ln,
		MaxPacketBytes: 4096,
		Credentials:    staticCreds{"T1": "password-one-0123456789", "T2": "password-two-0123456789"},
		Handler:        h,
		Logger:         slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func connect(t *testing.T, b *Broker, clientID, user, pass string) (paho.Client, error) {
	t.Helper()
	opts := paho.NewClientOptions().
		AddBroker("tcp://" + b.Addr().String()).
		SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(3 * time.Second)
	c := paho.NewClient(opts)
	tok := c.Connect()
	if !tok.WaitTimeout(5 * time.Second) {
		return nil, errors.New("connect timed out")
	}
	if tok.Error() != nil {
		return nil, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

func TestAuthentication(t *testing.T) {
	b := startBroker(t, &recorder{})
	cases := []struct {
		name, user, pass string
		ok               bool
	}{
		{"registered vehicle", "T1", "password-one-0123456789", true},
		{"wrong password", "T1", "password-two-0123456789", false},
		{"unknown terminal", "T9", "password-one-0123456789", false},
		{"wildcard in username", "T1/#", "password-one-0123456789", false},
		{"no credentials", "", "", false},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := connect(t, b, fmt.Sprintf("auth-%d", i), c.user, c.pass)
			if (err == nil) != c.ok {
				t.Fatalf("connect err = %v, want ok=%v", err, c.ok)
			}
		})
	}
}

func TestPublishACL(t *testing.T) {
	rec := &recorder{}
	b := startBroker(t, rec)
	c, err := connect(t, b, "T1", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}

	own := c.Publish("hwt/v1/T1/fix", 1, false, `{"lat":1}`)
	if !own.WaitTimeout(3*time.Second) || own.Error() != nil {
		t.Fatalf("publish to own topic: %v", own.Error())
	}
	// MQTT 3.1.1 has no negative PUBACK: a QoS 0 publish to another
	// vehicle's topic is dropped silently by the broker.
	c.Publish("hwt/v1/T2/fix", 0, false, `{"lat":2}`).Wait()
	c.Publish("owntracks/T1/phone", 0, false, `{"_type":"location"}`).Wait()
	c.Publish("owntracks/T2/phone", 0, false, `{"_type":"location"}`).Wait()
	flush := c.Publish("hwt/v1/T1/status", 1, false, `{"online":true}`)
	flush.WaitTimeout(3 * time.Second)

	got := rec.topics()
	want := []string{"hwt/v1/T1/fix", "owntracks/T1/phone", "hwt/v1/T1/status"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("handler saw %v, want %v", got, want)
	}
}

func TestSubscribeACL(t *testing.T) {
	b := startBroker(t, &recorder{})
	c, err := connect(t, b, "T1", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		filter string
		ok     bool
	}{
		{"hwt/v1/T1/cmd", true},
		{"hwt/v1/T1/#", true},
		{"hwt/v1/+/fix", false},
		{"hwt/v1/T2/cmd", false},
		{"#", false},
		{"owntracks/#", false},
	}
	for _, tc := range cases {
		t.Run(tc.filter, func(t *testing.T) {
			tok := c.Subscribe(tc.filter, 1, nil)
			if !tok.WaitTimeout(3 * time.Second) {
				t.Fatal("subscribe timed out")
			}
			result := tok.(*paho.SubscribeToken).Result()[tc.filter]
			granted := result != 0x80
			if granted != tc.ok {
				t.Fatalf("subscribe %q granted=%v (code %#x), want %v", tc.filter, granted, result, tc.ok)
			}
		})
	}
}

func TestUnrecordedPublishNotAcknowledged(t *testing.T) {
	rec := &recorder{}
	b := startBroker(t, rec)
	c, err := connect(t, b, "T1", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	rec.fail.Store(true)
	tok := c.Publish("hwt/v1/T1/fix", 1, false, `{"lat":1}`)
	if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
		t.Fatal("publish acknowledged although the handler could not record it")
	}
	deadline := time.Now().Add(3 * time.Second)
	for c.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if c.IsConnectionOpen() {
		t.Fatal("MQTT 3.1.1 client still connected after an unrecorded QoS 1 publish")
	}
}

func TestTakeoverKeepsVehicleOnline(t *testing.T) {
	b := startBroker(t, &recorder{})
	first, err := connect(t, b, "T1", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, b, "T1", "T1", "password-one-0123456789"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for first.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if first.IsConnectionOpen() {
		t.Fatal("first connection survived a takeover by the same client id")
	}
	time.Sleep(100 * time.Millisecond)
	if !b.Online("T1") {
		t.Fatal("vehicle marked offline after the old connection was taken over")
	}
}

// TestSecondConnectionLeavingKeepsVehicleOnline logs in as the vehicle a
// second time under another client id, as a diagnostic tool does, and
// disconnects it: the unit's own connection is still there, so the
// vehicle stays online.
func TestSecondConnectionLeavingKeepsVehicleOnline(t *testing.T) {
	b := startBroker(t, &recorder{})
	unit, err := connect(t, b, "T1", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	tool, err := connect(t, b, "T1-diag", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}

	tool.Disconnect(250)
	deadline := time.Now().Add(3 * time.Second)
	for b.clientsOf("T1") > 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !unit.IsConnectionOpen() {
		t.Fatal("the unit's connection closed")
	}
	if !b.Online("T1") {
		t.Fatal("vehicle marked offline while its unit is still connected")
	}

	unit.Disconnect(250)
	deadline = time.Now().Add(3 * time.Second)
	for b.Online("T1") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if b.Online("T1") {
		t.Error("vehicle still online after its last connection left")
	}
}

func TestOversizedPacketRejected(t *testing.T) {
	rec := &recorder{}
	b := startBroker(t, rec)
	c, err := connect(t, b, "T1", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 8192)
	c.Publish("hwt/v1/T1/fix", 1, false, big).WaitTimeout(2 * time.Second)
	if n := len(rec.topics()); n != 0 {
		t.Fatalf("handler saw %d messages from an oversized packet", n)
	}
}

func TestAllowed(t *testing.T) {
	cases := []struct {
		terminal, topic string
		want            bool
	}{
		{"T1", "hwt/v1/T1/fix", true},
		{"T1", "hwt/v1/T1/video/2/offer", true},
		{"T1", "hwt/v1/T1", false},
		{"T1", "hwt/v1/T1/", false},
		{"T1", "hwt/v1/T10/fix", false},
		{"T1", "hwt/v1/T2/fix", false},
		{"T1", "owntracks/T1/phone", true},
		{"T1", "owntracks/T1x/phone", false},
		{"T+", "hwt/v1/T+/fix", false},
		{"", "hwt/v1//fix", false},
	}
	for _, c := range cases {
		if got := Allowed(c.terminal, c.topic); got != c.want {
			t.Errorf("Allowed(%q, %q) = %v, want %v", c.terminal, c.topic, got, c.want)
		}
	}
}
