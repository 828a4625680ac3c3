package ui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
)

// API tokens are listed and made on two pages: /account (your own) and
// /users (everyone's, for admins). Both use the partial "api-tokens"; with
// htmx a create or revoke swaps just that section, so the secret of a new
// token is never in a page a reload or the history can bring back.

// tokenItem is an API token as the API lists it (never its secret).
type tokenItem struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	UserID     string     `json:"user_id"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	// Owner is the owner's username (on the users page); Status is
	// active, expired or revoked.
	Owner  string `json:"-"`
	Status string `json:"-"`
}

// tokenStatus says whether t still works at now.
func tokenStatus(t tokenItem, now time.Time) string {
	switch {
	case t.RevokedAt != nil:
		return "revoked"
	case t.ExpiresAt != nil && !now.Before(*t.ExpiresAt):
		return "expired"
	default:
		return "active"
	}
}

// createdToken is a new token's secret, shown this once.
type createdToken struct {
	Name      string
	Secret    copyBlock
	ExpiresAt *time.Time
}

// tokensData is the "api-tokens" section.
type tokensData struct {
	// All lists everyone's tokens with their owners (the users page).
	All bool
	// Back is the page the section is on: /users or /account.
	Back    string
	CSRF    string
	Tokens  []tokenItem
	Created *createdToken
	// Error is why a create or revoke failed; FormName keeps the name typed.
	Error    string
	FormName string
	Expiries []selectOption
}

// selectOption is one <option> of a <select>.
type selectOption struct{ Value, Label string }

var tokenExpiries = []selectOption{
	{"", "never"}, {"720h", "in 30 days"}, {"2160h", "in 90 days"}, {"8760h", "in a year"},
}

// loadTokens reads the tokens the section shows: everyone's with owners
// (owners maps user ids to names) or the caller's own.
func (u *UI) loadTokens(r *http.Request, c *api.Caller, all bool, owners map[string]string) (tokensData, error) {
	d := tokensData{All: all, Back: "/account", CSRF: c.CSRF, Expiries: tokenExpiries}
	path := "/api/v1/tokens"
	if all {
		path += "?all=true"
		d.Back = "/users"
	}
	tokens, err := allItems[tokenItem](u, r, c, path)
	if err != nil {
		return d, err
	}
	now := time.Now()
	for i := range tokens {
		tokens[i].Status = tokenStatus(tokens[i], now)
		tokens[i].Owner = owners[tokens[i].UserID]
	}
	d.Tokens = tokens
	return d, nil
}

// tokensBack is the page a token form came from: /users for admins who
// asked for it, else /account.
func tokensBack(r *http.Request, c *api.Caller) string {
	if r.PostFormValue("back") == "/users" && callerIsAdmin(c) {
		return "/users"
	}
	return "/account"
}

// refusedByAPI reports whether err is the API refusing the caller (401/403):
// that is shown as the error page, not as a form message.
func refusedByAPI(err error) bool {
	var e *api.Error
	return errors.As(err, &e) && (e.Status == http.StatusForbidden || e.Status == http.StatusUnauthorized)
}

func (u *UI) tokenCreate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	back := tokensBack(r, c)
	body := struct {
		Name      string `json:"name"`
		ExpiresIn string `json:"expires_in,omitempty"`
	}{Name: strings.TrimSpace(r.PostFormValue("name")), ExpiresIn: r.PostFormValue("expires_in")}
	var out struct {
		tokenItem
		Token string `json:"token"`
	}
	err := u.call(r, c, http.MethodPost, "/api/v1/tokens", body, &out)
	if refusedByAPI(err) {
		u.fail(w, r, c, err)
		return
	}
	var created *createdToken
	var errMsg string
	status := http.StatusOK
	if err != nil {
		status, errMsg = u.userMessage(err)
		if rest, ok := strings.CutPrefix(errMsg, "name "); ok {
			errMsg = "Token name: " + rest
		}
	} else {
		created = &createdToken{Name: out.Name, ExpiresAt: out.ExpiresAt, Secret: copyBlock{ID: "new-token", Label: "API token " + out.Name, Text: out.Token}}
	}
	u.tokensAnswer(w, r, c, back, status, created, errMsg, body.Name)
}

func (u *UI) tokenRevoke(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	back := tokensBack(r, c)
	err := u.call(r, c, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(mux.Vars(r)["id"]), nil, nil)
	if !wantsFragment(r) {
		u.back(w, r, back, err, fmt.Sprintf("Token %q revoked: it no longer works.", r.PostFormValue("name")))
		return
	}
	var errMsg string
	if err != nil {
		_, errMsg = u.userMessage(err)
	}
	u.tokensAnswer(w, r, c, back, http.StatusOK, nil, errMsg, "")
}

// tokensAnswer answers a token form: the "api-tokens" section for htmx,
// else the whole page it came from (status is then the API's).
func (u *UI) tokensAnswer(w http.ResponseWriter, r *http.Request, c *api.Caller, back string, status int,
	created *createdToken, errMsg, formName string,
) {
	extra := func(d *tokensData) {
		d.Created, d.Error, d.FormName = created, errMsg, formName
	}
	if wantsFragment(r) {
		owners, err := u.tokenOwners(r, c, back == "/users")
		if err != nil {
			u.fail(w, r, c, err)
			return
		}
		d, err := u.loadTokens(r, c, back == "/users", owners)
		if err != nil {
			u.fail(w, r, c, err)
			return
		}
		extra(&d)
		// htmx swaps 2xx answers only: a refusal is shown in the section.
		u.renderFragment(w, http.StatusOK, "account", "api-tokens", d)
		return
	}
	if status < 400 {
		status = http.StatusOK
	}
	if back == "/users" {
		u.renderUsers(w, r, c, status, userForm{Role: "viewer"}, nil, extra)
		return
	}
	u.renderAccount(w, r, c, status, extra)
}

// tokenOwners maps user ids to names for the users page; nil elsewhere.
func (u *UI) tokenOwners(r *http.Request, c *api.Caller, all bool) (map[string]string, error) {
	if !all {
		return nil, nil
	}
	users, err := allItems[userItem](u, r, c, "/api/v1/users")
	if err != nil {
		return nil, err
	}
	return userNames(users), nil
}

func userNames(users []userItem) map[string]string {
	m := make(map[string]string, len(users))
	for _, x := range users {
		m[x.ID] = x.Username
	}
	return m
}
