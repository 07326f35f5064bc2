package server_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/simulator"
)

// replay plays one real track file against srv and returns its report.
func replay(t *testing.T, srvMQTT, srvHTTP, file string, inject bool) simulator.VehicleReport {
	t.Helper()
	opts := simulator.ReplayOptions{
		Files:    []string{file},
		Broker:   "tcp://" + srvMQTT,
		API:      "http://" + srvHTTP,
		APIToken: testToken,
		Speedup:  5000,
		QoS:      1,
		Settle:   5 * time.Second,
	}
	if inject {
		opts.Inject = []model.DeviationKind{model.KindRouteDeviation}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	report, err := simulator.Replay(ctx, opts)
	if err != nil {
		t.Fatalf("replay %s: %v", file, err)
	}
	if len(report.Vehicles) != 1 {
		t.Fatalf("replay returned %d vehicle reports, want 1", len(report.Vehicles))
	}
	v := report.Vehicles[0]
	if v.Error != "" {
		t.Fatalf("replay %s: %s", file, v.Error)
	}
	t.Logf("%s: read %d, published %d, acknowledged %d, rejected %d, stored %d, %.0f fixes/s, deviations %v",
		file, v.FixesRead, v.Published, v.Acknowledged, v.Rejected, v.Stored, v.FixesPerSecond, v.Seen)
	return v
}

var manifestPattern = regexp.MustCompile(`^\d{4}3307\d{6}$`)

func TestReplayInjectedDetourReachesRegulator(t *testing.T) {
	track := testenv.SharedData(t, "..", "trajectories/geolife/008/20081024132624.plt")
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	reg := subscribeRegulator(t, mq.URL())
	srv := startServer(t, testConfig(t.TempDir(), mq.URL()))

	v := replay(t, srv.MQTTAddr().String(), srv.HTTPAddr().String(), track, true)

	if v.Acknowledged != v.Published {
		t.Errorf("acknowledged %d of %d published fixes", v.Acknowledged, v.Published)
	}
	if got := v.Seen[model.KindRouteDeviation.String()]; got != 1 {
		t.Errorf("API shows %d route deviations, want exactly 1", got)
	}
	waitFor(t, 15*time.Second, "the outbox to drain", func() bool { return srv.OutboxDepth() == 0 })

	episodes := map[string][]regulatorMessage{}
	for _, m := range reg.messages() {
		if m.Kind == "" {
			continue // a trip lifecycle record
		}
		if m.Kind != model.KindRouteDeviation.String() {
			t.Errorf("unexpected %s deviation forwarded: %s", m.Kind, m.Text)
			continue
		}
		episodes[m.DeviationID] = append(episodes[m.DeviationID], m)
	}
	if len(episodes) != 1 {
		t.Fatalf("regulator received %d route_deviation episodes, want exactly 1: %+v", len(episodes), episodes)
	}
	for id, msgs := range episodes {
		if msgs[0].State != "open" {
			t.Errorf("episode %s: first message state %q, want open", id, msgs[0].State)
		}
		for _, m := range msgs {
			if len(m.Bookings) != 1 || m.Bookings[0].ManifestNo != v.ManifestNo {
				t.Errorf("episode %s message %s carries bookings %+v, want manifest %s", id, m.ID, m.Bookings, v.ManifestNo)
			}
			if m.Trip.ID != v.TripID || m.Terminal != v.Terminal || m.Plate == "" {
				t.Errorf("message %s: trip %q terminal %q plate %q, want trip %s terminal %s and a plate", m.ID, m.Trip.ID, m.Terminal, m.Plate, v.TripID, v.Terminal)
			}
			if m.Text == "" {
				t.Errorf("message %s has no Chinese text", m.ID)
			}
		}
	}
	if !manifestPattern.MatchString(v.ManifestNo) {
		t.Errorf("manifest number %q is not 14 digits with the Jinhua prefix", v.ManifestNo)
	}
}

func TestReplayCleanDriveRaisesNothing(t *testing.T) {
	track := testenv.SharedData(t, "..", "trajectories/geolife/008/20081025225205.plt")
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	reg := subscribeRegulator(t, mq.URL())
	srv := startServer(t, testConfig(t.TempDir(), mq.URL()))

	v := replay(t, srv.MQTTAddr().String(), srv.HTTPAddr().String(), track, false)

	var devs struct {
		Deviations []model.Deviation `json:"deviations"`
	}
	apiGet(t, srv, "/api/v1/deviations?terminal="+v.Terminal, &devs)
	if len(devs.Deviations) != 0 {
		t.Errorf("server raised %d deviations on a clean real drive: %+v", len(devs.Deviations), devs.Deviations)
	}

	// Every valid fix published is stored: nothing accepted is lost.
	if v.Stored != v.Acknowledged-v.Rejected {
		t.Errorf("stored %d fixes, want the %d acknowledged minus %d rejected", v.Stored, v.Acknowledged, v.Rejected)
	}

	waitFor(t, 15*time.Second, "the outbox to drain", func() bool { return srv.OutboxDepth() == 0 })
	var events []string
	for _, m := range reg.messages() {
		if m.Kind != "" {
			t.Errorf("deviation forwarded for a clean drive: %s %s", m.Kind, m.Text)
		}
		events = append(events, m.Event)
	}
	if fmt.Sprint(events) != "[dispatched completed]" {
		t.Errorf("trip records forwarded = %v, want [dispatched completed]", events)
	}
}

func TestMosquittoPubFixIsStored(t *testing.T) {
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		t.Skip("mosquitto_pub not installed (apt-get install mosquitto-clients)")
	}
	srv := startServer(t, testConfig(t.TempDir(), ""))
	apiPost(t, srv, "/api/v1/vehicles", `{"terminal":"013300784099","plate":"浙G·T0099","password":"a-long-random-vehicle-secret-123"}`, 201, nil)

	fixTime := time.Now().Add(-time.Minute).Truncate(time.Second)
	payload := fmt.Sprintf(`{"time":"%s","lat":28.8908,"lon":120.0425,"speed":42.5,"heading":270,"seq":1}`, fixTime.In(time.FixedZone("CST", 8*3600)).Format(time.RFC3339))
	host, port := splitAddr(t, srv.MQTTAddr().String())
	out, err := exec.Command(pub, "-h", host, "-p", port, "-q", "1", "-i", "013300784099",
		"-u", "013300784099", "-P", "a-long-random-vehicle-secret-123",
		"-t", "hwt/v1/013300784099/fix", "-m", payload).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}

	var track struct {
		Fixes []model.FixJSON `json:"fixes"`
	}
	waitFor(t, 5*time.Second, "the fix to be stored", func() bool {
		apiGet(t, srv, "/api/v1/vehicles/013300784099/track", &track)
		return len(track.Fixes) == 1
	})
	got := track.Fixes[0]
	if got.Lat != 28.8908 || got.Lon != 120.0425 || got.Speed == nil || *got.Speed != 42.5 {
		t.Errorf("stored fix %+v does not match the published one", got)
	}
	if stored, _ := time.Parse(time.RFC3339Nano, got.Time); !stored.Equal(fixTime) {
		t.Errorf("stored fix time %s, want %s", got.Time, fixTime.UTC())
	}
}
