package api

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

type userJSON struct {
	ID           string     `json:"id"`
	Username     string     `json:"username"`
	DisplayName  string     `json:"display_name"`
	Email        string     `json:"email"`
	Role         string     `json:"role"`
	Disabled     bool       `json:"disabled"`
	AuthProvider string     `json:"auth_provider"`
	ManagedBy    string     `json:"managed_by"`
	CreatedAt    time.Time  `json:"created_at"`
	UpdatedAt    time.Time  `json:"updated_at"`
	LastLoginAt  *time.Time `json:"last_login_at"`
}

func toUserJSON(u store.User) userJSON {
	return userJSON{
		ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Email: u.Email, Role: u.Role,
		Disabled: u.Disabled, AuthProvider: u.AuthProvider, ManagedBy: u.ManagedBy, CreatedAt: u.CreatedAt,
		UpdatedAt: u.UpdatedAt, LastLoginAt: u.LastLoginAt,
	}
}

// validUsername allows 1–64 letters, digits and . _ @ - so a name is safe in
// paths, logs and HCL.
func validUsername(name string) error {
	if name == "" || len(name) > 64 {
		return errorf(http.StatusBadRequest, "bad_username", "username must be 1 to 64 characters")
	}
	for _, c := range name {
		if !unicode.IsLetter(c) && !unicode.IsDigit(c) && !strings.ContainsRune("._@-", c) {
			return errorf(http.StatusBadRequest, "bad_username", "username may hold only letters, digits and . _ @ -")
		}
	}
	return nil
}

// lookupUser resolves {id}: a user id, or else a username.
func (a *API) lookupUser(r *http.Request) (store.User, error) {
	ref := mux.Vars(r)["id"]
	u, err := a.store.GetUser(r.Context(), ref)
	if errors.Is(err, store.ErrNotFound) {
		u, err = a.store.GetUserByName(r.Context(), ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errorf(http.StatusNotFound, "not_found", "no user %q", ref)
	}
	if err == nil {
		setTarget(r, "user", u.ID)
	}
	return u, err
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	users, err := a.store.ListUsers(r.Context(), cursor, limit+1)
	if err != nil {
		return err
	}
	writePage(w, users, limit, func(u store.User) string { return u.Username }, toUserJSON)
	return nil
}

type createUserRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	Role        string `json:"role"`
	DisplayName string `json:"display_name"`
	Email       string `json:"email"`
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request) error {
	var req createUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if err := validUsername(req.Username); err != nil {
		return err
	}
	if req.Role == "" {
		req.Role = store.RoleViewer
	}
	if !store.ValidRole(req.Role) {
		return errorf(http.StatusBadRequest, "bad_role", "role must be admin, operator or viewer")
	}
	if err := auth.CheckPasswordPolicy(req.Password); err != nil {
		return errorf(http.StatusBadRequest, "bad_password", "%v", err)
	}
	hash, err := auth.HashPassword(req.Password, a.opts.PasswordParams)
	if err != nil {
		return err
	}
	now := a.now()
	u := store.User{
		ID: auth.NewID(), Username: req.Username, DisplayName: req.DisplayName, Email: req.Email,
		PasswordHash: hash, Role: req.Role, CreatedAt: now, UpdatedAt: now,
	}
	setTarget(r, "user", u.ID)
	state(r).detail = map[string]any{"username": u.Username, "role": u.Role}
	if err := a.store.CreateUser(r.Context(), u); errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "conflict", "a user named %q exists already", req.Username)
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toUserJSON(u))
	return nil
}

func (a *API) showUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.lookupUser(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

type updateUserRequest struct {
	DisplayName *string `json:"display_name"`
	Email       *string `json:"email"`
	Password    *string `json:"password"`
	Role        *string `json:"role"`
	Disabled    *bool   `json:"disabled"`
}

func (a *API) updateUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.lookupUser(r)
	if err != nil {
		return err
	}
	var req updateUserRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	if u.ManagedBy == "config" {
		return errorf(http.StatusConflict, "managed_by_config", "user %q is declared in the configuration file; change it there", u.Username)
	}
	p := store.UserPatch{DisplayName: req.DisplayName, Email: req.Email, Role: req.Role, Disabled: req.Disabled}
	detail := map[string]any{}
	if req.Role != nil {
		if !store.ValidRole(*req.Role) {
			return errorf(http.StatusBadRequest, "bad_role", "role must be admin, operator or viewer")
		}
		detail["role"] = *req.Role
	}
	if req.Disabled != nil {
		detail["disabled"] = *req.Disabled
	}
	if req.Password != nil {
		if err := auth.CheckPasswordPolicy(*req.Password); err != nil {
			return errorf(http.StatusBadRequest, "bad_password", "%v", err)
		}
		h, err := auth.HashPassword(*req.Password, a.opts.PasswordParams)
		if err != nil {
			return err
		}
		p.PasswordHash = &h
		detail["password_changed"] = true
	}
	state(r).detail = detail
	demoted := req.Role != nil && *req.Role != store.RoleAdmin
	disabled := req.Disabled != nil && *req.Disabled
	if u.Role == store.RoleAdmin && !u.Disabled && (demoted || disabled) {
		if err := a.keepOneAdmin(r); err != nil {
			return err
		}
	}
	u, err = a.store.UpdateUser(r.Context(), u.ID, p, a.now())
	if err != nil {
		return err
	}
	if p.PasswordHash != nil {
		// A new password ends the sessions the old one started.
		if err := a.store.DeleteUserSessions(r.Context(), u.ID); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
	return nil
}

// keepOneAdmin refuses a change that would leave no enabled admin.
func (a *API) keepOneAdmin(r *http.Request) error {
	n, err := a.store.CountActiveAdmins(r.Context())
	if err != nil {
		return err
	}
	if n <= 1 {
		return errorf(http.StatusConflict, "last_admin", "this is the last enabled admin; make another admin first")
	}
	return nil
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) error {
	u, err := a.lookupUser(r)
	if err != nil {
		return err
	}
	if u.ManagedBy == "config" {
		return errorf(http.StatusConflict, "managed_by_config", "user %q is declared in the configuration file; remove it there", u.Username)
	}
	if u.Role == store.RoleAdmin && !u.Disabled {
		if err := a.keepOneAdmin(r); err != nil {
			return err
		}
	}
	state(r).detail = map[string]any{"username": u.Username}
	if err := a.store.DeleteUser(r.Context(), u.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
