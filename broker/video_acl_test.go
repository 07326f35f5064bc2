package broker

import (
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestVideoTopicACL checks the camera signalling topics: a vehicle may
// subscribe to its own command, answer and candidate topics, never to
// another vehicle's, and a server message reaches only the vehicle it is
// addressed to.
func TestVideoTopicACL(t *testing.T) {
	rec := &recorder{}
	b := startBroker(t, rec)
	t1, err := connect(t, b, "T1", "T1", "password-one-0123456789")
	if err != nil {
		t.Fatal(err)
	}
	t2, err := connect(t, b, "T2", "T2", "password-two-0123456789")
	if err != nil {
		t.Fatal(err)
	}

	subscribeCases := []struct {
		filter string
		ok     bool
	}{
		{"hwt/v1/T1/cmd", true},
		{"hwt/v1/T1/video/+/answer", true},
		{"hwt/v1/T1/video/2/candidate", true},
		{"hwt/v1/T1/video/#", true},
		{"hwt/v1/T2/cmd", false},
		{"hwt/v1/T2/video/2/answer", false},
		{"hwt/v1/+/video/+/answer", false},
		{"hwt/v1/+/cmd", false},
	}
	for _, tc := range subscribeCases {
		t.Run("subscribe "+tc.filter, func(t *testing.T) {
			tok := t1.Subscribe(tc.filter, 1, nil)
			if !tok.WaitTimeout(3 * time.Second) {
				t.Fatal("subscribe timed out")
			}
			result := tok.(*paho.SubscribeToken).Result()[tc.filter]
			if granted := result != 0x80; granted != tc.ok {
				t.Fatalf("subscribe %q granted=%v (code %#x), want %v", tc.filter, granted, result, tc.ok)
			}
		})
	}

	// Each vehicle listens on its own command topic; the server addresses
	// T1 only.
	var mu sync.Mutex
	got := map[string][]string{}
	for name, c := range map[string]paho.Client{"T1": t1, "T2": t2} {
		topic := "hwt/v1/" + name + "/cmd"
		tok := c.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
			mu.Lock()
			got[name] = append(got[name], m.Topic())
			mu.Unlock()
		})
		if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
			t.Fatalf("%s subscribe to its command topic: %v", name, tok.Error())
		}
	}
	if err := b.PublishReliable("hwt/v1/T1/cmd", []byte(`{"cmd":"video_start","channel":2,"session":"s1"}`)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		n1 := len(got["T1"])
		mu.Unlock()
		if n1 == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // time for a wrong delivery to T2
	mu.Lock()
	defer mu.Unlock()
	if len(got["T1"]) != 1 {
		t.Errorf("T1 received %v on its command topic, want one message", got["T1"])
	}
	if len(got["T2"]) != 0 {
		t.Errorf("T2 received %v, which was addressed to T1", got["T2"])
	}

	// A vehicle's offer on its own topic reaches the handler; one on
	// another vehicle's topic does not.
	own := t1.Publish("hwt/v1/T1/video/2/offer", 1, false, `{"session":"s1","sdp":"v=0"}`)
	if !own.WaitTimeout(3*time.Second) || own.Error() != nil {
		t.Fatalf("publish offer on own topic: %v", own.Error())
	}
	t1.Publish("hwt/v1/T2/video/2/offer", 0, false, `{"session":"s1","sdp":"v=0"}`).Wait()
	flush := t1.Publish("hwt/v1/T1/status", 1, false, `{"online":true}`)
	flush.WaitTimeout(3 * time.Second)
	for _, topic := range rec.topics() {
		if topic == "hwt/v1/T2/video/2/offer" {
			t.Errorf("handler received T1's publish on T2's offer topic")
		}
	}
}
