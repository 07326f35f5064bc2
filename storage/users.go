package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/hwtrack/hwtrack/model"
)

// prefixUser keys console users: "u/" + username → userRecord JSON.
const prefixUser = "u/"

// ErrUserExists is returned by CreateUser when the username is taken.
var ErrUserExists = errors.New("user already exists")

// userRecord is a user as stored. It differs from model.User only in that
// the password hash is serialised, because model.User hides it from JSON.
type userRecord struct {
	Username     string     `json:"username"`
	Role         model.Role `json:"role"`
	DisplayName  string     `json:"display_name"`
	PasswordHash string     `json:"password_hash"`
	CreatedAt    time.Time  `json:"created_at"`
}

func (r userRecord) user() model.User {
	return model.User{
		Username:     r.Username,
		Role:         r.Role,
		DisplayName:  r.DisplayName,
		PasswordHash: r.PasswordHash,
		CreatedAt:    r.CreatedAt,
	}
}

// CreateUser stores u unless a user with its username exists, in which case
// it returns ErrUserExists. The check and the write are atomic.
func (s *Store) CreateUser(u model.User) error {
	var verr model.ValidationError
	if err := validateID("username", u.Username); err != nil {
		verr.Add("username", err.Error())
	}
	if u.Role == model.RoleUnknown {
		verr.Add("role", "missing")
	}
	if u.PasswordHash == "" {
		verr.Add("password_hash", "missing")
	}
	if err := verr.Err(); err != nil {
		return err
	}

	if err := s.rlock(); err != nil {
		return err
	}
	defer s.closeMu.RUnlock()
	s.entityMu.Lock()
	defer s.entityMu.Unlock()

	key := makeKey(prefixUser, u.Username)
	var existing userRecord
	found, err := s.getJSONLocked("user", key, &existing)
	if err != nil {
		return err
	}
	if found {
		return fmt.Errorf("create user %q: %w", u.Username, ErrUserExists)
	}
	data, err := json.Marshal(userRecord(u))
	if err != nil {
		return fmt.Errorf("encode user %q: %w", u.Username, err)
	}
	// Users are rare and losing one on a crash would lock its owner out,
	// so the write is synced.
	if err := s.db.Set(key, data, pebble.Sync); err != nil {
		s.metrics.writeErrors.WithLabelValues("pebble").Inc()
		return fmt.Errorf("store user %q: %w", u.Username, err)
	}
	return nil
}

// User returns the user with the given username, including its password
// hash.
func (s *Store) User(username string) (model.User, bool, error) {
	var r userRecord
	ok, err := s.getJSON("user", makeKey(prefixUser, username), &r)
	return r.user(), ok, err
}

// Users returns every user sorted by username (byte order).
func (s *Store) Users() ([]model.User, error) {
	records, err := scanJSON[userRecord](s, "user", prefixUser)
	if err != nil {
		return nil, err
	}
	out := make([]model.User, len(records))
	for i, r := range records {
		out[i] = r.user()
	}
	return out, nil
}

// HasUsers reports whether at least one user is stored.
func (s *Store) HasUsers() (bool, error) {
	if err := s.rlock(); err != nil {
		return false, err
	}
	defer s.closeMu.RUnlock()

	p := []byte(prefixUser)
	iter, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return false, fmt.Errorf("open user iterator: %w", err)
	}
	defer iter.Close()
	found := iter.First()
	if err := iter.Error(); err != nil {
		return false, fmt.Errorf("scan users: %w", err)
	}
	return found, nil
}
