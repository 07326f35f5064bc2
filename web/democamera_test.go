package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/demo"
	"github.com/hwtrack/hwtrack/internal/testenv"
)

// playTiming is one click on a channel's play button, timed in the page
// with performance.now(): when the page posted its WHEP offer (after ICE
// gathering), when the SDP answer arrived, and when the video element
// started playing. All are milliseconds after the click.
type playTiming struct {
	State      string  `json:"state"`
	OfferSent  float64 `json:"offerSent"`
	AnswerRead float64 `json:"answerRead"`
	Playing    float64 `json:"playing"`
}

// timePlay clicks a channel's play button and waits in the page until the
// row shows playing or failed, up to 20 s.
func timePlay(ctx context.Context, channel int) (playTiming, error) {
	script := fmt.Sprintf(`new Promise((resolve) => {
		const row = document.querySelector(%q);
		performance.clearResourceTimings();
		const t0 = performance.now();
		const finish = () => {
			const state = row.dataset.state;
			if (state !== "playing" && state !== "failed" && performance.now() - t0 < 20000) return;
			observer.disconnect();
			const post = performance.getEntriesByType("resource").find((e) => e.name.endsWith("/whep"));
			resolve({ state, playing: performance.now() - t0,
				offerSent: post ? post.startTime - t0 : -1, answerRead: post ? post.responseEnd - t0 : -1 });
		};
		const observer = new MutationObserver(finish);
		observer.observe(row, { attributes: true, attributeFilter: ["data-state"] });
		setTimeout(finish, 20000);
		row.querySelector(".camera-play").click();
	})`, channelSelector(channel))
	return chromedp.Run(ctx, chromedp.Evaluate[playTiming](script, chromedp.EvalAwaitPromise))
}

// demoVehiclesOnTrip waits until every sample truck is online on a trip.
func demoVehiclesOnTrip(t *testing.T, env *consoleEnv, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list struct {
			Vehicles []struct {
				Online bool   `json:"online"`
				TripID string `json:"trip_id"`
			} `json:"vehicles"`
		}
		env.apiCall(t, http.MethodGet, "/api/v1/vehicles", nil, &list)
		driving := 0
		for _, v := range list.Vehicles {
			if v.Online && v.TripID != "" {
				driving++
			}
		}
		if driving == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s %d of %d demo trucks are online on a trip", driving, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDemoCameraInBrowser plays the road-ahead camera of every sample
// truck of the demo from the console, as a regulator would, and logs how
// long each took from the click to the first frame. Each round plays
// every truck once; HWTRACK_DEMO_CAMERA_ROUNDS sets the number of rounds
// (default 1).
func TestDemoCameraInBrowser(t *testing.T) {
	if !inLoopbackNamespace(t) {
		return
	}
	rounds := 1
	if s := os.Getenv("HWTRACK_DEMO_CAMERA_ROUNDS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("HWTRACK_DEMO_CAMERA_ROUNDS=%q: want a positive number of rounds", s)
		}
		rounds = n
	}

	fleet, err := demo.LoadFleet("../configs/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var regulatorPassword string
	for _, u := range fleet.Users {
		if u.Role == "regulator" {
			regulatorPassword = u.Password
		}
	}
	regulator := testenv.NewMosquitto(t, false)
	regulator.Start()

	// The demo's own settings, with free ports instead of the fixed ones
	// and a short grace period, so each round starts every stream afresh.
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.MQTT.Addr = "127.0.0.1:0"
	cfg.MQTT.WebSocketAddr = ""
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.ZoneFiles = []string{"../configs/zones.geojson"}
	cfg.Upstream.URL = regulator.URL()
	cfg.Video.UDPAddr = "127.0.0.1:0"
	cfg.Video.TCPAddr = ""
	cfg.Video.StopGrace = config.Duration(time.Second)
	d, err := demo.Start(context.Background(), cfg, "../configs/demo.yaml", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("start the demo: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	env := &consoleEnv{baseURL: "http://" + d.Server.HTTPAddr().String(), mqttAddr: d.Server.MQTTAddr().String(), token: d.Token}
	demoVehiclesOnTrip(t, env, len(fleet.Vehicles))

	ctx, foreignRequests := browser(t, env, webrtcFlags()...)
	if err := signIn(ctx, env.baseURL, "regulator", regulatorPassword); err != nil {
		t.Fatalf("sign in as the sample regulator: %v", err)
	}

	var playing []time.Duration
	for round := 1; round <= rounds; round++ {
		for _, v := range fleet.Vehicles {
			// A script click, because the trucks' labels may overlap on
			// the map and a mouse click could hit another truck.
			marker := fmt.Sprintf(`.veh[data-terminal=%q] .veh-dot`, v.Terminal)
			err := within(ctx, 10*time.Second,
				chromedp.WaitReady(chromedp.CSS(marker)),
				evaluateStep(fmt.Sprintf(`(document.querySelector(%q).click(), true)`, marker)),
				chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#details-cameras[data-terminal=%q] .camera[data-channel="2"]`, v.Terminal))))
			if err != nil {
				t.Fatalf("round %d: camera panel of %s did not open: %v", round, v.Plate, err)
			}
			timing, err := timePlay(ctx, 2)
			if err != nil {
				t.Fatalf("round %d: play %s: %v", round, v.Plate, err)
			}
			if timing.State != "playing" {
				text, _ := textOf(ctx, channelSelector(2))
				t.Fatalf("round %d: %s road-ahead camera is %q after %.0f ms: %s", round, v.Plate, timing.State, timing.Playing, text)
			}
			t.Logf("round %d: %s road ahead: offer sent %.0f ms, answer %.0f ms, playing %.0f ms after the click",
				round, v.Plate, timing.OfferSent, timing.AnswerRead, timing.Playing)
			playing = append(playing, time.Duration(timing.Playing*float64(time.Millisecond)))

			first, err := decodedFrames(ctx, 2)
			if err != nil {
				t.Fatal(err)
			}
			more := fmt.Sprintf(`document.querySelector(%q).getVideoPlaybackQuality().totalVideoFrames > %d + 10`,
				channelSelector(2)+" video", first)
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool](more, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
				t.Errorf("round %d: %s: decoded frames did not grow by 10 from %d within 5 s", round, v.Plate, first)
			}
			if round == 1 && v.Terminal == fleet.Vehicles[0].Terminal {
				screenshot(t, ctx, "demo-camera.png")
			}
			if err := within(ctx, 5*time.Second, chromedp.Click(chromedp.CSS(channelSelector(2)+" .camera-play"))); err != nil {
				t.Fatal(err)
			}
		}
		if round < rounds {
			waitStreamsStopped(t, env, fleet)
		}
	}

	slices.Sort(playing)
	t.Logf("click to playing over %d plays: min %v, median %v, max %v", len(playing),
		playing[0].Round(time.Millisecond), playing[len(playing)/2].Round(time.Millisecond), playing[len(playing)-1].Round(time.Millisecond))
	if got := foreignRequests(); len(got) > 0 {
		t.Errorf("the page requested hosts other than the server (blocked): %v", got)
	}
}

// waitStreamsStopped waits until no sample truck's road-ahead stream runs,
// so the next round starts each one from idle.
func waitStreamsStopped(t *testing.T, env *consoleEnv, fleet *demo.Fleet) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, v := range fleet.Vehicles {
		for {
			var list struct {
				Channels []struct {
					Channel int    `json:"channel"`
					State   string `json:"state"`
				} `json:"channels"`
			}
			env.apiCall(t, http.MethodGet, "/api/v1/vehicles/"+v.Terminal+"/cameras", nil, &list)
			idle := true
			for _, ch := range list.Channels {
				if ch.Channel == 2 && ch.State != "idle" {
					idle = false
				}
			}
			if idle {
				break
			}
			if time.Now().After(deadline) {
				b, _ := json.Marshal(list)
				t.Fatalf("road-ahead stream of %s still runs after its viewer left: %s", v.Plate, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}
