package video

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	rtpcodecs "github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/h264reader"
)

// TestRelayLoad measures the relay on loopback, with cameras and viewers
// in this process: 1 camera to 20 viewers, and 20 cameras to 1 viewer
// each. Each case runs once through the relay and once with the same
// peers connected directly, so the relay's cost is the difference. It
// takes about a minute and runs only with HWTRACK_VIDEO_BENCH=1:
//
//	HWTRACK_VIDEO_BENCH=1 go test -run TestRelayLoad -v ./video/
func TestRelayLoad(t *testing.T) {
	if os.Getenv("HWTRACK_VIDEO_BENCH") != "1" {
		t.Skip("set HWTRACK_VIDEO_BENCH=1 to run the relay load measurement (about a minute)")
	}
	frames := benchFrames(t)
	cases := []struct {
		name             string
		cameras, viewers int
	}{
		{"1 camera to 20 viewers", 1, 20},
		{"20 cameras to 1 viewer each", 20, 1},
	}
	fmt.Printf("| case | path | packets/s in | packets/s out | CPU (cores) | heap in use | RSS | latency p50 | latency p99 |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, tc := range cases {
		for _, relayed := range []bool{false, true} {
			res := runLoad(t, frames, tc.cameras, tc.viewers, relayed)
			path := "direct"
			if relayed {
				path = "relay"
			}
			fmt.Printf("| %s | %s | %.0f | %.0f | %.2f | %.1f MiB | %.1f MiB | %s | %s |\n", tc.name, path,
				res.inRate, res.outRate, res.cores, res.heapMiB, res.rssMiB, res.p50, res.p99)
		}
	}
}

type loadResult struct {
	inRate, outRate float64
	cores           float64
	heapMiB, rssMiB float64
	p50, p99        time.Duration
}

// benchFrames returns the H.264 access units of a 1280x720 test pattern
// at 30 fps and about 2 Mbit/s, the size of a dashboard camera's main
// stream, made with ffmpeg.
func benchFrames(t *testing.T) [][]byte {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not found: install it (apt-get install ffmpeg) to run the relay load measurement")
	}
	path := filepath.Join(t.TempDir(), "clip.h264")
	msg, err := exec.Command(ffmpeg, "-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=1280x720:rate=30",
		"-t", "4", "-c:v", "libx264", "-profile:v", "baseline", "-pix_fmt", "yuv420p", "-g", "30",
		"-b:v", "2M", "-maxrate", "2M", "-bufsize", "1M", "-bsf:v", "h264_mp4toannexb", "-f", "h264", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, msg)
	}

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	r, err := h264reader.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	var au []byte
	for {
		nal, err := r.NextNAL()
		if err != nil {
			break
		}
		t := nal.Data[0] & 0x1f
		if (t == 7 || (t == 1 || t == 5) && len(nal.Data) > 1 && nal.Data[1]&0x80 != 0 && !slices.Contains([]byte{7, 8}, lastType(au))) && len(au) > 0 {
			out = append(out, au)
			au = nil
		}
		au = append(au, 0, 0, 0, 1)
		au = append(au, nal.Data...)
	}
	return append(out, au)
}

// lastType returns the NAL type of the last NAL unit in an Annex B
// buffer, or 0.
func lastType(au []byte) byte {
	for i := len(au) - 4; i >= 0; i-- {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 0 && au[i+3] == 1 && i+4 < len(au) {
			return au[i+4] & 0x1f
		}
	}
	return 0
}

func benchAPI(t *testing.T) *webrtc.API {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	m := &webrtc.MediaEngine{}
	if err := RegisterCodecs(m); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		t.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir))
}

// benchCamera sends the clip as RTP at 30 fps and records when each
// sequence number left.
type benchCamera struct {
	terminal string
	track    *webrtc.TrackLocalStaticRTP
	sentAt   [65536]atomic.Int64
	sent     atomic.Int64
}

func newBenchCamera(t *testing.T, terminal string) *benchCamera {
	track, err := webrtc.NewTrackLocalStaticRTP(h264Capability("42e01f"), "video", terminal)
	if err != nil {
		t.Fatal(err)
	}
	return &benchCamera{terminal: terminal, track: track}
}

func (c *benchCamera) play(ctx context.Context, frames [][]byte) {
	p := rtp.NewPacketizer(1200, 102, 1, &rtpcodecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	tick := time.NewTicker(time.Second / 30)
	defer tick.Stop()
	for i := 0; ; i = (i + 1) % len(frames) {
		for _, pkt := range p.Packetize(frames[i], 3000) {
			c.sentAt[pkt.SequenceNumber].Store(time.Now().UnixNano())
			if err := c.track.WriteRTP(pkt); err == nil {
				c.sent.Add(1)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// benchViewer records the delay of every packet it receives from its
// camera.
type benchViewer struct {
	cam      *benchCamera
	received atomic.Int64
	mu       sync.Mutex
	delays   []time.Duration
	measure  *atomic.Bool
}

func (v *benchViewer) onTrack(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	buf := make([]byte, 1600)
	var pkt rtp.Packet
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		if pkt.Unmarshal(buf[:n]) != nil {
			continue
		}
		v.received.Add(1)
		if v.measure.Load() {
			d := time.Duration(now - v.cam.sentAt[pkt.SequenceNumber].Load())
			v.mu.Lock()
			v.delays = append(v.delays, d)
			v.mu.Unlock()
		}
	}
}

func newViewerPC(t *testing.T, api *webrtc.API, v *benchViewer) (*webrtc.PeerConnection, string) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(v.onTrack)
	return pc, completeOffer(t, pc)
}

func completeOffer(t *testing.T, pc *webrtc.PeerConnection) string {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// connectDirect connects a camera's track straight to a viewer.
func connectDirect(t *testing.T, api *webrtc.API, cam *benchCamera, v *benchViewer) []*webrtc.PeerConnection {
	viewerPC, offer := newViewerPC(t, api, v)
	camPC, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := camPC.AddTrack(cam.track); err != nil {
		t.Fatal(err)
	}
	if err := camPC.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		t.Fatal(err)
	}
	answer, err := camPC.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(camPC)
	if err := camPC.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	if err := viewerPC.SetRemoteDescription(*camPC.LocalDescription()); err != nil {
		t.Fatal(err)
	}
	return []*webrtc.PeerConnection{viewerPC, camPC}
}

// benchVehicles plays the vehicles' side of the MQTT signalling in
// process: the relay's Publish calls land here.
type benchVehicles struct {
	t       *testing.T
	api     *webrtc.API
	relay   *Relay
	cameras map[string]*benchCamera
	mu      sync.Mutex
	pcs     map[string]*webrtc.PeerConnection
}

func (b *benchVehicles) publish(topic string, payload []byte) error {
	parts := strings.Split(topic, "/")
	terminal := parts[2]
	switch {
	case parts[3] == "cmd":
		var cmd Command
		if err := json.Unmarshal(payload, &cmd); err != nil {
			return err
		}
		if cmd.Cmd == CmdVideoStart {
			go b.start(terminal, cmd)
		}
	case len(parts) == 6 && parts[5] == SubtopicAnswer:
		var d Description
		_ = json.Unmarshal(payload, &d)
		b.mu.Lock()
		pc := b.pcs[terminal]
		b.mu.Unlock()
		return pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: d.SDP})
	case len(parts) == 6 && parts[5] == SubtopicCandidate:
		var c Candidate
		_ = json.Unmarshal(payload, &c)
		if c.Candidate == "" {
			return nil
		}
		b.mu.Lock()
		pc := b.pcs[terminal]
		b.mu.Unlock()
		return pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
	}
	return nil
}

func (b *benchVehicles) start(terminal string, cmd Command) {
	pc, err := b.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		b.t.Error(err)
		return
	}
	if _, err := pc.AddTransceiverFromTrack(b.cameras[terminal].track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		b.t.Error(err)
		return
	}
	b.mu.Lock()
	b.pcs[terminal] = pc
	b.mu.Unlock()
	offer := completeOffer(b.t, pc)
	payload, _ := json.Marshal(Description{Session: cmd.Session, Type: "offer", SDP: offer})
	b.relay.HandleMessage(terminal, ChannelTopic(terminal, cmd.Channel, SubtopicOffer), payload)
}

func runLoad(t *testing.T, frames [][]byte, nCameras, nViewers int, relayed bool) loadResult {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	api := benchAPI(t)
	measure := &atomic.Bool{}
	var cameras []*benchCamera
	var viewers []*benchViewer
	var pcs []*webrtc.PeerConnection
	camByTerminal := map[string]*benchCamera{}
	for i := range nCameras {
		cam := newBenchCamera(t, "B"+strconv.Itoa(i))
		cameras = append(cameras, cam)
		camByTerminal[cam.terminal] = cam
		go cam.play(ctx, frames)
	}

	var relay *Relay
	if relayed {
		vehicles := &benchVehicles{t: t, api: api, cameras: camByTerminal, pcs: map[string]*webrtc.PeerConnection{}}
		var err error
		relay, err = New(Options{
			Publish:  vehicles.publish,
			Online:   func(string) bool { return true },
			Channels: func(string) ([]int, bool) { return []int{2}, true },
			ICE:      ICEConfig{UDPAddr: "127.0.0.1:0"},
			Logger:   discardLogger(),
		})
		if err != nil {
			t.Fatal(err)
		}
		vehicles.relay = relay
		defer relay.Close()
		defer func() {
			for _, pc := range vehicles.pcs {
				pc.Close()
			}
		}()
	}
	for _, cam := range cameras {
		for range nViewers {
			v := &benchViewer{cam: cam, measure: measure}
			viewers = append(viewers, v)
			if !relayed {
				pcs = append(pcs, connectDirect(t, api, cam, v)...)
				continue
			}
			pc, offer := newViewerPC(t, api, v)
			pcs = append(pcs, pc)
			joined, err := relay.Join(ctx, cam.terminal, 2, offer)
			if err != nil {
				t.Fatalf("join %s: %v", cam.terminal, err)
			}
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: joined.Answer}); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer func() {
		for _, pc := range pcs {
			pc.Close()
		}
	}()

	time.Sleep(3 * time.Second) // ICE, DTLS and the first keyframe
	runtime.GC()
	const window = 10 * time.Second
	sentBefore, recvBefore := sumSent(cameras), sumReceived(viewers)
	cpuBefore := cpuTime()
	measure.Store(true)
	time.Sleep(window)
	measure.Store(false)
	cpu := cpuTime() - cpuBefore
	sent, recv := sumSent(cameras)-sentBefore, sumReceived(viewers)-recvBefore

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var delays []time.Duration
	for _, v := range viewers {
		v.mu.Lock()
		delays = append(delays, v.delays...)
		v.mu.Unlock()
	}
	slices.Sort(delays)
	res := loadResult{
		inRate:  float64(sent) / window.Seconds(),
		outRate: float64(recv) / window.Seconds(),
		cores:   cpu.Seconds() / window.Seconds(),
		heapMiB: float64(ms.HeapInuse) / (1 << 20),
		rssMiB:  rssMiB(),
	}
	if len(delays) > 0 {
		res.p50 = delays[len(delays)/2].Round(time.Microsecond)
		res.p99 = delays[len(delays)*99/100].Round(time.Microsecond)
	}
	if recv < sent*int64(nViewers)*9/10 {
		t.Errorf("viewers received %d packets of the %d sent times %d viewers", recv, sent, nViewers)
	}
	return res
}

func sumSent(cams []*benchCamera) int64 {
	var n int64
	for _, c := range cams {
		n += c.sent.Load()
	}
	return n
}

func sumReceived(vs []*benchViewer) int64 {
	var n int64
	for _, v := range vs {
		n += v.received.Load()
	}
	return n
}

// cpuTime returns the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rssMiB returns the resident set size from /proc/self/status, or 0.
func rssMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
