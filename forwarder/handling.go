package forwarder

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// handlingTopicRoot is the topic root of deviation handling records under
// Options.TopicPrefix.
const handlingTopicRoot = "handling"

// Handling actions accepted by HandlingMessage. They are also the suffix of
// the message id.
const (
	HandlingActionAck     = "ack"
	HandlingActionHandled = "handled"
)

// HandlingPayload is the JSON body of a {prefix}/handling/{terminal}
// message, sent when a regulator acknowledges or handles a deviation.
//
//   - id: "{deviation_id}:ack" or "{deviation_id}:handled", stable across
//     resends. Each action happens once per deviation.
//   - deviation_id, kind, terminal, plate, trip_id: the deviation.
//   - action: "ack" or "handled"; status: the handling status after it,
//     "acknowledged" or "handled".
//   - by, at: the console user and the time of the action.
//   - comment: the comment given with the action; result: the outcome,
//     set on "handled" only.
//   - sent_at: when hwtrack built the message.
type HandlingPayload struct {
	ID          string `json:"id"`
	DeviationID string `json:"deviation_id"`
	Kind        string `json:"kind"`
	Terminal    string `json:"terminal"`
	Plate       string `json:"plate"`
	TripID      string `json:"trip_id"`
	Action      string `json:"action"`
	Status      string `json:"status"`
	By          string `json:"by"`
	At          string `json:"at"`
	Comment     string `json:"comment"`
	Result      string `json:"result"`
	SentAt      string `json:"sent_at"`
}

// HandlingMessage builds the message for one handling action on deviation
// d, whose d.Handling is the state after the action. It returns a
// *model.ValidationError naming every invalid field.
func HandlingMessage(action string, d model.Deviation, v model.Vehicle) (Message, error) {
	var verr model.ValidationError
	var by string
	var at time.Time
	switch action {
	case HandlingActionAck:
		if d.Handling.Status != model.HandlingAcknowledged {
			verr.Add("deviation.handling.status", fmt.Sprintf("is %s, want acknowledged after an ack", d.Handling.Status))
		}
		by, at = d.Handling.AckedBy, d.Handling.AckedAt
	case HandlingActionHandled:
		if d.Handling.Status != model.HandlingHandled {
			verr.Add("deviation.handling.status", fmt.Sprintf("is %s, want handled", d.Handling.Status))
		}
		by, at = d.Handling.HandledBy, d.Handling.HandledAt
	default:
		verr.Add("action", fmt.Sprintf("%q is not ack or handled", action))
	}
	if d.ID == "" {
		verr.Add("deviation.id", "missing")
	}
	checkTopicLevel(&verr, "deviation.terminal", d.Terminal)
	if v.Terminal != d.Terminal {
		verr.Add("vehicle.terminal", fmt.Sprintf("%q does not match deviation terminal %q", v.Terminal, d.Terminal))
	}
	if by == "" {
		verr.Add("deviation.handling.by", "missing")
	}
	if at.IsZero() {
		verr.Add("deviation.handling.at", "missing")
	}
	if err := verr.Err(); err != nil {
		return Message{}, err
	}

	now := time.Now()
	id := d.ID + ":" + action
	p := HandlingPayload{
		ID:          id,
		DeviationID: d.ID,
		Kind:        d.Kind.String(),
		Terminal:    d.Terminal,
		Plate:       v.Plate,
		TripID:      d.TripID,
		Action:      action,
		Status:      d.Handling.Status.String(),
		By:          by,
		At:          formatTime(at),
		Comment:     d.Handling.Comment,
		SentAt:      formatTime(now),
	}
	if action == HandlingActionHandled {
		p.Result = d.Handling.Result
	}
	body, err := json.Marshal(p)
	if err != nil {
		return Message{}, fmt.Errorf("encode handling %s of deviation %s: %w", action, d.ID, err)
	}
	return Message{
		ID:        id,
		Topic:     handlingTopicRoot + "/" + d.Terminal,
		Key:       d.Terminal,
		Payload:   body,
		CreatedAt: now,
	}, nil
}
