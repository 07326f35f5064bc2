package console

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/storage"
)

// storeUsers is the real store with its duplicate error mapped to
// ErrUserExists, as the server wires it.
type storeUsers struct{ *storage.Store }

func (s storeUsers) CreateUser(u model.User) error {
	if err := s.Store.CreateUser(u); errors.Is(err, storage.ErrUserExists) {
		return fmt.Errorf("%w: %v", ErrUserExists, err)
	} else {
		return err
	}
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestConsole(t *testing.T) (*Console, *clock) {
	t.Helper()
	st, err := storage.Open(storage.Options{Dir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	c, err := New(Options{Users: storeUsers{st}, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

func TestPasswordHashRoundTrip(t *testing.T) {
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not use the argon2id PHC format with the default parameters", hash)
	}
	cases := []struct {
		name     string
		hash     string
		password string
		ok       bool
		err      bool
	}{
		{"right password", hash, "correct horse battery", true, false},
		{"wrong password", hash, "correct horse batterY", false, false},
		{"empty password", hash, "", false, false},
		{"bcrypt hash", "$2a$10$abcdefghijklmnopqrstuv", "x", false, true},
		{"huge memory", "$argon2id$v=19$m=99999999,t=2,p=1$c2FsdA$a2V5", "x", false, true},
		{"bad salt", "$argon2id$v=19$m=19456,t=2,p=1$!!$a2V5", "x", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := VerifyPassword(tc.hash, tc.password)
			if ok != tc.ok {
				t.Errorf("VerifyPassword = %v, want %v", ok, tc.ok)
			}
			if (err != nil) != tc.err {
				t.Errorf("VerifyPassword error = %v, want error: %v", err, tc.err)
			}
		})
	}
	other, _ := HashPassword("correct horse battery")
	if other == hash {
		t.Error("two hashes of one password are equal; the salt is not random")
	}
}

func TestCreateUserValidation(t *testing.T) {
	c, _ := newTestConsole(t)
	cases := []struct {
		name, username, password string
		role                     model.Role
		field                    string
	}{
		{"short password", "bob", "short", model.RoleAdmin, "password"},
		{"unknown role", "bob", "long enough pw", model.RoleUnknown, "role"},
		{"space in username", "bob smith", "long enough pw", model.RoleAdmin, "username"},
		{"empty username", "", "long enough pw", model.RoleAdmin, "username"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateUser(tc.username, tc.password, tc.role, "")
			var verr *model.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("error = %v, want a *model.ValidationError", err)
			}
			if len(verr.Fields) != 1 || verr.Fields[0].Field != tc.field {
				t.Errorf("fields = %+v, want one on %s", verr.Fields, tc.field)
			}
		})
	}

	u, err := c.CreateUser("bob", "long enough pw", model.RoleDispatcher, "Bob")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "" {
		t.Error("CreateUser returned the password hash")
	}
	if _, err := c.CreateUser("bob", "long enough pw", model.RoleDispatcher, "Bob"); !errors.Is(err, ErrUserExists) {
		t.Errorf("second CreateUser error = %v, want ErrUserExists", err)
	}
	users, err := c.Users()
	if err != nil || len(users) != 1 || users[0].PasswordHash != "" {
		t.Errorf("Users() = %+v, %v; want bob without a hash", users, err)
	}
}

func TestLoginAndSessionExpiry(t *testing.T) {
	c, clk := newTestConsole(t)
	if _, err := c.CreateUser("reg", "regulator-pass", model.RoleRegulator, "Reg"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login("reg", "wrong-password", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("wrong password error = %v, want ErrInvalidCredentials", err)
	}
	if _, err := c.Login("nobody", "regulator-pass", "10.0.0.1"); !errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("unknown user error = %v, want ErrInvalidCredentials", err)
	}
	sess, err := c.Login("reg", "regulator-pass", "10.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if sess.Role != model.RoleRegulator || sess.ID == "" || sess.CSRFToken == "" || sess.ID == sess.CSRFToken {
		t.Fatalf("session = %+v, want role regulator and distinct id and CSRF token", sess)
	}

	// Use keeps the session alive past the idle timeout...
	for range 4 {
		clk.Advance(20 * time.Minute)
		if _, ok := c.Session(sess.ID); !ok {
			t.Fatal("session expired while in use")
		}
	}
	// ...but not past 30 minutes of idleness.
	clk.Advance(DefaultSessionIdle)
	if _, ok := c.Session(sess.ID); ok {
		t.Error("session alive after the idle timeout")
	}

	// A used session still ends after its lifetime.
	sess, _ = c.Login("reg", "regulator-pass", "10.0.0.1")
	for elapsed := time.Duration(0); elapsed < DefaultSessionLifetime-20*time.Minute; elapsed += 20 * time.Minute {
		clk.Advance(20 * time.Minute)
		c.Session(sess.ID)
	}
	clk.Advance(20 * time.Minute)
	if _, ok := c.Session(sess.ID); ok {
		t.Error("session alive after its 12 h lifetime")
	}

	sess, _ = c.Login("reg", "regulator-pass", "10.0.0.1")
	if !c.Logout(sess.ID) {
		t.Error("Logout of a live session returned false")
	}
	if _, ok := c.Session(sess.ID); ok {
		t.Error("session alive after Logout")
	}
	if _, ok := c.Session(""); ok {
		t.Error("the empty session id was accepted")
	}
}

func TestLoginRateLimit(t *testing.T) {
	cases := []struct {
		name string
		// attempt returns the username and IP of failing attempt i.
		attempt func(i int) (username, ip string)
		// blocked is the username and IP that must be blocked afterwards.
		blockedUser, blockedIP string
		// free may still log in.
		freeUser, freeIP string
	}{
		{
			name:        "per IP",
			attempt:     func(i int) (string, string) { return fmt.Sprintf("guess%d", i), "10.0.0.9" },
			blockedUser: "reg", blockedIP: "10.0.0.9",
			freeUser: "reg", freeIP: "10.0.0.10",
		},
		{
			name:        "per username",
			attempt:     func(i int) (string, string) { return "reg", fmt.Sprintf("10.0.1.%d", i) },
			blockedUser: "reg", blockedIP: "10.0.2.1",
			freeUser: "other", freeIP: "10.0.2.1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, clk := newTestConsole(t)
			for _, name := range []string{"reg", "other"} {
				if _, err := c.CreateUser(name, "right-password", model.RoleRegulator, ""); err != nil {
					t.Fatal(err)
				}
			}
			for i := range DefaultMaxFailures {
				user, ip := tc.attempt(i)
				if _, err := c.Login(user, "wrong-password", ip); !errors.Is(err, ErrInvalidCredentials) {
					t.Fatalf("attempt %d error = %v, want ErrInvalidCredentials", i, err)
				}
			}

			_, err := c.Login(tc.blockedUser, "right-password", tc.blockedIP)
			var limited *RateLimitedError
			if !errors.As(err, &limited) {
				t.Fatalf("login after %d failures error = %v, want *RateLimitedError", DefaultMaxFailures, err)
			}
			if limited.RetryAfter <= 0 || limited.RetryAfter > DefaultFailureWindow {
				t.Errorf("RetryAfter = %s, want within (0, %s]", limited.RetryAfter, DefaultFailureWindow)
			}
			if _, err := c.Login(tc.freeUser, "right-password", tc.freeIP); err != nil {
				t.Errorf("login of %s from %s error = %v, want success", tc.freeUser, tc.freeIP, err)
			}

			clk.Advance(DefaultFailureWindow)
			if _, err := c.Login(tc.blockedUser, "right-password", tc.blockedIP); err != nil {
				t.Errorf("login after the window error = %v, want success", err)
			}
		})
	}
}

func TestEnsureAdmin(t *testing.T) {
	c, _ := newTestConsole(t)
	password, err := c.EnsureAdmin()
	if err != nil || len(password) < MinPasswordLength {
		t.Fatalf("EnsureAdmin = %q, %v; want a random password", password, err)
	}
	sess, err := c.Login(FirstAdminUsername, password, "127.0.0.1")
	if err != nil || sess.Role != model.RoleAdmin {
		t.Fatalf("login as the first admin = %+v, %v", sess, err)
	}
	again, err := c.EnsureAdmin()
	if err != nil || again != "" {
		t.Errorf("second EnsureAdmin = %q, %v; want no new password", again, err)
	}
}

func TestLimiterBoundsKeys(t *testing.T) {
	clk := &clock{now: time.Unix(0, 0)}
	l := NewLimiter(2, time.Minute, 3, clk.Now)
	for i := range 10 {
		l.Fail(fmt.Sprint("k", i))
		clk.Advance(time.Second)
	}
	l.mu.Lock()
	n := len(l.failures)
	l.mu.Unlock()
	if n > 3 {
		t.Errorf("limiter tracks %d keys, want at most 3", n)
	}
	l.Fail("k9")
	if l.RetryAfter("k9") == 0 {
		t.Error("the most recent key lost its count when the map was full")
	}
}
