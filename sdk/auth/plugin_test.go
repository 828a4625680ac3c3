package auth

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// connect serves impl in-process over a real gRPC connection and returns
// the host's view of it.
func connect(t *testing.T, impl Authenticator) Authenticator {
	t.Helper()
	client, _ := goplugin.TestPluginGRPCConn(t, false, goplugin.PluginSet{
		plugin.BasePluginName: &plugin.BasePlugin{Impl: impl, Kind: plugin.KindAuth, APIVersion: APIVersion},
		PluginName:            &GRPCPlugin{Impl: impl},
	})
	// Close also stops the server, through go-plugin's controller service;
	// stopping it here too would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	a, ok := raw.(Authenticator)
	if !ok {
		t.Fatalf("dispensed %T, want an Authenticator", raw)
	}
	return a
}

func TestLoginRoundTrip(t *testing.T) {
	t.Parallel()
	mock := &Mock{}
	a := connect(t, mock)
	ctx := context.Background()

	info, err := a.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info != MockInfo {
		t.Errorf("Info = %+v, want %+v", info, MockInfo)
	}
	schema, err := a.ConfigSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(schema, MockSchema) {
		t.Errorf("ConfigSchema = %+v, want %+v", schema, MockSchema)
	}
	if err := a.Configure(ctx, []byte(`{"issuer":"https://idp.invalid"}`)); err != nil {
		t.Fatal(err)
	}

	const redirect = "https://rm.example.com/api/v1/login/oidc/callback"
	begin, err := a.BeginLogin(ctx, BeginRequest{RedirectURL: redirect})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(begin.AuthURL, MockAuthURL+"?") || begin.State == "" || len(begin.Session) == 0 {
		t.Fatalf("BeginLogin = %+v", begin)
	}
	auth, err := url.Parse(begin.AuthURL)
	if err != nil {
		t.Fatal(err)
	}
	if got := auth.Query().Get("redirect_uri"); got != redirect {
		t.Errorf("redirect_uri = %q, want %q", got, redirect)
	}

	req := CompleteRequest{
		RedirectURL: redirect,
		Query:       url.Values{"state": {begin.State}, "code": {MockCode}, "scope": {"openid", "email"}},
		State:       begin.State,
		Session:     begin.Session,
	}
	id, err := a.CompleteLogin(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(id, MockIdentity) {
		t.Errorf("identity = %+v, want %+v", id, MockIdentity)
	}
	if got := mock.Completed(); len(got) != 1 || !reflect.DeepEqual(got[0], req) {
		t.Errorf("plugin got %+v, want %+v", got, req)
	}
}

func TestLoginDenied(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		query url.Values
		msg   string
	}{
		"state mismatch":  {url.Values{"state": {"forged"}, "code": {MockCode}}, "state mismatch"},
		"no state":        {url.Values{"code": {MockCode}}, "state mismatch"},
		"bad code":        {url.Values{"state": {"s"}, "code": {"stolen"}}, "invalid code"},
		"provider error":  {url.Values{"state": {"s"}, "error": {"access_denied"}}, "access_denied"},
		"empty query map": {nil, "state mismatch"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			a := connect(t, &Mock{})
			_, err := a.CompleteLogin(context.Background(), CompleteRequest{Query: tc.query, State: "s"})
			if !errors.Is(err, plugin.ErrDenied) {
				t.Fatalf("CompleteLogin = %v, want plugin.ErrDenied", err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
}

func TestErrorsAndCancel(t *testing.T) {
	t.Parallel()
	seen := make(chan error, 1)
	mock := &Mock{
		BeginLoginFunc: func(context.Context, BeginRequest) (BeginResponse, error) {
			return BeginResponse{}, errors.New("discovery: issuer unreachable")
		},
		CompleteLoginFunc: func(ctx context.Context, _ CompleteRequest) (Identity, error) {
			<-ctx.Done()
			seen <- ctx.Err()
			return Identity{}, ctx.Err()
		},
	}
	a := connect(t, mock)

	if _, err := a.BeginLogin(context.Background(), BeginRequest{}); err == nil || err.Error() != "discovery: issuer unreachable" {
		t.Errorf("BeginLogin = %v, want the plugin's error", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := a.CompleteLogin(ctx, CompleteRequest{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("CompleteLogin = %v, want context.DeadlineExceeded", err)
	}
	select {
	case err := <-seen:
		if err == nil {
			t.Error("plugin's context ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin's context was not cancelled")
	}
}
