package broker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/packets"
)

// flakyListener fails its first n accepts the way a process out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	failures atomic.Int32
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.failures.Add(-1) >= 0 {
		return nil, errors.New("accept tcp: too many open files")
	}
	return l.Listener.Accept()
}

func TestAcceptErrorsDoNotStopListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	flaky := &flakyListener{Listener: inner}
	flaky.failures.Store(3)
	errorsSeen := 0
	ln := newResilientListener(flaky, 0, slog.New(slog.DiscardHandler), func() { errorsSeen++ })
	defer ln.Close()

	go func() {
		if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
			defer c.Close()
			time.Sleep(time.Second)
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("Accept after transient errors: %v", err)
	}
	conn.Close()
	if errorsSeen != 3 {
		t.Errorf("counted %d accept errors, want 3", errorsSeen)
	}

	ln.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept on a closed listener = %v, want net.ErrClosed", err)
	}
}

func TestSilentConnectionClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{Listener: ln, ConnectTimeout: 300 * time.Millisecond,
		Credentials: staticCreds{}, Handler: &recorder{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	conn, err := net.Dial("tcp", b.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("connection that sent no CONNECT was not closed by the server: %v", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("silent connection closed after %s, want about the connect timeout", waited)
	}
}

func TestReservedTopicPublishEndsConnection(t *testing.T) {
	rec := &recorder{}
	b := startBroker(t, rec)
	c, err := connect(t, b, "T1", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	c.Publish("$SYS/foo", 1, false, "x").WaitTimeout(3 * time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for c.IsConnectionOpen() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if c.IsConnectionOpen() {
		t.Fatal("client that published to $SYS/foo is still connected, waiting for a PUBACK that never comes")
	}
	if n := len(rec.topics()); n != 0 {
		t.Errorf("handler saw %d messages, want none", n)
	}
}

func TestLastWillConfinedAndRecorded(t *testing.T) {
	cases := []struct {
		name, willTopic string
		recorded        bool
	}{
		{"own status topic", "hwt/v1/T1/status", true},
		{"other vehicle's topic", "hwt/v1/T2/status", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			b := startBroker(t, rec)
			opts := paho.NewClientOptions().AddBroker("tcp://"+b.Addr().String()).
				SetClientID("T1").SetUsername("T1").SetPassword("password-one-0123456789").
				SetAutoReconnect(false).SetWill(tc.willTopic, `{"online":false}`, 1, false)
			c := paho.NewClient(opts)
			if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("connect: %v", tok.Error())
			}

			// Ending the connection without DISCONNECT makes the broker send
			// the will; the session is taken over by a plain TCP close.
			if _, err := connect(t, b, "T1", "T1", "password-one-0123456789"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			got := strings.Join(rec.topics(), ",")
			if strings.Contains(got, tc.willTopic) != tc.recorded {
				t.Errorf("handler saw %q; will on %s recorded=%v, want %v", got, tc.willTopic, !tc.recorded, tc.recorded)
			}
		})
	}
}

func TestWebSocketAddressInUseFailsStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{
		Listener: ln, WebSocketAddr: taken.Addr().String(),
		Credentials: staticCreds{}, Handler: &recorder{}, Logger: slog.New(slog.DiscardHandler),
	})
	if err == nil {
		b.Close()
		t.Fatal("broker started although its WebSocket address is in use")
	}
}

func TestMochiLogSummarisesPackets(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(newMochiLogHandler(slog.NewTextHandler(&out, nil)))
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: "hwt/v1/T2/fix", Payload: bytes.Repeat([]byte{'x'}, 200_000)}
	log.Warn("", "error", "not authorized", "packet", pk, "raw", bytes.Repeat([]byte{1}, 1000))

	line := out.String()
	if len(line) > 500 {
		t.Fatalf("log line is %d bytes; the packet was not summarised: %.200s…", len(line), line)
	}
	for _, want := range []string{"mqtt connection ended", "payload_bytes=200000", "1000 bytes", "hwt/v1/T2/fix"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q does not contain %q", line, want)
		}
	}

	out.Reset()
	for range 1000 {
		log.Warn("read connection: EOF")
	}
	if n := strings.Count(out.String(), "\n"); n > 100 {
		t.Errorf("1,000 warnings wrote %d lines; the flood was not limited", n)
	}
	_ = context.Background()
}
