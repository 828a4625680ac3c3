package ui

import "net/http"

// adminRoutes are users, API tokens, enrollment (add host), the audit log
// and the account page of every user.
func (u *UI) adminRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.users", method: http.MethodGet, path: "/users", access: loggedIn, handler: u.usersPage},
		{name: "ui.users.create", method: http.MethodPost, path: "/users", access: loggedIn, handler: u.userCreate},
		{name: "ui.users.role", method: http.MethodPost, path: "/users/{id}/role", access: loggedIn, handler: u.userRole},
		{name: "ui.users.disabled", method: http.MethodPost, path: "/users/{id}/disabled", access: loggedIn, handler: u.userDisabled},
		{name: "ui.users.password", method: http.MethodPost, path: "/users/{id}/password", access: loggedIn, handler: u.userPassword},

		{name: "ui.tokens.create", method: http.MethodPost, path: "/tokens", access: loggedIn, handler: u.tokenCreate},
		{name: "ui.tokens.revoke", method: http.MethodPost, path: "/tokens/{id}/revoke", access: loggedIn, handler: u.tokenRevoke},

		{name: "ui.account", method: http.MethodGet, path: "/account", access: loggedIn, handler: u.accountPage},
		{name: "ui.account.password", method: http.MethodPost, path: "/account/password", access: loggedIn, handler: u.accountPassword},

		{name: "ui.hosts.new", method: http.MethodGet, path: "/hosts/new", access: loggedIn, handler: u.addHostPage},
		{name: "ui.hosts.new.create", method: http.MethodPost, path: "/hosts/new", access: loggedIn, handler: u.addHostCreate},
		{name: "ui.hosts.new.token", method: http.MethodGet, path: "/hosts/new/{id}", access: loggedIn, handler: u.addHostToken},
		{name: "ui.hosts.new.status", method: http.MethodGet, path: "/hosts/new/{id}/status", access: loggedIn, handler: u.addHostStatus},
		{name: "ui.hosts.new.revoke", method: http.MethodPost, path: "/hosts/new/{id}/revoke", access: loggedIn, handler: u.addHostRevoke},

		{name: "ui.audit", method: http.MethodGet, path: "/audit", access: loggedIn, handler: u.auditPage},
	}
}
