package auth

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/url"
	"sync"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Mock is an Authenticator for tests that behaves like a tiny identity
// provider: BeginLogin returns an AuthURL under MockAuthURL carrying a fresh
// state, and CompleteLogin accepts a callback whose "state" matches and
// whose "code" is MockCode, returning Identity (MockIdentity when unset).
// Anything else is refused with plugin.ErrDenied. Function fields, when set,
// replace that behaviour; configurations and logins are recorded.
type Mock struct {
	InfoFunc          func(ctx context.Context) (plugin.Info, error)
	SchemaFunc        func(ctx context.Context) (plugin.Schema, error)
	ConfigureFunc     func(ctx context.Context, config []byte) error
	BeginLoginFunc    func(ctx context.Context, req BeginRequest) (BeginResponse, error)
	CompleteLoginFunc func(ctx context.Context, req CompleteRequest) (Identity, error)

	// Identity is who logs in; the zero value means MockIdentity.
	Identity Identity

	mu        sync.Mutex
	configs   [][]byte
	begun     int
	completed []CompleteRequest
}

var _ Authenticator = (*Mock)(nil)

// The mock identity provider's constants.
const (
	MockAuthURL = "https://idp.invalid/authorize"
	MockCode    = "mock-code"
)

// MockInfo is what a Mock without InfoFunc reports.
var MockInfo = plugin.Info{Name: "auth-mock", Kind: plugin.KindAuth, APIVersion: APIVersion, PluginVersion: "0.1.0"}

// MockSchema is what a Mock without SchemaFunc reports.
var MockSchema = plugin.Schema{Attributes: []plugin.Attribute{
	{Name: "issuer", Type: plugin.TypeString, Required: true, Description: "Issuer URL."},
	{Name: "client_secret", Type: plugin.TypeString, Sensitive: true, Description: "OAuth client secret."},
	{Name: "scopes", Type: plugin.TypeListString, Description: "Extra scopes."},
}}

// MockIdentity is who logs in through a Mock whose Identity is unset.
var MockIdentity = Identity{
	Subject:       "mock|1234",
	Email:         "ada@example.com",
	EmailVerified: true,
	Name:          "Ada Lovelace",
	Username:      "ada",
	Groups:        []string{"backup-admins", "staff"},
}

// Info implements plugin.Base.
func (m *Mock) Info(ctx context.Context) (plugin.Info, error) {
	if m.InfoFunc != nil {
		return m.InfoFunc(ctx)
	}
	return MockInfo, ctx.Err()
}

// ConfigSchema implements plugin.Base.
func (m *Mock) ConfigSchema(ctx context.Context) (plugin.Schema, error) {
	if m.SchemaFunc != nil {
		return m.SchemaFunc(ctx)
	}
	return MockSchema, ctx.Err()
}

// Configure implements plugin.Base.
func (m *Mock) Configure(ctx context.Context, config []byte) error {
	var err error
	if m.ConfigureFunc != nil {
		err = m.ConfigureFunc(ctx, config)
	} else {
		err = ctx.Err()
	}
	if err == nil {
		m.mu.Lock()
		m.configs = append(m.configs, append([]byte(nil), config...))
		m.mu.Unlock()
	}
	return err
}

// BeginLogin implements Authenticator.
func (m *Mock) BeginLogin(ctx context.Context, req BeginRequest) (BeginResponse, error) {
	if m.BeginLoginFunc != nil {
		return m.BeginLoginFunc(ctx, req)
	}
	if err := ctx.Err(); err != nil {
		return BeginResponse{}, err
	}
	m.mu.Lock()
	m.begun++
	n := m.begun
	m.mu.Unlock()
	state := fmt.Sprintf("state-%d", n)
	q := url.Values{"state": {state}, "redirect_uri": {req.RedirectURL}}
	return BeginResponse{
		AuthURL: MockAuthURL + "?" + q.Encode(),
		State:   state,
		Session: []byte(fmt.Sprintf("verifier-%d", n)),
	}, nil
}

// CompleteLogin implements Authenticator.
func (m *Mock) CompleteLogin(ctx context.Context, req CompleteRequest) (Identity, error) {
	m.mu.Lock()
	m.completed = append(m.completed, req)
	m.mu.Unlock()
	if m.CompleteLoginFunc != nil {
		return m.CompleteLoginFunc(ctx, req)
	}
	if err := ctx.Err(); err != nil {
		return Identity{}, err
	}
	if e := req.Query.Get("error"); e != "" {
		return Identity{}, fmt.Errorf("identity provider: %s: %w", e, plugin.ErrDenied)
	}
	if req.State == "" || subtle.ConstantTimeCompare([]byte(req.Query.Get("state")), []byte(req.State)) != 1 {
		return Identity{}, fmt.Errorf("state mismatch: %w", plugin.ErrDenied)
	}
	if req.Query.Get("code") != MockCode {
		return Identity{}, fmt.Errorf("invalid code: %w", plugin.ErrDenied)
	}
	if m.Identity.Subject != "" {
		return m.Identity, nil
	}
	return MockIdentity, nil
}

// Configs returns the configurations accepted so far, oldest first.
func (m *Mock) Configs() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]byte(nil), m.configs...)
}

// Completed returns every CompleteLogin request received, oldest first.
func (m *Mock) Completed() []CompleteRequest {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]CompleteRequest(nil), m.completed...)
}
