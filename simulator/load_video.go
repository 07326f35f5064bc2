package simulator

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// loadVideoChannel is the camera channel load runs watch: 2, the road
// ahead.
const loadVideoChannel = 2

// loadViewerCloseTimeout bounds the DELETE of each viewer at the end.
const loadViewerCloseTimeout = 10 * time.Second

// VideoCounts are the counts of the cameras and viewers of a load run.
type VideoCounts struct {
	Channel int `json:"channel"`
	// Cameras is how many vehicles were asked to run a camera, and
	// CamerasStarted how many subscribed to their video commands.
	Cameras        int `json:"cameras"`
	CamerasStarted int `json:"cameras_started"`
	// FramesSent counts the frames the cameras wrote to their streams.
	FramesSent int64 `json:"frames_sent"`
	// Viewers is how many WHEP viewers were started. ViewersConnected is
	// how many the server accepted with 201, and ViewersWithVideo how many
	// received at least one RTP packet.
	Viewers          int `json:"viewers"`
	ViewersConnected int `json:"viewers_connected"`
	ViewersWithVideo int `json:"viewers_with_video"`
	// FirstPacket is the time from posting a viewer's offer to its first
	// RTP packet, over the viewers with video.
	FirstPacket LatencySummary `json:"first_packet"`
	// Packets and Bytes are the RTP received by all viewers, headers
	// included.
	Packets int64 `json:"packets"`
	Bytes   int64 `json:"bytes"`
	// CloseErrors counts viewers whose DELETE at the end failed.
	CloseErrors    int             `json:"close_errors"`
	CameraFailures []VideoFailure  `json:"camera_failures,omitempty"`
	ViewerFailures []ViewerFailure `json:"viewer_failures,omitempty"`
}

// VideoFailure is a camera that could not start.
type VideoFailure struct {
	Terminal string `json:"terminal"`
	Reason   string `json:"reason"`
}

// ViewerFailure is a viewer that got no video, and why.
type ViewerFailure struct {
	Viewer   int    `json:"viewer"`
	Terminal string `json:"terminal"`
	Channel  int    `json:"channel"`
	Reason   string `json:"reason"`
}

// loadVideo runs the cameras and viewers of one load run.
type loadVideo struct {
	run      *loadRun
	loopback bool
	done     chan struct{} // closed when every camera and viewer has started or failed

	// mu guards cameras, viewers and cameraFailures.
	mu             sync.Mutex
	cameras        []*Camera
	viewers        []*loadViewer
	cameraFailures []VideoFailure
}

// loadViewer is one viewer slot: the viewer once it joined, or the reason
// it did not.
type loadViewer struct {
	index    int
	terminal string
	v        *Viewer
	err      error
}

// startVideo starts a camera on each of the first Cameras vehicles and
// then the viewers, round robin over those cameras, all joining at once.
// It returns at once, and the work runs in the background until close.
func (r *loadRun) startVideo(ctx context.Context) *loadVideo {
	lv := &loadVideo{run: r, loopback: IsLoopbackURL(r.opts.API), done: make(chan struct{})}
	go func() {
		defer close(lv.done)
		lv.startCameras(ctx)
		lv.startViewers(ctx)
	}()
	return lv
}

func (lv *loadVideo) startCameras(ctx context.Context) {
	r := lv.run
	clip, err := SampleClip()
	for _, v := range r.vehicles[:r.opts.Cameras] {
		if err != nil {
			lv.cameraFailed(v.terminal, fmt.Errorf("built-in clip: %w", err))
			continue
		}
		if v.client == nil || v.lost.Load() || !v.client.IsConnectionOpen() {
			lv.cameraFailed(v.terminal, errors.New("vehicle not connected"))
			continue
		}
		cam, err := StartCamera(ctx, CameraConfig{
			Client:       v.client,
			Terminal:     v.terminal,
			Channels:     []int{loadVideoChannel},
			Clip:         clip,
			LoopbackOnly: lv.loopback,
			Logger:       r.log,
		})
		if err != nil {
			lv.cameraFailed(v.terminal, err)
			continue
		}
		lv.mu.Lock()
		lv.cameras = append(lv.cameras, cam)
		lv.mu.Unlock()
	}
	r.log.Info("cameras started", "cameras", len(lv.cameras), "failed", len(lv.cameraFailures))
}

func (lv *loadVideo) cameraFailed(terminal string, err error) {
	lv.run.log.Warn("camera not started", "vehicle_id", terminal, "err", err)
	lv.mu.Lock()
	lv.cameraFailures = append(lv.cameraFailures, VideoFailure{Terminal: terminal, Reason: err.Error()})
	lv.mu.Unlock()
}

func (lv *loadVideo) startViewers(ctx context.Context) {
	r := lv.run
	opts := r.opts
	var wg sync.WaitGroup
	for i := range opts.Viewers {
		slot := &loadViewer{index: i, terminal: r.vehicles[i%opts.Cameras].terminal}
		lv.mu.Lock()
		lv.viewers = append(lv.viewers, slot)
		lv.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := JoinViewer(ctx, ViewerConfig{
				API: opts.API, APIToken: opts.APIToken, Terminal: slot.terminal, Channel: loadVideoChannel,
				LoopbackOnly: lv.loopback, HTTPClient: opts.HTTPClient,
			})
			if err != nil {
				r.log.Warn("viewer not joined", "vehicle_id", slot.terminal, "viewer", slot.index, "err", err)
			}
			// Written once here and read after done is closed.
			slot.v, slot.err = v, err
		}()
	}
	wg.Wait()
	r.log.Info("viewers started", "viewers", opts.Viewers)
}

// close waits for the start to finish, counts what every viewer received,
// deletes the viewers and stops the cameras.
func (lv *loadVideo) close(ctx context.Context) *VideoCounts {
	<-lv.done
	opts := lv.run.opts
	counts := &VideoCounts{
		Channel: loadVideoChannel, Cameras: opts.Cameras, Viewers: opts.Viewers,
		CamerasStarted: len(lv.cameras), CameraFailures: lv.cameraFailures,
	}
	var first latencyHist
	for _, s := range lv.viewers {
		fail := func(reason string) {
			counts.ViewerFailures = append(counts.ViewerFailures, ViewerFailure{Viewer: s.index, Terminal: s.terminal, Channel: loadVideoChannel, Reason: reason})
		}
		if s.err != nil {
			fail(s.err.Error())
			continue
		}
		counts.ViewersConnected++
		counts.Packets += s.v.Packets()
		counts.Bytes += s.v.Bytes()
		if d, ok := s.v.FirstPacket(); ok {
			counts.ViewersWithVideo++
			first.Add(d)
		} else if s.v.Failed() {
			fail("the WebRTC connection failed before any video arrived")
		} else {
			fail("no video packet received by the end of the run")
		}
	}
	counts.FirstPacket = first.summary()

	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, s := range lv.viewers {
		if s.v == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, loadViewerCloseTimeout)
			defer cancel()
			if err := s.v.Close(cctx); err != nil {
				lv.run.log.Warn("viewer not closed", "vehicle_id", s.terminal, "viewer", s.index, "err", err)
				mu.Lock()
				counts.CloseErrors++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, c := range lv.cameras {
		counts.FramesSent += c.FramesSent()
		_ = c.Close()
	}
	return counts
}

// maxFailureRows is the number of camera and viewer failures the summary
// table lists. The JSON report has them all.
const maxFailureRows = 5

// writeRows adds the video lines to the summary table.
func (c *VideoCounts) writeRows(row func(k, format string, args ...any)) {
	row("cameras", "%d started of %d on channel %d, %d frames sent", c.CamerasStarted, c.Cameras, c.Channel, c.FramesSent)
	row("viewers", "%d connected of %d, %d with video, %d failed, %d not closed", c.ViewersConnected, c.Viewers, c.ViewersWithVideo, len(c.ViewerFailures), c.CloseErrors)
	if f := c.FirstPacket; f.Count > 0 {
		row("first video packet", "p50 %.1f ms, p99 %.1f ms, max %.1f ms after the offer", f.P50Ms, f.P99Ms, f.MaxMs)
	}
	row("video received", "%d RTP packets, %.1f MiB", c.Packets, float64(c.Bytes)/(1<<20))
	for i, f := range c.CameraFailures {
		if i == maxFailureRows {
			row("", "… %d more camera failures in the JSON report", len(c.CameraFailures)-i)
			break
		}
		row("camera failed", "%s: %s", f.Terminal, f.Reason)
	}
	for i, f := range c.ViewerFailures {
		if i == maxFailureRows {
			row("", "… %d more viewer failures in the JSON report", len(c.ViewerFailures)-i)
			break
		}
		row("viewer failed", "#%d on %s channel %d: %s", f.Viewer, f.Terminal, f.Channel, f.Reason)
	}
}
