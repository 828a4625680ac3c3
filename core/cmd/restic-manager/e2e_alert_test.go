package main

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Alerts end to end: the real server, agent and restic, a failed backup
// notified through the real built-in notify plugins to a webhook receiver,
// an ntfy-API receiver (ntfy itself cannot be installed here) and an SMTP
// server in this process; throttling, a host going offline and coming
// back, a channel plugin killed with SIGKILL reported on the others, and
// the resolution notices.

// received is one notification a receiver got.
type received struct {
	via   string // webhook, ntfy or smtp
	event string
	title string
	body  string
	at    time.Time
}

// inbox collects what the three receivers got.
type inbox struct {
	mu    sync.Mutex
	items []received
}

func (in *inbox) add(r received) {
	r.at = time.Now()
	in.mu.Lock()
	in.items = append(in.items, r)
	in.mu.Unlock()
}

func (in *inbox) all() []received {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.items)
}

func (in *inbox) matching(event, titlePart string) []received {
	var out []received
	for _, r := range in.all() {
		if r.event == event && strings.Contains(r.title, titlePart) {
			out = append(out, r)
		}
	}
	return out
}

// wait waits until every receiver in vias got an event whose title has
// titlePart, and returns one of each, by receiver.
func (in *inbox) wait(t *testing.T, event, titlePart string, vias ...string) map[string]received {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := map[string]received{}
		for _, r := range in.matching(event, titlePart) {
			if _, ok := got[r.via]; !ok {
				got[r.via] = r
			}
		}
		done := true
		for _, v := range vias {
			if _, ok := got[v]; !ok {
				done = false
			}
		}
		if done {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s %q on %v; received:\n%s", event, titlePart, vias, in.dump())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (in *inbox) dump() string {
	var b strings.Builder
	for _, r := range in.all() {
		fmt.Fprintf(&b, "  %s %s %s %q\n", r.at.Format("15:04:05.000"), r.via, r.event, r.title)
	}
	return b.String()
}

var knownEvents = []string{"job_failed", "check_failed", "backup_stale", "host_offline", "plugin_failing", "alert_resolved"}

// startReceivers runs the three receivers and returns the HCL of a
// channel for each: "hook" (notify-webhook), "phone" (notify-ntfy) and
// "mail" (notify-smtp).
func startReceivers(t *testing.T, in *inbox) string {
	t.Helper()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct{ Event, Title, Body string }
		if err := json.NewDecoder(r.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		in.add(received{via: "webhook", event: n.Event, title: n.Title, body: n.Body})
	}))
	t.Cleanup(hook.Close)
	// An httptest stand-in for ntfy's publish API (POST of a JSON message
	// to the server's root): ntfy itself cannot be installed here.
	fakeNtfyServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Topic, Title, Message string
			Tags                  []string
		}
		if r.Method != http.MethodPost || r.URL.Path != "/" || json.NewDecoder(r.Body).Decode(&m) != nil || m.Topic != "backups" {
			http.Error(w, `{"code":40001,"error":"invalid request"}`, http.StatusBadRequest)
			return
		}
		event := ""
		for _, tag := range m.Tags {
			if slices.Contains(knownEvents, tag) {
				event = tag
			}
		}
		in.add(received{via: "ntfy", event: event, title: m.Title, body: m.Message})
		_, _ = io.WriteString(w, `{"id":"m1","event":"message","topic":"backups"}`)
	}))
	t.Cleanup(fakeNtfyServer.Close)
	mails := make(chan string, 64)
	mailHost, mailPort := startMailServer(t, mails)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() {
		dec := new(mime.WordDecoder)
		for {
			select {
			case <-stop:
				return
			case raw := <-mails:
				msg, err := mail.ReadMessage(strings.NewReader(strings.TrimPrefix(raw, "smtp ")))
				if err != nil {
					in.add(received{via: "smtp", event: "unreadable", body: err.Error()})
					continue
				}
				subject, _ := dec.DecodeHeader(msg.Header.Get("Subject"))
				body, _ := io.ReadAll(msg.Body)
				in.add(received{via: "smtp", event: msg.Header.Get("X-Restic-Manager-Event"), title: subject, body: string(body)})
			}
		}
	}()
	return fmt.Sprintf(`
channel "hook" {
  plugin = "notify-webhook"
  config {
    url     = %q
    retries = 0
  }
}

channel "phone" {
  plugin = "notify-ntfy"
  config {
    server = %q
    topic  = "backups"
  }
}

channel "mail" {
  plugin = "notify-smtp"
  config {
    host = %q
    port = %d
    tls  = "none"
    from = "restic-manager@example.com"
    to   = ["ops@example.com"]
  }
}
`, hook.URL, fakeNtfyServer.URL, mailHost, mailPort)
}

// alertsHCL is the alerting of these tests: checks every second, a host
// offline for 2 s, failed backups throttled for an hour.
const alertsHCL = `
alerting {
  evaluate_every   = "1s"
  delivery_retries = 1
}

alert "backup-failed" {
  on              = "job_failed"
  kinds           = ["backup"]
  channels        = ["hook", "phone", "mail"]
  repeat_interval = "%s"
}

alert "offline" {
  on       = "host_offline"
  after    = "2s"
  channels = ["hook", "phone", "mail"]
}

alert "plugins" {
  on       = "plugin_failing"
  channels = ["hook", "phone", "mail"]
}
`

// withAlerts restarts the rig's server with the receivers' channels and
// the alert blocks added to its configuration, and waits for the agent to
// reconnect.
func (r *rig) withAlerts(channels, repeat string) {
	r.withConfig(channels + fmt.Sprintf(alertsHCL, repeat))
}

// withConfig stops the rig's server, adds extra to its configuration,
// starts it again and waits for the agent to reconnect.
func (r *rig) withConfig(extra string) {
	t := r.t
	t.Helper()
	r.stopServer()
	cfg, err := os.ReadFile(r.srvCfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, []byte(extra)...)
	if err := os.WriteFile(r.srvCfg, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	r.restartServer()
	r.waitHostStatus("online")
}

// stopServer stops the rig's server with SIGTERM and waits for it.
func (r *rig) stopServer() {
	t := r.t
	t.Helper()
	if err := r.srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-r.srv.done; err != nil {
		t.Fatalf("server exit: %v", err)
	}
}

// failedBackup runs a backup of a path that does not exist, which restic
// refuses, and returns the job's id and when it finished.
func (r *rig) failedBackup(repo string) (string, time.Time) {
	r.t.Helper()
	missing := filepath.Join(r.t.TempDir(), "does-not-exist")
	id := strings.TrimSpace(r.ok("job", "run", "backup", "--host", r.hostID, "--repo", repo, "--path", missing))
	if res := r.waitJob(id); res.code == 0 {
		r.t.Fatalf("a backup of a missing path succeeded:\n%s", res.stdout)
	}
	j := r.job(id)
	end, err := time.Parse(time.RFC3339Nano, fmt.Sprint(j["finished_at"]))
	if j["status"] != "failed" || err != nil {
		r.t.Fatalf("job %s = %v (%v)", id, j, err)
	}
	return id, end
}

func TestEndToEndAlerts(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	in := &inbox{}
	r.withAlerts(startReceivers(t, in), "1h")
	hostName := fmt.Sprint(r.host()["name"])
	all := []string{"webhook", "ntfy", "smtp"}

	var rules []map[string]any
	r.okJSON(&rules, "alert", "rule", "list")
	if len(rules) != 3 || rules[0]["name"] != "backup-failed" || rules[0]["managed_by"] != "config" {
		t.Fatalf("alert rule list --json = %v", rules)
	}
	if res := r.cli("alert", "rule", "delete", "backup-failed"); res.code != 1 || !strings.Contains(res.stderr, "configuration file") {
		t.Fatalf("deleting a config rule: exit %d %s", res.code, res.stderr)
	}

	// A failed backup reaches every channel.
	jobID, end := r.failedBackup("main")
	got := in.wait(t, "job_failed", "backup of "+hostName+" failed", all...)
	for _, via := range all {
		t.Logf("alert latency, job end → %s: %s", via, got[via].at.Sub(end).Round(time.Millisecond))
		if !strings.Contains(got[via].body, "repository main") {
			t.Errorf("%s got a body without the repository:\n%s", via, got[via].body)
		}
	}
	if b := got["webhook"].body; !strings.Contains(b, "exit code 1") || !strings.Contains(b, "rule: backup-failed") {
		t.Errorf("webhook body:\n%s", b)
	}
	if got["smtp"].title != "[restic-manager] critical: backup of "+hostName+" failed" {
		t.Errorf("mail subject %q", got["smtp"].title)
	}

	// Two failures within the repeat interval: one notification each.
	r.failedBackup("main")
	time.Sleep(3 * time.Second) // deliveries take milliseconds; give a repeat every chance to show up
	if n := len(in.matching("job_failed", "backup of "+hostName)); n != 3 {
		t.Fatalf("%d job_failed notifications after two failures within the repeat interval, want 3 (one per channel):\n%s", n, in.dump())
	}
	var alerts []map[string]any
	r.okJSON(&alerts, "alert", "list", "--host", hostName, "--status", "active")
	if len(alerts) != 1 || alerts[0]["occurrences"] != 2.0 || alerts[0]["rule"] != "backup-failed" || alerts[0]["job_id"] == jobID {
		t.Fatalf("alert list = %v", alerts)
	}
	failedAlert := fmt.Sprint(alerts[0]["id"])
	r.ok("alert", "ack", failedAlert)

	// A repository with a wrong password: restic refuses to open it; the
	// alert names the repository, never the password.
	const wrongPassword = "e2e-wrong-password-5e1f0a"
	pwFile := filepath.Join(t.TempDir(), "wrong.pw")
	if err := os.WriteFile(pwFile, []byte(wrongPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.ok("repo", "add", "--name", "wrong", "--url", r.repoDir, "--password-file", pwFile)
	_, wrongEnd := r.failedBackup("wrong")
	deadline := time.Now().Add(30 * time.Second)
	for len(in.matching("job_failed", hostName)) < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	wrongSeen := 0
	for _, n := range in.matching("job_failed", hostName) {
		if strings.Contains(n.body, "repository wrong") {
			wrongSeen++
			t.Logf("alert latency with the plugins running, job end → %s: %s", n.via, n.at.Sub(wrongEnd).Round(time.Millisecond))
		}
	}
	if wrongSeen != 3 {
		t.Fatalf("the failure on repository wrong reached %d channels, want 3:\n%s", wrongSeen, in.dump())
	}

	// SIGKILL the webhook channel's plugin: the next check notices, the
	// plugin host restarts it, and the other channels hear of it.
	pid := channelPID(t, r, "notify-webhook", "channel:hook")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	in.wait(t, "plugin_failing", "channel hook is failing", "ntfy", "smtp")
	if n := in.matching("plugin_failing", "channel hook"); slices.ContainsFunc(n, func(r received) bool { return r.via == "webhook" }) {
		t.Fatalf("the crashed channel was told of its own crash:\n%s", in.dump())
	}
	// The restarted plugin delivers the all-clear itself.
	in.wait(t, "alert_resolved", "Resolved: channel hook is failing", all...)
	if newPID := channelPID(t, r, "notify-webhook", "channel:hook"); newPID == pid {
		t.Fatalf("the webhook plugin still has pid %d", pid)
	}

	// The host goes offline, and comes back.
	r.agent.kill(t)
	got = in.wait(t, "host_offline", "host "+hostName+" is offline", all...)
	if !strings.Contains(got["webhook"].body, "has been offline since") {
		t.Errorf("offline body:\n%s", got["webhook"].body)
	}
	r.startAgent()
	r.waitHostStatus("online")
	got = in.wait(t, "alert_resolved", "Resolved: host "+hostName+" is offline", all...)
	if !strings.Contains(got["ntfy"].body, "is online again") {
		t.Errorf("resolution body:\n%s", got["ntfy"].body)
	}

	// A successful backup resolves the (acknowledged) failure alert.
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 3, 5, 0, 1024)
	id := r.runJob("backup", "--path", src)
	if res := r.waitJob(id); res.code != 0 {
		t.Fatalf("backup: %s%s", res.stdout, res.stderr)
	}
	got = in.wait(t, "alert_resolved", "Resolved: backup of "+hostName+" failed", all...)
	if !strings.Contains(got["smtp"].body, "succeeded") {
		t.Errorf("resolution mail:\n%s", got["smtp"].body)
	}
	var shown map[string]any
	r.okJSON(&shown, "alert", "show", failedAlert)
	if shown["status"] != "resolved" || shown["resolved_by"] != "system" || shown["acknowledged_by"] != "admin" {
		t.Fatalf("alert show = %v", shown)
	}

	// Audited; no secret anywhere.
	var audit []map[string]any
	r.okJSON(&audit, "audit", "list")
	actions := map[string]bool{}
	for _, e := range audit {
		actions[fmt.Sprint(e["action"])] = true
	}
	for _, want := range []string{"alert_rule.config_sync", "alert.fire", "alert.resolve", "alert.ack"} {
		if !actions[want] {
			t.Errorf("audit list lacks %s", want)
		}
	}
	for _, n := range in.all() {
		if strings.Contains(n.title+n.body, r.password) || strings.Contains(n.title+n.body, wrongPassword) {
			t.Fatalf("a repository password reached a notification via %s", n.via)
		}
	}
	if strings.Contains(r.srv.log.String(), wrongPassword) {
		t.Fatal("the wrong repository's password reached the server log")
	}
	r.checkSecrets()
	t.Logf("notifications received:\n%s", in.dump())
}

// channelPID returns the pid of a channel's running plugin instance, from
// plugin list --json.
func channelPID(t *testing.T, r *rig, plugin, instance string) int {
	t.Helper()
	var plugins []struct {
		Name      string
		Instances []struct {
			Instance string
			State    string
			PID      int
		}
	}
	r.okJSON(&plugins, "plugin", "list")
	for _, p := range plugins {
		for _, in := range p.Instances {
			if p.Name == plugin && in.Instance == instance && in.State == "running" && in.PID > 0 {
				return in.PID
			}
		}
	}
	t.Fatalf("no running %s instance %s in plugin list: %+v", plugin, instance, plugins)
	return 0
}
