package forwarder

import (
	"github.com/hwtrack/hwtrack/internal/testenv"

	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func TestForwarderDelivery(t *testing.T) {
	broker := testenv.NewMosquitto(t, false)
	broker.Start()

	tests := []struct {
		name        string
		maxInflight int
	}{
		{"one in flight", 1},
		{"default window", 0},
		{"wide window", 1024},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := subscribe(t, broker.URL(), "sub-delivery", true)
			opts := testOptions(t, broker.URL(), t.TempDir())
			opts.MaxInflight = tt.maxInflight
			f, err := New(opts)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer f.Close()
			f.Start(t.Context())

			msgs := testMessages("delivery", 500, 7)
			for chunk := range slices.Chunk(msgs, 50) {
				if err := f.Enqueue(chunk...); err != nil {
					t.Fatalf("Enqueue: %v", err)
				}
			}
			want := messageIDs(msgs)

			waitFor(t, 20*time.Second, "all messages at the subscriber", func() bool { return len(sub.received()) >= len(want) })
			waitFor(t, 5*time.Second, "an empty outbox", func() bool { return f.Depth() == 0 })
			got := sub.received()
			if !slices.Equal(got, want) {
				t.Fatalf("received %d ids, want %d in enqueue order; first difference at %d", len(got), len(want), firstDifference(got, want))
			}
			if !f.Connected() {
				t.Error("Connected() = false while the broker is up")
			}
			if v := counterValue(t, f, "hwtrack_forwarded_total", kindDeviation); v != float64(len(want)) {
				t.Errorf("hwtrack_forwarded_total{kind=deviation} = %v, want %d", v, len(want))
			}
			if v := counterValue(t, f, "hwtrack_outbox_depth", ""); v != 0 {
				t.Errorf("hwtrack_outbox_depth = %v, want 0", v)
			}
			if v := counterValue(t, f, "hwtrack_upstream_connected", ""); v != 1 {
				t.Errorf("hwtrack_upstream_connected = %v, want 1", v)
			}
		})
	}
}

func TestForwarderOutageAndRestart(t *testing.T) {
	broker := testenv.NewMosquitto(t, false)
	dir := t.TempDir()
	msgs := testMessages("outage", 120, 4)

	// First run: the broker is down, so everything stays in the outbox.
	first, err := New(testOptions(t, broker.URL(), dir))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	first.Start(t.Context())
	for chunk := range slices.Chunk(msgs, 40) {
		if err := first.Enqueue(chunk...); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
	}
	waitFor(t, 5*time.Second, "a failed connect attempt", func() bool {
		return counterValue(t, first, "hwtrack_forward_errors_total", stageConnect) > 0
	})
	if first.Connected() {
		t.Error("Connected() = true with the broker down")
	}
	if d := first.Depth(); d != len(msgs) {
		t.Errorf("Depth() during outage = %d, want %d", d, len(msgs))
	}
	if age := counterValue(t, first, "hwtrack_outbox_oldest_age_seconds", ""); age <= 0 {
		t.Errorf("hwtrack_outbox_oldest_age_seconds = %v during outage, want > 0", age)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// Second run on the same directory, with the broker back.
	broker.Start()
	sub := subscribe(t, broker.URL(), "sub-outage", true)
	second, err := New(testOptions(t, broker.URL(), dir))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer second.Close()
	if d := second.Depth(); d != len(msgs) {
		t.Fatalf("Depth() after reopen = %d, want %d", d, len(msgs))
	}
	second.Start(t.Context())

	want := messageIDs(msgs)
	waitFor(t, 20*time.Second, "an empty outbox", func() bool { return second.Depth() == 0 })
	waitFor(t, 5*time.Second, "all messages at the subscriber", func() bool { return len(sub.received()) >= len(want) })
	time.Sleep(200 * time.Millisecond) // let any duplicate arrive before comparing
	if got := sub.received(); !slices.Equal(got, want) {
		t.Fatalf("received %d ids, want exactly %d once each in order; first difference at %d", len(got), len(want), firstDifference(got, want))
	}
}

// TestHelperEnqueueProcess is not a test: TestForwarderSurvivesKill runs the
// test binary with it as a child process that enqueues and is then killed.
func TestHelperEnqueueProcess(t *testing.T) {
	dir := os.Getenv("HWTRACK_FORWARDER_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process for TestForwarderSurvivesKill; runs only as its child")
	}
	n, _ := strconv.Atoi(os.Getenv("HWTRACK_FORWARDER_HELPER_COUNT"))
	f, err := New(Options{Dir: dir})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for _, m := range testMessages("kill", n, 3) {
		if err := f.Enqueue(m); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("durable", m.ID)
	}
	// Wait to be killed: no Close, so nothing but Enqueue's own sync
	// protects the messages.
	time.Sleep(time.Minute)
	os.Exit(2)
}

func TestForwarderSurvivesKill(t *testing.T) {
	const count = 60
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperEnqueueProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "HWTRACK_FORWARDER_HELPER_DIR="+dir, "HWTRACK_FORWARDER_HELPER_COUNT="+strconv.Itoa(count))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("stdout pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start helper: %v", err)
	}
	var durable []string
	lines := bufio.NewScanner(stdout)
	for len(durable) < count && lines.Scan() {
		if id, ok := strings.CutPrefix(lines.Text(), "durable "); ok {
			durable = append(durable, id)
		}
		if strings.HasPrefix(lines.Text(), "error ") {
			t.Fatalf("helper: %s", lines.Text())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill helper %d: %v", cmd.Process.Pid, err)
	}
	_, _ = io.Copy(io.Discard, stdout)
	_ = cmd.Wait()
	if len(durable) != count {
		t.Fatalf("helper reported %d durable messages, want %d", len(durable), count)
	}

	broker := testenv.NewMosquitto(t, false)
	broker.Start()
	sub := subscribe(t, broker.URL(), "sub-kill", true)
	f, err := New(testOptions(t, broker.URL(), dir))
	if err != nil {
		t.Fatalf("reopen after kill: %v", err)
	}
	defer f.Close()
	if d := f.Depth(); d != count {
		t.Fatalf("Depth() after kill -9 = %d, want %d", d, count)
	}
	f.Start(t.Context())
	waitFor(t, 20*time.Second, "all messages at the subscriber", func() bool { return len(sub.received()) >= count })
	waitFor(t, 5*time.Second, "an empty outbox", func() bool { return f.Depth() == 0 })
	if got := sub.received(); !slices.Equal(got, durable) {
		t.Fatalf("received %v, want %v", got, durable)
	}
}

func TestForwarderBrokerRestartMidStream(t *testing.T) {
	// A persistent broker and subscriber session, so the subscriber loses
	// nothing that the broker acknowledged before it went down.
	broker := testenv.NewMosquitto(t, true)
	broker.Start()
	sub := subscribe(t, broker.URL(), "sub-restart", false)

	f, err := New(testOptions(t, broker.URL(), t.TempDir()))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer f.Close()
	f.Start(t.Context())

	msgs := testMessages("restart", 300, 5)
	produced := make(chan error, 1)
	go func() {
		for _, m := range msgs {
			if err := f.Enqueue(m); err != nil {
				produced <- err
				return
			}
			time.Sleep(3 * time.Millisecond)
		}
		produced <- nil
	}()

	waitFor(t, 10*time.Second, "the first deliveries", func() bool { return len(sub.received()) >= 50 })
	broker.Stop()
	waitFor(t, 5*time.Second, "the forwarder to notice the broker is gone", func() bool { return !f.Connected() })
	waitFor(t, 5*time.Second, "messages queued during the outage", func() bool { return f.Depth() > 0 })
	broker.Start()

	if err := <-produced; err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	want := messageIDs(msgs)
	waitFor(t, 30*time.Second, "an empty outbox", func() bool { return f.Depth() == 0 })
	waitFor(t, 10*time.Second, "every id at the subscriber", func() bool { return len(distinct(sub.received())) >= len(want) })

	// QoS 1 across a broker restart may deliver an id twice, never a new
	// id and never out of order by first arrival.
	got := distinct(sub.received())
	if !slices.Equal(got, want) {
		t.Fatalf("distinct ids: got %d, want %d in enqueue order; first difference at %d", len(got), len(want), firstDifference(got, want))
	}
	if !f.Connected() {
		t.Error("Connected() = false after the broker came back")
	}
}

// TestForwarderWatchdogRecreatesClient runs against a fake broker that
// accepts connections but never sends PUBACK: the watchdog must drop and
// recreate the client, and nothing may leave the outbox.
func TestForwarderWatchdogRecreatesClient(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var connects atomic.Int32
	go serveSilentBroker(l, &connects)
	t.Cleanup(func() { _ = l.Close() })

	opts := testOptions(t, "tcp://"+l.Addr().String(), t.TempDir())
	opts.StallTimeout = 200 * time.Millisecond
	f, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer f.Close()
	msgs := testMessages("stall", 10, 2)
	if err := f.Enqueue(msgs...); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	f.Start(t.Context())

	waitFor(t, 10*time.Second, "a second connection after a stall", func() bool { return connects.Load() >= 2 })
	if v := counterValue(t, f, "hwtrack_forward_errors_total", stageStall); v < 1 {
		t.Errorf("hwtrack_forward_errors_total{stage=stall} = %v, want >= 1", v)
	}
	if d := f.Depth(); d != len(msgs) {
		t.Errorf("Depth() = %d, want %d: nothing was acknowledged", d, len(msgs))
	}
	if v := counterValue(t, f, "hwtrack_forwarded_total", kindDeviation); v != 0 {
		t.Errorf("hwtrack_forwarded_total{kind=deviation} = %v, want 0", v)
	}
}

// serveSilentBroker replies to every MQTT CONNECT with a successful CONNACK and
// ignores every other packet.
func serveSilentBroker(l net.Listener, connects *atomic.Int32) {
	for {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer conn.Close()
			r := bufio.NewReader(conn)
			for {
				header, err := r.ReadByte()
				if err != nil {
					return
				}
				var size, shift int
				for {
					b, err := r.ReadByte()
					if err != nil {
						return
					}
					size |= int(b&0x7f) << shift
					shift += 7
					if b&0x80 == 0 {
						break
					}
				}
				if _, err := r.Discard(size); err != nil {
					return
				}
				if header>>4 == 1 { // CONNECT
					connects.Add(1)
					if _, err := conn.Write([]byte{0x20, 0x02, 0x00, 0x00}); err != nil {
						return
					}
				}
			}
		}()
	}
}

func TestForwarderWithoutUpstream(t *testing.T) {
	f, err := New(Options{Dir: t.TempDir(), Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	f.Start(t.Context())
	msgs := testMessages("offline", 5, 1)
	if err := f.Enqueue(msgs...); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	if d := f.Depth(); d != len(msgs) {
		t.Errorf("Depth() = %d, want %d", d, len(msgs))
	}
	if f.Connected() {
		t.Error("Connected() = true without an upstream URL")
	}

	if err := f.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if err := f.Enqueue(msgs[0]); !errors.Is(err, ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
	if v := counterValue(t, f, "hwtrack_outbox_oldest_age_seconds", ""); v != 0 {
		t.Errorf("oldest age after Close = %v, want 0", v)
	}
}

func TestForwarderEnqueueValidation(t *testing.T) {
	f, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer f.Close()

	good := testMessages("valid", 1, 1)[0]
	tests := []struct {
		name  string
		msg   Message
		field string
	}{
		{"missing id", Message{Topic: "trips/a", Payload: []byte("{}")}, "msgs[1].id"},
		{"missing topic", Message{ID: "x"}, "msgs[1].topic"},
		{"wildcard topic", Message{ID: "x", Topic: "deviations/+"}, "msgs[1].topic"},
		{"leading slash", Message{ID: "x", Topic: "/deviations/a"}, "msgs[1].topic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.Enqueue(good, tt.msg)
			var verr *model.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Enqueue = %v, want a *model.ValidationError", err)
			}
			if len(verr.Fields) != 1 || verr.Fields[0].Field != tt.field {
				t.Errorf("fields = %v, want one on %s", verr.Fields, tt.field)
			}
			if d := f.Depth(); d != 0 {
				t.Errorf("Depth() = %d after a rejected call, want 0", d)
			}
		})
	}
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"missing dir", Options{}, "dir"},
		{"bad scheme", Options{Dir: "x", URL: "http://127.0.0.1:1"}, "scheme"},
		{"no host", Options{Dir: "x", URL: "tcp://"}, "no host"},
		{"inflight too large", Options{Dir: "x", MaxInflight: 70000}, "max_inflight"},
		{"inflight negative", Options{Dir: "x", MaxInflight: -1}, "max_inflight"},
		{"reconnect max below min", Options{Dir: "x", MinReconnectDelay: time.Second, MaxReconnectDelay: time.Millisecond}, "reconnect"},
		{"wildcard prefix", Options{Dir: "x", TopicPrefix: "a/#"}, "topic_prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt  int
		low, top time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{4, 4 * time.Second, 8 * time.Second},
		{7, 30 * time.Second, 60 * time.Second},
		{50, 30 * time.Second, 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("attempt %d", tt.attempt), func(t *testing.T) {
			for range 200 {
				d := backoff(tt.attempt, time.Second, time.Minute)
				if d < tt.low || d > tt.top {
					t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tt.attempt, d, tt.low, tt.top)
				}
			}
		})
	}
}

func TestForwarderStartAfterCloseDoesNothing(t *testing.T) {
	f, err := New(Options{Dir: t.TempDir(), URL: "tcp://127.0.0.1:1"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f.Start(ctx)
	if f.cancel != nil {
		t.Error("Start after Close started the sender")
	}
}

// firstDifference returns the first index where got and want differ.
func firstDifference(got, want []string) int {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return i
		}
	}
	return min(len(got), len(want))
}
