package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/hwtrack/hwtrack/video"
)

// VideoService is the camera relay as the API uses it; *video.Relay
// implements it.
type VideoService interface {
	Join(ctx context.Context, terminal string, channel int, offer string) (video.Viewer, error)
	Leave(terminal string, channel int, viewerID string) error
	Stop(terminal string, channel int) error
	Status(terminal string) ([]video.ChannelStatus, bool)
}

var _ VideoService = (*video.Relay)(nil)

// Error codes of the video endpoints.
const (
	codeVehicleOffline       = "vehicle_offline"        // 409
	codeStreamUnavailable    = "stream_unavailable"     // 503
	codeUnsupportedMediaType = "unsupported_media_type" // 415
	codeInvalidSDP           = "invalid_sdp"            // 400
)

// maxOfferBytes caps a WHEP offer. A browser's offer for one video
// track is a few kilobytes.
const maxOfferBytes = 64 << 10

// joinTimeout bounds a WHEP request: the relay's own start timeout ends a
// stream that does not come up well before it.
const joinTimeout = 2 * time.Minute

// videoRoutes registers the WHEP and camera endpoints when a relay is
// configured. Every signed-in role may watch; stopping a stream for
// everyone is for admins and regulators.
func (s *server) videoRoutes(v1 *http.ServeMux) {
	if s.video == nil {
		return
	}
	s.handle(v1, "/api/v1/vehicles/{terminal}/cameras", route{method: http.MethodGet, handler: s.listCameras})
	s.handle(v1, "/api/v1/video/{terminal}/{channel}/whep",
		route{http.MethodPost, s.joinVideo, nil, "video_view"})
	s.handle(v1, "/api/v1/video/{terminal}/{channel}/whep/{viewer}",
		route{method: http.MethodDelete, handler: s.leaveVideo})
	s.handle(v1, "/api/v1/video/{terminal}/{channel}",
		route{http.MethodDelete, s.stopVideo, adminRegulator, "video_stop"})
}

type cameraList struct {
	Terminal string                `json:"terminal"`
	Online   bool                  `json:"online"`
	Channels []video.ChannelStatus `json:"channels"`
}

func (s *server) listCameras(w http.ResponseWriter, r *http.Request) error {
	terminal := r.PathValue("terminal")
	channels, ok := s.video.Status(terminal)
	if !ok {
		return errNotFound(fmt.Sprintf("vehicle %q is not registered", terminal))
	}
	writeJSON(w, http.StatusOK, cameraList{Terminal: terminal, Online: s.online(terminal), Channels: channels})
	return nil
}

// joinVideo is the WHEP endpoint: an SDP offer in, 201 with the SDP
// answer and the viewer resource's URL in Location.
func (s *server) joinVideo(w http.ResponseWriter, r *http.Request) error {
	terminal := r.PathValue("terminal")
	channel, err := parseChannel(r.PathValue("channel"))
	if err != nil {
		return err
	}
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType != "application/sdp" {
		return &apiError{Status: http.StatusUnsupportedMediaType, Code: codeUnsupportedMediaType,
			Message: "send the SDP offer with Content-Type: application/sdp"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOfferBytes))
	if err != nil {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge,
			Message: fmt.Sprintf("SDP offer is larger than the limit of %d bytes", maxOfferBytes)}
	}

	ctx, cancel := context.WithTimeout(r.Context(), joinTimeout)
	defer cancel()
	viewer, err := s.video.Join(ctx, terminal, channel, string(body))
	if err != nil {
		return videoError(w, err, terminal, channel)
	}

	setAudit(r, fmt.Sprintf("%s/%d", terminal, channel), "viewer "+viewer.ID)
	h := w.Header()
	h.Set("Content-Type", "application/sdp")
	h.Set("Location", fmt.Sprintf("/api/v1/video/%s/%d/whep/%s", terminal, channel, viewer.ID))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, viewer.Answer)
	return nil
}

func (s *server) leaveVideo(w http.ResponseWriter, r *http.Request) error {
	channel, err := parseChannel(r.PathValue("channel"))
	if err != nil {
		return err
	}
	if err := s.video.Leave(r.PathValue("terminal"), channel, r.PathValue("viewer")); err != nil {
		return videoError(w, err, r.PathValue("terminal"), channel)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *server) stopVideo(w http.ResponseWriter, r *http.Request) error {
	terminal := r.PathValue("terminal")
	channel, err := parseChannel(r.PathValue("channel"))
	if err != nil {
		return err
	}
	if err := s.video.Stop(terminal, channel); err != nil {
		return videoError(w, err, terminal, channel)
	}
	setAudit(r, fmt.Sprintf("%s/%d", terminal, channel), "")
	w.WriteHeader(http.StatusOK)
	return nil
}

func parseChannel(text string) (int, error) {
	ch, err := strconv.Atoi(text)
	if err != nil || ch < video.MinChannel || ch > video.MaxChannel {
		return 0, errNotFound(fmt.Sprintf("channel %q is not a camera channel number from %d to %d", text, video.MinChannel, video.MaxChannel))
	}
	return ch, nil
}

// videoErrorBody is the JSON error shape with the stream failure, whose
// reason and ICE candidates the console shows.
type videoErrorBody struct {
	Error videoErrorObject `json:"error"`
}

type videoErrorObject struct {
	Code    string              `json:"code"`
	Message string              `json:"message"`
	Failure *video.StartFailure `json:"failure,omitempty"`
}

// videoError maps a relay error to its status. A stream failure is
// written here, with its details; other errors go back to wrap.
func videoError(w http.ResponseWriter, err error, terminal string, channel int) error {
	var failure *video.StartFailure
	switch {
	case errors.Is(err, video.ErrUnknownVehicle), errors.Is(err, video.ErrUnknownChannel), errors.Is(err, video.ErrViewerNotFound):
		return errNotFound(err.Error())
	case errors.Is(err, video.ErrBadOffer):
		return &apiError{Status: http.StatusBadRequest, Code: codeInvalidSDP, Message: err.Error()}
	case errors.As(err, &failure):
		status, code := http.StatusServiceUnavailable, codeStreamUnavailable
		if errors.Is(err, video.ErrOffline) {
			status, code = http.StatusConflict, codeVehicleOffline
		} else {
			w.Header().Set("Retry-After", "5")
		}
		writeJSON(w, status, videoErrorBody{Error: videoErrorObject{
			Code:    code,
			Message: fmt.Sprintf("camera channel %d of %s: %s", channel, terminal, failure.Error()),
			Failure: failure,
		}})
		return nil
	case errors.Is(err, video.ErrClosed), errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "5")
		return &apiError{Status: http.StatusServiceUnavailable, Code: codeStreamUnavailable, Message: err.Error()}
	}
	return err
}
