package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The browser rig: the real server and agent binaries (built once per test
// binary), an admin with an API token, real agents enrolled through the
// API, real repositories under restic, and a Chromium logged in as any
// user. Tests share nothing but the binaries.

var (
	binOnce             sync.Once
	binDir              string
	serverBin, agentBin string
	binErr              error
)

// TestMain removes the binaries the rig built.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaries builds restic-manager and restic-manager-agent once.
func binaries(t *testing.T) (server, agent string) {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "rm-ui-bin")
		if binErr != nil {
			return
		}
		serverBin = filepath.Join(binDir, "restic-manager")
		agentBin = filepath.Join(binDir, "restic-manager-agent")
		for bin, pkg := range map[string]string{serverBin: "../cmd/restic-manager", agentBin: "../../agent/cmd/restic-manager-agent"} {
			if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
				binErr = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
				return
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return serverBin, agentBin
}

var (
	resticOnce sync.Once
	resticPath string
	resticErr  error
)

// resticBinary finds restic as make test provides it: $RESTIC_BINARY,
// restic on PATH, or $(go env GOPATH)/bin/restic.
func resticBinary(t *testing.T) string {
	t.Helper()
	resticOnce.Do(func() {
		var cands []string
		if p := os.Getenv("RESTIC_BINARY"); p != "" {
			cands = append(cands, p)
		}
		if p, err := exec.LookPath("restic"); err == nil {
			cands = append(cands, p)
		}
		for _, gp := range filepath.SplitList(build.Default.GOPATH) {
			cands = append(cands, filepath.Join(gp, "bin", "restic"))
		}
		for _, c := range cands {
			if abs, err := filepath.Abs(c); err == nil {
				if out, err := exec.Command(abs, "version").Output(); err == nil && strings.HasPrefix(string(out), "restic ") {
					resticPath = abs
					return
				}
			}
		}
		resticErr = fmt.Errorf("no restic binary (tried %s): run scripts/install-restic.sh", strings.Join(cands, ", "))
	})
	if resticErr != nil {
		t.Fatal(resticErr)
	}
	return resticPath
}

// rig is one server with an admin, for browser tests.
type rig struct {
	t          *testing.T
	srv        *serverProc
	base       string
	adminToken string
	// AdminPassword is the admin's password, for browser logins.
	adminPassword string
	agentLogs     []*syncBuffer
}

// newRig starts a server and creates the admin "admin" through the API.
func newRig(t *testing.T) *rig {
	t.Helper()
	srv := startServer(t)
	r := &rig{t: t, srv: srv, base: "http://" + srv.addr, adminPassword: "a long browser password"}
	raw, err := os.ReadFile(filepath.Join(srv.dataDir, "setup-token"))
	if err != nil {
		t.Fatal(err)
	}
	var boot struct {
		Token string `json:"token"`
	}
	postJSON(t, r.base+"/api/v1/bootstrap", map[string]string{
		"setup_token": strings.TrimSpace(string(raw)), "username": "admin", "password": r.adminPassword,
	}, http.StatusCreated, &boot)
	r.adminToken = boot.Token
	t.Cleanup(func() {
		if t.Failed() {
			for i, l := range r.agentLogs {
				t.Logf("agent %d log:\n%s", i, l.String())
			}
		}
	})
	return r
}

// api calls the JSON API as the admin; out (if not nil) gets the answer.
// It fails the test unless the status is want.
func (r *rig) api(method, path string, body any, want int, out any) {
	r.t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+r.adminToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		r.t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
}

// createUser makes a user with role and returns its password.
func (r *rig) createUser(username, role string) string {
	r.t.Helper()
	pw := fmt.Sprintf("pw-%s-%016x", username, rand.Uint64())
	r.api(http.MethodPost, "/api/v1/users", map[string]string{"username": username, "password": pw, "role": role}, http.StatusCreated, nil)
	return pw
}

// agentHost is a real agent enrolled to the rig's server.
type agentHost struct {
	ID  string
	cmd *exec.Cmd
	log *syncBuffer
}

// startAgent enrolls a real agent named name through an enrollment token
// and runs it until the test ends; it returns once the host is online.
func (r *rig) startAgent(name string) *agentHost {
	t := r.t
	t.Helper()
	_, agent := binaries(t)
	restic := resticBinary(t)
	var tok struct {
		Token string `json:"token"`
	}
	r.api(http.MethodPost, "/api/v1/enrollment-tokens", map[string]any{}, http.StatusCreated, &tok)
	dir := t.TempDir()
	cfg, state := filepath.Join(dir, "agent.hcl"), filepath.Join(dir, "state")
	out, err := exec.Command(agent, "enroll", "--server", r.base, "--token", tok.Token,
		"--config", cfg, "--state-dir", state, "--name", name).CombinedOutput()
	if err != nil {
		t.Fatalf("agent enroll: %v\n%s", err, out)
	}
	// The agent runs "restic" from PATH.
	pathDir := t.TempDir()
	if err := os.Symlink(restic, filepath.Join(pathDir, "restic")); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	r.agentLogs = append(r.agentLogs, log)
	cmd := exec.Command(agent, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "PATH="+pathDir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	h := &agentHost{cmd: cmd, log: log}
	eventually(t, 30*time.Second, "agent "+name+" online", func() bool {
		var hosts struct {
			Items []struct{ ID, Name, Status string }
		}
		r.api(http.MethodGet, "/api/v1/hosts?name="+url.QueryEscape(name), nil, http.StatusOK, &hosts)
		for _, x := range hosts.Items {
			if x.Name == name && x.Status == "online" {
				h.ID = x.ID
				return true
			}
		}
		return false
	})
	return h
}

// addRepo adds a local repository name and, with a host, initialises it
// through that host's agent.
func (r *rig) addRepo(name string, h *agentHost) string {
	t := r.t
	t.Helper()
	path := filepath.Join(t.TempDir(), "repo-"+name)
	r.api(http.MethodPost, "/api/v1/repositories", map[string]any{
		"name": name, "url": path, "password": fmt.Sprintf("repo-pw-%016x", rand.Uint64()),
	}, http.StatusCreated, nil)
	if h != nil {
		id := r.runJob(h, map[string]any{"kind": "init", "repository": name})
		if st := r.waitJob(id); st != "succeeded" {
			t.Fatalf("init of %s: %s", name, st)
		}
	}
	return path
}

// runJob dispatches a job to h and returns its id.
func (r *rig) runJob(h *agentHost, req map[string]any) string {
	r.t.Helper()
	var j struct {
		ID string `json:"id"`
	}
	r.api(http.MethodPost, "/api/v1/hosts/"+h.ID+"/jobs", req, http.StatusCreated, &j)
	return j.ID
}

// waitJob waits for a job's end and returns its status.
func (r *rig) waitJob(id string) string {
	r.t.Helper()
	var status string
	eventually(r.t, 2*time.Minute, "job "+id+" to end", func() bool {
		var j struct {
			Status string `json:"status"`
		}
		r.api(http.MethodGet, "/api/v1/jobs/"+id, nil, http.StatusOK, &j)
		status = j.Status
		return status != "queued" && status != "running"
	})
	return status
}

// login opens the login page in the browser and logs in.
func (r *rig) login(ctx context.Context, username, password string) {
	r.t.Helper()
	do(ctx, r.t, "login as "+username,
		chromedp.Navigate(r.base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), username),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="current-user"]`)))
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
