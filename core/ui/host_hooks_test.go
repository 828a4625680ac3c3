package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// apiHooks reads GET /api/v1/hosts/{id}/hooks with the client's session.
func (e *env) apiHooks(c *http.Client, hostID string) hostHooksAPI {
	e.t.Helper()
	res, err := c.Get(e.srv.URL + "/api/v1/hosts/" + hostID + "/hooks")
	if err != nil {
		e.t.Fatal(err)
	}
	p := readPage(e.t, res)
	var h hostHooksAPI
	if p.status != http.StatusOK || json.Unmarshal([]byte(p.body), &h) != nil {
		e.t.Fatalf("GET hooks: %d %s", p.status, p.body)
	}
	return h
}

func TestHostPageDefaultHooks(t *testing.T) {
	t.Parallel()
	e, admin := scheduleEnv(t)
	page := e.get(admin, "/hosts/h1")
	if !page.has(`id="host-hooks-form"`) || page.has(`id="host-hooks-note"`) || !page.has(`<label for="h-pre-hook"`) {
		t.Fatalf("the admin's host page has no hooks form:\n%s", page.body)
	}

	// A bad timeout: refused by the API, named next to the pre-hook, and
	// what was typed stays (with the browser's CRLF line breaks as typed).
	form := url.Values{
		"pre_hook": {"systemctl stop app\r\nsleep 1\r\n"}, "pre_hook_timeout": {"soon"},
		"post_hook": {"systemctl start app"}, "post_hook_timeout": {""},
	}
	p := e.form(admin, "/hosts/h1", "/hosts/h1/hooks", form)
	if p.status != http.StatusBadRequest || !regexp.MustCompile(`data-error-for="pre_hook"[^>]*>[^<]*soon`).MatchString(p.body) ||
		!strings.Contains(p.body, ">systemctl stop app\nsleep 1</textarea>") || !strings.Contains(p.body, `aria-invalid="true" aria-describedby="err-host-pre_hook"`) {
		t.Fatalf("a bad timeout: %d\n%s", p.status, p.body)
	}
	if h := e.apiHooks(admin, "h1"); h.PreHook != nil || h.PostHook != nil {
		t.Fatalf("a refused form stored hooks: %+v", h)
	}

	form.Set("pre_hook_timeout", "45s")
	p = e.form(admin, "/hosts/h1", "/hosts/h1/hooks", form)
	if p.status != http.StatusSeeOther || p.location != "/hosts/h1" {
		t.Fatalf("save: %d %q\n%s", p.status, p.location, p.body)
	}
	page = e.follow(admin, p)
	for _, want := range []string{"Default hooks saved", ">systemctl stop app\nsleep 1</textarea>", `value="45s"`, ">systemctl start app</textarea>", `value="5m"`} {
		if !page.has(want) {
			t.Errorf("the host page after saving lacks %q", want)
		}
	}
	h := e.apiHooks(admin, "h1")
	if h.PreHook == nil || h.PreHook.Command != "systemctl stop app\nsleep 1" || h.PreHook.Timeout != "45s" ||
		h.PostHook == nil || h.PostHook.Command != "systemctl start app" {
		t.Fatalf("stored hooks: %+v %+v", h.PreHook, h.PostHook)
	}

	// An operator sees a notice, not the commands, and cannot change them.
	op := e.userClient(admin, "otto", "operator")
	page = e.get(op, "/hosts/h1")
	if !page.has(`id="host-hooks-note"`) || page.has(`id="host-hooks-form"`) || page.has("systemctl") {
		t.Fatalf("the operator's host page:\n%s", page.body)
	}
	p = e.form(op, "/hosts/h1", "/hosts/h1/hooks", url.Values{"pre_hook": {"id"}})
	if p.status != http.StatusForbidden || !p.has("needs the admin role") || p.has("systemctl") {
		t.Fatalf("an operator's save: %d\n%s", p.status, p.body)
	}

	// An empty command removes that hook only.
	form.Set("post_hook", "  \r\n")
	if p := e.form(admin, "/hosts/h1", "/hosts/h1/hooks", form); p.status != http.StatusSeeOther {
		t.Fatalf("remove the post-hook: %d\n%s", p.status, p.body)
	}
	if h := e.apiHooks(admin, "h1"); h.PreHook == nil || h.PreHook.Command != "systemctl stop app\nsleep 1" || h.PostHook != nil {
		t.Fatalf("after removing the post-hook: %+v %+v", h.PreHook, h.PostHook)
	}
}

func TestHookTextNormalisesLineBreaks(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a\r\nb\r\n":      "a\nb",
		"  one line  ":    "one line",
		"keep\n\tindent":  "keep\n\tindent",
		"\r\n\r\n":        "",
		"x\r\n\r\ny\r\n ": "x\n\ny",
	} {
		if got := hookText(in); got != want {
			t.Errorf("hookText(%q) = %q, want %q", in, got, want)
		}
	}
}
