package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
	"github.com/paulmach/orb"
)

func testFixes(n int, interval time.Duration) []model.Fix {
	route := orb.LineString{{120.0425, 28.8908}, {120.0525, 28.8908}, {120.0525, 28.9008}}
	fixes := DriveAlong(route, time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC), 40, interval)
	return fixes[:n]
}

func TestPublisherPlay(t *testing.T) {
	cases := []struct {
		name      string
		qos       byte
		batch     int
		fixes     int
		wantMsgs  int
		wantQoS   byte
		wantArray bool
	}{
		{name: "qos1 single fixes", qos: 1, batch: 1, fixes: 50, wantMsgs: 50, wantQoS: 1},
		{name: "qos1 batches of 8", qos: 1, batch: 8, fixes: 50, wantMsgs: 7, wantQoS: 1, wantArray: true},
		{name: "qos0 single fixes", qos: 0, batch: 1, fixes: 20, wantMsgs: 20, wantQoS: 0},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url, _, rec := startBroker(t)
			terminal := fmt.Sprintf("T%d", i)
			ctx := context.Background()
			pub, err := NewPublisher(ctx, PublisherConfig{
				Broker: url, Terminal: terminal, Password: "secret-secret-secret",
				QoS: tc.qos, BatchSize: tc.batch,
			})
			if err != nil {
				t.Fatalf("new publisher: %v", err)
			}
			defer pub.Close()

			fixes := testFixes(tc.fixes, time.Second)
			stats, err := pub.Play(ctx, fixes, 0)
			if err != nil {
				t.Fatalf("play: %v", err)
			}
			if stats.Published != tc.fixes {
				t.Errorf("published = %d, want %d", stats.Published, tc.fixes)
			}
			if stats.Acknowledged != tc.fixes {
				t.Errorf("acknowledged = %d, want %d", stats.Acknowledged, tc.fixes)
			}

			// QoS 0 has no acknowledgement, so wait for the broker to
			// process what was written.
			topic := "hwt/v1/" + terminal + "/fix"
			deadline := time.Now().Add(5 * time.Second)
			for len(rec.byTopic(topic)) < tc.wantMsgs && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			msgs := rec.byTopic(topic)
			if len(msgs) != tc.wantMsgs {
				t.Fatalf("broker received %d fix messages, want %d", len(msgs), tc.wantMsgs)
			}
			var got []model.FixJSON
			for _, m := range msgs {
				if m.qos != tc.wantQoS {
					t.Errorf("message qos = %d, want %d", m.qos, tc.wantQoS)
				}
				if m.client != terminal {
					t.Errorf("client id = %q, want %q", m.client, terminal)
				}
				got = append(got, decodeFixPayload(t, m.payload, tc.wantArray)...)
			}
			checkReceivedFixes(t, got, fixes, tc.batch > 1)
		})
	}
}

func decodeFixPayload(t *testing.T, payload []byte, array bool) []model.FixJSON {
	t.Helper()
	if array {
		var out []model.FixJSON
		if err := json.Unmarshal(payload, &out); err != nil {
			t.Fatalf("decode batch %s: %v", payload, err)
		}
		return out
	}
	var single model.FixJSON
	if err := json.Unmarshal(payload, &single); err != nil {
		t.Fatalf("decode fix %s: %v", payload, err)
	}
	return []model.FixJSON{single}
}

// checkReceivedFixes checks that got holds want in order, with +08:00
// times, consecutive sequence numbers and the expected source.
func checkReceivedFixes(t *testing.T, got []model.FixJSON, want []model.Fix, batched bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("received %d fixes, want %d", len(got), len(want))
	}
	wantSource := "realtime"
	if batched {
		wantSource = "batch"
	}
	for i := range got {
		ts, err := time.Parse(time.RFC3339Nano, got[i].Time)
		if err != nil {
			t.Fatalf("fix %d time %q: %v", i, got[i].Time, err)
		}
		if _, offset := ts.Zone(); offset != 8*3600 {
			t.Errorf("fix %d time %q: offset %d s, want +08:00", i, got[i].Time, offset)
		}
		if !ts.Equal(want[i].Time) {
			t.Errorf("fix %d time = %v, want %v (out of order?)", i, ts, want[i].Time)
		}
		if got[i].Lat != want[i].Lat || got[i].Lon != want[i].Lon {
			t.Errorf("fix %d position = %v,%v, want %v,%v", i, got[i].Lat, got[i].Lon, want[i].Lat, want[i].Lon)
		}
		if got[i].Seq == nil || *got[i].Seq != uint64(i+1) {
			t.Errorf("fix %d seq = %v, want %d", i, got[i].Seq, i+1)
		}
		if got[i].Source != wantSource {
			t.Errorf("fix %d source = %q, want %q", i, got[i].Source, wantSource)
		}
		if got[i].Speed == nil {
			t.Errorf("fix %d has no speed", i)
		}
	}
}

func TestPublisherPacing(t *testing.T) {
	url, _, _ := startBroker(t)
	ctx := context.Background()
	pub, err := NewPublisher(ctx, PublisherConfig{Broker: url, Terminal: "pace", QoS: 1})
	if err != nil {
		t.Fatalf("new publisher: %v", err)
	}
	defer pub.Close()

	// 11 fixes 1 s apart span 10 s of fix time; at speedup 20 that is
	// 500 ms of wall-clock time.
	stats, err := pub.Play(ctx, testFixes(11, time.Second), 20)
	if err != nil {
		t.Fatalf("play: %v", err)
	}
	if stats.Duration < 500*time.Millisecond {
		t.Errorf("play took %v, want at least 500ms", stats.Duration)
	}
}

func TestPublisherCountsRejections(t *testing.T) {
	url, server, _ := startBroker(t)
	ctx := context.Background()
	pub, err := NewPublisher(ctx, PublisherConfig{Broker: url, Terminal: "rej", QoS: 1})
	if err != nil {
		t.Fatalf("new publisher: %v", err)
	}
	defer pub.Close()

	// A notice that only lists dropped fields rejected nothing.
	dropped := `{"rejected":[],"dropped":[{"index":-1,"field":"alt","reason":"out_of_range","message":"alt -840 is outside -500..9000"}]}`
	if err := server.Publish("hwt/v1/rej/error", []byte(dropped), false, 1); err != nil {
		t.Fatalf("inline publish: %v", err)
	}
	for range 3 {
		if err := server.Publish("hwt/v1/rej/error", []byte(`{"reason":"invalid fix"}`), false, 1); err != nil {
			t.Fatalf("inline publish: %v", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for pub.Rejected() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := pub.Rejected(); got != 3 {
		t.Errorf("rejected = %d, want 3", got)
	}
}

func TestPublisherCloseTwice(t *testing.T) {
	url, _, rec := startBroker(t)
	pub, err := NewPublisher(context.Background(), PublisherConfig{Broker: url, Terminal: "twice", QoS: 1})
	if err != nil {
		t.Fatalf("new publisher: %v", err)
	}
	if err := pub.Close(); err != nil {
		t.Errorf("first close: %v", err)
	}
	if err := pub.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	status := rec.byTopic("hwt/v1/twice/status")
	if len(status) != 2 || string(status[0].payload) != `{"online":true}` || string(status[1].payload) != `{"online":false}` {
		t.Errorf("status messages = %+v, want online true then false", status)
	}
}

func TestPublisherConnectRefused(t *testing.T) {
	_, err := NewPublisher(context.Background(), PublisherConfig{
		Broker: "tcp://127.0.0.1:1", Terminal: "nobody", QoS: 1, ConnectTimeout: 2 * time.Second,
	})
	if err == nil {
		t.Fatal("connect to a closed port succeeded")
	}
}

func BenchmarkPublisherPlayQoS1(b *testing.B) {
	url, _, _ := startBroker(b)
	ctx := context.Background()
	pub, err := NewPublisher(ctx, PublisherConfig{Broker: url, Terminal: "bench", QoS: 1})
	if err != nil {
		b.Fatalf("new publisher: %v", err)
	}
	defer pub.Close()
	fixes := testFixes(200, time.Second)
	b.ResetTimer()
	for b.Loop() {
		if _, err := pub.Play(ctx, fixes, 0); err != nil {
			b.Fatalf("play: %v", err)
		}
	}
	b.ReportMetric(float64(b.N*len(fixes))/b.Elapsed().Seconds(), "fixes/s")
}

func TestOnlyDropped(t *testing.T) {
	cases := []struct {
		notice string
		want   bool
	}{
		{`{"rejected":[],"dropped":[{"index":-1,"field":"alt"}]}`, true},
		{`{"rejected":[{"index":0,"field":"lat"}],"dropped":[{"index":1,"field":"alt"}]}`, false},
		{`{"rejected":[{"index":0,"field":"lat"}]}`, false},
		{`{"rejected":[]}`, false},
		{`{"reason":"invalid fix"}`, false},
		{`not json`, false},
	}
	for _, c := range cases {
		if got := onlyDropped([]byte(c.notice)); got != c.want {
			t.Errorf("onlyDropped(%s) = %v, want %v", c.notice, got, c.want)
		}
	}
}
