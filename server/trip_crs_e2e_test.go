package server_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/paulmach/orb"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/internal/testenv"
	"github.com/hwtrack/hwtrack/server"
)

// A corridor is drawn on AMap (GCJ-02) and driven by a truck whose OBU
// reports WGS-84. Declared as gcj02, the route is converted and the truck is
// on it. Sent without crs, the same numbers lie about 481 m away.
func TestTripRouteInGCJ02MatchesWGS84Fixes(t *testing.T) {
	mq := testenv.NewMosquitto(t, false)
	mq.Start()
	reg := subscribeRegulator(t, mq.URL())
	srv := startServer(t, testConfig(t.TempDir(), mq.URL()))

	// The middle vertex is the AMap position of the road at the fix
	// position below. The outer vertices continue the road north and south.
	const fixLat, fixLon = 31.230400, 121.473700
	southLat, southLon := geofence.WGS84ToGCJ02(fixLat-0.01, fixLon)
	northLat, northLon := geofence.WGS84ToGCJ02(fixLat+0.01, fixLon)
	route := fmt.Sprintf(`{"type":"LineString","coordinates":[[%.6f,%.6f],[121.478223,31.228458],[%.6f,%.6f]]}`,
		southLon, southLat, northLon, northLat)

	now := time.Now()
	type vehicle struct{ terminal, crsMember, tripID string }
	vehicles := []*vehicle{
		{terminal: "013300785001", crsMember: `"crs":"gcj02",`},
		{terminal: "013300785002"},
	}
	const secret = "crs-vehicle-secret-0123456789"
	for i, v := range vehicles {
		apiPost(t, srv, "/api/v1/vehicles", fmt.Sprintf(`{"terminal":%q,"plate":"沪A·C000%d","password":%q}`, v.terminal, i, secret), 201, nil)
		var trip struct {
			ID string `json:"id"`
		}
		apiPost(t, srv, "/api/v1/trips", fmt.Sprintf(`{"terminal":%q,"driver":"王师傅","escort":"李押运",%s"route":%s,`+
			`"corridor_m":100,"bookings":[],"planned_start":%q,"planned_end":%q}`,
			v.terminal, v.crsMember, route, now.Add(-time.Hour).Format(time.RFC3339), now.Add(2*time.Hour).Format(time.RFC3339)), 201, &trip)
		v.tripID = trip.ID
	}

	// The fix lies on the converted route, within the round-trip error of
	// the iterative inverse.
	converted := storedRoute(t, srv, vehicles[0].tripID)
	if d := geofence.HaversineM(fixLat, fixLon, converted[1][1], converted[1][0]); d >= 5 {
		t.Errorf("fix is %.1f m from the gcj02 vertex converted to WGS-84, want < 5 m", d)
	}
	if d := corridorDistanceM(t, converted, fixLat, fixLon); d >= 5 {
		t.Errorf("fix is %.1f m from the route declared as gcj02, want < 5 m", d)
	}

	// Read as WGS-84, the same vertex is the half-kilometre shift.
	unconverted := storedRoute(t, srv, vehicles[1].tripID)
	if d := geofence.HaversineM(fixLat, fixLon, unconverted[1][1], unconverted[1][0]); d < 470 || d > 490 {
		t.Errorf("fix is %.1f m from the vertex sent without crs, want about 481 m", d)
	}
	if d := corridorDistanceM(t, unconverted, fixLat, fixLon); d <= 50 {
		t.Errorf("fix is %.1f m from the route sent without crs, want outside the 50 m half-width", d)
	}

	// Both trucks drive the same road north through the fix position, one
	// fix every 10 s at about 22 km/h.
	base := now.Add(-5 * time.Minute).Truncate(time.Second)
	for _, v := range vehicles {
		opts := paho.NewClientOptions().AddBroker("tcp://" + srv.MQTTAddr().String()).
			SetClientID(v.terminal).SetUsername(v.terminal).SetPassword(secret)
		client := paho.NewClient(opts)
		if tok := client.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("vehicle %s connect: %v", v.terminal, tok.Error())
		}
		for i := range 13 {
			lat := fixLat + float64(i-6)*0.00054
			payload := fmt.Sprintf(`{"time":%d,"lat":%.6f,"lon":%.6f,"speed":21.6,"seq":%d}`,
				base.Add(time.Duration(i)*10*time.Second).UnixMilli(), lat, fixLon, i+1)
			tok := client.Publish("hwt/v1/"+v.terminal+"/fix", 1, false, payload)
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("vehicle %s publish fix %d: %v", v.terminal, i, tok.Error())
			}
		}
		client.Disconnect(100)
	}

	deviations := func(tripID string) int {
		n := 0
		for _, m := range reg.messages() {
			if m.Kind == "route_deviation" && m.Trip.ID == tripID {
				n++
			}
		}
		return n
	}
	waitFor(t, 10*time.Second, "a route_deviation for the trip sent without crs", func() bool {
		return deviations(vehicles[1].tripID) > 0
	})
	waitFor(t, 10*time.Second, "the outbox to drain", func() bool { return srv.OutboxDepth() == 0 })
	if n := deviations(vehicles[0].tripID); n != 0 {
		t.Errorf("trip with a gcj02 route raised %d route_deviation messages, want none", n)
	}
}

// storedRoute reads a trip back from the API and decodes its stored route.
func storedRoute(t *testing.T, srv *server.Server, tripID string) orb.LineString {
	t.Helper()
	var trip struct {
		Route json.RawMessage `json:"route"`
	}
	apiGet(t, srv, "/api/v1/trips/"+tripID, &trip)
	line, err := geofence.ParseRoute(trip.Route)
	if err != nil {
		t.Fatalf("stored route of %s: %v", tripID, err)
	}
	return line
}

// corridorDistanceM returns the distance in metres from (lat, lon) to line.
func corridorDistanceM(t *testing.T, line orb.LineString, lat, lon float64) float64 {
	t.Helper()
	corridor, err := geofence.NewCorridor(line, 100)
	if err != nil {
		t.Fatalf("corridor of %v: %v", line, err)
	}
	metres, _ := corridor.Distance(lat, lon)
	return metres
}
