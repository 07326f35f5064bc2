package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// chromiumPath is Debian's chromium package (apt-get install chromium).
const chromiumPath = "/usr/bin/chromium"

// The sample vehicle the browser test drives. Its planned route runs east
// along latitude 28.88 in Yongkang, far from the sample zones.
const (
	testTerminal = "013300799001"
	testPlate    = "浙G·T9001"
	testPassword = "browser-test-vehicle-secret-01"
	routeLat     = 28.88
	routeLon0    = 120.05
	// lonPer100m is 100 m of longitude at latitude 28.88.
	lonPer100m = 0.001026
	// latPer100m is 100 m of latitude.
	latPer100m = 0.000899
)

// consoleEnv is a running server as the browser test uses it.
type consoleEnv struct {
	baseURL  string // http://127.0.0.1:PORT
	mqttAddr string // 127.0.0.1:PORT of the embedded broker
	token    string // admin API bearer token
	// handling receives the payloads forwarded on {prefix}/handling/#.
	handling <-chan []byte
}

// apiCall sends a bearer-token request to the server's API and decodes a
// JSON response into out when out is not nil.
func (e *consoleEnv) apiCall(t *testing.T, method, path string, body, out any) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.baseURL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: status %d: %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// seedFleet creates the console users, the test vehicle, a booking and a
// trip along the planned route, all through the API as an operator would.
func seedFleet(t *testing.T, env *consoleEnv) (tripID, manifestNo string) {
	t.Helper()
	for _, u := range []map[string]string{
		{"username": "regulator", "password": "regulator-sample-password-1", "role": "regulator", "display_name": "监管员小王"},
		{"username": "dispatcher", "password": "dispatcher-sample-password-1", "role": "dispatcher", "display_name": "调度员小李"},
	} {
		env.apiCall(t, http.MethodPost, "/api/v1/users", u, nil)
	}
	env.apiCall(t, http.MethodPost, "/api/v1/vehicles",
		map[string]string{"terminal": testTerminal, "plate": testPlate, "password": testPassword}, nil)

	manifestNo = "20263307009001"
	var booking struct{ ID string }
	env.apiCall(t, http.MethodPost, "/api/v1/bookings", map[string]any{
		"manifest_no": manifestNo,
		"shipper":     map[string]any{"name": "永康市测试五金厂（示例）", "credit_code": "91330784MA28T0001X", "lat": routeLat, "lon": routeLon0},
		"wastes": []map[string]any{
			{"code": "900-006-09", "name": "废乳化液", "form": "液态", "hazard": "T", "packaging": "200L铁桶", "count": 3, "weight_kg": 540.5},
		},
	}, &booking)

	now := time.Now()
	var trip struct{ ID string }
	env.apiCall(t, http.MethodPost, "/api/v1/trips", map[string]any{
		"terminal": testTerminal, "driver": "测试司机", "escort": "测试押运",
		"route": map[string]any{"type": "LineString", "coordinates": [][2]float64{
			{routeLon0, routeLat}, {routeLon0 + 30*lonPer100m, routeLat}}},
		"corridor_m":    100,
		"bookings":      []string{booking.ID},
		"planned_start": now.Add(-30 * time.Minute).Format(time.RFC3339),
		"planned_end":   now.Add(2 * time.Hour).Format(time.RFC3339),
	}, &trip)
	return trip.ID, manifestNo
}

// vehicleClient connects to the embedded broker as the test vehicle.
func vehicleClient(t *testing.T, env *consoleEnv) paho.Client {
	t.Helper()
	return connectVehicle(t, env, testTerminal, testPassword)
}

// connectVehicle connects to the embedded broker as a registered vehicle,
// with its terminal id as client id.
func connectVehicle(t *testing.T, env *consoleEnv, terminal, password string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + env.mqttAddr).
		SetClientID(terminal).SetUsername(terminal).SetPassword(password).
		SetAutoReconnect(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("vehicle %s connect: %v", terminal, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

type testFix struct {
	Time  string  `json:"time"`
	Lat   float64 `json:"lat"`
	Lon   float64 `json:"lon"`
	Speed float64 `json:"speed"`
	Seq   int     `json:"seq"`
}

func publishFix(t *testing.T, c paho.Client, f testFix) {
	t.Helper()
	b, _ := json.Marshal(f)
	tok := c.Publish("hwt/v1/"+testTerminal+"/fix", 1, false, b)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish fix %d: %v", f.Seq, tok.Error())
	}
}

// browser starts headless Chromium with every request that does not go to
// the server failed by fetch interception. It returns the tab's context and
// a function that lists the requests to other hosts. extra adds Chromium
// options, such as webrtcFlags.
func browser(t *testing.T, env *consoleEnv, extra ...chromedp.ExecAllocatorOption) (context.Context, func() []string) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("chromium is not installed at %s (apt-get install chromium): %v", chromiumPath, err)
	}
	options := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("lang", "zh-CN"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(options, extra...)...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	server, err := url.Parse(env.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var foreign []string
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			u, perr := url.Parse(ev.Request.URL)
			if perr == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host == server.Host {
				chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			mu.Lock()
			foreign = append(foreign, ev.Request.URL)
			mu.Unlock()
			chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	}()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*"}}}); err != nil {
		t.Fatalf("enable fetch interception: %v", err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), foreign...)
	}
}

// artifactDir is $HWTRACK_TEST_ARTIFACTS, or artifacts/ beside this test.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("HWTRACK_TEST_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create artifact directory: %v", err)
	}
	return dir
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(artifactDir(t), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("save screenshot: %v", err)
		return
	}
	t.Logf("screenshot saved to %s", path)
}

// within runs steps with a deadline, so a missing element fails the test
// with a message instead of hanging until the test binary times out.
func within(ctx context.Context, d time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
	c, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return chromedp.Do(c, steps...)
}

// evaluateStep runs a JavaScript expression that returns a boolean as a
// step of within, discarding the value.
func evaluateStep(expression string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](expression)(ctx, target)
		return chromedp.Void{}, err
	}
}

func markerPosition(t *testing.T, ctx context.Context) [2]float64 {
	t.Helper()
	pos, err := chromedp.Run(ctx, chromedp.Evaluate[[2]float64](fmt.Sprintf(
		`(() => { const r = document.querySelector('.veh[data-terminal=%q]').getBoundingClientRect(); return [r.x, r.y]; })()`,
		testTerminal)))
	if err != nil {
		t.Fatalf("read marker position: %v", err)
	}
	return pos
}

func TestConsoleInBrowser(t *testing.T) {
	env := startConsole(t)
	tripID, manifestNo := seedFleet(t, env)
	ctx, foreignRequests := browser(t, env)
	vehicle := vehicleClient(t, env)

	// Fix times start two minutes ago, 10 s apart, at 36 km/h (100 m per
	// fix), so the whole drive is in the past and the playback range below
	// covers it.
	base := time.Now().Add(-2 * time.Minute).Truncate(time.Second)
	seq := 0
	onRoute := func(step int) testFix {
		seq++
		return testFix{Time: base.Add(time.Duration(step) * 10 * time.Second).Format(time.RFC3339),
			Lat: routeLat, Lon: routeLon0 + float64(step)*lonPer100m, Speed: 36, Seq: seq}
	}

	t.Run("login", func(t *testing.T) {
		err := within(ctx, 15*time.Second,
			chromedp.Navigate(env.baseURL+"/"),
			chromedp.WaitVisible(chromedp.ID("login-form")))
		if err != nil {
			t.Fatalf("login form did not appear: %v", err)
		}
		title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#login-form h1")))
		if err != nil {
			t.Fatal(err)
		}
		if title != "危险废物运输监管平台" {
			t.Errorf("login title %q, want the Simplified Chinese default", title)
		}
		err = within(ctx, 15*time.Second,
			chromedp.SendKeys(chromedp.ID("login-username"), "regulator"),
			chromedp.SendKeys(chromedp.ID("login-password"), "regulator-sample-password-1"),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #map`)))
		if err != nil {
			t.Fatalf("console did not open after sign-in: %v", err)
		}
		user, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("current-user")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(user, "监管员小王") {
			t.Errorf("signed-in user shows %q, want the display name 监管员小王", user)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	marker := fmt.Sprintf(`.veh[data-terminal=%q]`, testTerminal)
	t.Run("vehicle appears and moves", func(t *testing.T) {
		publishFix(t, vehicle, onRoute(0))
		if err := within(ctx, 5*time.Second, chromedp.WaitVisible(chromedp.CSS(marker))); err != nil {
			t.Fatalf("vehicle marker did not appear: %v", err)
		}
		first := markerPosition(t, ctx)
		for step := 1; step <= 3; step++ {
			publishFix(t, vehicle, onRoute(step))
		}
		moved := fmt.Sprintf(`(() => { const r = document.querySelector('.veh[data-terminal=%q]').getBoundingClientRect(); return r.x > %f + 5; })()`,
			testTerminal, first[0])
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](moved, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Fatalf("marker did not move east from x=%.0f: %v", first[0], err)
		}
		status, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(marker), "data-status"))
		if err != nil {
			t.Fatal(err)
		}
		if status.Value != "on_trip" {
			t.Errorf("marker status %q, want on_trip", status.Value)
		}
	})

	t.Run("vehicle details", func(t *testing.T) {
		err := within(ctx, 5*time.Second,
			chromedp.Click(chromedp.CSS(marker+" .veh-dot")),
			chromedp.WaitVisible(chromedp.CSS("#details-driver")))
		if err != nil {
			t.Fatalf("details did not open: %v", err)
		}
		for sel, want := range map[string]string{
			"#details-plate":   testPlate,
			"#details-driver":  "测试司机",
			"#details-escort":  "测试押运",
			".manifest-no":     manifestNo,
			".waste-code":      "900-006-09",
			"#details-trip dd": tripID,
		} {
			got, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
			if err != nil {
				t.Errorf("%s: %v", sel, err)
				continue
			}
			if got != want {
				t.Errorf("%s shows %q, want %q", sel, got, want)
			}
		}
		if err := within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(".details-head button"))); err != nil {
			t.Errorf("close details: %v", err)
		}
	})

	var deviationID string
	t.Run("deviation within 2 s", func(t *testing.T) {
		// The truck turns 200 m north of the route, outside the 50 m half
		// corridor, and keeps going east. The rules open the episode once it
		// has stayed out for the persistence time. The loop finds the fix
		// that opens it and checks how soon the alarm shows after that fix.
		alarm := fmt.Sprintf(`.alarm[data-kind="route_deviation"][data-terminal=%q]`, testTerminal)
		alarmShown := false
		for step := 4; step <= 12 && !alarmShown; step++ {
			f := onRoute(step)
			f.Lat += 2 * latPer100m
			if step == 4 {
				f.Speed = 80 // 224 m diagonally in 10 s
			}
			publishFix(t, vehicle, f)
			alarmShown = within(ctx, 2500*time.Millisecond, chromedp.WaitVisible(chromedp.CSS(alarm))) == nil
		}
		if !alarmShown {
			screenshot(t, ctx, "deviation-missing.png")
			t.Fatalf("no route deviation alarm appeared after any off-route fix")
		}
		attrs, err := chromedp.Run(ctx, chromedp.Attributes(chromedp.CSS(alarm)))
		if err != nil {
			t.Fatal(err)
		}
		deviationID = attrs["data-id"]

		var list struct {
			Deviations []struct {
				ID         string     `json:"id"`
				ReceivedAt *time.Time `json:"received_at"`
			} `json:"deviations"`
		}
		env.apiCall(t, http.MethodGet, "/api/v1/deviations?terminal="+testTerminal+"&kind=route_deviation", nil, &list)
		if len(list.Deviations) == 0 || list.Deviations[0].ID != deviationID {
			t.Fatalf("API deviations %+v, want %s first", list.Deviations, deviationID)
		}
		// The panel stamps each alarm with the browser's clock when it first
		// lists it, and the server stamps the deciding fix with its receive
		// time. Both run on this machine, so they compare directly.
		shownAtMs, err := strconv.ParseInt(attrs["data-shown-at"], 10, 64)
		if err != nil {
			t.Fatalf("alarm has no valid data-shown-at: %v", err)
		}
		if rx := list.Deviations[0].ReceivedAt; rx == nil {
			t.Errorf("deviation %s has no received_at, so the alarm latency cannot be checked", deviationID)
		} else if lag := time.UnixMilli(shownAtMs).Sub(*rx); lag > 2*time.Second {
			t.Errorf("alarm appeared %v after the deciding fix reached the server, want at most 2 s", lag)
		} else {
			t.Logf("alarm appeared %v after the deciding fix reached the server", lag)
		}
		toned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`Boolean(document.body.dataset.lastAlarmTone)`))
		if err != nil || !toned {
			t.Errorf("no alarm tone was played through Web Audio (err %v)", err)
		}
		highlighted, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
			`document.querySelector('.alarm[data-id="`+deviationID+`"]').classList.contains('alarm-highlight')`))
		if err != nil || !highlighted {
			t.Errorf("new alarm is not highlighted (err %v)", err)
		}
		status, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(marker), "data-status"))
		if err != nil || status.Value != "deviation" {
			t.Errorf("marker status %q (err %v), want deviation", status.Value, err)
		}
		screenshot(t, ctx, "live-map-alarm.png")
	})
	if deviationID == "" {
		t.FailNow()
	}

	t.Run("acknowledge is audited and forwarded", func(t *testing.T) {
		item := fmt.Sprintf(`.alarm[data-id=%q]`, deviationID)
		err := within(ctx, 5*time.Second,
			chromedp.Click(chromedp.CSS(item+" .ack-button")),
			chromedp.SendKeys(chromedp.CSS(item+" .comment-input"), "已电话联系驾驶员"),
			chromedp.Click(chromedp.CSS(item+" .confirm-button")),
			chromedp.WaitVisible(chromedp.CSS(item+" .handling-tag.handling-acknowledged")))
		if err != nil {
			t.Fatalf("acknowledge did not show: %v", err)
		}

		var audit struct {
			Entries []struct {
				User   string `json:"user"`
				Role   string `json:"role"`
				Action string `json:"action"`
				Target string `json:"target"`
			} `json:"entries"`
		}
		// NOTE: the server appends the audit entry after it has written the
		// response, so the entry may lag the acknowledgement by a moment.
		found := false
		for deadline := time.Now().Add(2 * time.Second); !found && time.Now().Before(deadline); {
			env.apiCall(t, http.MethodGet, "/api/v1/audit", nil, &audit)
			for _, e := range audit.Entries {
				if e.Action == "deviation_ack" && strings.Contains(e.Target, deviationID) {
					found = true
					if e.User != "regulator" || e.Role != "regulator" {
						t.Errorf("audit entry user %q role %q, want regulator", e.User, e.Role)
					}
				}
			}
			if !found {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !found {
			t.Errorf("audit log has no deviation_ack entry for %s: %+v", deviationID, audit.Entries)
		}

		err = within(ctx, 5*time.Second,
			chromedp.Navigate(env.baseURL+"/#audit"),
			chromedp.WaitVisible(chromedp.CSS(`.audit-row[data-action="deviation_ack"]`)))
		if err != nil {
			t.Errorf("audit view does not list the acknowledgement: %v", err)
		}
		screenshot(t, ctx, "audit.png")

		if env.handling != nil {
			select {
			case msg := <-env.handling:
				if !bytes.Contains(msg, []byte(deviationID)) {
					t.Errorf("forwarded handling record %s does not name %s", msg, deviationID)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("no handling record reached the regulator broker")
			}
		}
	})

	t.Run("handle with result", func(t *testing.T) {
		item := fmt.Sprintf(`.alarm[data-id=%q]`, deviationID)
		err := within(ctx, 10*time.Second,
			chromedp.Navigate(env.baseURL+"/#live"),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] `+item+` .handle-button`)),
			chromedp.Click(chromedp.CSS(item+" .handle-button")),
			chromedp.SendKeys(chromedp.CSS(item+" .result-input"), "已核实"),
			chromedp.SendKeys(chromedp.CSS(item+" .comment-input"), "驾驶员绕行施工路段"),
			chromedp.Click(chromedp.CSS(item+" .confirm-button")),
			chromedp.WaitVisible(chromedp.CSS(item+" .handling-tag.handling-handled")))
		if err != nil {
			t.Fatalf("handling did not show: %v", err)
		}
		note, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(item+" .alarm-handling")))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(note, "已核实") {
			t.Errorf("handling note %q does not show the result 已核实", note)
		}
		if env.handling != nil {
			select {
			case msg := <-env.handling:
				if !bytes.Contains(msg, []byte(deviationID+":handled")) {
					t.Errorf("forwarded handling record %s is not %s:handled", msg, deviationID)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("no handled record reached the regulator broker")
			}
		}
	})

	t.Run("english is remembered", func(t *testing.T) {
		err := within(ctx, 10*time.Second,
			chromedp.SetValue(chromedp.CSS("#app-view .lang-select"), "en"),
			evaluateStep(`document.querySelector('#app-view .lang-select').dispatchEvent(new Event('change'))`),
			chromedp.Reload(),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #alarm-list`)))
		if err != nil {
			t.Fatal(err)
		}
		title, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#app-view h1")))
		if err != nil {
			t.Fatal(err)
		}
		if title != "Hazardous Waste Transport Supervision" {
			t.Errorf("title after switching to English and reloading is %q", title)
		}
		err = within(ctx, 5*time.Second,
			chromedp.SetValue(chromedp.CSS("#app-view .lang-select"), "zh-CN"),
			evaluateStep(`document.querySelector('#app-view .lang-select').dispatchEvent(new Event('change'))`))
		if err != nil {
			t.Fatal(err)
		}
		chinese := `document.querySelector('#app-view h1').textContent === "危险废物运输监管平台"`
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](chinese, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Errorf("title did not switch back to Chinese: %v", err)
		}
	})

	t.Run("playback runs", func(t *testing.T) {
		err := within(ctx, 10*time.Second,
			chromedp.Navigate(env.baseURL+"/#playback"),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #playback-form`)),
			chromedp.SetValue(chromedp.ID("playback-vehicle"), testTerminal),
			chromedp.Click(chromedp.ID("playback-load")),
			chromedp.WaitVisible(chromedp.CSS("#playback-play:not([disabled])")),
			chromedp.WaitVisible(chromedp.CSS(".timeline-mark.kind-route_deviation")))
		if err != nil {
			t.Fatalf("playback did not load the track with its deviation: %v", err)
		}
		start, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("playback-clock"), "data-ms"))
		if err != nil {
			t.Fatal(err)
		}
		if err := within(ctx, 5*time.Second, chromedp.Click(chromedp.ID("playback-play"))); err != nil {
			t.Fatal(err)
		}
		advanced := `Number(document.getElementById('playback-clock').dataset.ms) > ` + start.Value + ` + 5000`
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](advanced, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Errorf("playback clock did not advance 5 s of track time from %s: %v", start.Value, err)
		}
		screenshot(t, ctx, "playback.png")
	})

	t.Run("dispatcher imports edits and deletes zones", func(t *testing.T) {
		err := within(ctx, 10*time.Second,
			chromedp.Navigate(env.baseURL+"/#live"),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #logout`)),
			chromedp.Click(chromedp.ID("logout")),
			chromedp.WaitVisible(chromedp.ID("login-form")),
			chromedp.SendKeys(chromedp.ID("login-username"), "dispatcher"),
			chromedp.SendKeys(chromedp.ID("login-password"), "dispatcher-sample-password-1"),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #map`)),
			chromedp.Navigate(env.baseURL+"/#zones"),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #zone-tools`)))
		if err != nil {
			t.Fatalf("dispatcher could not open the zones view: %v", err)
		}

		geojson := `{"type":"FeatureCollection","features":[
			{"type":"Feature","geometry":{"type":"Polygon","coordinates":[[[120.20,28.95],[120.21,28.95],[120.21,28.96],[120.20,28.95]]]},
			 "properties":{"name":"测试导入禁区","kind":"restricted"}},
			{"type":"Feature","geometry":{"type":"Point","coordinates":[120.22,28.97]},
			 "properties":{"name":"测试导入场站","kind":"site","radius_m":150}}]}`
		file := filepath.Join(t.TempDir(), "zones.geojson")
		if err := os.WriteFile(file, []byte(geojson), 0o644); err != nil {
			t.Fatal(err)
		}
		imported := `//li[contains(@class,"zone-item")][.//button[text()="测试导入禁区"]]`
		err = within(ctx, 10*time.Second,
			chromedp.SetUploadFiles(chromedp.ID("zone-import"), []string{file}),
			chromedp.WaitVisible(imported),
			chromedp.WaitVisible(`//li[contains(@class,"zone-item")][.//button[text()="测试导入场站"]]`))
		if err != nil {
			t.Fatalf("imported zones are not listed: %v", err)
		}

		err = within(ctx, 10*time.Second,
			chromedp.Click(imported+`//button[text()="编辑"]`),
			chromedp.WaitVisible(chromedp.ID("zone-form")),
			chromedp.SetValue(chromedp.ID("zone-name"), "测试改名禁区"),
			chromedp.Click(chromedp.CSS(`#zone-form button[type="submit"]`)),
			chromedp.WaitVisible(`//li[contains(@class,"zone-item")][.//button[text()="测试改名禁区"]]`))
		if err != nil {
			t.Fatalf("edited zone is not listed under its new name: %v", err)
		}

		// window.confirm would block the headless page, so accept it.
		renamed := `//li[contains(@class,"zone-item")][.//button[text()="测试改名禁区"]]`
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)); err != nil {
			t.Fatal(err)
		}
		err = within(ctx, 10*time.Second,
			chromedp.Click(renamed+`//button[text()="删除"]`),
			chromedp.WaitNotPresent(renamed))
		if err != nil {
			t.Fatalf("deleted zone is still listed: %v", err)
		}

		var zones struct {
			Zones []struct {
				Name string `json:"name"`
				Kind string `json:"kind"`
			} `json:"zones"`
		}
		env.apiCall(t, http.MethodGet, "/api/v1/zones", nil, &zones)
		names := map[string]string{}
		for _, z := range zones.Zones {
			names[z.Name] = z.Kind
		}
		if names["测试导入场站"] != "site" {
			t.Errorf("imported site zone missing from the API: %v", names)
		}
		for _, oldName := range []string{"测试导入禁区", "测试改名禁区"} {
			if _, ok := names[oldName]; ok {
				t.Errorf("zone %q should be renamed or deleted, API still lists it", oldName)
			}
		}
		screenshot(t, ctx, "zones.png")
	})

	t.Run("layout fits laptop and wall display", func(t *testing.T) {
		if err := within(ctx, 10*time.Second,
			chromedp.Navigate(env.baseURL+"/#live"),
			chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #alarm-list`))); err != nil {
			t.Fatal(err)
		}
		for _, size := range [][2]int64{{1366, 768}, {3840, 2160}} {
			if err := within(ctx, 5*time.Second, chromedp.EmulateViewport(size[0], size[1])); err != nil {
				t.Fatal(err)
			}
			// The page must not scroll sideways, and the map and the alarm
			// panel must both be on screen side by side.
			layout, err := chromedp.Run(ctx, chromedp.Evaluate[[4]float64](`(() => {
				const m = document.getElementById('map').getBoundingClientRect();
				const a = document.getElementById('alarm-list').getBoundingClientRect();
				return [document.documentElement.scrollWidth, m.width, m.height, a.left];
			})()`))
			if err != nil {
				t.Fatal(err)
			}
			if layout[0] > float64(size[0]) {
				t.Errorf("%dx%d: page is %v px wide and scrolls sideways", size[0], size[1], layout[0])
			}
			if layout[1] < float64(size[0])/2 || layout[2] < float64(size[1])/2 {
				t.Errorf("%dx%d: map is only %vx%v px", size[0], size[1], layout[1], layout[2])
			}
			if layout[3] < layout[1] || layout[3] >= float64(size[0]) {
				t.Errorf("%dx%d: alarm panel starts at x=%v, want right of the %v px map", size[0], size[1], layout[3], layout[1])
			}
		}
		screenshot(t, ctx, "wall-display.png")
		if err := within(ctx, 5*time.Second, chromedp.EmulateViewport(1366, 768)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("no request leaves the server", func(t *testing.T) {
		if got := foreignRequests(); len(got) > 0 {
			t.Errorf("the page requested hosts other than the server (blocked): %v", got)
		}
		// Check the guard itself: a navigation to another loopback port
		// must be seen and failed by the interception, so nothing is sent.
		probe := "http://127.0.0.1:1/interception-probe"
		err := within(ctx, 10*time.Second, chromedp.Navigate(probe))
		if err == nil {
			t.Errorf("navigation to %s succeeded; the interception did not block it", probe)
		}
		if got := foreignRequests(); !slices.Contains(got, probe) {
			t.Errorf("the interception did not record %s: %v", probe, got)
		}
	})
}
