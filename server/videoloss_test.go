package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/server"
)

// connectSilentVehicle connects a vehicle that ignores camera commands,
// as a unit without a camera would.
func connectSilentVehicle(t testing.TB, srv *server.Server, terminal, password string) paho.Client {
	t.Helper()
	opts := paho.NewClientOptions().AddBroker("tcp://" + srv.MQTTAddr().String()).
		SetClientID(terminal).SetUsername(terminal).SetPassword(password).SetAutoReconnect(false)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("connect %s: %v", terminal, tok.Error())
	}
	return c
}

// TestVideoLossOnStartTimeoutAndDrop follows one camera channel on a trip
// that requires a camera: a start that times out opens video_loss and a
// live stream closes it; a drop opens a second episode, and the relay's
// retry, once a camera answers again, closes that one.
func TestVideoLossOnStartTimeoutAndDrop(t *testing.T) {
	clip := makeH264Clip(t, 2)
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	cfg := videoConfig(t)
	cfg.Upstream.URL = mq.URL()
	cfg.Video.StartTimeout = config.Duration(2 * time.Second)
	srv := startServer(t, cfg)
	reg := subscribeRegulator(t, mq.URL())

	const terminal = "013300780002"
	password := videoVehicle(t, srv, terminal)
	tripID := dispatchTrip(t, srv, terminal, true)

	silent := connectSilentVehicle(t, srv, terminal, password)
	_, status := joinViewer(t, srv, terminal, 2)
	if status == nil || status.code != http.StatusServiceUnavailable {
		t.Fatalf("WHEP to a vehicle that never answers: got %+v, want 503", status)
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Failure struct {
				Reason string `json:"reason"`
			} `json:"failure"`
		} `json:"error"`
	}
	decodeJSON(t, status.body, &body)
	if body.Error.Code != "stream_unavailable" || body.Error.Failure.Reason != "no_offer" {
		t.Errorf("WHEP error = %s, want code stream_unavailable with failure reason no_offer", status.body)
	}

	waitFor(t, 5*time.Second, "video_loss opened", func() bool { return len(videoDeviations(t, srv, terminal)) == 1 })
	first := videoDeviations(t, srv, terminal)[0]
	if first.State != "open" || first.Channel != 2 || first.TripID != tripID || !strings.Contains(first.Text, "2号通道") {
		t.Errorf("video_loss = %+v, want open on channel 2 of trip %s with a Chinese text naming the channel", first, tripID)
	}
	// The vehicle never sent a fix: the episode sits at its route's start.
	if first.Lat != 28.89 || first.Lon != 120.04 {
		t.Errorf("video_loss at (%v, %v), want the route's start (28.89, 120.04)", first.Lat, first.Lon)
	}
	waitFor(t, 10*time.Second, "video_loss forwarded to the regulator", func() bool {
		for _, m := range reg.messages() {
			if m.Kind == "video_loss" && m.State == "open" && m.DeviationID == first.ID && m.Trip.ID == tripID {
				return true
			}
		}
		return false
	})

	// A camera answers: the stream goes live and the episode closes.
	silent.Disconnect(100)
	cam := startSimCamera(t, srv, terminal, password, clip)
	viewer, status := joinViewer(t, srv, terminal, 2)
	if status != nil {
		t.Fatalf("WHEP with a camera: status %d: %s", status.code, status.body)
	}
	waitFor(t, 5*time.Second, "video_loss closed once live", func() bool {
		ds := videoDeviations(t, srv, terminal)
		return len(ds) == 1 && ds[0].State == "closed"
	})
	waitFor(t, 10*time.Second, "viewer receiving frames", func() bool {
		frames, _, _ := viewer.stats()
		return frames >= 10
	})

	// The camera goes away mid-stream: a drop opens a new episode.
	cam.Close()
	waitFor(t, 10*time.Second, "video_loss opened by the drop", func() bool {
		for _, d := range videoDeviations(t, srv, terminal) {
			if d.State == "open" && d.ID != first.ID {
				return true
			}
		}
		return false
	})

	// A camera comes back; the relay retries for the viewer that stayed,
	// the stream resumes on the same viewer connection, and the episode
	// closes.
	framesBefore, _, _ := viewer.stats()
	startSimCamera(t, srv, terminal, password, clip)
	waitFor(t, 30*time.Second, "stream resumed for the waiting viewer", func() bool {
		frames, _, _ := viewer.stats()
		return frames >= framesBefore+15
	})
	waitFor(t, 5*time.Second, "second video_loss closed", func() bool {
		ds := videoDeviations(t, srv, terminal)
		if len(ds) != 2 {
			return false
		}
		return ds[0].State == "closed" && ds[1].State == "closed"
	})
	if state, viewers := channelState(t, srv, terminal, 2); state != "live" || viewers != 1 {
		t.Errorf("channel 2 is %s with %d viewers after the retry, want live with 1", state, viewers)
	}
}

// TestVideoLossOnlyForCameraTrips checks that a failed start raises no
// video_loss without a trip that requires a camera, and that an offline
// vehicle gets 409.
func TestVideoLossOnlyForCameraTrips(t *testing.T) {
	cfg := videoConfig(t)
	cfg.Video.StartTimeout = config.Duration(time.Second)
	srv := startServer(t, cfg)

	const terminal = "013300780003"
	password := videoVehicle(t, srv, terminal)
	dispatchTrip(t, srv, terminal, false)

	_, status := joinViewer(t, srv, terminal, 2)
	if status == nil || status.code != http.StatusConflict || !strings.Contains(status.body, "vehicle_offline") {
		t.Fatalf("WHEP to an offline vehicle: got %+v, want 409 vehicle_offline", status)
	}
	connectSilentVehicle(t, srv, terminal, password)
	_, status = joinViewer(t, srv, terminal, 2)
	if status == nil || status.code != http.StatusServiceUnavailable {
		t.Fatalf("WHEP to a vehicle that never answers: got %+v, want 503", status)
	}
	_, status = joinViewer(t, srv, terminal, 4)
	if status == nil || status.code != http.StatusNotFound {
		t.Fatalf("WHEP to channel 4, which the vehicle lacks: got %+v, want 404", status)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	<-ctx.Done() // time for a wrongly raised deviation to be stored
	if ds := videoDeviations(t, srv, terminal); len(ds) != 0 {
		t.Errorf("video_loss raised on a trip without a camera requirement: %+v", ds)
	}
	var st cameraStatus
	apiGet(t, srv, "/api/v1/vehicles/"+terminal+"/cameras", &st)
	for _, ch := range st.Channels {
		if ch.Channel == 2 && (ch.LastFailure == nil || ch.LastFailure.Reason != "no_offer") {
			t.Errorf("channel 2 last failure = %+v, want reason no_offer", ch.LastFailure)
		}
	}
}
