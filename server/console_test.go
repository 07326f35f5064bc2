package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/internal/testenv"
)

// sseEvent is one Server-Sent Event read from the live feed.
type sseEvent struct {
	name string
	data string
	at   time.Time
}

// readSSE parses the event stream in body into events until it ends.
func readSSE(body io.Reader, events chan<- sseEvent) {
	defer close(events)
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" {
				ev.at = time.Now()
				events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// consoleClient is a browser-like client: a cookie jar and the CSRF token.
type consoleClient struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func (c *consoleClient) do(method, path, body string, wantStatus int, out any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
}

func TestConsoleLiveFeedToRegulator(t *testing.T) {
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	reg := subscribeRegulator(t, mq.URL())

	cfg := testConfig(t.TempDir(), mq.URL())
	cfg.Console.InsecureCookies = true
	var adminUser, adminPassword string
	srv, err := startServerWith(t, cfg, func(user, password string) { adminUser, adminPassword = user, password })
	if err != nil {
		t.Fatal(err)
	}
	if adminUser != "admin" || len(adminPassword) < 10 {
		t.Fatalf("first admin = %q with a %d-character password, want admin with a random password", adminUser, len(adminPassword))
	}

	const terminal = "013300784501"
	const vehicleSecret = "console-vehicle-secret-0123456789"
	apiPost(t, srv, "/api/v1/vehicles", `{"terminal":"`+terminal+`","plate":"浙G·C0501","password":"`+vehicleSecret+`"}`, 201, nil)

	// Sign in as the console does.
	jar, _ := cookiejar.New(nil)
	cc := &consoleClient{t: t, base: "http://" + srv.HTTPAddr().String(), http: &http.Client{Jar: jar}}
	var sess struct {
		User struct {
			Username string `json:"username"`
			Role     string `json:"role"`
		} `json:"user"`
		CSRFToken string `json:"csrf_token"`
	}
	cc.do("POST", "/api/v1/session", `{"username":"admin","password":"`+adminPassword+`"}`, 200, &sess)
	if sess.User.Role != "admin" || sess.CSRFToken == "" {
		t.Fatalf("session = %+v, want role admin and a CSRF token", sess)
	}
	cc.csrf = sess.CSRFToken

	// Open the live feed with the session cookie.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", cc.base+"/api/v1/live", nil)
	resp, err := cc.http.Do(req)
	if err != nil {
		t.Fatalf("open live feed: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("live feed: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan sseEvent, 256)
	go readSSE(resp.Body, events)

	// A vehicle publishes fixes over MQTT: first outside, then inside the
	// Taiping reservoir protection zone (a 1200 m circle in the sample
	// zones), spanning more than the 30 s persistence.
	opts := paho.NewClientOptions().AddBroker("tcp://" + srv.MQTTAddr().String()).
		SetClientID(terminal).SetUsername(terminal).SetPassword(vehicleSecret)
	vehicle := paho.NewClient(opts)
	if tok := vehicle.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("vehicle connect: %v", tok.Error())
	}
	defer vehicle.Disconnect(100)
	online := waitEvent(t, events, "vehicle", 5*time.Second)
	if online.data != `{"terminal":"`+terminal+`","online":true}` {
		t.Errorf("vehicle event = %s, want %s online", online.data, terminal)
	}
	base := time.Now().Add(-3 * time.Minute).Truncate(time.Second)
	publish := func(i int, lat, lon float64) time.Time {
		t.Helper()
		payload := fmt.Sprintf(`{"time":%d,"lat":%f,"lon":%f,"speed":30,"seq":%d}`, base.Add(time.Duration(i)*20*time.Second).UnixMilli(), lat, lon, i+100)
		tok := vehicle.Publish("hwt/v1/"+terminal+"/fix", 1, false, payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish fix %d: %v", i, tok.Error())
		}
		return time.Now()
	}

	publish(0, 28.90, 119.93)
	position := waitEvent(t, events, "position", 5*time.Second)
	var pos struct {
		Terminal string  `json:"terminal"`
		Plate    string  `json:"plate"`
		Lat      float64 `json:"lat"`
	}
	if err := json.Unmarshal([]byte(position.data), &pos); err != nil || pos.Terminal != terminal || pos.Plate != "浙G·C0501" || pos.Lat != 28.90 {
		t.Errorf("position event = %s (%v), want the published fix of %s", position.data, err, terminal)
	}

	var deviation sseEvent
	var lastPublish time.Time
	for i := 1; i <= 6 && deviation.name == ""; i++ {
		lastPublish = publish(i, 28.86, 119.93)
		deviation = tryEvent(events, "deviation", 2*time.Second)
	}
	if deviation.name == "" {
		t.Fatal("no deviation event after six fixes inside the restricted zone")
	}
	if lag := deviation.at.Sub(lastPublish); lag > 2*time.Second {
		t.Errorf("deviation event arrived %s after the fix that caused it, want within 2 s", lag)
	}
	var dev struct {
		ID       string `json:"id"`
		Kind     string `json:"kind"`
		Terminal string `json:"terminal"`
		Handling struct {
			Status string `json:"status"`
		} `json:"handling"`
	}
	if err := json.Unmarshal([]byte(deviation.data), &dev); err != nil {
		t.Fatalf("deviation event %s: %v", deviation.data, err)
	}
	if dev.Kind != "restricted_zone" || dev.Terminal != terminal || dev.Handling.Status != "new" {
		t.Errorf("deviation event = %+v, want a new restricted_zone episode of %s", dev, terminal)
	}

	// A late fix, older than the newest, must not move the live marker.
	// Events still queued from the fixes before are read first.
	for tryEvent(events, "position", 300*time.Millisecond).name != "" {
	}
	publish(-5, 28.95, 119.90)
	if ev := tryEvent(events, "position", 700*time.Millisecond); ev.name != "" {
		t.Errorf("late fix produced a position event: %s", ev.data)
	}

	// Acknowledge and handle it; each action is audited and forwarded.
	cc.do("POST", "/api/v1/deviations/"+dev.ID+"/ack", `{"comment":"正在核实"}`, 200, nil)
	var handled struct {
		Handling struct {
			Status    string `json:"status"`
			AckedBy   string `json:"acked_by"`
			HandledBy string `json:"handled_by"`
			Result    string `json:"result"`
		} `json:"handling"`
	}
	cc.do("POST", "/api/v1/deviations/"+dev.ID+"/handle", `{"comment":"已联系驾驶员","result":"已核实"}`, 200, &handled)
	if handled.Handling.Status != "handled" || handled.Handling.AckedBy != "admin" || handled.Handling.HandledBy != "admin" || handled.Handling.Result != "已核实" {
		t.Errorf("handled deviation = %+v", handled.Handling)
	}
	if ev := waitEvent(t, events, "deviation", 2*time.Second); !strings.Contains(ev.data, `"acknowledged"`) && !strings.Contains(ev.data, `"handled"`) {
		t.Errorf("live deviation event after ack = %s, want the updated handling", ev.data)
	}

	var audit struct {
		Entries []struct {
			User   string `json:"user"`
			Action string `json:"action"`
			Target string `json:"target"`
		} `json:"entries"`
	}
	cc.do("GET", "/api/v1/audit", "", 200, &audit)
	actions := map[string]string{}
	for _, e := range audit.Entries {
		actions[e.Action] = e.User + " " + e.Target
	}
	for action, want := range map[string]string{
		"deviation_ack":    "admin " + dev.ID,
		"deviation_handle": "admin " + dev.ID,
		"login":            "admin admin",
		"vehicle_register": "api_token " + terminal,
	} {
		got, ok := actions[action]
		if !ok {
			t.Errorf("audit log has no %s entry: %+v", action, audit.Entries)
			continue
		}
		if got != want {
			t.Errorf("audit %s = %q, want %q", action, got, want)
		}
	}

	waitFor(t, 10*time.Second, "both handling records at the regulator broker", func() bool {
		ids := map[string]bool{}
		for _, m := range reg.messages() {
			if strings.HasPrefix(m.Topic, "hwt/regulator/v1/handling/"+terminal) {
				ids[m.ID] = true
			}
		}
		return ids[dev.ID+":ack"] && ids[dev.ID+":handled"]
	})

	// Logout ends the session on the server.
	cc.do("DELETE", "/api/v1/session", "", 204, nil)
	cc.do("GET", "/api/v1/session", "", 401, nil)
}

// waitEvent returns the next event named name, skipping others, or fails.
func waitEvent(t *testing.T, events <-chan sseEvent, name string, timeout time.Duration) sseEvent {
	t.Helper()
	ev := tryEvent(events, name, timeout)
	if ev.name == "" {
		t.Fatalf("no %s event within %s", name, timeout)
	}
	return ev
}

// tryEvent returns the next event named name within timeout, or a zero
// event.
func tryEvent(events <-chan sseEvent, name string, timeout time.Duration) sseEvent {
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return sseEvent{}
			}
			if ev.name == name {
				return ev
			}
		case <-deadline:
			return sseEvent{}
		}
	}
}
