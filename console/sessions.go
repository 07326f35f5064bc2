package console

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

// Session is a signed-in console user. ID is the cookie value and
// CSRFToken the value every state-changing request must echo in the
// X-CSRF-Token header.
type Session struct {
	ID          string
	CSRFToken   string
	Username    string
	Role        model.Role
	DisplayName string
	CreatedAt   time.Time
	LastSeen    time.Time
}

// sessionIDBytes is the entropy of session ids and CSRF tokens.
const sessionIDBytes = 32

// sessions is the in-memory session table. Sessions do not survive a
// restart, which signs every user out; the table holds only what a live
// process needs.
type sessions struct {
	idle, lifetime time.Duration
	maxSessions    int
	now            func() time.Time

	mu sync.Mutex
	// byHash maps the SHA-256 of a session id to its session, so a lookup
	// never compares secret bytes with an early-exit string comparison.
	// Guarded by mu.
	byHash map[[sha256.Size]byte]*Session
}

func newSessions(idle, lifetime time.Duration, maxSessions int, now func() time.Time) *sessions {
	return &sessions{
		idle:        idle,
		lifetime:    lifetime,
		maxSessions: max(maxSessions, 1),
		now:         now,
		byHash:      map[[sha256.Size]byte]*Session{},
	}
}

func (s *sessions) create(u model.User) (Session, error) {
	id, err := randomToken(sessionIDBytes)
	if err != nil {
		return Session{}, err
	}
	csrf, err := randomToken(sessionIDBytes)
	if err != nil {
		return Session{}, err
	}
	now := s.now()
	sess := &Session{
		ID:          id,
		CSRFToken:   csrf,
		Username:    u.Username,
		Role:        u.Role,
		DisplayName: u.DisplayName,
		CreatedAt:   now,
		LastSeen:    now,
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byHash) >= s.maxSessions {
		s.evict(now)
	}
	s.byHash[sha256.Sum256([]byte(id))] = sess
	return *sess, nil
}

// lookup returns the live session with id and marks it as seen now. An
// expired session is removed.
func (s *sessions) lookup(id string) (Session, bool) {
	key := sha256.Sum256([]byte(id))
	now := s.now()

	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.byHash[key]
	if !ok {
		return Session{}, false
	}
	if s.expired(sess, now) {
		delete(s.byHash, key)
		return Session{}, false
	}
	sess.LastSeen = now
	return *sess, true
}

func (s *sessions) delete(id string) bool {
	key := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.byHash[key]
	delete(s.byHash, key)
	return ok
}

func (s *sessions) expired(sess *Session, now time.Time) bool {
	return now.Sub(sess.LastSeen) >= s.idle || now.Sub(sess.CreatedAt) >= s.lifetime
}

// evict removes every expired session and, if the table is still full, the
// one seen least recently. The caller holds mu.
func (s *sessions) evict(now time.Time) {
	var stalest [sha256.Size]byte
	var stalestSeen time.Time
	for key, sess := range s.byHash {
		if s.expired(sess, now) {
			delete(s.byHash, key)
			continue
		}
		if stalestSeen.IsZero() || sess.LastSeen.Before(stalestSeen) {
			stalest, stalestSeen = key, sess.LastSeen
		}
	}
	if len(s.byHash) >= s.maxSessions {
		delete(s.byHash, stalest)
	}
}
