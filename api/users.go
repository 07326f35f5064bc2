package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/hwtrack/hwtrack/console"
	"github.com/hwtrack/hwtrack/model"
)

type userRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	Role        string `json:"role"`
	DisplayName string `json:"display_name"`
}

type userList struct {
	Users []model.User `json:"users"`
}

func (s *server) createUser(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r, maxBodyBytes)
	if err != nil {
		return err
	}
	var req userRequest
	if err := decodeStrict(body, &req, ""); err != nil {
		return err
	}
	role, ok := model.ParseRole(req.Role)
	if !ok {
		return errInvalidInput([]model.FieldError{{Field: "role", Reason: fmt.Sprintf("%q is not admin, dispatcher or regulator", req.Role)}})
	}

	u, err := s.console.CreateUser(req.Username, req.Password, role, req.DisplayName)
	var invalid *model.ValidationError
	switch {
	case errors.As(err, &invalid):
		return errInvalidInput(invalid.Fields)
	case errors.Is(err, console.ErrUserExists):
		return errConflict(fmt.Sprintf("user %q already exists", req.Username), model.FieldError{Field: "username", Reason: "already exists"})
	case err != nil:
		return err
	}
	setAudit(r, u.Username, "role "+u.Role.String())
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (s *server) listUsers(w http.ResponseWriter, r *http.Request) error {
	users, err := s.console.Users()
	if err != nil {
		return err
	}
	if users == nil {
		users = []model.User{}
	}
	writeJSON(w, http.StatusOK, userList{Users: users})
	return nil
}
