package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/hwtrack/hwtrack/model"
)

// handlerFunc is an HTTP handler that returns its error instead of writing
// it, so every handler reports failures through writeError.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route is one method of one path: its handler, the roles allowed to call
// it (nil means every signed-in caller) and the audit log action written
// when it succeeds ("" writes none).
type route struct {
	method  string
	handler handlerFunc
	roles   []model.Role
	audit   string
}

// handle registers each route's method pattern for path and a method-less
// pattern for path that returns 405 for every other method.
func (s *server) handle(mux *http.ServeMux, path string, routes ...route) {
	allowed := make([]string, 0, len(routes)+1)
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+path, s.wrap(s.guard(rt)))
		allowed = append(allowed, rt.method)
		if rt.method == http.MethodGet {
			// The ServeMux routes HEAD to GET patterns.
			allowed = append(allowed, http.MethodHead)
		}
	}
	allow := strings.Join(allowed, ", ")

	mux.HandleFunc(path, s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		w.Header().Set("Allow", allow)
		return &apiError{
			Status:  http.StatusMethodNotAllowed,
			Code:    codeMethodNotAllowed,
			Message: fmt.Sprintf("method %s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, allow),
		}
	}))
}

// wrap turns a handlerFunc into an http.HandlerFunc that writes the returned
// error in the JSON error shape. Errors that are not *apiError become 500
// and are logged, because they are server faults the client cannot fix.
func (s *server) wrap(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var apiErr *apiError
		if errors.As(err, &apiErr) {
			s.log.Debug("request rejected", "method", r.Method, "path", r.URL.Path, "status", apiErr.Status, "err", err)
		} else {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			apiErr = &apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "internal server error"}
		}
		writeError(w, apiErr)
	}
}

// tokenValid reports whether token is accepted, by Options.Authorize when
// set, else against Options.Tokens.
func (s *server) tokenValid(token string) bool {
	if s.authorize != nil {
		return s.authorize(token)
	}
	sum := sha256.Sum256([]byte(token))
	matched := 0
	for i := range s.tokenSums {
		matched |= subtle.ConstantTimeCompare(sum[:], s.tokenSums[i][:])
	}
	return matched == 1
}

// bearerToken extracts the token from an Authorization header value. The
// scheme name is case-insensitive (RFC 7235, section 2.1).
func bearerToken(header string) (string, bool) {
	scheme, token, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// recoverPanics turns a handler panic into a logged 500 so one bad request
// does not drop the connection without a response. http.ErrAbortHandler is
// passed on, because it is the standard way to abort a response.
func (s *server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			recovered := recover()
			if recovered == nil {
				return
			}
			if recovered == http.ErrAbortHandler {
				panic(recovered)
			}
			s.log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "err", fmt.Errorf("panic: %v", recovered))
			writeError(w, &apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "internal server error"})
		}()
		next.ServeHTTP(w, r)
	})
}

func notFound(w http.ResponseWriter, r *http.Request) error {
	return errNotFound(fmt.Sprintf("no endpoint at %s", r.URL.Path))
}

// noHooks is the Hooks used when Options.Hooks is nil.
type noHooks struct{}

func (noHooks) VehicleRegistered(model.Vehicle) {}
func (noHooks) ZonesChanged()                   {}
func (noHooks) TripCreated(model.Trip) error    { return nil }
func (noHooks) TripCompleted(model.Trip) error  { return nil }
