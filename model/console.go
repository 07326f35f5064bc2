package model

import (
	"encoding/json"
	"time"
)

// Role is the set of console permissions a user has. The string forms are part of the
// external contract.
type Role uint8

const (
	RoleUnknown Role = iota
	// RoleAdmin manages users and vehicles and may do everything else.
	RoleAdmin
	// RoleDispatcher manages bookings, trips and zones and reads the rest.
	RoleDispatcher
	// RoleRegulator reads everything and acknowledges and handles
	// deviations.
	RoleRegulator
)

func (r Role) String() string {
	switch r {
	case RoleAdmin:
		return "admin"
	case RoleDispatcher:
		return "dispatcher"
	case RoleRegulator:
		return "regulator"
	default:
		return "unknown"
	}
}

// ParseRole maps "admin", "dispatcher" or "regulator" to its role.
func ParseRole(s string) (Role, bool) {
	switch s {
	case "admin":
		return RoleAdmin, true
	case "dispatcher":
		return RoleDispatcher, true
	case "regulator":
		return RoleRegulator, true
	}
	return RoleUnknown, false
}

func (r Role) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON decodes a role name. An unrecognised name becomes
// RoleUnknown rather than an error, so callers that accept a role from a
// client check for RoleUnknown themselves.

func (r *Role) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*r, _ = ParseRole(s)
	return nil
}

// User is a console account. PasswordHash is an encoded argon2id hash and
// is never sent to a client: the JSON tag hides it.
type User struct {
	Username     string    `json:"username"`
	Role         Role      `json:"role"`
	DisplayName  string    `json:"display_name"`
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
}

// HandlingStatus is how far a regulator has dealt with a deviation.
type HandlingStatus uint8

const (
	HandlingUnknown HandlingStatus = iota
	// HandlingNew means no regulator has acknowledged the deviation yet.
	HandlingNew
	// HandlingAcknowledged means a regulator has seen it.
	HandlingAcknowledged
	// HandlingHandled means a regulator has closed the case with a result.
	HandlingHandled
)

func (h HandlingStatus) String() string {
	switch h {
	case HandlingNew:
		return "new"
	case HandlingAcknowledged:
		return "acknowledged"
	case HandlingHandled:
		return "handled"
	default:
		return "unknown"
	}
}

// ParseHandlingStatus maps "new", "acknowledged" or "handled" to its status.
func ParseHandlingStatus(s string) (HandlingStatus, bool) {
	switch s {
	case "new":
		return HandlingNew, true
	case "acknowledged":
		return HandlingAcknowledged, true
	case "handled":
		return HandlingHandled, true
	}
	return HandlingUnknown, false
}

func (h HandlingStatus) MarshalJSON() ([]byte, error) { return json.Marshal(h.String()) }

func (h *HandlingStatus) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*h, _ = ParseHandlingStatus(s)
	return nil
}

// Handling records what regulators did about one deviation. Comment is the
// latest comment given, on acknowledgement or on handling; Result is the
// outcome recorded on handling, free text such as 已核实 or 误报.
type Handling struct {
	Status    HandlingStatus `json:"status"`
	AckedBy   string         `json:"acked_by,omitempty"`
	AckedAt   time.Time      `json:"acked_at,omitzero"`
	HandledBy string         `json:"handled_by,omitempty"`
	HandledAt time.Time      `json:"handled_at,omitzero"`
	Comment   string         `json:"comment,omitempty"`
	Result    string         `json:"result,omitempty"`
}

// AuditEntry is one line of the audit log: who did what to which object.
// User is a console username, or "api_token" for a request made with a
// bearer token.
type AuditEntry struct {
	At     time.Time `json:"at"`
	User   string    `json:"user"`
	Role   Role      `json:"role"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Detail string    `json:"detail,omitempty"`
}
