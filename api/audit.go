package api

import (
	"fmt"
	"net/http"

	"github.com/hwtrack/hwtrack/model"
)

// maxAuditEntries caps one GET /api/v1/audit response.
const maxAuditEntries = 1000

// auditRecord carries what a handler wants in its route's audit entry.
type auditRecord struct {
	target string
	detail string
}

type auditKey struct{}

// setAudit names the target and detail of the audit entry the route writes
// when the handler succeeds. Without it the target is the path's id.
func setAudit(r *http.Request, target, detail string) {
	if rec, ok := r.Context().Value(auditKey{}).(*auditRecord); ok {
		rec.target, rec.detail = target, detail
	}
}

// audit appends one entry to the audit log. A failed write is logged and
// does not fail the request, because the action itself already happened.
func (s *server) audit(r *http.Request, user string, role model.Role, action, target, detail string) {
	if s.consoleStore == nil {
		return
	}
	e := model.AuditEntry{At: s.now().UTC(), User: user, Role: role, Action: action, Target: target, Detail: detail}
	if err := s.consoleStore.AppendAudit(e); err != nil {
		s.log.Error("audit entry not written", "action", action, "target", target, "user", user, "path", r.URL.Path, "err", err)
	}
}

type auditList struct {
	Entries []model.AuditEntry `json:"entries"`
}

func (s *server) listAudit(w http.ResponseWriter, r *http.Request) error {
	query := r.URL.Query()
	if err := rejectUnknownParams(query, "from", "to", "limit"); err != nil {
		return err
	}
	var problems model.ValidationError
	from, _ := parseTimeParam(query, "from", &problems)
	to, _ := parseTimeParam(query, "to", &problems)
	limit := parseLimitParam(query, maxAuditEntries, &problems)
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		problems.Add("from", "must be before to")
	}
	if problems.Err() != nil {
		return errInvalidQuery(problems.Fields)
	}

	entries, err := s.consoleStore.Audit(from, to, limit)
	if err != nil {
		return fmt.Errorf("list audit log: %w", err)
	}
	if entries == nil {
		entries = []model.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, auditList{Entries: entries})
	return nil
}
