package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

// The hook flags of "schedule create/update", "host hooks show|set|clear"
// and the admin password flags of "repo add/update", against the real API
// on a real store: what the commands send is checked by what the server
// keeps.

const stopApp = "pid=$(cat /run/app.pid) || exit 1\nkill \"$pid\""

// hooksOf reads a schedule's hooks as the admin sees them.
func (r *realAPI) hooksOf(name string) hookPair {
	r.t.Helper()
	res := r.run(r.admin, "schedule", "show", name, "--json")
	var p hookPair
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &p) != nil {
		r.t.Fatalf("schedule show: exit %d %s%s", res.code, res.stdout, res.stderr)
	}
	return p
}

func TestScheduleHookFlags(t *testing.T) {
	t.Parallel()
	r := newRealAPI(t)
	res := r.run(r.admin, "schedule", "create", "--name", "app", "--host", "web1", "--repo", "main", "--path", "/srv",
		"--every", "1h", "--pre-hook", stopApp, "--post-hook", "systemctl start app", "--hook-timeout", "90s")
	if res.code != 0 {
		t.Fatalf("create with hooks: exit %d %s", res.code, res.stderr)
	}
	p := r.hooksOf("app")
	if p.PreHook == nil || p.PreHook.Command != stopApp || p.PreHook.Timeout != "1m30s" ||
		p.PostHook == nil || p.PostHook.Command != "systemctl start app" || p.PostHook.Timeout != "1m30s" {
		t.Fatalf("hooks after create: %+v %+v", p.PreHook, p.PostHook)
	}
	show := r.run(r.admin, "schedule", "show", "app").stdout
	for _, want := range []string{"pid=$(cat /run/app.pid) || exit 1 … (+1 lines) (timeout 1m30s)", "systemctl start app (timeout 1m30s)"} {
		if !strings.Contains(show, want) {
			t.Errorf("schedule show lacks %q:\n%s", want, show)
		}
	}
	if v := r.run(r.viewer, "schedule", "show", "app"); v.code != 0 || !strings.Contains(v.stdout, "set (shown to admins)") || strings.Contains(v.stdout, "systemctl") {
		t.Fatalf("schedule show as a viewer: exit %d\n%s", v.code, v.stdout)
	}

	// A lone --hook-timeout changes the timeout of both hooks, not their text.
	if res := r.run(r.admin, "schedule", "update", "app", "--hook-timeout", "2m"); res.code != 0 {
		t.Fatalf("update --hook-timeout: exit %d %s", res.code, res.stderr)
	}
	p = r.hooksOf("app")
	if p.PreHook.Command != stopApp || p.PreHook.Timeout != "2m" || p.PostHook.Timeout != "2m" {
		t.Fatalf("hooks after --hook-timeout: %+v %+v", p.PreHook, p.PostHook)
	}
	// One hook changes, the other stays; --clear removes one.
	if res := r.run(r.admin, "schedule", "update", "app", "--post-hook", "echo done"); res.code != 0 {
		t.Fatalf("update --post-hook: exit %d %s", res.code, res.stderr)
	}
	if p = r.hooksOf("app"); p.PreHook.Command != stopApp || p.PostHook.Command != "echo done" || p.PostHook.Timeout != "5m" {
		t.Fatalf("hooks after --post-hook: %+v %+v", p.PreHook, p.PostHook)
	}
	if res := r.run(r.admin, "schedule", "update", "app", "--clear", "pre-hook"); res.code != 0 {
		t.Fatalf("update --clear pre-hook: exit %d %s", res.code, res.stderr)
	}
	if p = r.hooksOf("app"); p.PreHook != nil || p.PostHook == nil || p.PostHook.Command != "echo done" {
		t.Fatalf("hooks after --clear pre-hook: %+v %+v", p.PreHook, p.PostHook)
	}
	if res := r.run(r.admin, "schedule", "update", "app", "--clear", "post-hook"); res.code != 0 {
		t.Fatalf("update --clear post-hook: exit %d %s", res.code, res.stderr)
	}
	if s := r.show("app"); s["has_hooks"] != false {
		t.Fatalf("has_hooks after clearing both: %v", s["has_hooks"])
	}

	base := []string{"schedule", "create", "--host", "web1", "--repo", "main", "--path", "/srv", "--every", "1h"}
	for name, tc := range map[string]struct {
		token string
		args  []string
		code  int
		want  string
	}{
		"viewer":            {r.viewer, append(base, "--pre-hook", "id"), exitError, "403"},
		"bad timeout":       {r.admin, append(base, "--pre-hook", "id", "--hook-timeout", "soon"), exitUsage, `--hook-timeout "soon"`},
		"timeout too long":  {r.admin, append(base, "--pre-hook", "id", "--hook-timeout", "2d"), exitError, "pre_hook.timeout"},
		"empty command":     {r.admin, append(base, "--post-hook", " "), exitUsage, "--post-hook is empty"},
		"lone timeout":      {r.admin, append(base, "--hook-timeout", "1m"), exitUsage, "there are none"},
		"clear and set":     {r.admin, []string{"schedule", "update", "app", "--clear", "pre-hook", "--pre-hook", "id"}, exitUsage, "exclude each other"},
		"timeout, no hooks": {r.admin, []string{"schedule", "update", "app", "--hook-timeout", "1m"}, exitUsage, "there are none"},
	} {
		t.Run(name, func(t *testing.T) {
			res := r.run(tc.token, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d with %q", res.code, res.stderr, tc.code, tc.want)
			}
		})
	}
	var items []map[string]any
	if res := r.run(r.admin, "schedule", "list", "--json"); json.Unmarshal([]byte(res.stdout), &items) != nil || len(items) != 1 {
		t.Fatalf("refused schedules were created: %s", res.stdout)
	}
}

func TestHostHooksCommands(t *testing.T) {
	t.Parallel()
	r := newRealAPI(t)
	res := r.run(r.admin, "host", "hooks", "set", "web1", "--pre-hook", stopApp, "--post-hook", "systemctl start app", "--hook-timeout", "2m")
	want := "Pre-hook (timeout 2m):\n    pid=$(cat /run/app.pid) || exit 1\n    kill \"$pid\"\nPost-hook (timeout 2m):\n    systemctl start app\n"
	if res.code != 0 || res.stdout != want {
		t.Fatalf("host hooks set: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := r.run(r.admin, "host", "hooks", "show", "web1"); res.code != 0 || res.stdout != want {
		t.Fatalf("host hooks show: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// A lone --hook-timeout keeps the commands.
	if res := r.run(r.admin, "host", "hooks", "set", "web1", "--hook-timeout", "45s"); res.code != 0 {
		t.Fatalf("set --hook-timeout: exit %d %s", res.code, res.stderr)
	}
	var p hookPair
	res = r.run(r.admin, "host", "hooks", "show", "web1", "--json")
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &p) != nil || p.PreHook == nil || p.PreHook.Command != stopApp ||
		p.PreHook.Timeout != "45s" || p.PostHook == nil || p.PostHook.Timeout != "45s" {
		t.Fatalf("host hooks show --json: exit %d %s", res.code, res.stdout)
	}
	// A backup schedule without hooks of its own runs these: the server
	// says so on the schedule.
	if res := r.run(r.admin, "host", "hooks", "clear", "web1", "--post"); res.code != 0 || res.stdout != "Pre-hook (timeout 45s):\n    pid=$(cat /run/app.pid) || exit 1\n    kill \"$pid\"\nPost-hook: none\n" {
		t.Fatalf("clear --post: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if res := r.run(r.admin, "host", "hooks", "clear", "web1"); res.code != 0 || res.stdout != "Pre-hook: none\nPost-hook: none\n" {
		t.Fatalf("clear: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}

	for name, tc := range map[string]struct {
		token string
		args  []string
		code  int
		want  string
	}{
		"viewer show":   {r.viewer, []string{"host", "hooks", "show", "web1"}, exitError, "403"},
		"viewer set":    {r.viewer, []string{"host", "hooks", "set", "web1", "--pre-hook", "id"}, exitError, "403"},
		"viewer clear":  {r.viewer, []string{"host", "hooks", "clear", "web1"}, exitError, "403"},
		"nothing":       {r.admin, []string{"host", "hooks", "set", "web1"}, exitUsage, "nothing to set"},
		"no host":       {r.admin, []string{"host", "hooks", "show"}, exitUsage, "missing the host's ID or NAME"},
		"unknown host":  {r.admin, []string{"host", "hooks", "show", "nope"}, exitError, "404"},
		"lone timeout":  {r.admin, []string{"host", "hooks", "set", "web1", "--hook-timeout", "1m"}, exitUsage, "there are none"},
		"control chars": {r.admin, []string{"host", "hooks", "set", "web1", "--pre-hook", "echo \x1b[2J"}, exitError, "pre_hook.command: contains control characters"},
	} {
		t.Run(name, func(t *testing.T) {
			res := r.run(tc.token, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d with %q", res.code, res.stderr, tc.code, tc.want)
			}
		})
	}
}

// sealedServer is the real API with a keyring, whose store the test reads
// to open what the server sealed.
type sealedServer struct {
	url, admin string
	db         *store.DB
	kr         *secrets.Keyring
}

func newSealedServer(t *testing.T) sealedServer {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	kr, err := (*secrets.Keyring)(nil).WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	setup, _ := auth.NewToken(auth.KindSetup)
	srv := httptest.NewServer(api.New(api.Options{Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams, Sealer: kr}))
	t.Cleanup(srv.Close)
	var boot struct {
		Token string `json:"token"`
	}
	postJSON(t, srv.URL+"/api/v1/bootstrap", map[string]string{"setup_token": setup, "username": "root", "password": "correct horse battery"}, http.StatusCreated, &boot)
	return sealedServer{url: srv.URL, admin: boot.Token, db: db, kr: kr}
}

// adminPassword opens the repository's stored admin password ("" none).
func (s sealedServer) adminPassword(t *testing.T, repoID string) string {
	t.Helper()
	id, err := s.db.RepositoryAdminCredential(context.Background(), repoID)
	if err != nil || id == "" {
		return ""
	}
	c, err := s.db.GetCredential(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := s.kr.Open(c.Sealed, store.CredentialAAD(id))
	if err != nil {
		t.Fatal(err)
	}
	return string(pw)
}

func TestRepoAdminPasswordFlags(t *testing.T) {
	t.Parallel()
	s := newSealedServer(t)
	dir := t.TempDir()
	pwFile, adminFile := filepath.Join(dir, "pw"), filepath.Join(dir, "admin")
	if err := os.WriteFile(pwFile, []byte("day-to-day key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(adminFile, []byte("the admin key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(stdin string, env map[string]string, args ...string) result {
		t.Helper()
		e := map[string]string{envAddr: s.url, envToken: s.admin}
		for k, v := range env {
			e[k] = v
		}
		return invocation{env: e, stdin: stdin}.run(t, args...)
	}
	res := cli("", nil, "repo", "add", "--name", "a", "--url", "/srv/a", "--password-file", pwFile, "--admin-password-file", adminFile)
	idA := strings.TrimSpace(res.stdout)
	if res.code != 0 || s.adminPassword(t, idA) != "the admin key" {
		t.Fatalf("repo add --admin-password-file: exit %d %q %s; stored %q", res.code, res.stdout, res.stderr, s.adminPassword(t, idA))
	}
	if strings.Contains(res.stdout+res.stderr, "the admin key") {
		t.Fatal("the admin password was printed")
	}
	show := cli("", nil, "repo", "show", "a")
	if !strings.Contains(show.stdout, "Admin password:  yes (not shown; prunes use it)") || strings.Contains(show.stdout, "the admin key") {
		t.Fatalf("repo show:\n%s", show.stdout)
	}
	res = cli("", map[string]string{"PRUNE_KEY": "from the environment"}, "repo", "add", "--name", "b", "--url", "/srv/b",
		"--password-file", pwFile, "--admin-password-env", "PRUNE_KEY", "--json")
	var b struct {
		ID    string `json:"id"`
		Admin bool   `json:"has_admin_password"`
	}
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &b) != nil || !b.Admin || s.adminPassword(t, b.ID) != "from the environment" {
		t.Fatalf("repo add --admin-password-env: exit %d %s %s", res.code, res.stdout, res.stderr)
	}

	// update: a new one from standard input, then removed.
	if res := cli("new admin key\n", nil, "repo", "update", "a", "--admin-password-file", "-"); res.code != 0 || s.adminPassword(t, idA) != "new admin key" {
		t.Fatalf("repo update --admin-password-file -: exit %d %s; stored %q", res.code, res.stderr, s.adminPassword(t, idA))
	}
	if res := cli("", nil, "repo", "update", "a", "--clear-admin-password"); res.code != 0 || s.adminPassword(t, idA) != "" {
		t.Fatalf("repo update --clear-admin-password: exit %d %s", res.code, res.stderr)
	}
	if show := cli("", nil, "repo", "show", "a"); !strings.Contains(show.stdout, "no (prunes use the password)") {
		t.Fatalf("repo show after clearing:\n%s", show.stdout)
	}

	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		"both stdin":    {[]string{"repo", "add", "--name", "c", "--url", "/c", "--password-file", "-", "--admin-password-file", "-"}, nil, exitUsage, "cannot both read standard input"},
		"file and env":  {[]string{"repo", "update", "a", "--admin-password-file", adminFile, "--admin-password-env", "X"}, nil, exitUsage, "give one of"},
		"env and clear": {[]string{"repo", "update", "a", "--admin-password-env", "X", "--clear-admin-password"}, nil, exitUsage, "give one of"},
		"unset env":     {[]string{"repo", "update", "a", "--admin-password-env", "NOT_SET_HERE"}, nil, exitUsage, "--admin-password-env NOT_SET_HERE"},
		"missing file":  {[]string{"repo", "update", "a", "--admin-password-file", filepath.Join(dir, "nope")}, nil, exitError, "--admin-password-file"},
		"empty file":    {[]string{"repo", "update", "a", "--admin-password-file", os.DevNull}, nil, exitError, "it is empty"},
	} {
		t.Run(name, func(t *testing.T) {
			res := cli("x\n", tc.env, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d with %q", res.code, res.stderr, tc.code, tc.want)
			}
		})
	}
	if s.adminPassword(t, idA) != "" {
		t.Fatal("a refused command changed the admin password")
	}
}
