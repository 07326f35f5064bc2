package api

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hwtrack/hwtrack/config"
	"github.com/hwtrack/hwtrack/console"
	"github.com/hwtrack/hwtrack/live"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
)

// consoleUsers maps the store's duplicate error to console.ErrUserExists,
// as the server does.
type consoleUsers struct{ *storage.Store }

func (u consoleUsers) CreateUser(user model.User) error {
	if err := u.Store.CreateUser(user); errors.Is(err, storage.ErrUserExists) {
		return fmt.Errorf("%w: %w", console.ErrUserExists, err)
	} else {
		return err
	}
}

// consoleAPI is the handler with the console enabled, backed by a real
// store for users, audit and handling.
type consoleAPI struct {
	t         *testing.T
	url       string
	store     *memStore
	db        *storage.Store
	hub       *live.Hub
	forwarded []string
	passwords map[model.Role]string
}

const consolePassword = "console-test-password"

func newConsoleAPI(t *testing.T, settings config.Console) *consoleAPI {
	t.Helper()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := storage.Open(storage.Options{Dir: t.TempDir(), Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := console.New(console.Options{Users: consoleUsers{db}, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []model.Role{model.RoleAdmin, model.RoleDispatcher, model.RoleRegulator} {
		if _, err := c.CreateUser(role.String(), consolePassword, role, strings.ToUpper(role.String())); err != nil {
			t.Fatal(err)
		}
	}

	a := &consoleAPI{t: t, store: newMemStore(), db: db, hub: live.NewHub()}
	if settings.TileCRS == "" {
		settings = config.Default().Console
	}
	handler := New(Options{
		Store:        a.store,
		Tokens:       []string{testToken},
		HashSecret:   testHash,
		ParseZone:    testParseZone,
		Logger:       discard,
		Console:      c,
		ConsoleStore: db,
		Settings:     settings,
		Live:         a.hub,
		Static: fstest.MapFS{
			"index.html":       {Data: []byte("<!doctype html><title>console</title>")},
			"assets/app-1.js":  {Data: []byte("console.log(1)")},
			"assets/app-1.css": {Data: []byte("body{}")},
		},
		DeviationHandled: func(action string, d model.Deviation) error {
			a.forwarded = append(a.forwarded, d.ID+":"+action)
			return nil
		},
	})
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	t.Cleanup(a.hub.Close)
	a.url = srv.URL
	return a
}

// session is a signed-in browser: its cookie and CSRF token.
type session struct {
	cookie *http.Cookie
	csrf   string
}

func (a *consoleAPI) login(username, password string) (response, *session) {
	a.t.Helper()
	r := a.send("POST", "/api/v1/session", fmt.Sprintf(`{"username":%q,"password":%q}`, username, password), nil, nil)
	if r.status != http.StatusOK {
		return r, nil
	}
	var body sessionResponse
	r.json(a.t, &body)
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie {
			return r, &session{cookie: c, csrf: body.CSRFToken}
		}
	}
	a.t.Fatalf("login response without a %s cookie: %v", sessionCookie, r.header)
	return r, nil
}

// send makes one request with an optional session; the CSRF header is sent
// unless headers sets it.
func (a *consoleAPI) send(method, path, body string, sess *session, headers map[string]string) response {
	a.t.Helper()
	req, err := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	if sess != nil {
		req.AddCookie(sess.cookie)
		req.Header.Set(csrfHeader, sess.csrf)
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func TestSessionCookieAttributes(t *testing.T) {
	cases := []struct {
		name       string
		insecure   bool
		wantSecure bool
	}{
		{"secure by default", false, true},
		{"insecure cookies for plain http", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			settings := config.Default().Console
			settings.InsecureCookies = tc.insecure
			a := newConsoleAPI(t, settings)
			r, sess := a.login("regulator", consolePassword)
			if r.status != http.StatusOK {
				t.Fatalf("login status %d: %s", r.status, r.body)
			}
			c := sess.cookie
			if !c.HttpOnly {
				t.Error("session cookie is not HttpOnly")
			}
			if c.SameSite != http.SameSiteStrictMode {
				t.Errorf("SameSite = %v, want Strict", c.SameSite)
			}
			if c.Path != "/" {
				t.Errorf("Path = %q, want /", c.Path)
			}
			if c.Secure != tc.wantSecure {
				t.Errorf("Secure = %v, want %v", c.Secure, tc.wantSecure)
			}
			var body sessionResponse
			r.json(t, &body)
			if body.User.Username != "regulator" || body.User.Role != model.RoleRegulator || body.User.DisplayName != "REGULATOR" || body.CSRFToken == "" {
				t.Errorf("login body = %+v", body)
			}
			if strings.Contains(string(r.body), c.Value) {
				t.Error("the session id appears in the response body")
			}
		})
	}
}

func TestLoginFailures(t *testing.T) {
	a := newConsoleAPI(t, config.Console{})
	r, _ := a.login("regulator", "wrong-password")
	expectError(t, r, http.StatusUnauthorized, codeUnauthorized, "")
	r, _ = a.login("nobody", consolePassword)
	expectError(t, r, http.StatusUnauthorized, codeUnauthorized, "")

	// Three more failures make five from this client within a minute.
	for range 3 {
		a.login("dispatcher", "wrong-password")
	}
	r, _ = a.login("admin", consolePassword)
	expectError(t, r, http.StatusTooManyRequests, codeRateLimited, "")
	if retry := r.header.Get("Retry-After"); retry == "" || retry == "0" {
		t.Errorf("Retry-After = %q, want a positive number of seconds", retry)
	}

	entries, err := a.db.Audit(time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, e := range entries {
		if e.Action == "login_failed" {
			failed++
		}
		if strings.Contains(e.Detail, "wrong-password") || strings.Contains(e.Target, "wrong-password") {
			t.Errorf("audit entry contains the password: %+v", e)
		}
	}
	if failed != 5 {
		t.Errorf("audit log has %d login_failed entries, want 5", failed)
	}
}

func TestCSRFAndLogout(t *testing.T) {
	a := newConsoleAPI(t, config.Console{})
	_, sess := a.login("dispatcher", consolePassword)
	zone := `{"type":"Feature","geometry":{"type":"Point","coordinates":[120.05,28.85]},"properties":{"name":"z","kind":"site","radius_m":100}}`

	cases := []struct {
		name   string
		header string
		status int
		code   string
	}{
		{"missing token", "", http.StatusForbidden, codeCSRF},
		{"wrong token", "not-the-token", http.StatusForbidden, codeCSRF},
		{"token of one character less", sess.csrf[:len(sess.csrf)-1], http.StatusForbidden, codeCSRF},
		{"right token", sess.csrf, http.StatusCreated, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.send("POST", "/api/v1/zones", zone, sess, map[string]string{csrfHeader: tc.header})
			if tc.code != "" {
				expectError(t, r, tc.status, tc.code, "")
				return
			}
			if r.status != tc.status {
				t.Errorf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}

	// GET needs no CSRF token; bearer requests need none either.
	if r := a.send("GET", "/api/v1/zones", "", sess, map[string]string{csrfHeader: ""}); r.status != http.StatusOK {
		t.Errorf("GET with the cookie and no CSRF token: status %d", r.status)
	}
	if r := a.send("POST", "/api/v1/zones", zone, nil, map[string]string{"Authorization": "Bearer " + testToken}); r.status != http.StatusCreated {
		t.Errorf("bearer POST without a CSRF token: status %d: %s", r.status, r.body)
	}

	expectError(t, a.send("DELETE", "/api/v1/session", "", sess, map[string]string{csrfHeader: ""}), http.StatusForbidden, codeCSRF, "")
	r := a.send("DELETE", "/api/v1/session", "", sess, nil)
	if r.status != http.StatusNoContent {
		t.Fatalf("logout status %d: %s", r.status, r.body)
	}
	expectError(t, a.send("GET", "/api/v1/session", "", sess, nil), http.StatusUnauthorized, codeUnauthorized, "")
	expectError(t, a.send("GET", "/api/v1/zones", "", sess, nil), http.StatusUnauthorized, codeUnauthorized, "")
}

// TestRouteRoles checks every console-relevant route for every role: a
// role that may not call a route gets 403, one that may gets past the
// role check (any status but 401 and 403).
func TestRouteRoles(t *testing.T) {
	a := newConsoleAPI(t, config.Console{})
	sessions := map[string]*session{}
	for _, role := range []string{"admin", "dispatcher", "regulator"} {
		_, sessions[role] = a.login(role, consolePassword)
	}
	all := []string{"admin", "dispatcher", "regulator"}
	routes := []struct {
		method, path string
		allowed      []string
	}{
		{"GET", "/api/v1/vehicles", all},
		{"POST", "/api/v1/vehicles", []string{"admin"}},
		{"GET", "/api/v1/vehicles/v1", all},
		{"GET", "/api/v1/vehicles/v1/track", all},
		{"GET", "/api/v1/zones", all},
		{"POST", "/api/v1/zones", []string{"admin", "dispatcher"}},
		{"GET", "/api/v1/zones/z1", all},
		{"PUT", "/api/v1/zones/z1", []string{"admin", "dispatcher"}},
		{"DELETE", "/api/v1/zones/z1", []string{"admin", "dispatcher"}},
		{"GET", "/api/v1/bookings", all},
		{"POST", "/api/v1/bookings", []string{"admin", "dispatcher"}},
		{"GET", "/api/v1/bookings/b1", all},
		{"GET", "/api/v1/trips", all},
		{"POST", "/api/v1/trips", []string{"admin", "dispatcher"}},
		{"GET", "/api/v1/trips/t1", all},
		{"POST", "/api/v1/trips/t1/complete", []string{"admin", "dispatcher"}},
		{"GET", "/api/v1/deviations", all},
		{"POST", "/api/v1/deviations/d1/ack", []string{"admin", "regulator"}},
		{"POST", "/api/v1/deviations/d1/handle", []string{"admin", "regulator"}},
		{"GET", "/api/v1/users", []string{"admin"}},
		{"POST", "/api/v1/users", []string{"admin"}},
		{"GET", "/api/v1/audit", []string{"admin", "regulator"}},
		{"GET", "/api/v1/console/config", all},
		{"GET", "/api/v1/session", all},
	}
	for _, rt := range routes {
		for _, role := range all {
			t.Run(rt.method+" "+rt.path+" as "+role, func(t *testing.T) {
				r := a.send(rt.method, rt.path, "{}", sessions[role], nil)
				mayCall := false
				for _, allowed := range rt.allowed {
					mayCall = mayCall || allowed == role
				}
				if !mayCall {
					expectError(t, r, http.StatusForbidden, codeForbidden, "")
					return
				}
				if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
					t.Errorf("status %d for an allowed role: %s", r.status, r.body)
				}
			})
		}
		t.Run(rt.method+" "+rt.path+" signed out", func(t *testing.T) {
			expectError(t, a.send(rt.method, rt.path, "{}", nil, nil), http.StatusUnauthorized, codeUnauthorized, "")
		})
	}
}

func TestUsersEndpoints(t *testing.T) {
	a := newConsoleAPI(t, config.Console{})
	_, admin := a.login("admin", consolePassword)

	cases := []struct {
		name   string
		body   string
		status int
		field  string
	}{
		{"created", `{"username":"reg2","password":"another-password","role":"regulator","display_name":"监管员二"}`, http.StatusCreated, ""},
		{"duplicate", `{"username":"reg2","password":"another-password","role":"regulator"}`, http.StatusConflict, "username"},
		{"unknown role", `{"username":"x","password":"another-password","role":"root"}`, http.StatusUnprocessableEntity, "role"},
		{"short password", `{"username":"x","password":"short","role":"admin"}`, http.StatusUnprocessableEntity, "password"},
		{"unknown field", `{"username":"x","password":"another-password","role":"admin","is_admin":true}`, http.StatusUnprocessableEntity, "is_admin"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := a.send("POST", "/api/v1/users", tc.body, admin, nil)
			if tc.field != "" {
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				fields := r.apiError(t).Fields
				if len(fields) == 0 || fields[0].Field != tc.field {
					t.Errorf("fields = %+v, want one on %s", fields, tc.field)
				}
				return
			}
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
		})
	}

	r := a.send("GET", "/api/v1/users", "", admin, nil)
	if strings.Contains(string(r.body), "argon2") || strings.Contains(string(r.body), "password") {
		t.Errorf("user list leaks password data: %s", r.body)
	}
	var list struct {
		Users []struct {
			Username  string    `json:"username"`
			Role      string    `json:"role"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"users"`
	}
	r.json(t, &list)
	if len(list.Users) != 4 {
		t.Errorf("listed %d users, want 4", len(list.Users))
	}
	if r, _ := a.login("reg2", "another-password"); r.status != http.StatusOK {
		t.Errorf("the new user cannot sign in: %d %s", r.status, r.body)
	}
}

func TestDeviationHandlingFlow(t *testing.T) {
	a := newConsoleAPI(t, config.Console{})
	dev := model.Deviation{ID: "dev1", Kind: model.KindOverspeed, State: model.StateOpen, Terminal: "v1", StartedAt: testStart}
	a.store.deviations = append(a.store.deviations, dev)
	if err := a.db.PutDeviation(dev); err != nil {
		t.Fatal(err)
	}
	_, reg := a.login("regulator", consolePassword)

	steps := []struct {
		name, path, body string
		status           int
		wantStatus       string
	}{
		{"handle needs a result", "/api/v1/deviations/dev1/handle", `{"comment":"x"}`, http.StatusUnprocessableEntity, ""},
		{"ack", "/api/v1/deviations/dev1/ack", `{"comment":"收到"}`, http.StatusOK, "acknowledged"},
		{"ack twice", "/api/v1/deviations/dev1/ack", `{"comment":"again"}`, http.StatusConflict, ""},
		{"handle", "/api/v1/deviations/dev1/handle", `{"comment":"已联系","result":"误报"}`, http.StatusOK, "handled"},
		{"handle twice", "/api/v1/deviations/dev1/handle", `{"comment":"","result":"误报"}`, http.StatusConflict, ""},
		{"unknown deviation", "/api/v1/deviations/nope/ack", `{"comment":""}`, http.StatusNotFound, ""},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			r := a.send("POST", st.path, st.body, reg, nil)
			if r.status != st.status {
				t.Fatalf("status %d, want %d: %s", r.status, st.status, r.body)
			}
			if st.wantStatus == "" {
				return
			}
			var view deviationView
			r.json(t, &view)
			if view.Handling.Status.String() != st.wantStatus {
				t.Errorf("handling status %s, want %s", view.Handling.Status, st.wantStatus)
			}
		})
	}

	if fmt.Sprint(a.forwarded) != "[dev1:ack dev1:handled]" {
		t.Errorf("forwarded = %v, want [dev1:ack dev1:handled]", a.forwarded)
	}
	var list deviationList
	r := a.send("GET", "/api/v1/deviations", "", reg, nil)
	r.json(t, &list)
	if len(list.Deviations) != 1 {
		t.Fatalf("listed %d deviations, want 1", len(list.Deviations))
	}
	h := list.Deviations[0].Handling
	if h.Status != model.HandlingHandled || h.AckedBy != "regulator" || h.HandledBy != "regulator" || h.Result != "误报" || h.AckedAt == nil || h.HandledAt == nil {
		t.Errorf("listed handling = %+v", h)
	}

	var audit auditList
	a.send("GET", "/api/v1/audit?limit=10", "", reg, nil).json(t, &audit)
	var actions []string
	for _, e := range audit.Entries {
		if e.Target == "dev1" {
			actions = append(actions, e.Action+" by "+e.User)
		}
	}
	if fmt.Sprint(actions) != "[deviation_handle by regulator deviation_ack by regulator]" {
		t.Errorf("audit entries for dev1 = %v", actions)
	}
}

func TestStaticConsoleAndHeaders(t *testing.T) {
	settings := config.Default().Console
	settings.TileURL = "https://t{s}.tiles.example/{z}/{x}/{y}.png"
	a := newConsoleAPI(t, settings)

	cases := []struct {
		path, contains, contentType string
		status                      int
	}{
		{"/", "<title>console</title>", "text/html", http.StatusOK},
		{"/alarms/123", "<title>console</title>", "text/html", http.StatusOK},
		{"/assets/app-1.js", "console.log", "javascript", http.StatusOK},
		{"/assets/missing.js", "<title>console</title>", "text/html", http.StatusOK},
		{"/api/v2/anything", `"not_found"`, "application/json", http.StatusNotFound},
		{"/healthz", "", "application/json", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			r := a.send("GET", tc.path, "", nil, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if !strings.Contains(string(r.body), tc.contains) {
				t.Errorf("body %q does not contain %q", r.body, tc.contains)
			}
			if ct := r.header.Get("Content-Type"); !strings.Contains(ct, tc.contentType) {
				t.Errorf("Content-Type = %q, want %s", ct, tc.contentType)
			}
			want := map[string]string{
				"Content-Security-Policy": "default-src 'self'; img-src 'self' data: https://*.tiles.example; connect-src 'self'; style-src 'self' 'unsafe-inline'",
				"X-Content-Type-Options":  "nosniff",
				"X-Frame-Options":         "DENY",
				"Referrer-Policy":         "no-referrer",
			}
			for name, value := range want {
				if got := r.header.Get(name); got != value {
					t.Errorf("%s = %q, want %q", name, got, value)
				}
			}
		})
	}

	_, sess := a.login("regulator", consolePassword)
	var cfg consoleConfigResponse
	a.send("GET", "/api/v1/console/config", "", sess, nil).json(t, &cfg)
	if cfg.TileURL != settings.TileURL || cfg.TileCRS != "wgs84" || cfg.DefaultLanguage != "zh-CN" || cfg.Zoom != 12 || cfg.Center != [2]float64{28.89, 120.04} {
		t.Errorf("console config = %+v", cfg)
	}
}

func TestLiveFeedStreams(t *testing.T) {
	a := newConsoleAPI(t, config.Console{})
	_, sess := a.login("regulator", consolePassword)
	req, _ := http.NewRequest("GET", a.url+"/api/v1/live", nil)
	req.AddCookie(sess.cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type = %q", ct)
	}

	deadline := time.Now().Add(5 * time.Second)
	for a.hub.Subscribers() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	a.hub.Publish(live.Event{Name: EventPosition, Data: []byte(`{"terminal":"v1"}`)})

	buf := make([]byte, 0, 256)
	chunk := make([]byte, 256)
	for !strings.Contains(string(buf), "\n\n"+"event: position") && time.Now().Before(deadline) {
		n, err := resp.Body.Read(chunk)
		buf = append(buf, chunk[:n]...)
		if err != nil {
			break
		}
	}
	if !strings.Contains(string(buf), "event: position\ndata: {\"terminal\":\"v1\"}\n\n") {
		t.Errorf("stream %q lacks the position event", buf)
	}

	// Closing the hub ends the stream instead of holding the connection.
	a.hub.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Errorf("stream did not end cleanly after the hub closed: %v", err)
	}
}

func TestZoneUpdate(t *testing.T) {
	a := newConsoleAPI(t, config.Console{})
	_, disp := a.login("dispatcher", consolePassword)
	zone := `{"type":"Feature","geometry":{"type":"Point","coordinates":[120.05,28.85]},"properties":{"name":"%s","kind":"site","radius_m":100}}`
	var created idResponse
	a.send("POST", "/api/v1/zones", fmt.Sprintf(zone, "old"), disp, nil).json(t, &created)

	r := a.send("PUT", "/api/v1/zones/"+created.ID, fmt.Sprintf(zone, "new"), disp, nil)
	if r.status != http.StatusOK {
		t.Fatalf("PUT status %d: %s", r.status, r.body)
	}
	stored, ok, _ := a.store.Zone(created.ID)
	if !ok || stored.Name != "new" {
		t.Errorf("stored zone = %+v, want the new name", stored)
	}
	expectError(t, a.send("PUT", "/api/v1/zones/zon_missing", fmt.Sprintf(zone, "x"), disp, nil), http.StatusNotFound, codeNotFound, "")
	expectError(t, a.send("PUT", "/api/v1/zones/"+created.ID, `{"type":"Feature"`, disp, nil), http.StatusBadRequest, codeInvalidJSON, "")
}
