package server_test

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/internal/testenv"
)

func TestSiteArrivalReachesRegulator(t *testing.T) {
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	reg := subscribeRegulator(t, mq.URL())
	srv := startServer(t, testConfig(t.TempDir(), mq.URL()))

	const terminal = "013300784601"
	const secret = "site-vehicle-secret-0123456789"
	const siteLat, siteLon = 28.70, 120.30
	apiPost(t, srv, "/api/v1/vehicles", `{"terminal":"`+terminal+`","plate":"浙G·S0601","password":"`+secret+`"}`, 201, nil)
	var site struct {
		ID string `json:"id"`
	}
	apiPost(t, srv, "/api/v1/zones", fmt.Sprintf(`{"type":"Feature","geometry":{"type":"Point","coordinates":[%f,%f]},`+
		`"properties":{"name":"永康市危废收集中心","kind":"site","radius_m":200}}`, siteLon, siteLat), 201, &site)
	now := time.Now()
	var trip struct {
		ID string `json:"id"`
	}
	apiPost(t, srv, "/api/v1/trips", fmt.Sprintf(`{"terminal":%q,"driver":"王师傅","escort":"李押运",`+
		`"route":{"type":"LineString","coordinates":[[%f,%f],[%f,%f]]},"corridor_m":200,"bookings":[],"planned_start":%q,"planned_end":%q}`,
		terminal, siteLon-0.02, siteLat, siteLon+0.02, siteLat,
		now.Add(-time.Hour).Format(time.RFC3339), now.Add(2*time.Hour).Format(time.RFC3339)), 201, &trip)

	opts := paho.NewClientOptions().AddBroker("tcp://" + srv.MQTTAddr().String()).
		SetClientID(terminal).SetUsername(terminal).SetPassword(secret)
	vehicle := paho.NewClient(opts)
	if tok := vehicle.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("vehicle connect: %v", tok.Error())
	}
	defer vehicle.Disconnect(100)

	// One fix every 10 s of fix time: approach from the west, park at the
	// site for 80 s, then drive out to the east.
	eastM := []float64{-500, -380, -260, 0, 0, 0, 0, 0, 0, 0, 0, 0, 300, 400, 500, 600, 700}
	metresPerDegLon := 6371008.8 * math.Pi / 180 * math.Cos(siteLat*math.Pi/180)
	base := now.Add(-5 * time.Minute).Truncate(time.Second)
	for i, east := range eastM {
		speed := 0.0
		if i > 0 {
			speed = math.Abs(east-eastM[i-1]) / 10 * 3.6
		}
		payload := fmt.Sprintf(`{"time":%d,"lat":%f,"lon":%.7f,"speed":%.1f,"seq":%d}`,
			base.Add(time.Duration(i)*10*time.Second).UnixMilli(), siteLat, siteLon+east/metresPerDegLon, speed, i+1)
		tok := vehicle.Publish("hwt/v1/"+terminal+"/fix", 1, false, payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish fix %d: %v", i, tok.Error())
		}
	}

	events := func() map[string]regulatorMessage {
		out := map[string]regulatorMessage{}
		for _, m := range reg.messages() {
			if m.Topic == "hwt/regulator/v1/trips/"+trip.ID && (m.Event == "arrived" || m.Event == "departed") {
				out[m.Event] = m
			}
		}
		return out
	}
	waitFor(t, 10*time.Second, "the arrival and departure records", func() bool { return len(events()) == 2 })

	got := events()
	arrivedAt := base.Add(30 * time.Second).UnixMilli()
	departedAt := base.Add(120 * time.Second).UnixMilli()
	if want := fmt.Sprintf("%s:arrived:%d", trip.ID, arrivedAt); got["arrived"].ID != want {
		t.Errorf("arrival id = %q, want %q (the first fix inside the site)", got["arrived"].ID, want)
	}
	if want := fmt.Sprintf("%s:departed:%d", trip.ID, departedAt); got["departed"].ID != want {
		t.Errorf("departure id = %q, want %q (the first fix outside the site)", got["departed"].ID, want)
	}

	// Each record names the site and the position of the fix that decided
	// it: the site centre on arrival, 300 m east of it on departure.
	wantEastM := map[string]float64{"arrived": 0, "departed": 300}
	for event, m := range got {
		if m.Site == nil {
			t.Errorf("%s record has no site", event)
			continue
		}
		if m.Site.ID != site.ID || m.Site.Name != "永康市危废收集中心" {
			t.Errorf("%s site = %q %q, want %q 永康市危废收集中心", event, m.Site.ID, m.Site.Name, site.ID)
		}
		wantLon := siteLon + wantEastM[event]/metresPerDegLon
		if math.Abs(m.Site.Lat-siteLat) > 1e-6 || math.Abs(m.Site.Lon-wantLon) > 1e-6 {
			t.Errorf("%s site position = %.6f, %.6f, want the fix at %.6f, %.6f", event, m.Site.Lat, m.Site.Lon, siteLat, wantLon)
		}
	}
	// A site visit is a lifecycle record, never a deviation.
	for _, m := range reg.messages() {
		if strings.HasPrefix(m.Topic, "hwt/regulator/v1/deviations/") {
			t.Errorf("unexpected deviation %s: %s", m.Kind, m.Text)
		}
	}
}
