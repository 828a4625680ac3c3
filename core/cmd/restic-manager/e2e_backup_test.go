package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/build"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/agent/config"
)

// The whole path with real parts: the server and agent binaries, the real
// restic and a real repository in a temp dir. Enroll, add a repository,
// init it, back up, read the logs and the snapshots; then the faults: the
// server killed mid-backup, the agent's connection dropped again and
// again, the agent killed mid-backup, and a revoked agent. Every test
// also looks for the repository password wherever it must not be.
//
// The slow backups are slowed by restic's --limit-upload, which restic
// applies to a local repository too: a few MiB then take seconds without
// keeping the two cores busy.

// e2eBackupTimeout bounds every wait on a job in this file.
const e2eBackupTimeout = 90 * time.Second

var (
	resticOnce sync.Once
	resticPath string
	resticVer  string
	resticErr  error
)

// resticForE2E returns the real restic (absolute path) and its version:
// $RESTIC_BINARY, else restic on PATH, else $(go env GOPATH)/bin/restic.
func resticForE2E(t *testing.T) (path, version string) {
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
			abs, err := filepath.Abs(c)
			if err != nil {
				continue
			}
			out, err := exec.Command(abs, "version").Output()
			if f := strings.Fields(string(out)); err == nil && len(f) >= 2 && f[0] == "restic" {
				resticPath, resticVer = abs, f[1]
				return
			}
		}
		resticErr = fmt.Errorf("no restic binary (tried %s): run scripts/install-restic.sh "+
			"and set RESTIC_BINARY to the path it prints", strings.Join(cands, ", "))
	})
	if resticErr != nil {
		t.Fatal(resticErr)
	}
	return resticPath, resticVer
}

// rig is one server with one real agent and one repository.
type rig struct {
	t        *testing.T
	srv      *serverProc
	srvCfg   string // the server's configuration, to restart it on the same data dir and port
	admin    string
	restic   string
	pathDir  string // a directory holding "restic", first on the agent's PATH
	home     string // the agent's HOME (restic's cache)
	password string // the repository's
	repoDir  string
	hostID   string
	agentCfg string
	stateDir string
	agent    *agentProc
	agentLog *syncBuffer // every agent process's output
	outputs  *syncBuffer // everything the CLI printed: API responses, job logs
}

type agentProc struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the agent process has been waited for
}

type rigOptions struct {
	// agentURL is the server address the agent enrolls and connects
	// with; default the server's own.
	agentURL func(serverAddr string) string
	noInit   bool // add the repository without initialising it
}

func newRig(t *testing.T, opts rigOptions) *rig {
	t.Helper()
	resticBin, _ := resticForE2E(t)
	r := &rig{
		t: t, restic: resticBin, home: t.TempDir(),
		agentLog: &syncBuffer{}, outputs: &syncBuffer{},
		password: fmt.Sprintf("e2e-pw-%016x", rand.Uint64()),
	}
	// The agent runs "restic" from PATH, whatever the binary is called.
	r.pathDir = filepath.Dir(resticBin)
	if filepath.Base(resticBin) != "restic" {
		r.pathDir = t.TempDir()
		if err := os.Symlink(resticBin, filepath.Join(r.pathDir, "restic")); err != nil {
			t.Fatal(err)
		}
	}
	r.srv = startServer(t)
	r.srvCfg = r.srv.cmd.Args[len(r.srv.cmd.Args)-1]
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent log:\n%s", r.agentLog.String())
		}
	})
	r.admin = bootstrapAdmin(t, r.srv)

	var tok createdToken
	if err := json.Unmarshal([]byte(r.ok("enroll-token", "create", "--json")), &tok); err != nil {
		t.Fatal(err)
	}
	agentURL := "http://" + r.srv.addr
	if opts.agentURL != nil {
		agentURL = opts.agentURL(r.srv.addr)
	}
	dir := t.TempDir()
	r.agentCfg, r.stateDir = filepath.Join(dir, "agent.hcl"), filepath.Join(dir, "state")
	out := mustExecBin(t, nil, agentBinary(t), "enroll", "--server", agentURL, "--token", tok.Token,
		"--config", r.agentCfg, "--state-dir", r.stateDir)
	_, _ = r.outputs.Write([]byte(out))
	cfg, _, diags := config.Load(r.agentCfg)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	// Debug logging, so that the secrets check covers everything the
	// agent can print.
	cfg.Log.Level = "debug"
	if err := config.Write(r.agentCfg, cfg); err != nil {
		t.Fatal(err)
	}
	r.hostID = cfg.HostID
	r.startAgent()
	r.waitHostStatus("online")

	pwFile := filepath.Join(t.TempDir(), "repo.pw")
	if err := os.WriteFile(pwFile, []byte(r.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.repoDir = filepath.Join(t.TempDir(), "repo")
	r.ok("repo", "add", "--name", "main", "--url", r.repoDir, "--password-file", pwFile)
	if !opts.noInit {
		if out := r.ok("repo", "init", "main", "--host", r.hostID, "--timeout", "60s"); !strings.Contains(out, "succeeded (exit code 0)") {
			t.Fatalf("repo init printed:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(r.repoDir, "config")); err != nil {
			t.Fatalf("repo init made no repository: %v", err)
		}
	}
	return r
}

// cli runs the operator CLI with the admin's token and keeps what it printed.
func (r *rig) cli(args ...string) result {
	r.t.Helper()
	res := r.srv.cli(r.t, r.admin, args...)
	fmt.Fprintf(r.outputs, "%s\n%s\n", res.stdout, res.stderr)
	return res
}

func (r *rig) ok(args ...string) string {
	r.t.Helper()
	res := r.cli(args...)
	if res.code != 0 {
		r.t.Fatalf("restic-manager %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
	}
	return res.stdout
}

func (r *rig) okJSON(v any, args ...string) {
	r.t.Helper()
	out := r.ok(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		r.t.Fatalf("restic-manager %s --json: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// startAgent runs the agent in its own process group, restic's directory
// first on its PATH.
func (r *rig) startAgent() {
	t := r.t
	t.Helper()
	cmd := exec.Command(agentBinary(t), "run", "--config", r.agentCfg)
	cmd.Env = append(os.Environ(),
		"PATH="+r.pathDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+r.home)
	cmd.Stdout, cmd.Stderr = r.agentLog, r.agentLog
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agentProc{cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(a.exited)
	}()
	r.agent = a
	t.Cleanup(func() { a.kill(t) })
}

// kill sends SIGKILL to the agent's process group (the agent and its
// plugin; restic runs in a group of its own and is interrupted when the
// plugin dies) and waits for the agent.
func (a *agentProc) kill(t *testing.T) {
	_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("agent %d did not exit after SIGKILL", a.cmd.Process.Pid)
	}
}

// restartServer starts the server again on its configuration: the same
// data dir and port. Its log goes on in the same buffer.
func (r *rig) restartServer() {
	t := r.t
	t.Helper()
	old := r.srv
	p := &serverProc{addr: old.addr, dataDir: old.dataDir, log: old.log, done: make(chan error, 1)}
	p.cmd = exec.Command(binary(t), "server", "--config", r.srvCfg)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	r.srv = p
	waitReady(t, p)
}

func (r *rig) host() map[string]any {
	r.t.Helper()
	var h map[string]any
	r.okJSON(&h, "host", "show", r.hostID)
	return h
}

func (r *rig) waitHostStatus(status string) {
	r.t.Helper()
	eventuallyE2EWithin(r.t, 30*time.Second, "host status "+status, func() bool { return r.host()["status"] == status })
}

func (r *rig) job(id string) map[string]any {
	r.t.Helper()
	var j map[string]any
	r.okJSON(&j, "job", "show", id)
	return j
}

// waitJob waits for a job to end; it returns job wait's output and exit code.
func (r *rig) waitJob(id string) result {
	r.t.Helper()
	return r.cli("job", "wait", id, "--timeout", e2eBackupTimeout.String())
}

func (r *rig) runJob(kind string, args ...string) string {
	r.t.Helper()
	id := strings.TrimSpace(r.ok(append([]string{"job", "run", kind, "--host", r.hostID, "--repo", "main"}, args...)...))
	if len(id) != 36 {
		r.t.Fatalf("job run printed %q, want the job id", id)
	}
	return id
}

type logItemE2E struct {
	Seq    int64  `json:"seq"`
	Stream string `json:"stream"`
	Type   string `json:"type"`
	Line   string `json:"line"`
}

func (r *rig) logs(id string) []logItemE2E {
	r.t.Helper()
	var items []logItemE2E
	r.okJSON(&items, "job", "logs", id)
	return items
}

// checkLogSeqs checks that a job's stored events are numbered 1..N, each
// once, and that the last one is its final status, wantStatus.
func (r *rig) checkLogSeqs(id, wantStatus string) []logItemE2E {
	r.t.Helper()
	items := r.logs(id)
	if len(items) == 0 {
		r.t.Fatalf("job %s has no log", id)
	}
	for i, it := range items {
		if it.Seq != int64(i+1) {
			r.t.Fatalf("job %s: log item %d has seq %d; want seqs 1..%d each once, in order: %v", id, i, it.Seq, len(items), seqsOf(items))
		}
	}
	var final struct {
		Status string `json:"status"`
		Final  bool   `json:"final"`
	}
	last := items[len(items)-1]
	if err := json.Unmarshal([]byte(last.Line), &final); err != nil || last.Type != "status" || !final.Final || final.Status != wantStatus {
		r.t.Fatalf("job %s: last log item %+v, want its final status %s", id, last, wantStatus)
	}
	// Also page through the HTTP API: the same seqs, nothing twice.
	var seen []int64
	after := int64(0)
	for {
		req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/api/v1/jobs/%s/logs?after_seq=%d", r.srv.addr, id, after), nil)
		if err != nil {
			r.t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+r.admin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			r.t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			r.t.Fatalf("GET /jobs/%s/logs: %d %v\n%s", id, res.StatusCode, err, body)
		}
		_, _ = r.outputs.Write(body)
		var page struct {
			Items      []logItemE2E `json:"items"`
			NextCursor string       `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			r.t.Fatal(err)
		}
		for _, it := range page.Items {
			seen = append(seen, it.Seq)
		}
		if page.NextCursor == "" || len(page.Items) == 0 {
			break
		}
		after = page.Items[len(page.Items)-1].Seq
	}
	if !slices.Equal(seen, seqsOf(items)) {
		r.t.Fatalf("job %s: the API's pages hold seqs %v, the CLI printed %v", id, seen, seqsOf(items))
	}
	return items
}

func seqsOf(items []logItemE2E) []int64 {
	out := make([]int64, len(items))
	for i, it := range items {
		out[i] = it.Seq
	}
	return out
}

// backupSnapshot checks a succeeded backup: restic's summary in its logs,
// and its snapshot listed by the server with the backed-up path, and in
// the repository itself. It returns the snapshot id.
func (r *rig) backupSnapshot(id, path string, wantFiles int) string {
	r.t.Helper()
	j := r.job(id)
	summary, _ := j["summary"].(map[string]any)
	snapID, _ := summary["snapshot_id"].(string)
	if j["status"] != "succeeded" || j["exit_code"] != 0.0 || len(snapID) != 64 {
		r.t.Fatalf("backup job %s = %v", id, j)
	}
	text := r.ok("job", "logs", id)
	for _, want := range []string{fmt.Sprintf("summary: %d new, 0 changed, 0 unmodified files", wantFiles), "snapshot " + snapID[:8] + " saved", "[succeeded, exit code 0]"} {
		if !strings.Contains(text, want) {
			r.t.Fatalf("job logs %s lacks %q:\n%s", id, want, text)
		}
	}
	var snaps []map[string]any
	eventuallyE2EWithin(r.t, 30*time.Second, "snapshot "+snapID[:8]+" listed", func() bool {
		snaps = nil
		r.okJSON(&snaps, "snapshot", "list", "--host", r.hostID, "--repo", "main")
		return slices.ContainsFunc(snaps, func(s map[string]any) bool { return s["id"] == snapID })
	})
	hostname, _ := os.Hostname()
	for _, s := range snaps {
		if s["id"] != snapID {
			continue
		}
		if fmt.Sprint(s["paths"]) != fmt.Sprint([]any{path}) || s["hostname"] != hostname || s["short_id"] != snapID[:8] || s["repository"] != "main" {
			r.t.Fatalf("snapshot list --json has %v; want paths [%s], hostname %s", s, path, hostname)
		}
	}
	// The repository itself holds it (restic reads the password from its
	// environment, as the agent's restic does).
	cmd := exec.Command(r.restic, "snapshots", "--json", "--no-lock")
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.repoDir, "RESTIC_PASSWORD="+r.password, "RESTIC_CACHE_DIR="+filepath.Join(r.home, "cache"))
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("restic snapshots: %v", err)
	}
	var inRepo []struct {
		ID    string   `json:"id"`
		Paths []string `json:"paths"`
	}
	if err := json.Unmarshal(out, &inRepo); err != nil {
		r.t.Fatal(err)
	}
	if !slices.ContainsFunc(inRepo, func(s struct {
		ID    string   `json:"id"`
		Paths []string `json:"paths"`
	},
	) bool {
		return s.ID == snapID && slices.Equal(s.Paths, []string{path})
	}) {
		r.t.Fatalf("restic snapshots in %s: %s; want %s of %s", r.repoDir, out, snapID, path)
	}
	return snapID
}

// checkSecrets looks for the repository password in the server's and the
// agent's logs, in everything the CLI printed (API responses and job logs
// included) and in the agent's state dir (its spool).
func (r *rig) checkSecrets() {
	r.t.Helper()
	for what, text := range map[string]string{
		"the server log": r.srv.log.String(), "the agent log": r.agentLog.String(), "the CLI's output": r.outputs.String(),
	} {
		if strings.Contains(text, r.password) {
			r.t.Errorf("%s holds the repository password", what)
		}
	}
	err := filepath.WalkDir(r.stateDir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(r.password)) {
			r.t.Errorf("the agent's %s holds the repository password", path)
		}
		return nil
	})
	if err != nil {
		r.t.Error(err)
	}
}

// lockFiles lists restic's lock files in the repository: files named by
// their 64-hex-digit id. A restic killed while writing one can leave a
// "<id>-tmp-<n>" file of its local backend behind, which is no lock.
func (r *rig) lockFiles() []string {
	r.t.Helper()
	ents, err := os.ReadDir(filepath.Join(r.repoDir, "locks"))
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if lockName.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	return out
}

var lockName = regexp.MustCompile(`^[0-9a-f]{64}$`)

// resticPIDs lists the live restic processes working on the rig's
// repository (RESTIC_REPOSITORY in their environment).
func (r *rig) resticPIDs() []int {
	var pids []int
	for _, p := range procs() {
		if filepath.Base(p.argv0) == "restic" && slices.Contains(p.environ, "RESTIC_REPOSITORY="+r.repoDir) {
			pids = append(pids, p.pid)
		}
	}
	return pids
}

type procInfo struct {
	pid     int
	pgid    int
	state   byte // R, S, T, …
	argv0   string
	cmdline string // NUL-separated argv
	environ []string
}

// procs lists the live (not zombie) processes on the machine from /proc.
func procs() []procInfo {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		// stat is "pid (comm) state ppid pgrp ...", comm possibly holding spaces.
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		i := bytes.LastIndexByte(stat, ')')
		if err != nil || i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 3 || fields[0] == "Z" {
			continue
		}
		pgid, _ := strconv.Atoi(fields[2])
		environ, _ := os.ReadFile(filepath.Join(dir, "environ"))
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		out = append(out, procInfo{
			pid: pid, pgid: pgid, state: fields[0][0], argv0: argv0,
			cmdline: string(cmdline), environ: strings.Split(string(environ), "\x00"),
		})
	}
	return out
}

// cmdlineWatch reads every process's argv, again and again, while jobs
// run: the repository password must never be in one.
type cmdlineWatch struct {
	r    *rig
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	leak []string
	saw  bool // saw a restic process of the rig's repository
}

func (r *rig) watchCmdlines() *cmdlineWatch {
	if runtime.GOOS != "linux" {
		r.t.Skip("the argv check reads Linux's /proc")
	}
	w := &cmdlineWatch{r: r, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			for _, p := range procs() {
				isOurs := filepath.Base(p.argv0) == "restic" && slices.Contains(p.environ, "RESTIC_REPOSITORY="+r.repoDir)
				w.mu.Lock()
				w.saw = w.saw || isOurs
				if strings.Contains(p.cmdline, r.password) {
					w.leak = append(w.leak, strings.ReplaceAll(p.cmdline, "\x00", " "))
				}
				w.mu.Unlock()
			}
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	return w
}

// check stops the watch and fails the test if a process's argv held the
// password, or if restic was never seen when it should have been.
func (w *cmdlineWatch) check(wantRestic bool) {
	w.r.t.Helper()
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.leak {
		w.r.t.Errorf("a process's argv holds the repository password: %s", l)
	}
	if wantRestic && !w.saw {
		w.r.t.Error("the argv watch never saw restic running")
	}
}

// writeTree writes files of random sizes in [minSize, maxSize] and random
// content (which restic can neither compress nor deduplicate) under dir,
// ten files per subdirectory. seed fixes both.
func writeTree(t *testing.T, dir string, seed uint64, files, minSize, maxSize int) {
	t.Helper()
	sizes := rand.New(rand.NewPCG(seed, 1))
	content := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 'e', '2', 'e'})
	buf := make([]byte, maxSize)
	for i := range files {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", i/10))
		if i%10 == 0 {
			if err := os.MkdirAll(sub, 0o750); err != nil {
				t.Fatal(err)
			}
		}
		n := minSize + sizes.IntN(maxSize-minSize+1)
		_, _ = content.Read(buf[:n])
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%04d.bin", i)), buf[:n], 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// slowTree is a tree that restic backs up in several seconds at
// slowUploadKiB (restic's --limit-upload).
func slowTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "slow")
	writeTree(t, dir, 2, 96, 96<<10, 160<<10) // ~12 MiB
	return dir
}

const slowUploadKiB = "1536" // ~12 MiB at 1.5 MiB/s: about 8 s

func eventuallyE2EWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitRunning waits until a backup job is running: restic has started and
// locked the repository (a lock other than the stale ones given), and the
// server has stored the job's first status and progress events.
func (r *rig) waitRunning(id string, stale ...string) {
	r.t.Helper()
	eventuallyE2EWithin(r.t, 30*time.Second, "the backup to run", func() bool {
		locked := slices.ContainsFunc(r.lockFiles(), func(l string) bool { return !slices.Contains(stale, l) })
		return r.job(id)["status"] == "running" && len(r.resticPIDs()) > 0 && locked && len(r.logs(id)) >= 2
	})
}

func TestEndToEndBackupWithRealAgent(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	_, version := resticForE2E(t)
	h := r.host()
	if h["restic_version"] != version || h["os"] != runtime.GOOS || h["arch"] != runtime.GOARCH {
		t.Fatalf("host = %v; want restic %s on %s/%s", h, version, runtime.GOOS, runtime.GOARCH)
	}

	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 1, 300, 0, 16<<10)
	w := r.watchCmdlines()
	id := r.runJob("backup", "--path", src, "--tag", "e2e")
	res := r.waitJob(id)
	w.check(false)
	if res.code != 0 || !strings.Contains(res.stdout, "succeeded (exit code 0)") {
		t.Fatalf("job wait: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	items := r.checkLogSeqs(id, "succeeded")
	if !slices.ContainsFunc(items, func(it logItemE2E) bool { return it.Type == "summary" && strings.Contains(it.Line, `"files_new":300`) }) {
		t.Fatalf("no summary event with 300 new files in %v", items)
	}
	snapID := r.backupSnapshot(id, src, 300)
	if f := r.cli("job", "logs", "-f", id); f.code != 0 || !strings.Contains(f.stdout, "snapshot "+snapID[:8]+" saved") || !strings.Contains(f.stderr, "succeeded") {
		t.Fatalf("job logs -f of the ended backup: exit %d\n%s%s", f.code, f.stdout, f.stderr)
	}

	// The server refreshes its snapshot list with a snapshots job after
	// the backup, off its critical path; the snapshot stays listed.
	eventuallyE2EWithin(t, 60*time.Second, "the snapshot refresh after the backup", func() bool {
		var jobs []map[string]any
		r.okJSON(&jobs, "job", "list", "--host", r.hostID)
		return slices.ContainsFunc(jobs, func(j map[string]any) bool {
			return j["kind"] == "snapshots" && j["created_by"] == "system" && j["status"] == "succeeded"
		})
	})
	r.backupSnapshot(id, src, 300)
	r.checkSecrets()

	// Stopped, the server's database holds the password only sealed.
	if err := r.srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-r.srv.done; err != nil {
		t.Fatalf("server exit: %v", err)
	}
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(filepath.Join(r.srv.dataDir, "restic-manager.db"+suffix))
		if err != nil && suffix == "" {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(r.password)) {
			t.Errorf("restic-manager.db%s holds the repository password in the clear", suffix)
		}
	}
	t.Logf("backup %s made snapshot %s with %d log items", id, snapID[:8], len(items))
}

func TestEndToEndServerKilledMidBackup(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := slowTree(t)
	w := r.watchCmdlines()
	id := r.runJob("backup", "--path", src, "--limit-upload", slowUploadKiB)
	r.waitRunning(id)
	before := len(r.logs(id))

	if err := r.srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-r.srv.done; err == nil {
		t.Fatal("the killed server exited cleanly")
	}
	if len(r.resticPIDs()) == 0 {
		t.Fatal("restic ended before the server was killed; the backup needs more data or a lower upload limit")
	}
	// The agent notices, and restic goes on meanwhile.
	eventuallyE2EWithin(t, 30*time.Second, "the agent to lose the server", func() bool {
		return strings.Contains(r.agentLog.String(), "connection lost; reconnecting")
	})
	r.restartServer()
	res := r.waitJob(id)
	w.check(true)
	if res.code != 0 {
		t.Fatalf("job wait after the server restart: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	items := r.checkLogSeqs(id, "succeeded")
	if len(items) <= before {
		t.Fatalf("no events stored after the restart: %d before, %d in all", before, len(items))
	}
	r.backupSnapshot(id, src, 96)
	r.waitHostStatus("online")
	r.checkSecrets()
	t.Logf("%d of %d log items stored before the kill", before, len(items))
}

// cutProxy forwards TCP connections to a target and can cut them all.
type cutProxy struct {
	ln       net.Listener
	target   string
	mu       sync.Mutex
	conns    map[net.Conn]net.Conn
	accepted int
}

func startCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]net.Conn{}}
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[in] = out
			p.accepted++
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) addr() string { return p.ln.Addr().String() }

func (p *cutProxy) acceptedConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// cut closes every connection through the proxy and returns how many.
func (p *cutProxy) cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.conns)
	for in, out := range p.conns {
		in.Close()
		out.Close()
	}
	clear(p.conns)
	return n
}

func TestEndToEndAgentConnectionDroppedRepeatedly(t *testing.T) {
	t.Parallel()
	var proxy *cutProxy
	r := newRig(t, rigOptions{agentURL: func(addr string) string {
		proxy = startCutProxy(t, addr)
		return "http://" + proxy.addr()
	}})
	src := slowTree(t)
	w := r.watchCmdlines()
	id := r.runJob("backup", "--path", src, "--limit-upload", slowUploadKiB)
	r.waitRunning(id)

	// Cut the agent's connection as soon as it is back, while restic runs.
	cuts := 0
	for cuts < 3 && len(r.resticPIDs()) > 0 {
		n := proxy.acceptedConns()
		if proxy.cut() > 0 {
			cuts++
		}
		eventuallyE2EWithin(t, 30*time.Second, "the agent to reconnect", func() bool {
			return proxy.acceptedConns() > n && r.host()["status"] == "online"
		})
		time.Sleep(300 * time.Millisecond) // let some events through between the cuts
	}
	if cuts < 2 {
		t.Fatalf("restic ended after %d cuts; the backup needs more data or a lower upload limit", cuts)
	}
	res := r.waitJob(id)
	w.check(true)
	if res.code != 0 {
		t.Fatalf("job wait after %d cuts: exit %d\n%s%s", cuts, res.code, res.stdout, res.stderr)
	}
	items := r.checkLogSeqs(id, "succeeded")
	r.backupSnapshot(id, src, 96)
	if got := strings.Count(r.agentLog.String(), "connection lost; reconnecting"); got < cuts {
		t.Fatalf("the agent logged %d lost connections for %d cuts", got, cuts)
	}
	r.checkSecrets()
	t.Logf("%d cuts, %d log items", cuts, len(items))
}

func TestEndToEndAgentKilledMidBackup(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := slowTree(t)
	w := r.watchCmdlines()

	// kill -9 of the agent alone: its plugin dies with it, and restic
	// stops rather than running on. (The plugin's death sends restic
	// SIGINT, but restic's output pipes have lost their reader too, and
	// its next write kills it with SIGPIPE: whether it removed its lock
	// first is a race, so its lock may stay behind.)
	first := r.runJob("backup", "--path", src, "--limit-upload", slowUploadKiB)
	r.waitRunning(first)
	if err := r.agent.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-r.agent.exited
	eventuallyE2E(t, "restic to stop with the agent", func() bool { return len(r.resticPIDs()) == 0 })
	if st := r.job(first)["status"]; st != "running" {
		t.Fatalf("with the agent gone the job is %v; it stays running until the agent reports", st)
	}
	r.waitHostStatus("offline")
	r.startAgent()
	r.checkAgentRestartFailure(first)
	left := r.lockFiles()
	t.Logf("locks left by the restic the agent's death stopped: %v", left)

	// kill -9 of everything at once, restic included, as a power loss
	// would: restic's lock stays behind for certain.
	second := r.runJob("backup", "--path", src, "--limit-upload", slowUploadKiB)
	r.waitRunning(second, left...)
	r.powerLoss()
	stale := r.lockFiles()
	if len(stale) != len(left)+1 {
		t.Fatalf("locks %v after the power loss; want the killed restic's besides %v", stale, left)
	}
	r.waitHostStatus("offline")
	r.startAgent()
	r.checkAgentRestartFailure(second)
	if locks := r.lockFiles(); !slices.Equal(locks, stale) {
		t.Fatalf("locks %v before unlock; want the stale %v", locks, stale)
	}
	w.check(true)

	// unlock removes the stale locks; the next backup succeeds.
	w = r.watchCmdlines()
	unlock := r.runJob("unlock")
	if res := r.waitJob(unlock); res.code != 0 {
		t.Fatalf("unlock: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// The stale locks are gone. (A snapshot refresh the server queued
	// after the failed job may hold a lock of its own for a moment.)
	for _, l := range r.lockFiles() {
		if slices.Contains(stale, l) {
			t.Fatalf("stale lock %s left after unlock", l)
		}
	}
	small := filepath.Join(t.TempDir(), "small")
	writeTree(t, small, 3, 20, 0, 4<<10)
	next := r.runJob("backup", "--path", small)
	if res := r.waitJob(next); res.code != 0 {
		t.Fatalf("backup after unlock: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	w.check(false)
	r.checkLogSeqs(next, "succeeded")
	r.backupSnapshot(next, small, 20)
	// (The snapshot refresh the server queues after it may hold a lock
	// for a moment.)
	eventuallyE2EWithin(t, 30*time.Second, "no lock in the repository", func() bool { return len(r.lockFiles()) == 0 })
	r.checkSecrets()
}

// powerLoss kills the agent, its plugin and restic at once, as a power
// loss would, so that none of them can clean up or report: the agent's
// process group is frozen first (nothing there sees restic die), then
// restic and the group get SIGKILL. (SIGSTOP on restic would not do: when
// the plugin dies, restic's process group is orphaned and the kernel wakes
// it with SIGHUP and SIGCONT.)
func (r *rig) powerLoss() {
	r.t.Helper()
	pgid := r.agent.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGSTOP); err != nil {
		r.t.Fatal(err)
	}
	eventuallyE2E(r.t, "the agent's processes to stop", func() bool {
		n := 0
		for _, p := range procs() {
			if p.pgid == pgid {
				if p.state != 'T' {
					return false
				}
				n++
			}
		}
		return n >= 2 // the agent and its plugin
	})
	pids := r.resticPIDs()
	if len(pids) == 0 {
		r.t.Fatal("restic ended before the power loss")
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			r.t.Fatal(err)
		}
	}
	eventuallyE2E(r.t, "restic to be gone", func() bool { return len(r.resticPIDs()) == 0 })
	r.agent.kill(r.t)
}

// checkAgentRestartFailure checks that a job the agent was running when it
// was killed ends failed, with the restart as the reason, once the agent
// is back.
func (r *rig) checkAgentRestartFailure(id string) {
	r.t.Helper()
	res := r.waitJob(id)
	if res.code != 1 || !strings.Contains(res.stdout, "failed") || !strings.Contains(res.stdout, "agent restarted mid-job") {
		r.t.Fatalf("job wait of the interrupted backup: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if j := r.job(id); j["status"] != "failed" || !strings.Contains(fmt.Sprint(j["error"]), "agent restarted") || j["finished_at"] == nil {
		r.t.Fatalf("interrupted backup = %v", j)
	}
	r.checkLogSeqs(id, "failed")
}

func TestEndToEndRevokedAgentIsCutOff(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{noInit: true})
	if n := strings.Count(r.agentLog.String(), "connected: host_id="); n != 1 {
		t.Fatalf("the agent logged %d connections before the revocation", n)
	}

	res := r.cli("host", "remove", r.hostID)
	if res.code != 0 || !strings.Contains(res.stderr, "credential is revoked") {
		t.Fatalf("host remove: exit %d %s%s", res.code, res.stdout, res.stderr)
	}
	if st := r.host()["status"]; st != "revoked" {
		t.Fatalf("removed host status %v", st)
	}
	// The open connection is closed at once, and the agent's next try is refused.
	eventuallyE2EWithin(t, 10*time.Second, "the agent to be cut off", func() bool {
		return strings.Contains(r.agentLog.String(), "the server revoked this agent's credential")
	})
	eventuallyE2EWithin(t, 20*time.Second, "the agent's reconnect to be refused", func() bool {
		return strings.Contains(r.agentLog.String(), "the server refused this agent's credential")
	})
	if n := strings.Count(r.agentLog.String(), "connected: host_id="); n != 1 {
		t.Fatalf("a revoked agent connected again (%d connections logged)", n)
	}
	if st := r.host()["status"]; st != "revoked" {
		t.Fatalf("host status %v after the agent's reconnect", st)
	}

	res = r.cli("job", "run", "backup", "--host", r.hostID, "--repo", "main", "--path", r.home)
	if res.code == 0 || !strings.Contains(res.stderr, "was removed") {
		t.Fatalf("job run for a revoked host: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	var jobs []map[string]any
	r.okJSON(&jobs, "job", "list", "--host", r.hostID)
	if len(jobs) != 0 {
		t.Fatalf("jobs of the revoked host: %v", jobs)
	}
	r.checkSecrets()
}
