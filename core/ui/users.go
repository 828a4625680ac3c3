package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/store"
)

// userItem is a user as the API answers it.
type userItem struct {
	ID           string     `json:"id"`
	Username     string     `json:"username"`
	DisplayName  string     `json:"display_name"`
	Role         string     `json:"role"`
	Disabled     bool       `json:"disabled"`
	AuthProvider string     `json:"auth_provider"`
	ManagedBy    string     `json:"managed_by"`
	CreatedAt    time.Time  `json:"created_at"`
	LastLoginAt  *time.Time `json:"last_login_at"`
}

// userForm is the create form as it is shown again after a refusal
// (never with the password).
type userForm struct{ Username, Role string }

type usersData struct {
	Users  []userItem
	Roles  []string
	SelfID string
	Form   userForm
	Tokens tokensData
}

var userRoles = []string{store.RoleViewer, store.RoleOperator, store.RoleAdmin}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	u.renderUsers(w, r, c, http.StatusOK, userForm{Role: store.RoleViewer}, nil, nil)
}

// renderUsers shows the users and everyone's API tokens; tokens (if not
// nil) adds a new token's secret or a refusal to the tokens section.
func (u *UI) renderUsers(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, form userForm, flashes []flash, tokens func(*tokensData)) {
	users, err := allItems[userItem](u, r, c, "/api/v1/users")
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	td, err := u.loadTokens(r, c, true, userNames(users))
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	if tokens != nil {
		tokens(&td)
	}
	u.render(w, r, c, status, "users", view{
		Title: "Users", Nav: "users", Flashes: flashes,
		Data: usersData{Users: users, Roles: userRoles, SelfID: c.User.ID, Form: form, Tokens: td},
	})
}

func (u *UI) userCreate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	body := struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Role     string `json:"role"`
	}{strings.TrimSpace(r.PostFormValue("username")), r.PostFormValue("password"), r.PostFormValue("role")}
	err := u.call(r, c, http.MethodPost, "/api/v1/users", body, nil)
	switch {
	case err == nil:
		u.back(w, r, "/users", nil, fmt.Sprintf("User %q created as %s. Give them the password; they can change it on their Account page.", body.Username, body.Role))
	case refusedByAPI(err):
		u.fail(w, r, c, err)
	default:
		status, msg := u.userMessage(err)
		u.renderUsers(w, r, c, status, userForm{Username: body.Username, Role: body.Role},
			[]flash{{Kind: "error", Message: "Could not create the user: " + msg + ". The password was not kept; enter it again."}}, nil)
	}
}

// patchUser changes one user through PATCH /api/v1/users/{id} and goes
// back to /users with done or the API's reason.
func (u *UI) patchUser(w http.ResponseWriter, r *http.Request, c *api.Caller, body any, done string) {
	err := u.call(r, c, http.MethodPatch, "/api/v1/users/"+url.PathEscape(mux.Vars(r)["id"]), body, nil)
	if refusedByAPI(err) {
		u.fail(w, r, c, err)
		return
	}
	u.back(w, r, "/users", err, done)
}

func (u *UI) userRole(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	role := r.PostFormValue("role")
	u.patchUser(w, r, c, map[string]string{"role": role},
		fmt.Sprintf("%s is now %s.", r.PostFormValue("username"), role))
}

func (u *UI) userDisabled(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	disable := r.PostFormValue("disabled") == "true"
	done := fmt.Sprintf("%s is enabled again.", r.PostFormValue("username"))
	if disable {
		done = fmt.Sprintf("%s is disabled: they cannot log in and their API tokens stop working.", r.PostFormValue("username"))
	}
	u.patchUser(w, r, c, map[string]bool{"disabled": disable}, done)
}

func (u *UI) userPassword(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	u.patchUser(w, r, c, map[string]string{"password": r.PostFormValue("password")},
		fmt.Sprintf("Password of %s reset; their browser sessions have ended.", r.PostFormValue("username")))
}
