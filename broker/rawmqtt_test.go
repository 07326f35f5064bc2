package broker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Helpers that speak MQTT 3.1.1 on a raw TCP socket, so tests can send
// what no well-behaved client library would.

func appendString(b []byte, s string) []byte {
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

func appendRemainingLength(b []byte, n int) []byte {
	for {
		digit := byte(n % 128)
		n /= 128
		if n > 0 {
			digit |= 0x80
		}
		b = append(b, digit)
		if n == 0 {
			return b
		}
	}
}

// connectPacket encodes an MQTT 3.1.1 CONNECT with a clean session,
// username and password.
func connectPacket(clientID, user, pass string) []byte {
	var body []byte
	body = appendString(body, "MQTT")
	body = append(body, 4, 0xC2, 0, 60)
	body = appendString(body, clientID)
	body = appendString(body, user)
	body = appendString(body, pass)
	out := appendRemainingLength([]byte{0x10}, len(body))
	return append(out, body...)
}

// subscribePacket encodes a SUBSCRIBE of one filter at QoS 1.
func subscribePacket(id uint16, filter string) []byte {
	body := []byte{byte(id >> 8), byte(id)}
	body = appendString(body, filter)
	body = append(body, 1)
	out := appendRemainingLength([]byte{0x82}, len(body))
	return append(out, body...)
}

// rawConnect dials addr, sends a CONNECT and returns the connection and
// the CONNACK return code.
func rawConnect(addr, clientID, user, pass string) (net.Conn, byte, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	if _, err := conn.Write(connectPacket(clientID, user, pass)); err != nil {
		conn.Close()
		return nil, 0, err
	}
	code, err := readConnack(conn)
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	return conn, code, nil
}

func readConnack(conn net.Conn) (byte, error) {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer conn.SetReadDeadline(time.Time{})
	head := make([]byte, 4)
	if _, err := io.ReadFull(conn, head); err != nil {
		return 0, fmt.Errorf("read CONNACK: %w", err)
	}
	if head[0] != 0x20 || head[1] != 2 {
		return 0, fmt.Errorf("expected a CONNACK, got % x", head)
	}
	return head[3], nil
}

// waitClosed reports whether the server closes conn within d, reading and
// discarding whatever it sends first.
func waitClosed(conn net.Conn, d time.Duration) bool {
	conn.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 512)
	for {
		_, err := conn.Read(buf)
		if err == nil {
			continue
		}
		var netErr net.Error
		return !(errors.As(err, &netErr) && netErr.Timeout())
	}
}

// logBuffer is an io.Writer for a slog handler that tests can read while
// the broker writes to it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) contains(s string) bool { return strings.Contains(l.String(), s) }

// startBrokerOpts starts a broker on a free port with the two test
// vehicles, filling in the listener, credentials and handler.
func startBrokerOpts(t *testing.T, h Handler, opts Options, logs io.Writer) *Broker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener = ln
	if opts.MaxPacketBytes == 0 {
		opts.MaxPacketBytes = 4096
	}
	opts.Credentials = staticCreds{"T1": "password-one-0123456789", "T2": "password-two-0123456789"}
	opts.Handler = h
	if logs == nil {
		logs = io.Discard
	}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// counterValue reads a counter without the testutil package, which would
// pull in another module.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// publishPacket encodes a QoS 1 PUBLISH.
func publishPacket(id uint16, topic, payload string) []byte {
	body := appendString(nil, topic)
	body = append(body, byte(id>>8), byte(id))
	body = append(body, payload...)
	out := appendRemainingLength([]byte{0x32}, len(body))
	return append(out, body...)
}
