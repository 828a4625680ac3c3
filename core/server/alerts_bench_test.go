package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/restic-manager/restic-manager/core/alert"
	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// arrival is one notification a receiver got, and when.
type arrival struct {
	via, event string
	at         time.Time
}

type benchMail struct{ got chan<- arrival }

func (m *benchMail) Mail(string, *gosmtp.MailOptions) error { return nil }
func (m *benchMail) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (m *benchMail) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	m.got <- arrival{via: "smtp", at: time.Now()}
	return err
}
func (m *benchMail) Reset()        {}
func (m *benchMail) Logout() error { return nil }

// BenchmarkAlertLatency measures the alert path as the server runs it,
// from a job's end recorded through the hub's store (FinishJob of
// alertingStore, as the hub calls it) to the notification's arrival at a
// webhook receiver, an ntfy-API receiver (an httptest stand-in: ntfy
// cannot be installed here) and a real SMTP server (emersion/go-smtp), each
// through its real built-in plugin, re-executed from the server binary
// built for the benchmark. Each iteration is one failed backup (a new
// alert, notified on the three channels) and one successful one (the
// resolution notices, not measured). It reports the latency percentiles
// over every delivery, and the first delivery of each channel (which
// starts its plugin) apart. The agent's leg (job_finished over the
// WebSocket) is not included; the e2e test TestEndToEndAlerts logs the
// whole path from restic's exit.
func BenchmarkAlertLatency(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	bin := filepath.Join(dir, "restic-manager")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/restic-manager/restic-manager/core/cmd/restic-manager").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}

	got := make(chan arrival, 64)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct{ Event string }
		_ = json.NewDecoder(r.Body).Decode(&n)
		got <- arrival{via: "webhook", event: n.Event, at: time.Now()}
	}))
	defer hook.Close()
	fakeNtfyServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		got <- arrival{via: "ntfy", at: time.Now()}
		_, _ = io.WriteString(w, `{"id":"m"}`)
	}))
	defer fakeNtfyServer.Close()
	smtpSrv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &benchMail{got: got}, nil }))
	smtpSrv.Domain = "mail.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = smtpSrv.Serve(ln) }()
	defer smtpSrv.Close()

	src := fmt.Sprintf(`
channel "hook" {
  plugin = "notify-webhook"
  config {
    url = %q
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
    host = "127.0.0.1"
    port = %d
    tls  = "none"
    from = "rm@example.com"
    to   = ["ops@example.com"]
  }
}
`, hook.URL, fakeNtfyServer.URL, ln.Addr().(*net.TCPAddr).Port)
	cfg, _, diags := config.LoadBytes([]byte(src), "bench.hcl")
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	noServe := func() {}
	host, err := pluginhost.New(pluginhost.Options{Executable: bin, Builtins: []pluginhost.Builtin{
		{Name: "notify-ntfy", Kind: plugin.KindNotify, Serve: noServe},
		{Name: "notify-smtp", Kind: plugin.KindNotify, Serve: noServe},
		{Name: "notify-webhook", Kind: plugin.KindNotify, Serve: noServe},
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer host.Close()
	reg, diags := channel.Load(ctx, host, cfg.Channels)
	if diags.HasErrors() {
		b.Fatal(diags.Error())
	}
	host.StopIdle() // as the server does: plugins start on first use

	db, err := store.Open(ctx, filepath.Join(dir, "rm.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	if err := db.CreateEnrollmentToken(ctx, store.EnrollmentToken{ID: "t", TokenHash: "h", CreatedAt: now, ExpiresAt: now.Add(time.Hour), UsesTotal: 1}); err != nil {
		b.Fatal(err)
	}
	if _, err := db.RedeemEnrollmentToken(ctx, store.Enrollment{TokenHash: "h", Host: store.Host{ID: "web", Name: "web-1"}, CredentialID: "c", SecretHash: "s", Now: now}); err != nil {
		b.Fatal(err)
	}
	spec, err := rule.Parse(rule.Input{Name: "failed", On: "job_failed", Channels: []string{"hook", "phone", "mail"}})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.CreateAlertRule(ctx, alert.ToStore(spec, "r", now)); err != nil {
		b.Fatal(err)
	}
	engine := alert.New(alert.Options{Store: db, Channels: channelSender{reg}})
	engine.Start(ctx)
	defer engine.Close()
	hubStore := alertingStore{Store: db, engine: engine}

	end := func(i int, status string) time.Time {
		id := fmt.Sprintf("job-%d-%s", i, status)
		if err := db.CreateJob(ctx, store.Job{ID: id, HostID: "web", Kind: "backup", Status: store.JobQueued, CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
		at := time.Now()
		if err := hubStore.FinishJob(ctx, id, store.JobEnd{Status: status, Error: "Fatal: all source directories/files do not exist", At: at}); err != nil {
			b.Fatal(err)
		}
		return at
	}
	wait3 := func(what string) []arrival {
		var out []arrival
		for len(out) < 3 {
			select {
			case a := <-got:
				out = append(out, a)
			case <-time.After(30 * time.Second):
				b.Fatalf("%s: %d of 3 notifications arrived", what, len(out))
			}
		}
		return out
	}

	var warm []time.Duration
	cold := map[string]time.Duration{}
	b.ResetTimer()
	for i := range b.N {
		at := end(i, store.JobFailed)
		for _, a := range wait3("failure") {
			d := a.at.Sub(at)
			if _, seen := cold[a.via]; !seen {
				cold[a.via] = d
			} else {
				warm = append(warm, d)
			}
		}
		end(i, store.JobSucceeded)
		wait3("resolution")
	}
	b.StopTimer()
	for via, d := range cold {
		b.ReportMetric(float64(d.Microseconds())/1000, "ms-first-"+via)
	}
	if len(warm) > 0 {
		slices.Sort(warm)
		pct := func(p float64) float64 { return float64(warm[int(p*float64(len(warm)-1))].Microseconds()) / 1000 }
		b.ReportMetric(pct(0.5), "ms-p50")
		b.ReportMetric(pct(0.99), "ms-p99")
		b.ReportMetric(float64(warm[len(warm)-1].Microseconds())/1000, "ms-max")
	}
}
