package demo

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/hwtrack/hwtrack/console"
	"github.com/hwtrack/hwtrack/model"
	"github.com/hwtrack/hwtrack/server"
)

// createSampleUsers adds the fleet file's console users that do not exist
// yet. A user left from an earlier demo run keeps its password.
func createSampleUsers(srv *server.Server, users []User, log *slog.Logger) error {
	for _, u := range users {
		role, ok := model.ParseRole(u.Role)
		if !ok {
			return fmt.Errorf("demo user %q: role %q is not admin, dispatcher or regulator", u.Username, u.Role)
		}
		err := srv.CreateUser(u.Username, u.Password, role, u.DisplayName)
		if errors.Is(err, console.ErrUserExists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create demo user %q: %w", u.Username, err)
		}
		log.Info("demo console user created", "username", u.Username, "role", role.String())
	}
	return nil
}

func sampleUsernames(users []User) string {
	names := ""
	for i, u := range users {
		if i > 0 {
			names += ", "
		}
		names += u.Username + " (" + u.Role + ")"
	}
	return names
}
