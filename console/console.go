// Package console manages the regulator console's users and sessions:
// argon2id password hashes, in-memory sessions with idle and absolute
// expiry, and login rate limiting per client IP and per username.
package console

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hwtrack/hwtrack/model"
)

// UserStore is the persistence of console users. CreateUser must fail with an error
// wrapping ErrUserExists when the username is taken.
type UserStore interface {
	CreateUser(u model.User) error
	User(username string) (model.User, bool, error)
	Users() ([]model.User, error)
	HasUsers() (bool, error)
}

// Sentinel errors of Login and CreateUser.
var (
	// ErrInvalidCredentials means the username is unknown or the password
	// is wrong. The two cases share one error so a client cannot probe for
	// usernames.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrUserExists means the username is taken. UserStore implementations
	// wrap it too.
	ErrUserExists = errors.New("user already exists")
)

// RateLimitedError is returned by Login while the client IP or the username
// has too many recent failures.
type RateLimitedError struct {
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many failed logins; retry after %s", e.RetryAfter.Round(time.Second))
}

// Defaults of Options.
const (
	DefaultSessionIdle     = 30 * time.Minute
	DefaultSessionLifetime = 12 * time.Hour
	DefaultMaxFailures     = 5
	DefaultFailureWindow   = time.Minute
	defaultMaxSessions     = 10_000
	defaultMaxLimiterKeys  = 100_000
	// defaultMaxHashing bounds concurrent argon2id computations, each of
	// which allocates argonMemoryKiB, so a login flood cannot exhaust
	// memory.
	defaultMaxHashing = 4
)

// Options configures a Console. Users is required.
type Options struct {
	Users UserStore
	// SessionIdle ends a session not used for this long; SessionLifetime
	// ends any session this long after sign-in.
	SessionIdle     time.Duration
	SessionLifetime time.Duration
	// MaxFailures failed logins within FailureWindow block further
	// attempts from the same client IP, and separately for the same
	// username, until the oldest failure leaves the window.
	MaxFailures   int
	FailureWindow time.Duration
	Logger        *slog.Logger
	Now           func() time.Time
}

// Console signs users in and out and manages accounts. It starts no
// goroutines, so it needs no Close. It is safe for concurrent use.
type Console struct {
	users    UserStore
	sessions *sessions
	byIP     *Limiter
	byUser   *Limiter
	hashing  chan struct{}
	// dummyHash is verified when a username is unknown, so the response
	// time does not reveal which usernames exist.
	dummyHash string
	log       *slog.Logger
	now       func() time.Time
}

// New returns a Console over opts.Users.
func New(opts Options) (*Console, error) {
	if opts.Users == nil {
		return nil, errors.New("console: Options.Users is required")
	}
	if opts.SessionIdle <= 0 {
		opts.SessionIdle = DefaultSessionIdle
	}
	if opts.SessionLifetime <= 0 {
		opts.SessionLifetime = DefaultSessionLifetime
	}
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = DefaultMaxFailures
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = DefaultFailureWindow
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}

	dummy, err := randomToken(sessionIDBytes)
	if err != nil {
		return nil, err
	}
	dummyHash, err := HashPassword(dummy)
	if err != nil {
		return nil, err
	}
	return &Console{
		users:     opts.Users,
		sessions:  newSessions(opts.SessionIdle, opts.SessionLifetime, defaultMaxSessions, opts.Now),
		byIP:      NewLimiter(opts.MaxFailures, opts.FailureWindow, defaultMaxLimiterKeys, opts.Now),
		byUser:    NewLimiter(opts.MaxFailures, opts.FailureWindow, defaultMaxLimiterKeys, opts.Now),
		hashing:   make(chan struct{}, defaultMaxHashing),
		dummyHash: dummyHash,
		log:       opts.Logger.With("component", "console"),
		now:       opts.Now,
	}, nil
}

// Login checks username and password and starts a session. It returns a
// *RateLimitedError while clientIP or username is blocked, without checking
// the password, and ErrInvalidCredentials for an unknown user or a wrong
// password. The returned user has no password hash.
func (c *Console) Login(username, password, clientIP string) (Session, error) {
	userKey := strings.ToLower(username)
	if wait := max(c.byIP.RetryAfter(clientIP), c.byUser.RetryAfter(userKey)); wait > 0 {
		return Session{}, &RateLimitedError{RetryAfter: wait}
	}

	u, found, err := c.users.User(username)
	if err != nil {
		return Session{}, fmt.Errorf("load user %q: %w", username, err)
	}
	hash := c.dummyHash
	if found {
		hash = u.PasswordHash
	}
	ok, err := c.verify(hash, password)
	if err != nil {
		c.log.Error("stored password hash cannot be verified", "username", username, "err", err)
	}
	if !found || !ok || len(password) > MaxPasswordLength*utf8.UTFMax {
		c.byIP.Fail(clientIP)
		c.byUser.Fail(userKey)
		return Session{}, ErrInvalidCredentials
	}

	c.byUser.Reset(userKey)
	return c.sessions.create(u)
}

// verify runs VerifyPassword with at most defaultMaxHashing running at once.
func (c *Console) verify(hash, password string) (bool, error) {
	if len(password) > MaxPasswordLength*utf8.UTFMax {
		// Still spend the time of a verification, but on a bounded input.
		password = password[:MaxPasswordLength*utf8.UTFMax]
	}
	c.hashing <- struct{}{}
	defer func() { <-c.hashing }()
	return VerifyPassword(hash, password)
}

// Session returns the live session with id and extends its idle timeout.
func (c *Console) Session(id string) (Session, bool) {
	if id == "" {
		return Session{}, false
	}
	return c.sessions.lookup(id)
}

// Logout ends the session with id. It reports whether the session existed.
func (c *Console) Logout(id string) bool {
	return c.sessions.delete(id)
}

// CreateUser validates and stores a new user with an argon2id hash of
// password. Invalid input is a *model.ValidationError; a taken username
// wraps ErrUserExists.
func (c *Console) CreateUser(username, password string, role model.Role, displayName string) (model.User, error) {
	var verr model.ValidationError
	if reason := checkUsername(username); reason != "" {
		verr.Add("username", reason)
	}
	if reason := checkPassword(password); reason != "" {
		verr.Add("password", reason)
	}
	if role == model.RoleUnknown {
		verr.Add("role", "must be admin, dispatcher or regulator")
	}
	if utf8.RuneCountInString(displayName) > 100 {
		verr.Add("display_name", "must be at most 100 characters")
	}
	if err := verr.Err(); err != nil {
		return model.User{}, err
	}

	hash, err := HashPassword(password)
	if err != nil {
		return model.User{}, err
	}
	u := model.User{
		Username:     username,
		Role:         role,
		DisplayName:  displayName,
		PasswordHash: hash,
		CreatedAt:    c.now().UTC(),
	}
	if err := c.users.CreateUser(u); err != nil {
		if errors.Is(err, ErrUserExists) {
			return model.User{}, err
		}
		return model.User{}, fmt.Errorf("store user %q: %w", username, err)
	}
	c.log.Info("console user created", "username", username, "role", role.String())
	u.PasswordHash = ""
	return u, nil
}

// Users returns every user without password hashes.
func (c *Console) Users() ([]model.User, error) {
	users, err := c.users.Users()
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	for i := range users {
		users[i].PasswordHash = ""
	}
	return users, nil
}

// FirstAdminUsername is the console user EnsureAdmin creates.
const FirstAdminUsername = "admin"

// EnsureAdmin creates the user "admin" with role admin and a random
// password when no user exists yet, and returns that password so the
// caller can show it once. It returns "" when users already exist.
func (c *Console) EnsureAdmin() (string, error) {
	has, err := c.users.HasUsers()
	if err != nil {
		return "", fmt.Errorf("check for console users: %w", err)
	}
	if has {
		return "", nil
	}
	password, err := randomToken(15)
	if err != nil {
		return "", err
	}
	if _, err := c.CreateUser(FirstAdminUsername, password, model.RoleAdmin, "Administrator"); err != nil {
		if errors.Is(err, ErrUserExists) {
			return "", nil
		}
		return "", fmt.Errorf("create first admin user: %w", err)
	}
	return password, nil
}

// checkUsername returns why name cannot be a username, or "".
func checkUsername(name string) string {
	if name == "" {
		return "missing"
	}
	if len(name) > 64 {
		return "must be at most 64 characters"
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return "may contain only letters a-z, digits, '.', '_' and '-'"
		}
	}
	return ""
}
