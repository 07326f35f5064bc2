package broker

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

func TestMalformedPacketsDropConnection(t *testing.T) {
	rec := &recorder{}
	b := startBrokerOpts(t, rec, Options{}, nil)
	addr := b.Addr().String()
	connectPkt := connectPacket("raw-T1", "T1", "password-one-0123456789")

	cases := []struct {
		name string
		// afterConnect sends a valid CONNECT first and reads its CONNACK.
		afterConnect bool
		data         []byte
	}{
		{"reserved packet type", false, []byte{0x00, 0x00}},
		{"publish before connect", false, []byte{0x30, 0x05, 0x00, 0x01, 'a', 'x', 'y'}},
		{"wrong protocol name", false, bytes.Replace(connectPkt, []byte("MQTT"), []byte("XQTT"), 1)},
		{"remaining length over four bytes", false, []byte{0x10, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"connect declaring 100 MB", false, []byte{0x10, 0x80, 0x80, 0x80, 0x30}},
		{"publish over max packet size", true, append([]byte{0x32, 0x80, 0x80, 0x04}, bytes.Repeat([]byte{'x'}, 1024)...)},
		{"publish with qos 3", true, []byte{0x36, 0x0f, 0x00, 0x0d, 'h', 'w', 't', '/', 'v', '1', '/', 'T', '1', '/', 'f', 'i', 'x'}},
		{"second connect", true, connectPkt},
		{"truncated topic length", true, []byte{0x30, 0x03, 0x00, 0x7f, 'a'}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tc.afterConnect {
				if _, err := conn.Write(connectPkt); err != nil {
					t.Fatal(err)
				}
				code, err := readConnack(conn)
				if err != nil || code != 0 {
					t.Fatalf("valid CONNECT: code %d, err %v", code, err)
				}
			}
			conn.Write(tc.data)
			if !waitClosed(conn, 5*time.Second) {
				t.Fatal("broker kept the connection open after a malformed packet")
			}
		})
	}

	// The broker still serves a well-behaved client afterwards.
	c, err := connect(t, b, "after-abuse", "T2", "password-two-0123456789")
	if err != nil {
		t.Fatalf("connect after malformed packets: %v", err)
	}
	tok := c.Publish("hwt/v1/T2/fix", 1, false, `{"lat":2}`)
	if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("publish after malformed packets: %v", tok.Error())
	}
	if got := rec.topics(); len(got) != 1 || got[0] != "hwt/v1/T2/fix" {
		t.Fatalf("handler saw %v, want only the well-formed publish", got)
	}
}

func TestConnectRateLimited(t *testing.T) {
	const burst, ratePerSec, attempts = 20, 50.0, 200
	b := startBrokerOpts(t, &recorder{}, Options{ConnectRate: ratePerSec, ConnectBurst: burst}, nil)

	start := time.Now()
	var accepted, refused, failed atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for i := range attempts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, code, err := rawConnect(b.Addr().String(), fmt.Sprintf("storm-%d", i), "T1", "password-one-0123456789")
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			switch code {
			case 0:
				accepted.Add(1)
			case 3: // server unavailable
				refused.Add(1)
				if !waitClosed(conn, 5*time.Second) {
					t.Errorf("refused connection %d left open", i)
				}
			default:
				t.Errorf("connection %d: unexpected CONNACK code %d", i, code)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	if failed.Load() != 0 {
		t.Errorf("%d connections got no CONNACK", failed.Load())
	}
	if refused.Load() == 0 {
		t.Error("no CONNECT was refused although the burst was exceeded tenfold")
	}
	maxAccepted := int64(burst + ratePerSec*elapsed.Seconds() + 1)
	if accepted.Load() < burst || accepted.Load() > maxAccepted {
		t.Errorf("accepted %d connections in %v, want %d..%d", accepted.Load(), elapsed, burst, maxAccepted)
	}
	if got := counterValue(t, b.metrics.connectsRejected.WithLabelValues("rate")); got != float64(refused.Load()) {
		t.Errorf("refusal metric = %v, want %d", got, refused.Load())
	}
}

func TestClientIDOfAnotherTerminalRefused(t *testing.T) {
	b := startBrokerOpts(t, &recorder{}, Options{}, nil)
	first, err := connect(t, b, "shared-id", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, b, "shared-id", "T2", "password-two-0123456789"); err == nil {
		t.Fatal("T2 took over a client id held by a live T1 connection")
	}
	time.Sleep(100 * time.Millisecond)
	if !first.IsConnectionOpen() {
		t.Fatal("T1 was disconnected by another terminal using its client id")
	}
}

// sourceSequence returns the payload sources in the order the handler
// recorded them, collapsing runs: "A","A","B" becomes "A","B".
func sourceSequence(rec *recorder) []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var runs []string
	for _, m := range rec.msgs {
		src, _, _ := strings.Cut(string(m.Payload), ":")
		if len(runs) == 0 || runs[len(runs)-1] != src {
			runs = append(runs, src)
		}
	}
	return runs
}

func publishN(t *testing.T, c paho.Client, source string, n int) {
	t.Helper()
	for i := range n {
		tok := c.Publish("hwt/v1/T1/fix", 1, false, fmt.Sprintf("%s:%d", source, i))
		if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
			t.Fatalf("%s publish %d: %v", source, i, tok.Error())
		}
	}
}

func TestSharedClientIDBanned(t *testing.T) {
	rec := &recorder{}
	logs := &logBuffer{}
	b := startBrokerOpts(t, rec, Options{}, logs)
	const id, pass = "T1", "password-one-0123456789"

	unitA, err := connect(t, b, id, "T1", pass)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, unitA, "A", 5)

	unitB, err := connect(t, b, id, "T1", pass) // first takeover: a reconnect, allowed
	if err != nil {
		t.Fatalf("first takeover refused: %v", err)
	}
	publishN(t, unitB, "B", 5)

	if _, err := connect(t, b, id, "T1", pass); err == nil { // second takeover within the window
		t.Fatal("second takeover within the window was accepted")
	}
	deadline := time.Now().Add(3 * time.Second)
	for unitB.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if unitB.IsConnectionOpen() {
		t.Fatal("the connection holding the banned terminal's session stayed open")
	}
	if _, err := connect(t, b, "T1-other-id", "T1", pass); err == nil {
		t.Fatal("banned terminal connected with another client id")
	}
	if _, err := connect(t, b, "T2", "T2", "password-two-0123456789"); err != nil {
		t.Fatalf("an unrelated terminal was refused during the ban: %v", err)
	}

	if got := sourceSequence(rec); fmt.Sprint(got) != "[A B]" {
		t.Errorf("recorded sources %v, want [A B]", got)
	}
	if n := len(rec.topics()); n != 10 {
		t.Errorf("handler recorded %d fixes, want 10", n)
	}
	if got := counterValue(t, b.metrics.bans); got != 1 {
		t.Errorf("ban metric = %v, want 1", got)
	}
	// paho retries a refused CONNECT once as MQTT 3.1, so each refused
	// connect counts once or twice.
	if got := counterValue(t, b.metrics.connectsRejected.WithLabelValues("banned")); got < 1 {
		t.Errorf("banned refusals = %v, want at least 1", got)
	}
	if !logs.contains("MQTT terminal banned") || !logs.contains("level=ERROR") {
		t.Errorf("no ban alert logged:\n%s", logs.String())
	}
}

func TestBanExpires(t *testing.T) {
	b := startBrokerOpts(t, &recorder{}, Options{FlapBan: 500 * time.Millisecond}, nil)
	const pass = "password-one-0123456789"
	for i := range 3 {
		connect(t, b, "T1", "T1", pass)
		_ = i
	}
	if _, err := connect(t, b, "T1b", "T1", pass); err == nil {
		t.Fatal("terminal not banned after repeated takeovers")
	}
	time.Sleep(600 * time.Millisecond)
	if _, err := connect(t, b, "T1b", "T1", pass); err != nil {
		t.Fatalf("terminal still refused after the ban ended: %v", err)
	}
}

// TestFlappingUnitsNeverInterleave runs two auto-reconnecting units that
// share one client id, each publishing its own numbered track, as two
// misconfigured trucks would.
func TestFlappingUnitsNeverInterleave(t *testing.T) {
	rec := &recorder{}
	b := startBrokerOpts(t, rec, Options{}, nil)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, source := range []string{"A", "B"} {
		opts := paho.NewClientOptions().
			AddBroker("tcp://" + b.Addr().String()).
			SetClientID("T1").SetUsername("T1").SetPassword("password-one-0123456789").
			SetAutoReconnect(true).SetConnectRetry(true).
			SetConnectRetryInterval(50 * time.Millisecond).
			SetMaxReconnectInterval(100 * time.Millisecond).
			SetConnectTimeout(2 * time.Second)
		c := paho.NewClient(opts)
		c.Connect()
		t.Cleanup(func() { c.Disconnect(50) })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				c.Publish("hwt/v1/T1/fix", 1, false, fmt.Sprintf("%s:%d", source, i)).WaitTimeout(time.Second)
			}
		}()
	}

	deadline := time.Now().Add(10 * time.Second)
	for counterValue(t, b.metrics.bans) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // both units keep trying while banned
	close(stop)
	wg.Wait()

	if counterValue(t, b.metrics.bans) == 0 {
		t.Fatal("two units sharing a client id were never banned")
	}
	if runs := sourceSequence(rec); len(runs) > 2 {
		t.Fatalf("tracks interleaved: recorded sources %v", runs)
	}
}

func TestRetainedFixNotReplayed(t *testing.T) {
	b := startBrokerOpts(t, &recorder{}, Options{}, nil)
	pub, err := connect(t, b, "T1-pub", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"hwt/v1/T1/fix", "hwt/v1/T1/status"} {
		tok := pub.Publish(topic, 1, true, `{"retained":true}`)
		if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}

	sub, err := connect(t, b, "T1-sub", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 4)
	tok := sub.Subscribe("hwt/v1/T1/#", 1, func(_ paho.Client, m paho.Message) { got <- m.Topic() })
	if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}

	var topics []string
	timeout := time.After(time.Second)
collect:
	for {
		select {
		case topic := <-got:
			topics = append(topics, topic)
		case <-timeout:
			break collect
		}
	}
	// mochi fans a QoS 1 publish out after its PUBACK, so a subscriber
	// that arrives in between may get the retained status twice; only a
	// fix reaching it is a failure.
	if slices.Contains(topics, "hwt/v1/T1/fix") {
		t.Fatalf("new subscriber received the retained fix: %v", topics)
	}
	if !slices.Contains(topics, "hwt/v1/T1/status") {
		t.Fatalf("new subscriber received %v, want the retained status", topics)
	}
}

// TestSlowSubscriberDoesNotStallIngest subscribes a raw socket that never
// reads to the topic a vehicle publishes to, then checks every publish is
// still recorded and acknowledged.
func TestSlowSubscriberDoesNotStallIngest(t *testing.T) {
	const publishes = 3000
	rec := &recorder{}
	b := startBrokerOpts(t, rec, Options{MaxQueued: 64, MaxInflight: 64}, nil)

	slow, code, err := rawConnect(b.Addr().String(), "T1-slow", "T1", "password-one-0123456789")
	if err != nil || code != 0 {
		t.Fatalf("slow subscriber connect: code %d, err %v", code, err)
	}
	defer slow.Close()
	if tcp, ok := slow.(*net.TCPConn); ok {
		tcp.SetReadBuffer(4096)
	}
	if _, err := slow.Write(subscribePacket(1, "hwt/v1/T1/#")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the subscription land; never read again

	pub, err := connect(t, b, "T1-pub", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	payload := strings.Repeat("x", 1000)
	start := time.Now()
	for i := range publishes {
		tok := pub.Publish("hwt/v1/T1/fix", 1, false, payload)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d not acknowledged with a stalled subscriber: %v", i, tok.Error())
		}
	}
	t.Logf("%d publishes acknowledged in %v with a stalled subscriber", publishes, time.Since(start))
	if n := len(rec.topics()); n != publishes {
		t.Fatalf("handler recorded %d publishes, want %d", n, publishes)
	}
}

// TestRefusedUnitReconnectingNotBanned checks that a unit whose publishes
// the server refuses, and which reconnects at once each time, is not
// mistaken for two units sharing a client id.
func TestRefusedUnitReconnectingNotBanned(t *testing.T) {
	rec := &recorder{}
	rec.fail.Store(true)
	b := startBrokerOpts(t, rec, Options{}, nil)
	for i := range 10 {
		conn, code, err := rawConnect(b.Addr().String(), "T1", "T1", "password-one-0123456789")
		if err != nil || code != 0 {
			t.Fatalf("reconnect %d after a refused publish: code %d, err %v", i, code, err)
		}
		conn.Write(publishPacket(1, "hwt/v1/T1/fix", `{"lat":1}`))
		if !waitClosed(conn, 5*time.Second) {
			t.Fatalf("connection %d not closed after an unrecorded publish", i)
		}
		conn.Close()
	}
	if got := counterValue(t, b.metrics.bans); got != 0 {
		t.Fatalf("ban metric = %v after refused publishes, want 0", got)
	}
}
