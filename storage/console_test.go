package storage

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hwtrack/hwtrack/model"
)

func TestCreateUser(t *testing.T) {
	s := openStore(t, Options{})
	alice := model.User{Username: "alice", Role: model.RoleRegulator, DisplayName: "Alice", PasswordHash: "$argon2id$x", CreatedAt: time.Unix(100, 0).UTC()}

	has, err := s.HasUsers()
	if err != nil || has {
		t.Fatalf("HasUsers on an empty store = %v, %v; want false", has, err)
	}
	if err := s.CreateUser(alice); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}

	cases := []struct {
		name string
		user model.User
		want error
	}{
		{"duplicate username", alice, ErrUserExists},
		{"empty username", model.User{Role: model.RoleAdmin, PasswordHash: "h"}, nil},
		{"missing role", model.User{Username: "bob", PasswordHash: "h"}, nil},
		{"missing hash", model.User{Username: "bob", Role: model.RoleAdmin}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := s.CreateUser(tc.user)
			if err == nil {
				t.Fatal("CreateUser succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
			var verr *model.ValidationError
			if tc.want == nil && !errors.As(err, &verr) {
				t.Errorf("error = %v, want a *model.ValidationError", err)
			}
		})
	}

	got, ok, err := s.User("alice")
	if err != nil || !ok {
		t.Fatalf("User(alice) = %v, %v", ok, err)
	}
	if got != alice {
		t.Errorf("User(alice) = %+v, want %+v", got, alice)
	}
	if _, ok, _ := s.User("nobody"); ok {
		t.Error("User(nobody) found a user")
	}
	users, err := s.Users()
	if err != nil || len(users) != 1 || users[0].PasswordHash != alice.PasswordHash {
		t.Errorf("Users() = %+v, %v; want alice with her hash", users, err)
	}
	if has, _ := s.HasUsers(); !has {
		t.Error("HasUsers = false after CreateUser")
	}
}

func TestCreateUserConcurrentOneWins(t *testing.T) {
	s := openStore(t, Options{})
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.CreateUser(model.User{Username: "same", Role: model.RoleAdmin, PasswordHash: fmt.Sprint(i)})
		}()
	}
	wg.Wait()
	close(errs)
	created := 0
	for err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, ErrUserExists):
			t.Errorf("unexpected error: %v", err)
		}
	}
	if created != 1 {
		t.Errorf("%d concurrent CreateUser calls succeeded, want 1", created)
	}
}

func TestAuditOrderAndBounds(t *testing.T) {
	s := openStore(t, Options{})
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	for i := range 5 {
		e := model.AuditEntry{At: base.Add(time.Duration(i) * time.Minute), User: "u", Role: model.RoleAdmin, Action: fmt.Sprintf("a%d", i)}
		if err := s.AppendAudit(e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
	}
	// Two entries in the same instant must both survive.
	if err := s.AppendAudit(model.AuditEntry{At: base, Action: "a0-again"}); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name     string
		from, to time.Time
		limit    int
		want     []string
	}{
		{"all newest first", time.Time{}, time.Time{}, 0, []string{"a4", "a3", "a2", "a1", "a0-again", "a0"}},
		{"limit", time.Time{}, time.Time{}, 2, []string{"a4", "a3"}},
		{"from inclusive", base.Add(3 * time.Minute), time.Time{}, 0, []string{"a4", "a3"}},
		{"to exclusive", time.Time{}, base.Add(time.Minute), 0, []string{"a0-again", "a0"}},
		{"empty range", base.Add(time.Hour), time.Time{}, 0, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Audit(tc.from, tc.to, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range got {
				actions = append(actions, e.Action)
			}
			if fmt.Sprint(actions) != fmt.Sprint(tc.want) {
				t.Errorf("actions = %v, want %v", actions, tc.want)
			}
		})
	}

	if err := s.AppendAudit(model.AuditEntry{Action: "x"}); err == nil {
		t.Error("AppendAudit without a time succeeded")
	}
	if err := s.AppendAudit(model.AuditEntry{At: base}); err == nil {
		t.Error("AppendAudit without an action succeeded")
	}
}

func TestUpdateHandling(t *testing.T) {
	s := openStore(t, Options{})
	if _, ok, err := s.Handling("dev1"); ok || err != nil {
		t.Fatalf("Handling before any update = %v, %v", ok, err)
	}

	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	h, err := s.UpdateHandling("dev1", func(h *model.Handling) error {
		if h.Status != model.HandlingNew {
			t.Errorf("first update sees status %s, want new", h.Status)
		}
		h.Status, h.AckedBy, h.AckedAt = model.HandlingAcknowledged, "reg", at
		return nil
	})
	if err != nil || h.Status != model.HandlingAcknowledged {
		t.Fatalf("UpdateHandling = %+v, %v", h, err)
	}

	refused := errors.New("refused")
	if _, err := s.UpdateHandling("dev1", func(h *model.Handling) error {
		h.Status = model.HandlingHandled
		return refused
	}); !errors.Is(err, refused) {
		t.Errorf("UpdateHandling error = %v, want the update's error", err)
	}
	stored, ok, err := s.Handling("dev1")
	if err != nil || !ok {
		t.Fatalf("Handling = %v, %v", ok, err)
	}
	if stored.Status != model.HandlingAcknowledged || stored.AckedBy != "reg" || !stored.AckedAt.Equal(at) {
		t.Errorf("stored handling = %+v, want the acknowledged record unchanged by the refused update", stored)
	}
	if _, err := s.UpdateHandling("", func(*model.Handling) error { return nil }); err == nil {
		t.Error("UpdateHandling with an empty id succeeded")
	}
}
