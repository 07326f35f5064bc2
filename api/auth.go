package api

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/hwtrack/hwtrack/console"
	"github.com/hwtrack/hwtrack/model"
)

// Session cookie and CSRF header names of the console contract.
const (
	sessionCookie = "hwt_session"
	csrfHeader    = "X-CSRF-Token"
	// tokenUser is the audit log user of a request made with a bearer
	// token.
	tokenUser = "api_token"
)

// Error codes of authorization failures.
const (
	codeForbidden   = "forbidden"    // 403
	codeCSRF        = "csrf"         // 403
	codeRateLimited = "rate_limited" // 429
)

// Role sets of the routes. A nil set admits every signed-in caller.
var (
	adminOnly       = []model.Role{model.RoleAdmin}
	adminDispatcher = []model.Role{model.RoleAdmin, model.RoleDispatcher}
	adminRegulator  = []model.Role{model.RoleAdmin, model.RoleRegulator}
)

// principal is the caller of an authenticated request. session is nil for
// a bearer token, which acts with the role its scope grants.
type principal struct {
	user    string
	role    model.Role
	session *console.Session
}

type principalKey struct{}

func principalFrom(r *http.Request) *principal {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	return p
}

// authenticate identifies the caller by bearer token or by session cookie.
// A request with an Authorization header must carry a valid bearer token.
// Without one, a live session cookie signs the request in. Every request
// that is neither is rejected with 401, except sign-in itself.
// Bearer tokens are compared as SHA-256 sums with
// subtle.ConstantTimeCompare against every configured token, so the
// response time does not reveal which token or how much of it matched.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if header := r.Header.Get("Authorization"); header != "" {
			token, ok := bearerToken(header)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hwtrack"`)
				writeError(w, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: "missing bearer token; send the header Authorization: Bearer TOKEN"})
				return
			}
			role, valid := s.tokenScope(token)
			if !valid {
				w.Header().Set("WWW-Authenticate", `Bearer realm="hwtrack", error="invalid_token"`)
				writeError(w, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: "invalid bearer token"})
				return
			}
			p := &principal{user: tokenUser, role: role}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
			return
		}

		if s.console != nil {
			if c, err := r.Cookie(sessionCookie); err == nil {
				if sess, ok := s.console.Session(c.Value); ok {
					p := &principal{user: sess.Username, role: sess.Role, session: &sess}
					next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
					return
				}
			}
		}

		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/session" && s.console != nil {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="hwtrack"`)
		message := "missing bearer token; send the header Authorization: Bearer TOKEN"
		if s.console != nil {
			message = "not signed in; sign in with POST /api/v1/session or send the header Authorization: Bearer TOKEN"
		}
		writeError(w, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: message})
	})
}

// guard wraps a route's handler with its role check, the CSRF check of
// cookie-authenticated state-changing requests, and its audit log entry.
func (s *server) guard(rt route) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p := principalFrom(r)
		if p == nil {
			// Only sign-in reaches a route without a caller.
			return rt.handler(w, r)
		}
		if rt.roles != nil && !slices.Contains(rt.roles, p.role) {
			return &apiError{Status: http.StatusForbidden, Code: codeForbidden, Message: fmt.Sprintf("role %s may not %s %s", p.role, r.Method, r.URL.Path)}
		}
		if p.session != nil && !safeMethod(r.Method) {
			sent := r.Header.Get(csrfHeader)
			if sent == "" || subtle.ConstantTimeCompare([]byte(sent), []byte(p.session.CSRFToken)) != 1 {
				return &apiError{Status: http.StatusForbidden, Code: codeCSRF, Message: "missing or invalid " + csrfHeader + " header; send the csrf_token from the session response"}
			}
		}
		if rt.audit == "" {
			return rt.handler(w, r)
		}

		rec := &auditRecord{}
		r = r.WithContext(context.WithValue(r.Context(), auditKey{}, rec))
		sw := &statusWriter{ResponseWriter: w}
		if err := rt.handler(sw, r); err != nil {
			return err
		}
		if sw.status < 400 {
			target := rec.target
			if target == "" {
				target = firstNonEmpty(r.PathValue("id"), r.PathValue("terminal"))
			}
			s.audit(r, p.user, p.role, rt.audit, target, rec.detail)
		}
		return nil
	}
}

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// clientIP returns the host part of the request's remote address.
// NOTE: a reverse proxy in front of hwtrack makes every client share the
// proxy's address, so the per-IP login limit then applies to all of them.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// statusWriter records the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// tokenScope returns the role a bearer token grants: the token's scope
// when Options.TokenRole is set, else admin for any valid token.
func (s *server) tokenScope(token string) (model.Role, bool) {
	if s.tokenRole != nil {
		return s.tokenRole(token)
	}
	return model.RoleAdmin, s.tokenValid(token)
}
