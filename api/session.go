package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/hwtrack/hwtrack/console"
	"github.com/hwtrack/hwtrack/model"
)

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type sessionUser struct {
	Username    string     `json:"username"`
	Role        model.Role `json:"role"`
	DisplayName string     `json:"display_name"`
}

type sessionResponse struct {
	User      sessionUser `json:"user"`
	CSRFToken string      `json:"csrf_token"`
}

// login checks the credentials, starts a session and sets its cookie. The
// password is never logged, and wrong usernames and wrong passwords get the
// same response.
func (s *server) login(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxBodyBytes)
	if err != nil {
		return err
	}
	var req loginRequest
	if err := decodeStrict(body, &req, ""); err != nil {
		return err
	}

	ip := clientIP(r)
	sess, err := s.console.Login(req.Username, req.Password, ip)
	var limited *console.RateLimitedError
	switch {
	case errors.As(err, &limited):
		seconds := int(math.Ceil(limited.RetryAfter.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(seconds, 1)))
		s.log.Warn("login rate limited", "username", req.Username, "client_ip", ip)
		return &apiError{Status: http.StatusTooManyRequests, Code: codeRateLimited, Message: fmt.Sprintf("too many failed sign-ins; retry after %d seconds", max(seconds, 1))}
	case errors.Is(err, console.ErrInvalidCredentials):
		s.log.Info("login failed", "username", req.Username, "client_ip", ip)
		s.audit(r, req.Username, model.RoleUnknown, "login_failed", req.Username, "client_ip "+ip)
		return &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: "invalid username or password"}
	case err != nil:
		return fmt.Errorf("sign in %q: %w", req.Username, err)
	}

	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    sess.ID,
		Path:     "/",
		HttpOnly: true,
		Secure:   !s.settings.InsecureCookies,
		SameSite: http.SameSiteStrictMode,
	})
	s.log.Info("login", "username", sess.Username, "role", sess.Role.String(), "client_ip", ip)
	s.audit(r, sess.Username, sess.Role, "login", sess.Username, "client_ip "+ip)
	writeJSON(w, http.StatusOK, newSessionResponse(&sess))
	return nil
}

func newSessionResponse(sess *console.Session) sessionResponse {
	return sessionResponse{
		User:      sessionUser{Username: sess.Username, Role: sess.Role, DisplayName: sess.DisplayName},
		CSRFToken: sess.CSRFToken,
	}
}

// getSession returns the caller's session. A bearer token caller gets the
// admin identity it acts as and no CSRF token, which it does not need.
func (s *server) getSession(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r)
	if p.session == nil {
		writeJSON(w, http.StatusOK, sessionResponse{User: sessionUser{Username: p.user, Role: p.role}})
		return nil
	}
	writeJSON(w, http.StatusOK, newSessionResponse(p.session))
	return nil
}

// logout ends the session on the server, so the cookie stops working even
// if a copy of it survives, and clears the cookie in the browser.
func (s *server) logout(w http.ResponseWriter, r *http.Request) error {
	p := principalFrom(r)
	if p.session == nil {
		return &apiError{Status: http.StatusBadRequest, Code: codeInvalidInput, Message: "a bearer token has no session to end"}
	}
	s.console.Logout(p.session.ID)
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		Secure:   !s.settings.InsecureCookies,
		SameSite: http.SameSiteStrictMode,
	})
	s.log.Info("logout", "username", p.user)
	s.audit(r, p.user, p.role, "logout", p.user, "")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
