package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/simulator"
	"github.com/hwtrack/hwtrack/video"
)

// Vehicles of the camera test: one with a simulated camera, and one that
// is online but ignores every start command.
const (
	cameraTerminal = "013300799101"
	cameraPassword = "browser-test-camera-secret-0101"
	silentTerminal = "013300799102"
	silentPassword = "browser-test-camera-secret-0102"
)

// webrtcFlags let Chromium use loopback candidates, the only ones the
// relay offers in these tests. Without mDNS hiding, Chromium also sends no
// multicast announcements for its host candidates.
func webrtcFlags() []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
	}
}

// loopbackVideo puts the relay on a free loopback UDP port, without ICE
// over TCP, with short timeouts so the failure cases end quickly.
func loopbackVideo(cfg *config.Config) {
	cfg.Video.UDPAddr = "127.0.0.1:0"
	cfg.Video.TCPAddr = ""
	cfg.Video.StartTimeout = config.Duration(3 * time.Second)
	cfg.Video.StopGrace = config.Duration(time.Second)
}

// testClip returns the simulator's built-in clip, ffmpeg's test pattern
// as 320x240 H.264, the one the demo's trucks play.
func testClip(t *testing.T) *simulator.Clip {
	t.Helper()
	clip, err := simulator.SampleClip()
	if err != nil {
		t.Fatalf("load the built-in clip: %v", err)
	}
	return clip
}

// publishPosition sends one fix for a vehicle, so its marker shows.
func publishPosition(t *testing.T, c paho.Client, terminal string, lat, lon float64) {
	t.Helper()
	b, _ := json.Marshal(testFix{Time: time.Now().Format(time.RFC3339), Lat: lat, Lon: lon, Speed: 0, Seq: 1})
	tok := c.Publish("hwt/v1/"+terminal+"/fix", 1, false, b)
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publish fix of %s: %v", terminal, tok.Error())
	}
}

// signIn opens the console and signs in, waiting until it is ready.
func signIn(ctx context.Context, baseURL, username, password string) error {
	return within(ctx, 20*time.Second,
		chromedp.Navigate(baseURL+"/"),
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.ID("login-username"), username),
		chromedp.SendKeys(chromedp.ID("login-password"), password),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="true"] #map`)))
}

// openCameras clicks a vehicle's marker and waits for its camera panel to
// list the channels.
func openCameras(ctx context.Context, terminal string) error {
	marker := fmt.Sprintf(`.veh[data-terminal=%q]`, terminal)
	return within(ctx, 10*time.Second,
		chromedp.WaitVisible(chromedp.CSS(marker)),
		chromedp.Click(chromedp.CSS(marker+" .veh-dot")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#details-cameras[data-terminal=%q] .camera[data-channel="2"]`, terminal))))
}

// channelSelector selects a channel's row in the open camera panel.
func channelSelector(channel int) string {
	return fmt.Sprintf(`#details-cameras .camera[data-channel="%d"]`, channel)
}

// waitChannelState waits until a channel's row reaches one of states and
// returns the state reached.
func waitChannelState(ctx context.Context, channel int, timeout time.Duration, states ...string) (string, error) {
	quoted, _ := json.Marshal(states)
	return chromedp.Run(ctx, chromedp.Poll[string](fmt.Sprintf(
		`(() => { const s = document.querySelector(%q)?.dataset.state; return %s.includes(s) ? s : false; })()`,
		channelSelector(channel), quoted), chromedp.WithPollingTimeout(timeout)))
}

// textOf reads the text of the first element that css selects, waiting
// at most 5 s for it to appear.
func textOf(ctx context.Context, css string) (string, error) {
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(c, chromedp.Text(chromedp.CSS(css)))
}

// decodedFrames reads how many frames a channel's video element has
// decoded so far.
func decodedFrames(ctx context.Context, channel int) (int, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(
		`document.querySelector(%q).getVideoPlaybackQuality().totalVideoFrames`, channelSelector(channel)+" video")))
}

// requestLog records the method and path of every request the page sends
// to the server, as the fetch interception of browser pauses it.
type requestLog struct {
	mu   sync.Mutex
	seen []string
}

func watchRequests(ctx context.Context) *requestLog {
	log := &requestLog{}
	go func() {
		for ev, err := range chromedp.Events(ctx, fetch.RequestPaused) {
			if err != nil {
				return
			}
			u, perr := url.Parse(ev.Request.URL)
			if perr != nil {
				continue
			}
			log.mu.Lock()
			log.seen = append(log.seen, ev.Request.Method+" "+u.Path)
			log.mu.Unlock()
		}
	}()
	return log
}

// count returns how many requests matched method and a path prefix.
func (l *requestLog) count(method, pathPrefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.seen {
		if strings.HasPrefix(r, method+" "+pathPrefix) {
			n++
		}
	}
	return n
}

// channelViewers returns a channel's viewer count as the server reports it.
func channelViewers(t *testing.T, env *consoleEnv, terminal string, channel int) int {
	t.Helper()
	var list struct {
		Channels []video.ChannelStatus `json:"channels"`
	}
	env.apiCall(t, http.MethodGet, "/api/v1/vehicles/"+terminal+"/cameras", nil, &list)
	for _, ch := range list.Channels {
		if ch.Channel == channel {
			return ch.Viewers
		}
	}
	t.Fatalf("vehicle %s has no channel %d: %+v", terminal, channel, list.Channels)
	return 0
}

func videoStarts(cam *simulator.Camera) []int {
	var channels []int
	for _, c := range cam.Commands() {
		if c.Cmd == video.CmdVideoStart {
			channels = append(channels, c.Channel)
		}
	}
	return channels
}

func TestCameraPanelInBrowser(t *testing.T) {
	if !inLoopbackNamespace(t) {
		return
	}
	env := startConsole(t, loopbackVideo)
	clip := testClip(t)
	env.apiCall(t, http.MethodPost, "/api/v1/users",
		map[string]string{"username": "regulator", "password": "regulator-sample-password-1", "role": "regulator", "display_name": "监管员小王"}, nil)
	for _, v := range []map[string]string{
		{"terminal": cameraTerminal, "plate": "浙G·C9101", "password": cameraPassword},
		{"terminal": silentTerminal, "plate": "浙G·C9102", "password": silentPassword},
	} {
		env.apiCall(t, http.MethodPost, "/api/v1/vehicles", v, nil)
	}

	// The camera shares the vehicle's MQTT connection, as one onboard
	// unit with a camera does.
	camClient := connectVehicle(t, env, cameraTerminal, cameraPassword)
	cam, err := simulator.StartCamera(context.Background(), simulator.CameraConfig{
		Client: camClient, Terminal: cameraTerminal, Channels: []int{1, 2, 3, 10}, Clip: clip, LoopbackOnly: true,
	})
	if err != nil {
		t.Fatalf("start simulated camera: %v", err)
	}
	// The closure reads cam when the test ends, so it closes the camera
	// that a subtest restarts too.
	t.Cleanup(func() { cam.Close() })
	silentClient := connectVehicle(t, env, silentTerminal, silentPassword)
	publishPosition(t, camClient, cameraTerminal, routeLat, routeLon0)
	publishPosition(t, silentClient, silentTerminal, routeLat-5*latPer100m, routeLon0+10*lonPer100m)

	ctx, foreignRequests := browser(t, env, webrtcFlags()...)
	requests := watchRequests(ctx)
	if err := signIn(ctx, env.baseURL, "regulator", "regulator-sample-password-1"); err != nil {
		t.Fatalf("sign in: %v", err)
	}

	t.Run("channels listed without streaming", func(t *testing.T) {
		if err := openCameras(ctx, cameraTerminal); err != nil {
			t.Fatalf("camera panel did not open: %v", err)
		}
		want := map[int]string{1: "1 · 驾驶员", 2: "2 · 车辆正前方", 3: "3 · 货箱/罐体", 10: "10 · 车辆正后方"}
		for channel, name := range want {
			got, err := textOf(ctx, channelSelector(channel)+" .camera-name")
			if err != nil {
				t.Errorf("channel %d: %v", channel, err)
				continue
			}
			if got != name {
				t.Errorf("channel %d is named %q, want %q", channel, got, name)
			}
		}
		state, err := textOf(ctx, channelSelector(2)+" .camera-state")
		if err != nil || state != "未播放" {
			t.Errorf("road-ahead state before a click is %q (err %v), want 未播放", state, err)
		}
		if starts := videoStarts(cam); len(starts) != 0 {
			t.Errorf("opening the panel started channels %v; streams must start only on a click", starts)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("road ahead plays", func(t *testing.T) {
		clicked := time.Now()
		if err := within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(channelSelector(2)+" .camera-play"))); err != nil {
			t.Fatal(err)
		}
		state, err := waitChannelState(ctx, 2, 15*time.Second, "playing", "failed")
		if err != nil || state != "playing" {
			text, _ := textOf(ctx, channelSelector(2))
			screenshot(t, ctx, "camera-not-playing.png")
			t.Fatalf("road-ahead camera state %q (err %v), panel shows %q", state, err, text)
		}
		t.Logf("road-ahead camera playing %v after the click", time.Since(clicked).Round(time.Millisecond))

		first, err := decodedFrames(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		more := fmt.Sprintf(`document.querySelector(%q).getVideoPlaybackQuality().totalVideoFrames > %d + 15`,
			channelSelector(2)+" video", first)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](more, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			last, _ := decodedFrames(ctx, 2)
			t.Errorf("decoded frames went from %d to %d; want at least 15 more within 5 s", first, last)
		}
		size, err := chromedp.Run(ctx, chromedp.Evaluate[[2]int](fmt.Sprintf(
			`(() => { const v = document.querySelector(%q); return [v.videoWidth, v.videoHeight]; })()`, channelSelector(2)+" video")))
		if err != nil || size != [2]int{320, 240} {
			t.Errorf("video size %v (err %v), want the clip's 320x240", size, err)
		}
		label, err := textOf(ctx, channelSelector(2)+" .camera-state")
		if err != nil || !strings.HasPrefix(label, "播放中") {
			t.Errorf("road-ahead state shows %q (err %v), want 播放中", label, err)
		}
		if starts := videoStarts(cam); !slices.Equal(starts, []int{2}) {
			t.Errorf("camera got video_start for channels %v, want only 2", starts)
		}
		if n := channelViewers(t, env, cameraTerminal, 2); n != 1 {
			t.Errorf("server counts %d viewers of channel 2, want 1", n)
		}
		screenshot(t, ctx, "camera-playing.png")
	})

	t.Run("stop leaves the stream", func(t *testing.T) {
		if err := within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(channelSelector(2)+" .camera-play"))); err != nil {
			t.Fatal(err)
		}
		if state, err := waitChannelState(ctx, 2, 5*time.Second, "stopped"); err != nil {
			t.Fatalf("state after stop %q: %v", state, err)
		}
		deleted := `/api/v1/video/` + cameraTerminal + `/2/whep/`
		deadline := time.Now().Add(5 * time.Second)
		for requests.count(http.MethodDelete, deleted) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if requests.count(http.MethodDelete, deleted) != 1 {
			t.Errorf("the page sent %d DELETEs of %s*, want 1", requests.count(http.MethodDelete, deleted), deleted)
		}
		// After the grace period the relay sends video_stop to the camera.
		deadline = time.Now().Add(10 * time.Second)
		for len(cam.Active()) > 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if active := cam.Active(); len(active) > 0 {
			t.Errorf("camera still streams channels %v after the viewer left", active)
		}
	})

	t.Run("dropped stream shows reconnecting", func(t *testing.T) {
		if err := within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(channelSelector(1)+" .camera-play"))); err != nil {
			t.Fatal(err)
		}
		if state, err := waitChannelState(ctx, 1, 15*time.Second, "playing", "failed"); err != nil || state != "playing" {
			t.Fatalf("driver camera state %q (err %v), want playing", state, err)
		}

		// The unit's camera goes away while the regulator watches. The
		// relay keeps the browser connected and starts the stream again,
		// and the panel shows the reconnecting state.
		cam.Close()
		if state, err := waitChannelState(ctx, 1, 15*time.Second, "reconnecting"); err != nil {
			t.Fatalf("driver camera state %q after the camera stopped, want reconnecting: %v", state, err)
		}
		warning, err := textOf(ctx, channelSelector(1)+" .camera-warning")
		if err != nil || !strings.HasPrefix(warning, "视频中断，正在重新连接车辆") {
			t.Errorf("reconnecting channel shows %q (err %v), want the interruption notice", warning, err)
		}
		screenshot(t, ctx, "camera-reconnecting.png")

		// The camera comes back; the relay's next attempt brings the
		// picture back on the same browser connection.
		var err2 error
		cam, err2 = simulator.StartCamera(context.Background(), simulator.CameraConfig{
			Client: camClient, Terminal: cameraTerminal, Channels: []int{1, 2, 3, 10}, Clip: clip, LoopbackOnly: true,
		})
		if err2 != nil {
			t.Fatalf("restart simulated camera: %v", err2)
		}
		if state, err := waitChannelState(ctx, 1, 20*time.Second, "playing"); err != nil {
			t.Fatalf("driver camera state %q after the camera returned, want playing: %v", state, err)
		}
		first, err := decodedFrames(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		more := fmt.Sprintf(`document.querySelector(%q).getVideoPlaybackQuality().totalVideoFrames > %d + 15`,
			channelSelector(1)+" video", first)
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](more, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Errorf("decoded frames did not grow from %d after the stream returned", first)
		}
		if err := within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(channelSelector(1)+" .camera-play"))); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("silent vehicle shows the reason", func(t *testing.T) {
		if err := openCameras(ctx, silentTerminal); err != nil {
			t.Fatalf("camera panel of the silent vehicle did not open: %v", err)
		}
		if err := within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(channelSelector(2)+" .camera-play"))); err != nil {
			t.Fatal(err)
		}
		state, err := waitChannelState(ctx, 2, 15*time.Second, "failed", "playing")
		if err != nil || state != "failed" {
			t.Fatalf("silent vehicle's camera state %q (err %v), want failed", state, err)
		}
		reason, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(channelSelector(2)), "data-reason"))
		if err != nil || reason.Value != "camera.reason.no_offer" {
			t.Errorf("failure reason %q (err %v), want camera.reason.no_offer", reason.Value, err)
		}
		text, err := textOf(ctx, channelSelector(2)+" .camera-reason-text")
		if err != nil || text != "车辆没有在规定时间内响应视频请求" {
			t.Errorf("reason shows %q (err %v), want the Chinese text for no_offer", text, err)
		}
		screenshot(t, ctx, "camera-failed.png")

		// The reason follows a change of language.
		err = within(ctx, 5*time.Second,
			chromedp.SetValue(chromedp.CSS("#app-view .lang-select"), "en"),
			evaluateStep(`document.querySelector('#app-view .lang-select').dispatchEvent(new Event('change'))`))
		if err != nil {
			t.Fatal(err)
		}
		english := fmt.Sprintf(`document.querySelector(%q).textContent === "The vehicle did not answer the video request in time"`,
			channelSelector(2)+" .camera-reason-text")
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](english, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			got, _ := textOf(ctx, channelSelector(2)+" .camera-reason-text")
			t.Errorf("reason after switching to English is %q", got)
		}
		err = within(ctx, 5*time.Second,
			chromedp.SetValue(chromedp.CSS("#app-view .lang-select"), "zh-CN"),
			evaluateStep(`document.querySelector('#app-view .lang-select').dispatchEvent(new Event('change'))`))
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("unreachable relay lists candidate pairs", func(t *testing.T) {
		// A UDP socket that reads and never replies plays a firewall that
		// drops the video traffic both ways. The page rewrites the port of
		// every candidate in the offer and in the SDP answer to it, so no
		// ICE check of either side gets a response.
		sink, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		go func() {
			buf := make([]byte, 2048)
			for {
				if _, _, err := sink.ReadFrom(buf); err != nil {
					return
				}
			}
		}()
		deadPort := sink.LocalAddr().(*net.UDPAddr).Port
		rewrite := fmt.Sprintf(`(() => {
			const original = window.fetch;
			const toSink = (sdp) => sdp.replace(/^(a=candidate:\S+ \d+ udp \d+ 127\.0\.0\.1 )\d+/gm, "$1%d");
			window.fetch = async (input, init) => {
				if (init?.method !== "POST" || !String(input).endsWith("/whep")) return original(input, init);
				const resp = await original(input, { ...init, body: toSink(init.body) });
				if (resp.status !== 201) return resp;
				return new Response(toSink(await resp.text()), { status: 201, headers: resp.headers });
			};
			return true;
		})()`, deadPort)

		if err := openCameras(ctx, cameraTerminal); err != nil {
			t.Fatalf("camera panel did not open again: %v", err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](rewrite)); err != nil {
			t.Fatal(err)
		}
		if err := within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(channelSelector(3)+" .camera-play"))); err != nil {
			t.Fatal(err)
		}
		state, err := waitChannelState(ctx, 3, 30*time.Second, "failed", "playing")
		if err != nil || state != "failed" {
			t.Fatalf("cargo camera state %q (err %v), want failed", state, err)
		}
		reason, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(channelSelector(3)), "data-reason"))
		if err != nil || !strings.HasPrefix(reason.Value, "camera.browserIce.") {
			t.Errorf("failure reason %q (err %v), want a browser ICE failure", reason.Value, err)
		}
		pairs, err := textOf(ctx, channelSelector(3)+" .camera-pairs")
		if err != nil {
			t.Fatalf("no candidate pairs are listed: %v", err)
		}
		if want := fmt.Sprintf("127.0.0.1:%d", deadPort); !strings.Contains(pairs, want) {
			t.Errorf("candidate pairs %q do not name the relay's address %s", pairs, want)
		}
		// The browser's side shows 0.0.0.0 in the namespace: with no
		// interface but lo, Chromium offers no host candidate and sends
		// its checks from a socket bound to the any address.
		if !strings.Contains(pairs, "本机 host udp ") {
			t.Errorf("candidate pairs %q do not name the browser's candidate", pairs)
		}
		screenshot(t, ctx, "camera-ice-failed.png")
		deleted := `/api/v1/video/` + cameraTerminal + `/3/whep/`
		deadline := time.Now().Add(5 * time.Second)
		for requests.count(http.MethodDelete, deleted) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if requests.count(http.MethodDelete, deleted) != 1 {
			t.Errorf("the page sent %d DELETEs of %s*, want 1 after the failure", requests.count(http.MethodDelete, deleted), deleted)
		}
	})

	t.Run("no request leaves the server", func(t *testing.T) {
		if got := foreignRequests(); len(got) > 0 {
			t.Errorf("the page requested hosts other than the server (blocked): %v", got)
		}
	})
}
