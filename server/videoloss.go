package server

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/hwtrack/hwtrack/geofence"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
	"github.com/hwtrack/hwtrack/video"
)

// videoLoss turns camera streams that fail to start or drop into
// video_loss deviations, for vehicles on a trip that requires a camera.
// An episode opens at the first failure of a vehicle channel and closes
// when that channel's stream is live again or the trip completes.
type videoLoss struct {
	s *Server

	// mu guards open, which holds the open episodes by vehicle channel,
	// and serializes their transitions.
	mu   sync.Mutex
	open map[videoLossKey]model.Deviation
}

type videoLossKey struct {
	terminal string
	channel  int
}

func newVideoLoss(s *Server) *videoLoss {
	return &videoLoss{s: s, open: map[videoLossKey]model.Deviation{}}
}

// restore reloads the episodes left open by the last run, so a stream that
// comes back after a restart still closes its episode.
func (l *videoLoss) restore() error {
	open, err := l.s.store.Deviations(storage.DeviationQuery{Kind: model.KindVideoLoss, State: model.StateOpen})
	if err != nil {
		return fmt.Errorf("load open video_loss deviations: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, d := range open {
		l.open[videoLossKey{d.Terminal, d.Channel}] = d
	}
	return nil
}

// handle receives the relay's stream events, one at a time.
func (l *videoLoss) handle(ev video.Event) {
	switch ev.Kind {
	case video.EventStartFailed, video.EventDropped:
		l.opened(ev)
	case video.EventLive:
		l.closeEpisodes(ev.Terminal, ev.Channel, ev.At, "stream live again")
	}
}

func (l *videoLoss) opened(ev video.Event) {
	key := videoLossKey{ev.Terminal, ev.Channel}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.open[key]; ok {
		return
	}
	trip, ok := l.cameraTrip(ev.Terminal, ev.At)
	if !ok {
		return
	}

	d := model.Deviation{
		ID:         videoLossID(ev.Terminal, ev.Channel, ev.At),
		Kind:       model.KindVideoLoss,
		State:      model.StateOpen,
		Terminal:   ev.Terminal,
		TripID:     trip.ID,
		StartedAt:  ev.At.UTC(),
		Channel:    ev.Channel,
		ReceivedAt: time.Now().UTC(),
		Severity:   "medium",
	}
	d.Lat, d.Lon = l.position(ev.Terminal)
	if d.Lat == 0 && d.Lon == 0 {
		// A vehicle that never reported is placed where its trip starts,
		// not at (0, 0), where a map would draw the alarm.
		if route, err := geofence.ParseRoute(trip.Route); err == nil && len(route) > 0 {
			d.Lat, d.Lon = route[0].Lat(), route[0].Lon()
		}
	}
	d.TextZH, d.TextEN = videoLossTexts(ev, true, 0)

	l.open[key] = d
	l.s.forwardByVehicle([]model.Deviation{d})
}

// closeEpisodes closes the open episode of one channel, or of every
// channel of the vehicle when channel is 0.
func (l *videoLoss) closeEpisodes(terminal string, channel int, at time.Time, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var closed []model.Deviation
	for key, d := range l.open {
		if key.terminal != terminal || (channel != 0 && key.channel != channel) {
			continue
		}
		delete(l.open, key)
		d.State = model.StateClosed
		d.EndedAt = at.UTC()
		d.EndLat, d.EndLon = l.position(terminal)
		d.ReceivedAt = time.Now().UTC()
		d.TextZH, d.TextEN = videoLossTexts(video.Event{Channel: key.channel}, false, d.EndedAt.Sub(d.StartedAt))
		closed = append(closed, d)
		l.s.log.Debug("video_loss closing", "vehicle_id", terminal, "channel", key.channel, "why", why)
	}
	l.s.forwardByVehicle(closed)
}

// tripEnded closes a vehicle's episodes when its trip completes, because
// the camera requirement ends with the trip.
func (l *videoLoss) tripEnded(t model.Trip) {
	at := t.CompletedAt
	if at.IsZero() {
		at = time.Now()
	}
	l.closeEpisodes(t.Terminal, 0, at, "trip completed")
}

// cameraTrip returns the vehicle's trip that is active at and requires a
// camera.
func (l *videoLoss) cameraTrip(terminal string, at time.Time) (model.Trip, bool) {
	trips, err := l.s.store.TripsForVehicle(terminal)
	if err != nil {
		l.s.log.Error("trips not loaded for a video_loss check", "vehicle_id", terminal, "err", err)
		return model.Trip{}, false
	}
	var found model.Trip
	for _, t := range trips {
		if t.CameraRequired && t.State != model.TripCompleted && t.ActiveAt(at) &&
			(found.ID == "" || t.PlannedStart.After(found.PlannedStart)) {
			found = t
		}
	}
	return found, found.ID != ""
}

// position returns the vehicle's latest fix, or 0, 0 without one.
func (l *videoLoss) position(terminal string) (lat, lon float64) {
	f, ok, err := l.s.store.LatestFix(terminal)
	if err != nil || !ok {
		return 0, 0
	}
	return f.Lat, f.Lon
}

// videoLossID derives the episode id from the vehicle, channel and start,
// as the rules engine does for its kinds: the hex of the first 16 bytes
// of a SHA-256.
func videoLossID(terminal string, channel int, startedAt time.Time) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00video_loss\x00%d\x00%d", terminal, channel, startedAt.UnixNano())
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func videoLossTexts(ev video.Event, open bool, lasted time.Duration) (zh, en string) {
	nameEN, nameZH := video.ChannelName(ev.Channel)
	if !open {
		return fmt.Sprintf("视频恢复：%d号通道（%s），中断 %s", ev.Channel, nameZH, secondsZH(lasted)),
			fmt.Sprintf("Video restored: channel %d (%s) after %s", ev.Channel, nameEN, lasted.Round(time.Second))
	}
	causeZH, causeEN := "视频无法启动", "video failed to start"
	if ev.Kind == video.EventDropped {
		causeZH, causeEN = "视频中断", "video dropped"
	}
	reasonZH, reasonEN := "", ""
	if ev.Failure != nil {
		reasonZH, reasonEN = "，"+failureReasonZH(ev.Failure.Reason), ": "+ev.Failure.Message
	}
	return fmt.Sprintf("%s：%d号通道（%s）%s", causeZH, ev.Channel, nameZH, reasonZH),
		fmt.Sprintf("Camera %s on channel %d (%s)%s", causeEN, ev.Channel, nameEN, reasonEN)
}

// secondsZH formats a duration as minutes and seconds in Chinese.
func secondsZH(d time.Duration) string {
	secs := int(d.Round(time.Second).Seconds())
	if secs < 60 {
		return fmt.Sprintf("%d 秒", secs)
	}
	return fmt.Sprintf("%d 分 %d 秒", secs/60, secs%60)
}

// failureReasonZH explains a stream failure in Chinese for the deviation
// text.
func failureReasonZH(r video.FailureReason) string {
	switch r {
	case video.FailureOffline:
		return "车载终端离线"
	case video.FailureNoOffer:
		return "车载终端未响应视频请求"
	case video.FailureBadOffer:
		return "车载终端的媒体协商无效"
	case video.FailureVehicleError:
		return "车载终端报告摄像头不可用"
	case video.FailureICE:
		return "网络连接建立失败"
	case video.FailureNoMedia:
		return "连接已建立但无视频数据"
	case video.FailureDisconnected:
		return "网络连接中断"
	case video.FailureRTPTimeout:
		return "视频数据中断"
	case video.FailureRelay:
		return "服务器转发故障"
	default:
		return "原因未知"
	}
}
