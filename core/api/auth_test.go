package api

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBootstrapOnlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	bad := e.want(call{method: "POST", path: "/api/v1/bootstrap", body: map[string]string{
		"setup_token": "rmsetup_wrong", "username": "root", "password": testPassword,
	}}, http.StatusUnauthorized)
	if bad.errCode(t) != "bad_setup_token" {
		t.Fatalf("wrong setup token: %s", bad.body)
	}
	e.want(call{method: "POST", path: "/api/v1/bootstrap", body: map[string]string{
		"setup_token": e.setupToken, "username": "root", "password": "short",
	}}, http.StatusBadRequest)
	tok := e.bootstrap()
	if !strings.HasPrefix(tok, "rmt_") {
		t.Fatalf("bootstrap token %q is not an API token", tok)
	}
	me := e.want(call{method: "GET", path: "/api/v1/me", token: tok}, http.StatusOK)
	var m meResponse
	me.decode(t, &m)
	if m.User.Username != "root" || m.User.Role != "admin" || m.AuthMethod != "token" {
		t.Fatalf("me = %+v", m)
	}
	again := e.want(call{method: "POST", path: "/api/v1/bootstrap", body: map[string]string{
		"setup_token": e.setupToken, "username": "other", "password": testPassword,
	}}, http.StatusConflict)
	if again.errCode(t) != "setup_complete" {
		t.Fatalf("second bootstrap: %s", again.body)
	}
	if e.bootstraps != 1 {
		t.Fatalf("OnBootstrap ran %d times", e.bootstraps)
	}
}

func TestConcurrentBootstrapExactlyOneWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 8
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = e.do(call{method: "POST", path: "/api/v1/bootstrap", body: map[string]string{
				"setup_token": e.setupToken, "username": "admin" + string(rune('a'+i)), "password": testPassword,
			}}).status
		}()
	}
	wg.Wait()
	wins := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			wins++
		case http.StatusConflict:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if wins != 1 {
		t.Fatalf("%d bootstraps succeeded, want exactly 1 (%v)", wins, statuses)
	}
}

func TestSessionLoginCSRFLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bootstrap()
	r := e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "ROOT", "password": testPassword}}, http.StatusOK)
	setCookie := r.header.Get("Set-Cookie")
	for _, want := range []string{"rm_session=rms_", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(setCookie, want) {
			t.Errorf("Set-Cookie %q lacks %q", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Errorf("cookie is Secure without TLS: %q", setCookie)
	}
	cookie, csrf := e.login("root", testPassword)
	e.want(call{method: "GET", path: "/api/v1/me", cookie: cookie}, http.StatusOK)

	noCSRF := e.want(call{method: "POST", path: "/api/v1/tokens", cookie: cookie, body: map[string]string{"name": "x"}}, http.StatusForbidden)
	if noCSRF.errCode(t) != "csrf" {
		t.Fatalf("missing CSRF: %s", noCSRF.body)
	}
	e.want(call{method: "POST", path: "/api/v1/tokens", cookie: cookie, csrf: "rms_wrong", body: map[string]string{"name": "x"}}, http.StatusForbidden)
	e.want(call{method: "POST", path: "/api/v1/tokens", cookie: cookie, csrf: csrf, body: map[string]string{"name": "x"}}, http.StatusCreated)

	// Another session's CSRF token does not fit this session.
	_, otherCSRF := e.login("root", testPassword)
	e.want(call{method: "POST", path: "/api/v1/tokens", cookie: cookie, csrf: otherCSRF, body: map[string]string{"name": "x"}}, http.StatusForbidden)

	e.want(call{method: "POST", path: "/api/v1/logout", cookie: cookie, csrf: csrf}, http.StatusNoContent)
	e.want(call{method: "GET", path: "/api/v1/me", cookie: cookie}, http.StatusUnauthorized)
}

func TestSecureCookieUnderTLS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.api.opts.SecureCookies = true
	e.bootstrap()
	r := e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "root", "password": testPassword}}, http.StatusOK)
	if !strings.Contains(r.header.Get("Set-Cookie"), "Secure") {
		t.Fatalf("cookie not Secure: %q", r.header.Get("Set-Cookie"))
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	cases := map[string][]time.Duration{
		// idle: no request for longer than the idle timeout
		"idle": {12*time.Hour + time.Second},
		// absolute: active every few hours, but past the absolute limit
		"absolute": {
			10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour,
			10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour,
			10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour, 10 * time.Hour,
			10 * time.Hour, 10 * time.Hour,
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.bootstrap()
			cookie, _ := e.login("root", testPassword)
			for i, d := range steps {
				if i < len(steps)-1 || name == "absolute" {
					e.want(call{method: "GET", path: "/api/v1/me", cookie: cookie}, http.StatusOK)
				}
				e.clock.Advance(d)
			}
			r := e.want(call{method: "GET", path: "/api/v1/me", cookie: cookie}, http.StatusUnauthorized)
			if !strings.Contains(string(r.body), "expired") {
				t.Fatalf("body %s does not say the session expired", r.body)
			}
		})
	}
}

func TestTokenRevocationAndExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	r := e.want(call{method: "POST", path: "/api/v1/tokens", token: root, body: map[string]string{"name": "ci", "expires_in": "1h"}}, http.StatusCreated)
	var tok tokenJSON
	r.decode(t, &tok)
	if tok.Token == "" || tok.ExpiresAt == nil {
		t.Fatalf("created token = %+v", tok)
	}
	e.want(call{method: "GET", path: "/api/v1/me", token: tok.Token}, http.StatusOK)

	list := e.want(call{method: "GET", path: "/api/v1/tokens", token: root}, http.StatusOK)
	if strings.Contains(string(list.body), tok.Token) || strings.Contains(string(list.body), `"token"`) {
		t.Fatalf("token list reveals a secret: %s", list.body)
	}

	e.clock.Advance(time.Hour)
	if r := e.want(call{method: "GET", path: "/api/v1/me", token: tok.Token}, http.StatusUnauthorized); !strings.Contains(string(r.body), "expired") {
		t.Fatalf("expired token: %s", r.body)
	}

	r = e.want(call{method: "POST", path: "/api/v1/tokens", token: root, body: map[string]string{"name": "ci2"}}, http.StatusCreated)
	r.decode(t, &tok)
	e.want(call{method: "DELETE", path: "/api/v1/tokens/" + tok.ID, token: tok.Token}, http.StatusNoContent)
	if r := e.want(call{method: "GET", path: "/api/v1/me", token: tok.Token}, http.StatusUnauthorized); !strings.Contains(string(r.body), "revoked") {
		t.Fatalf("revoked token: %s", r.body)
	}
}

func TestOthersTokensAreInvisible(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	viewerTok := e.user(root, "victor", "viewer")
	r := e.want(call{method: "GET", path: "/api/v1/tokens?all=true", token: root}, http.StatusOK)
	var all list[tokenJSON]
	r.decode(t, &all)
	var rootTokenID string
	for _, tk := range all.Items {
		if tk.Name == "bootstrap" {
			rootTokenID = tk.ID
		}
	}
	if len(all.Items) != 2 || rootTokenID == "" {
		t.Fatalf("admin's all-token list = %+v", all.Items)
	}
	e.want(call{method: "GET", path: "/api/v1/tokens?all=true", token: viewerTok}, http.StatusForbidden)
	e.want(call{method: "DELETE", path: "/api/v1/tokens/" + rootTokenID, token: viewerTok}, http.StatusNotFound)
	e.want(call{method: "GET", path: "/api/v1/me", token: root}, http.StatusOK)
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bootstrap()
	for range 5 {
		e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "root", "password": "wrong password!"}}, http.StatusUnauthorized)
	}
	r := e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "root", "password": testPassword}}, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" || r.errCode(t) != "rate_limited" {
		t.Fatalf("429 without Retry-After or code: %v %s", r.header, r.body)
	}
	// Another user from the same address is not locked out yet.
	e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "nobody", "password": "wrong password!"}}, http.StatusUnauthorized)
	e.clock.Advance(time.Minute)
	e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "root", "password": testPassword}}, http.StatusOK)
}

func TestLoginRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bootstrap()
	for i := range 20 {
		e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "u" + string(rune('a'+i)), "password": "wrong password!"}}, http.StatusUnauthorized)
	}
	e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "root", "password": testPassword}}, http.StatusTooManyRequests)
}

func TestDisabledUserIsCutOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	tok := e.user(root, "olivia", "operator")
	cookie, _ := e.login("olivia", testPassword)
	e.want(call{method: "PATCH", path: "/api/v1/users/olivia", token: root, body: map[string]bool{"disabled": true}}, http.StatusOK)
	e.want(call{method: "GET", path: "/api/v1/me", token: tok}, http.StatusUnauthorized)
	e.want(call{method: "GET", path: "/api/v1/me", cookie: cookie}, http.StatusUnauthorized)
	e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "olivia", "password": testPassword}}, http.StatusForbidden)
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	cases := map[string]struct {
		c      call
		status int
	}{
		"unknown field":  {call{method: "POST", path: "/api/v1/tokens", token: root, raw: []byte(`{"name":"x","nme":"y"}`)}, 400},
		"not json":       {call{method: "POST", path: "/api/v1/tokens", token: root, raw: []byte(`name=x`)}, 400},
		"trailing data":  {call{method: "POST", path: "/api/v1/tokens", token: root, raw: []byte(`{"name":"x"} {}`)}, 400},
		"empty body":     {call{method: "POST", path: "/api/v1/users", token: root, raw: []byte{}}, 400},
		"too large":      {call{method: "POST", path: "/api/v1/tokens", token: root, raw: []byte(`{"name":"` + strings.Repeat("a", maxBody) + `"}`)}, 413},
		"bad role":       {call{method: "POST", path: "/api/v1/users", token: root, body: map[string]string{"username": "a", "password": testPassword, "role": "god"}}, 400},
		"bad username":   {call{method: "POST", path: "/api/v1/users", token: root, body: map[string]string{"username": "../x", "password": testPassword}}, 400},
		"weak password":  {call{method: "POST", path: "/api/v1/users", token: root, body: map[string]string{"username": "a", "password": "short"}}, 400},
		"bad limit":      {call{method: "GET", path: "/api/v1/users?limit=0", token: root}, 400},
		"bad cursor":     {call{method: "GET", path: "/api/v1/users?cursor=!!!", token: root}, 400},
		"bad since":      {call{method: "GET", path: "/api/v1/audit?since=yesterday", token: root}, 400},
		"bad expires_in": {call{method: "POST", path: "/api/v1/tokens", token: root, body: map[string]string{"name": "x", "expires_in": "-1h"}}, 400},
		"bad auth":       {call{method: "GET", path: "/api/v1/me", token: "not-a-token"}, 401},
		"no route":       {call{method: "GET", path: "/api/v1/nope", token: root}, 404},
		"wrong method":   {call{method: "PUT", path: "/api/v1/me", token: root}, 405},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := e.want(tc.c, tc.status)
			if code := r.errCode(t); code == "" {
				t.Fatalf("no error code in %s", r.body)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("content type %q", r.header.Get("Content-Type"))
			}
		})
	}
}
