package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/hwtrack/hwtrack/video"
)

// maxWHEPAnswer bounds the answer body read from the server.
const maxWHEPAnswer = 1 << 20

// ViewerConfig configures a WHEP viewer of one camera channel.
type ViewerConfig struct {
	// API is the hwtrack API base URL, such as http://127.0.0.1:8080.
	API      string
	APIToken string
	Terminal string
	Channel  int
	// LoopbackOnly restricts ICE to 127.0.0.1 over UDP, for tests and
	// load runs against a server on the same machine.
	LoopbackOnly bool
	// HTTPClient sends the WHEP requests. Nil means one with a 30 s
	// timeout, longer than the server's start timeout.
	HTTPClient *http.Client
}

// Viewer is a WebRTC viewer that joined a camera channel over WHEP and
// counts the RTP it receives. Its counters are safe to read at any time.
type Viewer struct {
	cfg      ViewerConfig
	pc       *webrtc.PeerConnection
	location *url.URL
	http     *http.Client
	joined   time.Time // when the offer was posted

	packets atomic.Int64
	bytes   atomic.Int64
	// firstNs is the time from posting the offer to the first RTP packet,
	// in nanoseconds, or 0 until one arrives.
	firstNs atomic.Int64
	failed  atomic.Bool // the peer connection failed after joining
	readers sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// ErrWHEPRejected is returned by JoinViewer when the server responds to
// the offer with a status other than 201. The error wraps an *APIError
// with the status and the server's error code and message.
var ErrWHEPRejected = errors.New("WHEP offer rejected")

// JoinViewer posts a receive-only offer with all its ICE candidates to
// the channel's WHEP endpoint and applies the answer. It returns once the
// answer is applied, and video follows when ICE connects.
func JoinViewer(ctx context.Context, cfg ViewerConfig) (*Viewer, error) {
	endpoint, err := url.Parse(strings.TrimRight(cfg.API, "/") + fmt.Sprintf("/api/v1/video/%s/%d/whep", url.PathEscape(cfg.Terminal), cfg.Channel))
	if err != nil {
		return nil, fmt.Errorf("join viewer: %w", err)
	}
	api, err := viewerAPI(cfg.LoopbackOnly)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("join viewer: new peer connection: %w", err)
	}
	v := &Viewer{cfg: cfg, pc: pc, http: cfg.HTTPClient}
	if v.http == nil {
		v.http = &http.Client{Timeout: 30 * time.Second}
	}
	fail := func(err error) (*Viewer, error) {
		_ = pc.Close()
		v.readers.Wait()
		return nil, err
	}

	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return fail(fmt.Errorf("join viewer: add transceiver: %w", err))
	}
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		v.readers.Add(1)
		go v.read(track)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateFailed {
			v.failed.Store(true)
		}
	})

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(fmt.Errorf("join viewer: create offer: %w", err))
	}
	// WHEP here takes no trickled candidates, so the offer waits for all.
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(fmt.Errorf("join viewer: set offer: %w", err))
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(fmt.Errorf("join viewer: gather candidates: %w", ctx.Err()))
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint.String(), strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(fmt.Errorf("join viewer: %w", err))
	}
	req.Header.Set("Content-Type", "application/sdp")
	if cfg.APIToken != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.APIToken)
	}
	v.joined = time.Now()
	resp, err := v.http.Do(req)
	if err != nil {
		return fail(fmt.Errorf("join viewer: post offer: %w", err))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWHEPAnswer))
	resp.Body.Close()
	if err != nil {
		return fail(fmt.Errorf("join viewer: read SDP answer: %w", err))
	}
	if resp.StatusCode != http.StatusCreated {
		return fail(fmt.Errorf("%w: %w", ErrWHEPRejected, newAPIError(http.MethodPost, endpoint.Path, resp.StatusCode, body)))
	}
	loc, err := endpoint.Parse(resp.Header.Get("Location"))
	if err != nil || resp.Header.Get("Location") == "" {
		return fail(fmt.Errorf("join viewer: invalid or missing Location %q in the 201 response", resp.Header.Get("Location")))
	}
	v.location = loc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		// The server has already added the viewer, so delete it.
		_ = v.leave(context.WithoutCancel(ctx))
		return fail(fmt.Errorf("join viewer: apply SDP answer: %w", err))
	}
	return v, nil
}

// viewerAPI builds a pion API that receives the relay's codecs.
func viewerAPI(loopbackOnly bool) (*webrtc.API, error) {
	var se webrtc.SettingEngine
	if loopbackOnly {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	}
	m := &webrtc.MediaEngine{}
	if err := video.RegisterCodecs(m); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, fmt.Errorf("viewer: register interceptors: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir)), nil
}

// read counts the track's RTP packets and their bytes, headers included,
// until the peer connection closes.
func (v *Viewer) read(track *webrtc.TrackRemote) {
	defer v.readers.Done()
	buf := make([]byte, 1600)
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		if v.packets.Add(1) == 1 {
			v.firstNs.Store(max(1, int64(time.Since(v.joined))))
		}
		v.bytes.Add(int64(n))
	}
}

// Packets returns the RTP packets received so far.
func (v *Viewer) Packets() int64 { return v.packets.Load() }

// Bytes returns the RTP bytes received so far, headers included.
func (v *Viewer) Bytes() int64 { return v.bytes.Load() }

// FirstPacket returns the time from posting the offer to the first RTP
// packet, and false while none has arrived.
func (v *Viewer) FirstPacket() (time.Duration, bool) {
	ns := v.firstNs.Load()
	return time.Duration(ns), ns > 0
}

// Failed reports whether the peer connection failed after joining.
func (v *Viewer) Failed() bool { return v.failed.Load() }

// Location returns the viewer resource URL the server assigned.
func (v *Viewer) Location() string { return v.location.String() }

// leave deletes the viewer resource on the server.
func (v *Viewer) leave(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, v.location.String(), nil)
	if err != nil {
		return fmt.Errorf("leave viewer: %w", err)
	}
	if v.cfg.APIToken != "" {
		req.Header.Set("Authorization", "Bearer "+v.cfg.APIToken)
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return fmt.Errorf("leave viewer: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxWHEPAnswer))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("leave viewer: %w", newAPIError(http.MethodDelete, v.location.Path, resp.StatusCode, body))
	}
	return nil
}

// Close deletes the viewer resource and closes the peer connection,
// returning both errors. It is safe to call twice, and later calls return
// the first result.
func (v *Viewer) Close(ctx context.Context) error {
	v.closeOnce.Do(func() {
		leaveErr := v.leave(ctx)
		pcErr := v.pc.Close()
		v.readers.Wait()
		v.closeErr = errors.Join(leaveErr, pcErr)
	})
	return v.closeErr
}
