package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hwtrack/hwtrack/model"
)

// maxCommentRunes caps the comment and result of a handling action.
const maxCommentRunes = 2000

// ConsoleStore is the persistence of the console's audit log and deviation
// handling records.
type ConsoleStore interface {
	AppendAudit(e model.AuditEntry) error
	// Audit returns entries with from <= At < to, newest first, at most
	// limit of them.
	Audit(from, to time.Time, limit int) ([]model.AuditEntry, error)
	Deviation(id string) (model.Deviation, bool, error)
	Handling(deviationID string) (model.Handling, bool, error)
	// UpdateHandling applies update atomically to the record, which starts
	// with status new, and stores it unless update returns an error.
	UpdateHandling(deviationID string, update func(h *model.Handling) error) (model.Handling, error)
}

// Handling actions, as named in the forwarded message ids.
const (
	HandlingAck     = "ack"
	HandlingHandled = "handled"
)

type ackRequest struct {
	Comment string `json:"comment"`
}

type handleRequest struct {
	Comment string `json:"comment"`
	Result  string `json:"result"`
}

func (s *server) ackDeviation(w http.ResponseWriter, r *http.Request) error {
	var req ackRequest
	if err := s.decodeHandling(w, r, &req); err != nil {
		return err
	}
	if fields := checkComment("comment", req.Comment, false); len(fields) > 0 {
		return errInvalidInput(fields)
	}
	p := principalFrom(r)
	return s.applyHandling(w, r, HandlingAck, func(h *model.Handling) error {
		if h.Status != model.HandlingNew {
			return errConflict(fmt.Sprintf("deviation is already %s", h.Status))
		}
		h.Status, h.AckedBy, h.AckedAt = model.HandlingAcknowledged, p.user, s.now().UTC()
		h.Comment = req.Comment
		return nil
	}, req.Comment)
}

func (s *server) handleDeviation(w http.ResponseWriter, r *http.Request) error {
	var req handleRequest
	if err := s.decodeHandling(w, r, &req); err != nil {
		return err
	}
	fields := checkComment("comment", req.Comment, false)
	fields = append(fields, checkComment("result", req.Result, true)...)
	if len(fields) > 0 {
		return errInvalidInput(fields)
	}
	p := principalFrom(r)
	return s.applyHandling(w, r, HandlingHandled, func(h *model.Handling) error {
		if h.Status == model.HandlingHandled {
			return errConflict("deviation is already handled")
		}
		h.Status, h.HandledBy, h.HandledAt = model.HandlingHandled, p.user, s.now().UTC()
		h.Comment, h.Result = req.Comment, req.Result
		return nil
	}, "result "+req.Result)
}

func (s *server) decodeHandling(w http.ResponseWriter, r *http.Request, dst any) error {
	body, err := readBody(w, r, maxBodyBytes)
	if err != nil {
		return err
	}
	return decodeStrict(body, dst, "")
}

// applyHandling updates the handling record of the deviation in the path,
// then audits the action, forwards it to the regulator network and
// publishes the updated deviation on the live feed.
func (s *server) applyHandling(w http.ResponseWriter, r *http.Request, action string, update func(h *model.Handling) error, detail string) error {
	id := r.PathValue("id")
	d, found, err := s.consoleStore.Deviation(id)
	if err != nil {
		return fmt.Errorf("look up deviation %q: %w", id, err)
	}
	if !found {
		return errNotFound(fmt.Sprintf("deviation %q not found", id))
	}

	h, err := s.consoleStore.UpdateHandling(id, update)
	var apiErr *apiError
	if errors.As(err, &apiErr) {
		return apiErr
	}
	if err != nil {
		return fmt.Errorf("update handling of deviation %q: %w", id, err)
	}
	d.Handling = h
	setAudit(r, id, detail)

	if s.deviationHandled != nil {
		if err := s.deviationHandled(action, d); err != nil {
			// The record is stored, so the request succeeded. The
			// regulator misses this action until it is forwarded by hand.
			s.log.Error("handling not forwarded to the regulator", "vehicle_id", d.Terminal, "deviation_id", id, "action", action, "err", err)
		}
	}
	s.log.Info("deviation "+h.Status.String(), "vehicle_id", d.Terminal, "deviation_id", id, "user", principalFrom(r).user)
	writeJSON(w, http.StatusOK, viewDeviation(&d))
	return nil
}

// checkComment validates a free-text field of a handling request.
func checkComment(field, text string, required bool) []model.FieldError {
	switch {
	case required && strings.TrimSpace(text) == "":
		return []model.FieldError{{Field: field, Reason: "missing"}}
	case utf8.RuneCountInString(text) > maxCommentRunes:
		return []model.FieldError{{Field: field, Reason: fmt.Sprintf("must be at most %d characters", maxCommentRunes)}}
	case !utf8.ValidString(text):
		return []model.FieldError{{Field: field, Reason: "must be valid UTF-8"}}
	}
	return nil
}

// withHandling fills in the stored handling record of each deviation.
func (s *server) withHandling(ds []model.Deviation) error {
	if s.consoleStore == nil {
		return nil
	}
	for i := range ds {
		h, found, err := s.consoleStore.Handling(ds[i].ID)
		if err != nil {
			return fmt.Errorf("look up handling of deviation %q: %w", ds[i].ID, err)
		}
		if found {
			ds[i].Handling = h
		}
	}
	return nil
}

// handlingView is the handling object of a deviation in the API: status is
// "new" when no regulator acted yet.
type handlingView struct {
	Status    model.HandlingStatus `json:"status"`
	AckedBy   string               `json:"acked_by"`
	AckedAt   *time.Time           `json:"acked_at"`
	HandledBy string               `json:"handled_by"`
	HandledAt *time.Time           `json:"handled_at"`
	Comment   string               `json:"comment"`
	Result    string               `json:"result"`
}

func viewHandling(h model.Handling) handlingView {
	v := handlingView{Status: h.Status, AckedBy: h.AckedBy, HandledBy: h.HandledBy, Comment: h.Comment, Result: h.Result}
	if v.Status == model.HandlingUnknown {
		v.Status = model.HandlingNew
	}
	if !h.AckedAt.IsZero() {
		v.AckedAt = &h.AckedAt
	}
	if !h.HandledAt.IsZero() {
		v.HandledAt = &h.HandledAt
	}
	return v
}
