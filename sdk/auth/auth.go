// Package auth is the SDK for login provider plugins (OIDC, SAML, …): the
// Authenticator interface a plugin implements, Serve for the plugin's main,
// and the go-plugin glue a host uses to call one.
//
// A login is two calls around a browser redirect:
//
//  1. The host calls BeginLogin with the URL of its callback and redirects
//     the browser to the AuthURL it gets back. It keeps State and Session
//     server-side (or sealed), bound to that browser, for the second call.
//  2. The identity provider redirects the browser to the callback. The host
//     calls CompleteLogin with the callback's query parameters and the State
//     and Session it kept, and gets the Identity of whoever logged in.
//
// The plugin checks everything the protocol asks for (the state parameter,
// PKCE, the ID token's signature, audience, expiry and nonce); the host maps
// the Identity to a user and roles.
package auth

import (
	"context"
	"net/url"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Authenticator is a login provider.
//
// The host calls both methods concurrently and only after a successful
// Configure. A login the provider or the plugin's policy refuses (bad state,
// expired code, user not in an allowed group) is an error wrapping
// plugin.ErrDenied.
type Authenticator interface {
	plugin.Base

	// BeginLogin starts a login and says where to send the browser.
	BeginLogin(ctx context.Context, req BeginRequest) (BeginResponse, error)
	// CompleteLogin finishes the login that BeginLogin started, from the
	// callback request, and returns who logged in.
	CompleteLogin(ctx context.Context, req CompleteRequest) (Identity, error)
}

// BeginRequest starts a login.
type BeginRequest struct {
	// RedirectURL is the host's callback URL, registered with the identity
	// provider, to which the browser returns.
	RedirectURL string `json:"redirect_url"`
}

// BeginResponse says where to send the browser and what to keep.
type BeginResponse struct {
	// AuthURL is where the host redirects the browser.
	AuthURL string `json:"auth_url"`
	// State is the value the callback must carry in its "state" parameter.
	State string `json:"state"`
	// Session is opaque data the plugin needs back in CompleteLogin (a PKCE
	// verifier, a nonce). It is secret: the host keeps it server-side or
	// sealed, never in a readable cookie or a log.
	Session []byte `json:"session,omitempty"`
}

// CompleteRequest finishes a login.
type CompleteRequest struct {
	// RedirectURL is the same callback URL BeginLogin was given.
	RedirectURL string `json:"redirect_url"`
	// Query holds the callback request's query parameters ("code", "state",
	// or "error" and "error_description").
	Query url.Values `json:"query"`
	// State and Session are what BeginLogin returned for this browser.
	State   string `json:"state"`
	Session []byte `json:"session,omitempty"`
}

// Identity is who logged in, as the identity provider says.
type Identity struct {
	// Subject is the provider's stable, unique id of the user; the host
	// links accounts by it, never by email or name.
	Subject       string   `json:"subject"`
	Email         string   `json:"email,omitempty"`
	EmailVerified bool     `json:"email_verified,omitempty"`
	Name          string   `json:"name,omitempty"`
	Username      string   `json:"username,omitempty"`
	Groups        []string `json:"groups,omitempty"`
}
