package server_test

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/config"
)

// ingest.max_age reaches the decoder, and a fix dated one GPS week
// rollover early is stored with its corrected time and counted.
func TestIngestMaxAgeAndRolloverCounted(t *testing.T) {
	cfg := testConfig(t.TempDir(), "")
	cfg.Ingest.MaxAge = config.Duration(time.Hour)
	srv := startServer(t, cfg)

	const terminal = "013300786001"
	const secret = "clock-vehicle-secret-0123456789"
	apiPost(t, srv, "/api/v1/vehicles", `{"terminal":"`+terminal+`","plate":"浙G·T6001","password":"`+secret+`"}`, 201, nil)
	opts := paho.NewClientOptions().AddBroker("tcp://" + srv.MQTTAddr().String()).
		SetClientID(terminal).SetUsername(terminal).SetPassword(secret)
	vehicle := paho.NewClient(opts)
	if tok := vehicle.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("vehicle connect: %v", tok.Error())
	}
	defer vehicle.Disconnect(100)

	const rollover = 1024 * 7 * 24 * time.Hour
	now := time.Now().Truncate(time.Second)
	fixes := []time.Time{
		now.Add(-2 * time.Hour),              // older than max_age
		now.Add(-10*time.Second - rollover),  // one rollover early
		now.Add(-5*time.Second - 2*rollover), // two rollovers early
	}
	for i, at := range fixes {
		payload := fmt.Sprintf(`{"time":%d,"lat":28.8908,"lon":120.0425,"seq":%d}`, at.UnixMilli(), i+1)
		tok := vehicle.Publish("hwt/v1/"+terminal+"/fix", 1, false, payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish fix %d: %v", i, tok.Error())
		}
	}

	addr := srv.HTTPAddr().String()
	const tooOld = `hwtrack_fixes_rejected_total{reason="too_old"}`
	const corrected = `hwtrack_fix_fields_dropped_total{field="time",reason="time_corrected"}`
	waitFor(t, 10*time.Second, "the three fixes to be counted", func() bool {
		s := scrapeSeries(t, addr)
		return s[tooOld]+s["hwtrack_fixes_accepted_total"] >= 3
	})
	series := scrapeSeries(t, addr)
	if got := series[tooOld]; got != 1 {
		t.Errorf("%s = %v, want 1 (the fix older than ingest.max_age)", tooOld, got)
	}
	if got := series[corrected]; got != 2 {
		t.Errorf("%s = %v, want 2", corrected, got)
	}
	if got := series["hwtrack_fixes_accepted_total"]; got != 2 {
		t.Errorf("hwtrack_fixes_accepted_total = %v, want 2 (both rollover fixes)", got)
	}
}
