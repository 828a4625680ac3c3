package ui

import (
	"net/http"
	"strings"

	"github.com/restic-manager/restic-manager/core/api"
)

type accountData struct {
	User   userItem
	Tokens tokensData
}

func (u *UI) accountPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	u.renderAccount(w, r, c, http.StatusOK, nil)
}

// renderAccount shows the caller's account and own API tokens; tokens (if
// not nil) adds a new token's secret or a refusal to the tokens section.
func (u *UI) renderAccount(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, tokens func(*tokensData)) {
	var me struct {
		User userItem `json:"user"`
	}
	if err := u.call(r, c, http.MethodGet, "/api/v1/me", nil, &me); err != nil {
		u.fail(w, r, c, err)
		return
	}
	td, err := u.loadTokens(r, c, false, nil)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	if tokens != nil {
		tokens(&td)
	}
	u.render(w, r, c, status, "account", view{Title: "Your account", Nav: "account", Data: accountData{User: me.User, Tokens: td}})
}

// passwordFields names the API's fields as the form labels them.
var passwordFields = strings.NewReplacer("current_password", "Current password", "new_password", "New password")

func (u *UI) accountPassword(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	current, next := r.PostFormValue("current_password"), r.PostFormValue("new_password")
	if next != r.PostFormValue("confirm_password") {
		u.setFlash(w, "error", "New password: the two entries differ; type the same new password twice.")
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	err := u.call(r, c, http.MethodPost, "/api/v1/account/password",
		map[string]string{"current_password": current, "new_password": next}, nil)
	if err != nil {
		_, msg := u.userMessage(err)
		u.setFlash(w, "error", sentence(passwordFields.Replace(msg)))
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	u.back(w, r, "/account", nil, "Password changed. Your other sessions have ended; this one stays logged in.")
}
