package simulator

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/paulmach/orb"
)

// loadVehicle is one synthetic vehicle of a load run. Apart from the
// atomic fields, its state is owned by the goroutine that runs it.
type loadVehicle struct {
	index    int
	terminal string
	password string
	route    *LoadRoute
	startM   float64 // start position along the route's out-and-back path, metres
	speedKmh float64
	source   net.IP // local address to connect from; nil lets the system choose

	client    mqtt.Client
	seq       uint64
	lastSim   time.Time     // fix time of the last fix sent
	pausedSim time.Duration // fix time spent on finished detours
	detour    *activeDetour
	payload   []byte

	// injectReq requests a detour that starts at the vehicle's next publish.
	injectReq atomic.Bool
	busy      atomic.Bool // set while a detour is requested or active
	lost      atomic.Bool // the connection broke or an acknowledgement failed
}

// activeDetour moves a vehicle straight away from its route and back:
// out at its own speed to outM metres, then back to the point it left.
type activeDetour struct {
	inj      *loadInjection
	startSim time.Time
	anchor   orb.Point
	eastU    float64 // unit direction away from the route
	northU   float64
	outM     float64
	speedMs  float64
	durSim   time.Duration
	heading  float64 // bearing of the way out
}

// position returns where the vehicle is at fix time t and its heading.
// It must be called with non-decreasing t, because a detour that t has
// passed ends here.
func (v *loadVehicle) position(t time.Time, run *loadRun) (orb.Point, float64) {
	if d := v.detour; d != nil && !t.Before(d.startSim) {
		// Fixes of a batch that precede the detour's start stay on the
		// route.
		elapsed := t.Sub(d.startSim)
		if elapsed < d.durSim {
			travelled := d.speedMs * elapsed.Seconds()
			offset, heading := travelled, d.heading
			if travelled > d.outM {
				offset, heading = 2*d.outM-travelled, math.Mod(d.heading+180, 360)
			}
			return offsetPoint(d.anchor, d.eastU*offset, d.northU*offset), heading
		}
		v.pausedSim += d.durSim
		v.detour = nil
		v.busy.Store(false)
		run.detoursActive.Add(-1)
	}
	travelledM := v.speedKmh / 3.6 * t.Sub(run.simStart).Seconds()
	travelledM -= v.speedKmh / 3.6 * v.pausedSim.Seconds()
	return v.route.pingPong(v.startM, travelledM)
}

// detourProbeStepM is the spacing of the points checked along a planned
// detour.
const detourProbeStepM = 50

// startDetour plans a detour from the vehicle's position at fix time t.
// It tries both sides of the route and keeps the first that passes two
// checks. Every point of the way out must be about as far from the whole
// route as from the point it left, up to 600 m. The turning point must be
// at least 600 m from the route. A side fails where the route bends back
// near it.
func (v *loadVehicle) startDetour(t time.Time, run *loadRun) bool {
	anchor, heading := v.position(t, run)
	outM := run.opts.DetourM
	sides := []float64{90, -90}
	if rand.IntN(2) == 1 {
		sides[0], sides[1] = sides[1], sides[0]
	}
	for _, side := range sides {
		bearing := math.Mod(heading+side+360, 360)
		sin, cos := math.Sincos(bearing * math.Pi / 180)
		ok := true
		for d := float64(detourProbeStepM); d <= outM; d += detourProbeStepM {
			p := offsetPoint(anchor, sin*d, cos*d)
			if DistanceToRouteM(p, v.route.Line) < 0.9*math.Min(d, MinDeviationM) {
				ok = false
				break
			}
		}
		if !ok || DistanceToRouteM(offsetPoint(anchor, sin*outM, cos*outM), v.route.Line) < MinDeviationM {
			continue
		}
		speedMs := v.speedKmh / 3.6
		v.detour = &activeDetour{
			startSim: t, anchor: anchor, eastU: sin, northU: cos, outM: outM, speedMs: speedMs,
			durSim:  time.Duration(2 * outM / speedMs * float64(time.Second)),
			heading: bearing,
		}
		v.detour.inj = run.addInjection(v, v.detour)
		run.detoursActive.Add(1)
		return true
	}
	return false
}

// connect opens the vehicle's MQTT connection, retrying while the server
// refuses connections for its connect rate.
func (v *loadVehicle) connect(ctx context.Context, run *loadRun) error {
	opts := mqtt.NewClientOptions().
		AddBroker(run.opts.Broker).
		SetClientID(v.terminal).
		SetUsername(v.terminal).
		SetPassword(v.password).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectTimeout(run.opts.ConnectTimeout).
		// A saturated broker reads a PINGREQ only after the publishes
		// queued before it, so the keep-alive allows for a long backlog.
		SetKeepAlive(120 * time.Second).
		SetPingTimeout(60 * time.Second).
		SetWriteTimeout(run.opts.AckTimeout).
		SetOrderMatters(false).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			if !v.lost.Swap(true) {
				run.connectionsLost.Add(1)
				run.log.Warn("mqtt connection lost", "vehicle_id", v.terminal, "err", err)
			}
		})
	if strings.HasPrefix(run.opts.Broker, "tcp://") || strings.HasPrefix(run.opts.Broker, "mqtt://") {
		// A dialer of our own binds the source address, and keeps paho
		// from sending loopback traffic through a proxy named in the
		// environment.
		source := v.source
		opts.SetCustomOpenConnectionFn(func(uri *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
			d := net.Dialer{Timeout: o.ConnectTimeout}
			if source != nil {
				d.LocalAddr = &net.TCPAddr{IP: source}
			}
			return d.Dial("tcp", uri.Host)
		})
	}
	v.client = mqtt.NewClient(opts)

	var err error
	for attempt := range run.opts.ConnectAttempts {
		if attempt > 0 {
			run.connectRetries.Add(1)
			backoff := time.Duration(500+rand.IntN(1500)) * time.Millisecond
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
		}
		if err = waitToken(ctx, v.client.Connect(), run.opts.ConnectTimeout); err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("connect %s: %w", v.terminal, err)
}

type pendingPublish struct {
	token mqtt.Token
	sent  time.Time
	fixes int
}

// publishLoop publishes until stopAt, keeping at most Window messages
// unacknowledged, then waits for the outstanding acknowledgements.
func (v *loadVehicle) publishLoop(ctx context.Context, run *loadRun) {
	opts := run.opts
	every := opts.Interval * time.Duration(opts.BatchSize)
	next := time.Now()
	if every > 0 {
		// A random phase spreads the fleet's publishes over the interval.
		next = next.Add(time.Duration(rand.Int64N(int64(every))))
	}
	window := make([]pendingPublish, 0, opts.Window)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	topic := TopicPrefix + v.terminal + "/fix"

	settle := func(p pendingPublish, at time.Time) bool {
		if err := p.token.Error(); err != nil {
			run.ackErrors.Add(1)
			if !v.lost.Swap(true) {
				run.log.Warn("publish failed", "vehicle_id", v.terminal, "err", err)
			}
			return false
		}
		run.recordAck(at, at.Sub(p.sent), p.fixes)
		return true
	}

	for {
		now := time.Now()
		for len(window) > 0 && tokenDone(window[0].token) {
			if !settle(window[0], now) {
				return
			}
			window = window[1:]
		}
		if v.lost.Load() || ctx.Err() != nil || !now.Before(run.stopAt) {
			break
		}

		wake := run.stopAt
		full := len(window) >= opts.Window
		due := every == 0 || !now.Before(next)
		if !full && due {
			v.publish(topic, now, run, &window)
			if every > 0 {
				next = next.Add(every)
				if next.Before(now.Add(-every)) {
					// Far behind: the offered rate is not being met, so
					// publish as fast as the window allows without a
					// burst to catch up.
					next = now
				}
			}
			continue
		}
		if !full && next.Before(wake) {
			wake = next
		}
		var oldest <-chan struct{}
		if len(window) > 0 {
			oldest = window[0].token.Done()
			if deadline := window[0].sent.Add(opts.AckTimeout); deadline.Before(wake) {
				wake = deadline
			}
		}
		if len(window) > 0 && !now.Before(window[0].sent.Add(opts.AckTimeout)) {
			run.ackTimeouts.Add(1)
			v.lost.Store(true)
			run.log.Warn("acknowledgement timed out", "vehicle_id", v.terminal, "timeout", opts.AckTimeout)
			return
		}
		timer.Reset(time.Until(wake))
		select {
		case <-ctx.Done():
		case <-oldest:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}

	// Wait for what is still unacknowledged.
	for _, p := range window {
		if err := waitToken(context.Background(), p.token, opts.AckTimeout); err != nil {
			run.ackTimeouts.Add(1)
			return
		}
		if !settle(p, time.Now()) {
			return
		}
	}
}

func tokenDone(t mqtt.Token) bool {
	select {
	case <-t.Done():
		return true
	default:
		return false
	}
}

// publish sends one message of BatchSize fixes whose fix times are spread
// evenly from the last fix sent up to the current fix time.
func (v *loadVehicle) publish(topic string, now time.Time, run *loadRun, window *[]pendingPublish) {
	opts := run.opts
	simNow := run.simTime(now)
	if v.injectReq.Swap(false) {
		if !v.startDetour(simNow, run) {
			v.busy.Store(false)
			run.injectRejected.Add(1)
			run.injectReturned.Add(1)
		}
	}

	n := opts.BatchSize
	prev := v.lastSim
	if prev.IsZero() {
		prev = simNow.Add(-time.Duration(n) * opts.fixInterval())
	}
	step := simNow.Sub(prev) / time.Duration(n)
	step = max(step, time.Millisecond)

	b := v.payload[:0]
	if n > 1 {
		b = append(b, '[')
	}
	for k := range n {
		t := prev.Add(step * time.Duration(k+1)).Truncate(time.Millisecond)
		if !t.After(v.lastSim) {
			t = v.lastSim.Add(time.Millisecond)
		}
		v.lastSim = t
		p, heading := v.position(t, run)
		v.seq++
		if k > 0 {
			b = append(b, ',')
		}
		b = appendLoadFix(b, t, p, v.speedKmh, heading, v.seq)
	}
	if n > 1 {
		b = append(b, ']')
	}
	v.payload = b

	if d := v.detour; d != nil {
		d.inj.publishes = append(d.inj.publishes, now)
	}
	// paho keeps the slice until the packet is written, so each message
	// gets its own copy.
	msg := make([]byte, len(b))
	copy(msg, b)
	token := v.client.Publish(topic, opts.QoS, false, msg)
	run.recordSent(now, n)
	*window = append(*window, pendingPublish{token: token, sent: now, fixes: n})
}

// appendLoadFix appends one protocol v1 fix object with the time in Unix
// milliseconds, which the server decodes without parsing a date.
func appendLoadFix(b []byte, t time.Time, p orb.Point, speedKmh, heading float64, seq uint64) []byte {
	b = append(b, `{"time":`...)
	b = strconv.AppendInt(b, t.UnixMilli(), 10)
	b = append(b, `,"lat":`...)
	b = strconv.AppendFloat(b, p.Lat(), 'f', 7, 64)
	b = append(b, `,"lon":`...)
	b = strconv.AppendFloat(b, p.Lon(), 'f', 7, 64)
	b = append(b, `,"speed":`...)
	b = strconv.AppendFloat(b, speedKmh, 'f', 1, 64)
	b = append(b, `,"heading":`...)
	b = strconv.AppendFloat(b, heading, 'f', 1, 64)
	b = append(b, `,"valid":true,"sats":12,"hdop":0.8,"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	return append(b, '}')
}

// disconnect closes the connection without waiting for work in flight.
func (v *loadVehicle) disconnect() {
	if v.client != nil && v.client.IsConnectionOpen() {
		v.client.Disconnect(50)
	}
}
