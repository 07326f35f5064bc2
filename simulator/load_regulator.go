package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/hwtrack/hwtrack/model"
)

// loadInjection is one detour a vehicle drove. The vehicle's goroutine
// writes publishes while the detour is active; everything is read after
// the vehicles have stopped.
type loadInjection struct {
	Terminal  string    `json:"terminal"`
	StartedAt time.Time `json:"started_at"` // fix time of leaving the route
	EndsAt    time.Time `json:"ends_at"`    // fix time of being back on it
	Lat       float64   `json:"lat"`
	Lon       float64   `json:"lon"`
	OffsetM   float64   `json:"offset_m"`

	DeviationID string `json:"deviation_id,omitempty"`
	Opened      bool   `json:"opened"`
	Closed      bool   `json:"closed"`
	// EndToEndMs is from the publish of the message whose fix opened the
	// deviation to the open message reaching the regulator broker; -1
	// when unknown. ServerMs is the part after the server received that
	// message.
	EndToEndMs float64 `json:"end_to_end_ms"`
	ServerMs   float64 `json:"server_ms"`

	wallStart  time.Time
	publishes  []time.Time // wall time of every message sent during the detour
	vehicleIdx int
}

// regulatorMessage is the part of a forwarded deviation the run checks.
type regulatorMessage struct {
	ID          string `json:"id"`
	DeviationID string `json:"deviation_id"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	Terminal    string `json:"terminal"`
	StartedAt   string `json:"started_at"`
	ReceivedAt  string `json:"received_at"`
	arrived     time.Time
}

// regulatorWatch subscribes to the regulator broker and keeps the
// deviations forwarded for this run's vehicles.
type regulatorWatch struct {
	client mqtt.Client
	prefix string

	// mu guards msgs.
	mu   sync.Mutex
	msgs []regulatorMessage
}

func watchRegulator(ctx context.Context, broker, prefix, runID string, log *slog.Logger) (*regulatorWatch, error) {
	if _, err := url.Parse(broker); err != nil {
		return nil, fmt.Errorf("invalid regulator url %q: %w", broker, err)
	}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	w := &regulatorWatch{prefix: "ld" + runID + "-"}
	opts := mqtt.NewClientOptions().
		AddBroker(broker).
		SetClientID("hwtrack-sim-load-" + hex.EncodeToString(b[:])).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetOrderMatters(false)
	w.client = mqtt.NewClient(opts)
	if err := waitToken(ctx, w.client.Connect(), defaultConnectTimeout); err != nil {
		return nil, fmt.Errorf("connect to regulator broker %s: %w", broker, err)
	}
	topic := strings.TrimSuffix(prefix, "/") + "/deviations/+"
	err := waitToken(ctx, w.client.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) {
		arrived := time.Now()
		var msg regulatorMessage
		if err := json.Unmarshal(m.Payload(), &msg); err != nil {
			log.Warn("regulator message not understood", "topic", m.Topic(), "err", err)
			return
		}
		if !strings.HasPrefix(msg.Terminal, w.prefix) {
			return
		}
		msg.arrived = arrived
		w.mu.Lock()
		w.msgs = append(w.msgs, msg)
		w.mu.Unlock()
	}), defaultConnectTimeout)
	if err != nil {
		w.client.Disconnect(0)
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	return w, nil
}

func (w *regulatorWatch) messages() []regulatorMessage {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.msgs)
}

func (w *regulatorWatch) close() { w.client.Disconnect(100) }

// DeviationCounts accounts for the injected detours.
type DeviationCounts struct {
	// NotChecked is the reason deviations were not accounted for, if so.
	NotChecked string `json:"not_checked,omitempty"`
	// Source is "regulator" when forwarded messages were matched, "api"
	// when the server's deviation list was read instead.
	Source   string `json:"source,omitempty"`
	Injected int    `json:"injected"`
	// InjectRejected counts detour requests a vehicle turned down because
	// its route bent back too close on both sides.
	InjectRejected int `json:"inject_rejected"`
	Opened         int `json:"opened"`
	Closed         int `json:"closed"`
	Missing        int `json:"missing"`
	// Unexpected route deviations are ones no injected detour explains.
	Unexpected int `json:"unexpected_route_deviations"`
	// Duplicates are messages received again with the same id, which the
	// regulator drops by id.
	Duplicates int `json:"duplicate_messages"`
	// OtherKinds counts opened episodes of other kinds, such as the
	// restricted zones a route crosses.
	OtherKinds map[string]int  `json:"other_kinds"`
	EndToEnd   LatencySummary  `json:"end_to_end"`
	ServerPart LatencySummary  `json:"server_part"`
	Detours    []loadInjection `json:"detours,omitempty"`
}

// accountDeviations matches the injected detours with the deviations the
// server raised, waiting up to the drain time for them to arrive.
func (r *loadRun) accountDeviations(ctx context.Context, reg *regulatorWatch) DeviationCounts {
	r.mu.Lock()
	injections := slices.Clone(r.injections)
	r.mu.Unlock()
	out := DeviationCounts{Injected: len(injections), InjectRejected: int(r.injectRejected.Load()), OtherKinds: map[string]int{}}

	var msgs []regulatorMessage
	deadline := time.Now().Add(r.opts.Drain)
	for {
		if reg != nil {
			out.Source = "regulator"
			msgs = reg.messages()
		} else {
			out.Source = "api"
			var err error
			if msgs, err = r.deviationsFromAPI(ctx, injections); err != nil {
				r.log.Warn("deviations not read", "err", err)
			}
		}
		if matchInjections(injections, msgs, &out) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}

	var e2e, server latencyHist
	for _, inj := range injections {
		if inj.EndToEndMs >= 0 && inj.Opened && reg != nil {
			e2e.Add(time.Duration(inj.EndToEndMs * float64(time.Millisecond)))
			server.Add(time.Duration(inj.ServerMs * float64(time.Millisecond)))
		}
		out.Detours = append(out.Detours, *inj)
	}
	out.EndToEnd, out.ServerPart = e2e.summary(), server.summary()
	return out
}

// matchInjections pairs each injection with the route deviation of its
// vehicle that started within it, and reports whether every injection
// has been opened and closed.
func matchInjections(injections []*loadInjection, msgs []regulatorMessage, out *DeviationCounts) bool {
	byTerminal := map[string][]*loadInjection{}
	for _, inj := range injections {
		inj.Opened, inj.Closed, inj.DeviationID, inj.EndToEndMs, inj.ServerMs = false, false, "", -1, -1
		byTerminal[inj.Terminal] = append(byTerminal[inj.Terminal], inj)
	}
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].arrived.Before(msgs[j].arrived) })

	out.Opened, out.Closed, out.Unexpected, out.Duplicates = 0, 0, 0, 0
	clear(out.OtherKinds)
	seen := map[string]bool{}
	unexpected := map[string]bool{}
	for _, m := range msgs {
		if seen[m.ID] {
			out.Duplicates++
			continue
		}
		seen[m.ID] = true
		if m.Kind != model.KindRouteDeviation.String() {
			if m.State == model.StateOpen.String() {
				out.OtherKinds[m.Kind]++
			}
			continue
		}
		started, err := time.Parse(time.RFC3339Nano, m.StartedAt)
		if err != nil {
			continue
		}
		var inj *loadInjection
		for _, c := range byTerminal[m.Terminal] {
			if c.DeviationID == m.DeviationID || (c.DeviationID == "" && !started.Before(c.StartedAt) && !started.After(c.EndsAt)) {
				inj = c
				break
			}
		}
		if inj == nil {
			unexpected[m.DeviationID] = true
			continue
		}
		inj.DeviationID = m.DeviationID
		switch m.State {
		case model.StateOpen.String():
			inj.Opened = true
			inj.EndToEndMs, inj.ServerMs = openLatency(inj, m)
		case model.StateClosed.String():
			inj.Closed = true
		}
	}

	complete := true
	for _, inj := range injections {
		if inj.Opened {
			out.Opened++
		}
		if inj.Closed {
			out.Closed++
		}
		complete = complete && inj.Opened && inj.Closed
	}
	out.Missing = len(injections) - out.Opened
	out.Unexpected = len(unexpected)
	return complete
}

// openLatency returns the milliseconds from the publish of the message
// that opened the deviation to its arrival at the regulator, and from the
// server receiving that message to the arrival. The opening message is
// the vehicle's last one published before the server's received_at; the
// clocks are the same because both run on this machine.
func openLatency(inj *loadInjection, m regulatorMessage) (float64, float64) {
	received, err := time.Parse(time.RFC3339Nano, m.ReceivedAt)
	if err != nil || m.arrived.IsZero() {
		return -1, -1
	}
	// received_at has millisecond precision; allow for the truncation.
	limit := received.Add(time.Millisecond)
	i := sort.Search(len(inj.publishes), func(i int) bool { return inj.publishes[i].After(limit) })
	if i == 0 {
		return -1, -1
	}
	sent := inj.publishes[i-1]
	total := m.arrived.Sub(sent)
	return float64(total) / 1e6, float64(min(m.arrived.Sub(received), total)) / 1e6
}

// deviationsFromAPI reads the route deviations of the injected vehicles
// from the server, as regulator messages without arrival times.
func (r *loadRun) deviationsFromAPI(ctx context.Context, injections []*loadInjection) ([]regulatorMessage, error) {
	terminals := map[string]bool{}
	for _, inj := range injections {
		terminals[inj.Terminal] = true
	}
	var out []regulatorMessage
	for t := range terminals {
		devs, err := r.api.Deviations(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			m := regulatorMessage{
				ID: d.ID + ":open", DeviationID: d.ID, Kind: d.Kind.String(), State: model.StateOpen.String(),
				Terminal: d.Terminal, StartedAt: d.StartedAt.Format(time.RFC3339Nano),
			}
			out = append(out, m)
			if d.State == model.StateClosed {
				m.ID, m.State = d.ID+":closed", model.StateClosed.String()
				out = append(out, m)
			}
		}
	}
	return out, nil
}
