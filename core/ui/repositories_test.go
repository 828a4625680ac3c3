package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/store"
)

// Secrets the repository form gets; none may come back in any page or log.
const (
	repoPW     = "repo-password-SECRET-7f3a"
	urlPW      = "url-password-SECRET-91c2"
	envKeyID   = "AKIA-SECRET-5d0e"
	envSecret  = "env-secret/SECRET+8b4f"
	badEnvLine = "NO-EQUALS-SECRET-LINE-2e6d"
)

var repoSecrets = []string{repoPW, urlPW, envKeyID, envSecret, badEnvLine}

func noSecrets(t *testing.T, where, body string) {
	t.Helper()
	for _, s := range repoSecrets {
		if strings.Contains(body, s) || strings.Contains(body, url.QueryEscape(s)) {
			t.Errorf("%s holds the secret %q", where, s)
		}
	}
}

func TestRepositoriesAddFormKeepsSecretsOut(t *testing.T) {
	t.Parallel()
	e, logs := newSealedEnv(t)
	admin := e.setup()
	p := e.get(admin, "/repositories")
	if p.status != http.StatusOK || !p.has("No repositories yet") || !p.has(`action="/repositories"`) {
		t.Fatalf("empty repositories page: %d\n%s", p.status, p.body)
	}
	form := func(name, repoURL, env string) url.Values {
		return url.Values{"name": {name}, "url": {repoURL}, "password": {repoPW}, "env": {env}, "description": {"offsite copy"}}
	}
	secretURL := "rest:https://bob:" + urlPW + "@backup.example.com:8000/repo"
	env := "AWS_ACCESS_KEY_ID=" + envKeyID + "\nAWS_SECRET_ACCESS_KEY=" + envSecret

	// Refused by the API: the other fields come back, the secrets do not.
	p = e.form(admin, "/repositories", "/repositories", form("bad name!", secretURL, env))
	if p.status != http.StatusBadRequest || !p.has("name: must be 1 to 64 letters") || !p.has(`value="bad name!"`) ||
		!p.has("AWS_ACCESS_KEY_ID=\nAWS_SECRET_ACCESS_KEY=\n</textarea>") || !p.has(`id="repo-url" name="url" type="text" required value=""`) ||
		!p.has("the password, the values of the backend variables and the URL (it holds a password) were not kept") {
		t.Errorf("refused form:\n%s", p.body)
	}
	noSecrets(t, "the refused form", p.body)
	// Refused by the page: a line without "=" is named, never quoted.
	p = e.form(admin, "/repositories", "/repositories", form("offsite", "/srv/restic", "A=1\n"+badEnvLine))
	if p.status != http.StatusBadRequest || !p.has("Backend variables, line 2: write NAME=value") || !p.has(`value="/srv/restic"`) {
		t.Errorf("bad env line:\n%s", p.body)
	}
	noSecrets(t, "the form with a bad env line", p.body)

	p = e.follow(admin, e.form(admin, "/repositories", "/repositories", form("offsite", secretURL, env)))
	for _, want := range []string{
		`Repository &#34;offsite&#34; added`, `data-repository="offsite"`, "rest:https://bob:***@backup.example.com:8000/repo",
		"<code class=\"text-xs\">AWS_ACCESS_KEY_ID</code>, <code class=\"text-xs\">AWS_SECRET_ACCESS_KEY</code>", "offsite copy", "set <span",
	} {
		if !p.has(want) {
			t.Errorf("list lacks %q", want)
		}
	}
	noSecrets(t, "the repository list", p.body)
	p = e.form(admin, "/repositories", "/repositories", form("offsite", "/srv/other", ""))
	if p.status != http.StatusConflict || !p.has("a repository named &#34;offsite&#34; exists already") {
		t.Errorf("duplicate: %d", p.status)
	}
	noSecrets(t, "the duplicate form", p.body)

	audit := e.get(admin, "/audit?action=repository.create")
	if !audit.has(`data-action="repository.create" data-outcome="success"`) || !audit.has("via=ui") {
		t.Errorf("audit page lacks the repository.create entry via the UI:\n%s", audit.body)
	}
	noSecrets(t, "the audit page", audit.body)
	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		noSecrets(t, "audit entry "+en.Action, en.TargetID+en.ActorName+fmt.Sprint(en.Detail))
	}
	noSecrets(t, "the server log", logs.String())
}

func TestRepositoriesForViewersAndDelete(t *testing.T) {
	t.Parallel()
	e, _ := newSealedEnv(t)
	admin := e.setup()
	viewer := e.addUser(admin, "vic", "viewer", "vic's long password")
	e.follow(admin, e.form(admin, "/repositories", "/repositories", url.Values{"name": {"local"}, "url": {"/srv/restic"}, "password": {repoPW}}))

	p := e.get(viewer, "/repositories")
	if p.status != http.StatusOK || !p.has(`data-repository="local"`) || p.has(`action="/repositories"`) || p.has("Delete…") {
		t.Errorf("viewer's repository page:\n%s", p.body)
	}
	if p := e.form(viewer, "/repositories", "/repositories", url.Values{"name": {"mine"}, "url": {"/srv/x"}, "password": {repoPW}}); p.status != http.StatusForbidden || !p.has("this needs the admin role") {
		t.Errorf("viewer adding a repository: %d", p.status)
	}
	list := e.get(admin, "/repositories")
	m := regexp.MustCompile(`href="/repositories/([^/"]+)/delete"`).FindStringSubmatch(list.body)
	if m == nil {
		t.Fatal("no delete link for the admin")
	}
	if p := e.get(viewer, "/repositories/"+m[1]+"/delete"); p.status != http.StatusForbidden {
		t.Errorf("viewer at the delete confirmation: %d", p.status)
	}
	confirm := e.get(admin, "/repositories/"+m[1]+"/delete")
	if confirm.status != http.StatusOK || !confirm.has("Delete repository “local”?") || !confirm.has(`action="/repositories/`+m[1]+`/delete"`) {
		t.Fatalf("confirmation page: %d\n%s", confirm.status, confirm.body)
	}
	if p := e.post(admin, "/repositories/"+m[1]+"/delete", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("delete without the CSRF token: %d", p.status)
	}
	if p := e.get(admin, "/repositories/nope/delete"); p.status != http.StatusNotFound {
		t.Errorf("confirmation for an unknown repository: %d", p.status)
	}
	p = e.follow(admin, e.post(admin, "/repositories/"+m[1]+"/delete", url.Values{"csrf_token": {confirm.csrf(t)}, "name": {"local"}}))
	if !p.has(`Repository &#34;local&#34; deleted`) || p.has(`data-repository="local"`) {
		t.Errorf("after delete:\n%s", p.body)
	}
}
