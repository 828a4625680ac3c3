package ui

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The job page in Chromium with real agents, restic and repositories:
// a backup watched live to its end (progress, auto-scroll, a dropped
// connection, the summary, the download), a failed backup whose output is
// markup, and a backup cancelled from the page.
//
// The backups are slowed with restic's --limit-upload (limit_upload_kib),
// which restic applies to a local repository too: a few MiB then take
// several seconds without keeping the cores busy.

// writeJobTree writes files of random (incompressible) data of size bytes
// each under dir.
func writeJobTree(t *testing.T, dir string, files, size int) {
	t.Helper()
	src := rand.NewChaCha8([32]byte{'j', 'o', 'b'})
	buf := make([]byte, size)
	for i := range files {
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i/8))
		if err := os.MkdirAll(sub, 0o750); err != nil {
			t.Fatal(err)
		}
		_, _ = src.Read(buf)
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%03d.bin", i)), buf, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// addPackedRepo adds and initialises a repository whose restic writes
// small packs (4 MiB) and reports progress twice a second: restic's
// percent_done counts data packed, and with small packs a limited upload
// holds the packing back, so the percentage climbs through the backup.
func addPackedRepo(r *rig, h *agentHost, name string) {
	r.t.Helper()
	r.api(http.MethodPost, "/api/v1/repositories", map[string]any{
		"name": name, "url": filepath.Join(r.t.TempDir(), "repo-"+name), "password": fmt.Sprintf("repo-pw-%016x", rand.Uint64()),
		"env": map[string]string{"RESTIC_PACK_SIZE": "4", "RESTIC_PROGRESS_FPS": "2"},
	}, http.StatusCreated, nil)
	if st := r.waitJob(r.runJob(h, map[string]any{"kind": "init", "repository": name})); st != "succeeded" {
		r.t.Fatalf("init of %s: %s", name, st)
	}
}

// cutProxy is a reverse proxy in front of the server whose connections the
// test can drop at once, as a flaky network would: the page's WebSocket
// goes through it.
type cutProxy struct {
	url     string
	streams atomic.Int32 // stream requests seen
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	to, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{url: "http://" + ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	// The director keeps the browser's Host header, so the server sees the
	// proxy's address as its own, as behind a real reverse proxy.
	rp := httputil.NewSingleHostReverseProxy(to)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/stream") {
			p.streams.Add(1)
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(trackedListener{Listener: ln, p: p}) }()
	t.Cleanup(func() {
		_ = srv.Close()
		p.cut()
	})
	return p
}

// cut closes every connection the proxy has accepted.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

type trackedListener struct {
	net.Listener
	p *cutProxy
}

func (l trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.p.mu.Lock()
		l.p.conns[c] = struct{}{}
		l.p.mu.Unlock()
	}
	return c, err
}

// loginAt logs the browser in on the page at base (the server or a proxy).
func loginAt(ctx context.Context, t *testing.T, base, username, password string) {
	t.Helper()
	do(ctx, t, "login as "+username+" at "+base,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), username),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="current-user"]`)))
}

// js evaluates expr in the page.
func js[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	return get(ctx, t, expr, chromedp.Evaluate[T](expr))
}

// jsRun runs the statement stmt in the page.
func jsRun(ctx context.Context, t *testing.T, stmt string) {
	t.Helper()
	js[bool](ctx, t, "(() => { "+stmt+"; return true })()")
}

// waitJS polls the page until expr is true.
func waitJS(ctx context.Context, t *testing.T, timeout time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("timed out after %s waiting for %s (%s; last error %v); the page says:\n%s", timeout, what, expr, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// apiLogItem is one event of GET /api/v1/jobs/{id}/logs.
type apiLogItem struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Type   string    `json:"type"`
	Line   string    `json:"line"`
}

// jobLogs pages through a job's events with the API.
func (r *rig) jobLogs(id string) []apiLogItem {
	r.t.Helper()
	var all []apiLogItem
	cursor := ""
	for {
		var page struct {
			Items      []apiLogItem `json:"items"`
			NextCursor string       `json:"next_cursor"`
		}
		r.api(http.MethodGet, "/api/v1/jobs/"+id+"/logs?limit=1000&cursor="+url.QueryEscape(cursor), nil, http.StatusOK, &page)
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

// shownLine is one line of the page's log.
type shownLine struct {
	Seq  int64  `json:"seq"`
	Kind string `json:"kind"`
	Text string `json:"text"`
}

const shownLinesJS = `Array.from(document.querySelectorAll("#job-log > div")).map(d => ({seq: Number(d.dataset.seq), kind: d.dataset.kind, text: d.lastChild.nodeValue}))`

// checkShownLog compares the page's log with the API's events: every event
// once, in order, a log event's lines as they are.
func checkShownLog(t *testing.T, shown []shownLine, items []apiLogItem) {
	t.Helper()
	var want []shownLine
	for _, it := range items {
		if it.Type != "log" {
			want = append(want, shownLine{Seq: it.Seq, Kind: it.Type})
			continue
		}
		for l := range strings.SplitSeq(it.Line, "\n") {
			want = append(want, shownLine{Seq: it.Seq, Kind: it.Stream, Text: l})
		}
	}
	if len(shown) != len(want) {
		t.Errorf("the page shows %d lines, the API has %d", len(shown), len(want))
	}
	for i := range min(len(shown), len(want)) {
		s, w := shown[i], want[i]
		if s.Seq != w.Seq || s.Kind != w.Kind || (w.Kind == "stdout" || w.Kind == "stderr") && s.Text != w.Text {
			t.Fatalf("line %d: the page shows %+v, the API has %+v", i+1, s, w)
		}
	}
}

func TestBrowserJobPageFollowsABackupLive(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h := r.startAgent("job-web")
	addPackedRepo(r, h, "jobs")
	src := filepath.Join(t.TempDir(), "src")
	writeJobTree(t, src, 32, 1<<20) // 32 MiB: ~16 s at 2 MiB/s
	px := newCutProxy(t, r.base)
	ctx := newBrowser(t)
	loginAt(ctx, t, px.url, "admin", r.adminPassword)

	id := r.runJob(h, map[string]any{"kind": "backup", "repository": "jobs", "paths": []string{src}, "limit_upload_kib": 2048})
	do(ctx, t, "open the running job",
		chromedp.Navigate(px.url+"/jobs/"+id),
		chromedp.WaitVisible(chromedp.CSS("#job-log > div")))
	jsRun(ctx, t, `window.__sameDocument = 1`) // a reload would lose it
	waitJS(ctx, t, 30*time.Second, "the running badge", `document.querySelector("#job-status").dataset.status === "running"`)
	if got := js[string](ctx, t, `document.querySelector("#job-host").getAttribute("href")`); got != "/hosts/"+h.ID {
		t.Errorf("host link %q", got)
	}

	// The progress bar moves as restic reports.
	waitJS(ctx, t, 30*time.Second, "progress", `document.getElementById("job-progress-bar").value > 0`)
	first := js[float64](ctx, t, `document.getElementById("job-progress-bar").value`)
	waitJS(ctx, t, 30*time.Second, "progress to advance", fmt.Sprintf(`document.getElementById("job-progress-bar").value > %g`, first))
	for sel, want := range map[string]string{"#job-progress-files": " of 32", "#job-progress-bytes": " of 32.0 MiB", "#job-progress-percent": "%"} {
		if got := js[string](ctx, t, `document.querySelector("`+sel+`").textContent`); !strings.Contains(got, want) {
			t.Errorf("%s says %q, want %q in it", sel, got, want)
		}
	}
	screenshot(ctx, t, "job-running")

	// Scrolled up, new lines do not move the view; the jump control
	// resumes following. The box is made short so a few lines fill it.
	jsRun(ctx, t, `document.getElementById("job-log").style.height = "80px"`)
	atBottom := `(l => l.scrollHeight - l.scrollTop - l.clientHeight < 4)(document.getElementById("job-log"))`
	waitJS(ctx, t, 30*time.Second, "the log to overflow and follow", `(l => l.scrollHeight > l.clientHeight + 40 && l.scrollTop > 0)(document.getElementById("job-log")) && `+atBottom)
	jsRun(ctx, t, `document.getElementById("job-log").scrollTop = 0`)
	waitJS(ctx, t, 5*time.Second, "the jump control", `!document.getElementById("job-log-jump").hidden`)
	n := js[int](ctx, t, `document.querySelectorAll("#job-log > div").length`)
	waitJS(ctx, t, 30*time.Second, "new lines while scrolled up", fmt.Sprintf(`document.querySelectorAll("#job-log > div").length > %d`, n))
	if top := js[float64](ctx, t, `document.getElementById("job-log").scrollTop`); top != 0 {
		t.Errorf("new lines moved the view to %v while the user looked at the top", top)
	}
	if got := js[string](ctx, t, `document.getElementById("job-log-jump").textContent`); !strings.Contains(got, "new)") {
		t.Errorf("the jump control says %q, want the count of new lines", got)
	}
	do(ctx, t, "jump to latest", chromedp.Click(chromedp.CSS("#job-log-jump")))
	waitJS(ctx, t, 5*time.Second, "the view at the newest line", atBottom+` && document.getElementById("job-log-jump").hidden`)
	n = js[int](ctx, t, `document.querySelectorAll("#job-log > div").length`)
	waitJS(ctx, t, 30*time.Second, "more lines", fmt.Sprintf(`document.querySelectorAll("#job-log > div").length > %d`, n))
	waitJS(ctx, t, 5*time.Second, "following again", atBottom)

	// The network drops: the page reconnects from its last line.
	if js[string](ctx, t, `document.querySelector("#job-status").dataset.status`) != "running" {
		t.Fatal("the backup ended before the connection could be dropped; it needs more data or a lower upload limit")
	}
	px.cut()
	eventually(t, 30*time.Second, "the page to reconnect", func() bool { return px.streams.Load() >= 2 })

	// The end arrives without a reload: status, summary, no progress bar.
	waitJS(ctx, t, 90*time.Second, "the job to succeed", `document.querySelector("#job-status").dataset.status === "succeeded"`)
	waitJS(ctx, t, 10*time.Second, "the summary", `document.getElementById("job-snapshot-id") !== null && document.getElementById("job-live-state").dataset.state === "ended"`)
	if js[int](ctx, t, `window.__sameDocument || 0`) != 1 {
		t.Error("the page reloaded")
	}
	var j struct {
		Status  string `json:"status"`
		Summary struct {
			SnapshotID string `json:"snapshot_id"`
			FilesNew   int    `json:"files_new"`
		} `json:"summary"`
	}
	r.api(http.MethodGet, "/api/v1/jobs/"+id, nil, http.StatusOK, &j)
	if got := js[string](ctx, t, `document.getElementById("job-snapshot-id").textContent`); j.Summary.SnapshotID == "" || got != j.Summary.SnapshotID {
		t.Errorf("the page shows snapshot %q, the API %q", got, j.Summary.SnapshotID)
	}
	if got := js[string](ctx, t, `document.getElementById("job-summary-files").textContent`); !strings.HasPrefix(got, "32 new, 0 changed, 0 unmodified") {
		t.Errorf("summary files %q", got)
	}
	if !js[bool](ctx, t, `document.getElementById("job-progress").hidden`) || js[bool](ctx, t, `document.getElementById("job-cancel") !== null`) {
		t.Error("an ended job still shows its progress bar or a cancel control")
	}
	jsRun(ctx, t, `document.getElementById("job-log").style.height = ""; document.activeElement.blur()`) // as a visitor sees it
	screenshot(ctx, t, "job-succeeded")

	// Every event once, in order, across the reconnect.
	items := r.jobLogs(id)
	checkShownLog(t, js[[]shownLine](ctx, t, shownLinesJS), items)

	// The download link: every line the API has, in order, as a file.
	type download struct {
		Status      int    `json:"status"`
		Type        string `json:"type"`
		Disposition string `json:"disposition"`
		Text        string `json:"text"`
	}
	dl := get(ctx, t, "download", chromedp.Evaluate[download](`fetch(document.getElementById("job-log-download").href).then(async r => ({status: r.status, type: r.headers.get("Content-Type"), disposition: r.headers.get("Content-Disposition"), text: await r.text()}))`, chromedp.EvalAwaitPromise))
	if dl.Status != http.StatusOK || dl.Type != "text/plain; charset=utf-8" || dl.Disposition != `attachment; filename=job-`+id+`.log` {
		t.Errorf("download: %d %q %q", dl.Status, dl.Type, dl.Disposition)
	}
	var want strings.Builder
	for _, it := range items {
		label := it.Type
		if it.Type == "log" {
			label = it.Stream
		}
		for l := range strings.SplitSeq(it.Line, "\n") {
			fmt.Fprintf(&want, "%s %-8s %s\n", it.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), label, l)
		}
	}
	if dl.Text != want.String() {
		t.Errorf("the download differs from the API's events:\n got %q\nwant %q", dl.Text, want.String())
	}

	// A backup whose output carries markup: the page shows it as text.
	evil := filepath.Join(t.TempDir(), `<img src=x onerror="window.__xss=1">`, `<script>window.__xss=2</script>`)
	bad := r.runJob(h, map[string]any{"kind": "backup", "repository": "jobs", "paths": []string{evil}})
	do(ctx, t, "open the failing job",
		chromedp.Navigate(px.url+"/jobs/"+bad),
		chromedp.WaitVisible(chromedp.CSS("#job-log > div")))
	waitJS(ctx, t, 60*time.Second, "the job to fail", `document.querySelector("#job-status").dataset.status === "failed" && document.getElementById("job-live-state").dataset.state === "ended"`)
	logText := js[string](ctx, t, `document.getElementById("job-log").textContent`)
	if !strings.Contains(logText, `<img src=x onerror="window.__xss=1">`) {
		t.Errorf("the log does not show the markup as text:\n%s", logText)
	}
	if n := js[int](ctx, t, `document.querySelectorAll("#job-log img, #job-log script, #job-panel img, #job-panel script").length`); n != 0 {
		t.Errorf("the page made %d elements of the job's text", n)
	}
	if x := js[int](ctx, t, `window.__xss || 0`); x != 0 {
		t.Errorf("the job's text ran as script (%d)", x)
	}
	checkShownLog(t, js[[]shownLine](ctx, t, shownLinesJS), r.jobLogs(bad))
}

func TestBrowserJobCancelFromThePage(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h := r.startAgent("job-cancel")
	r.addRepo("cancel", h)
	src := filepath.Join(t.TempDir(), "src")
	writeJobTree(t, src, 64, 128<<10)
	ctx := newBrowser(t)
	pw := r.createUser("oscar", "operator")
	r.login(ctx, "oscar", pw)

	id := r.runJob(h, map[string]any{"kind": "backup", "repository": "cancel", "paths": []string{src}, "limit_upload_kib": 256})
	do(ctx, t, "open the running job",
		chromedp.Navigate(r.base+"/jobs/"+id),
		chromedp.WaitVisible(chromedp.CSS("#job-cancel summary")))
	jsRun(ctx, t, `window.__sameDocument = 1`)
	waitJS(ctx, t, 30*time.Second, "restic to report progress", `document.getElementById("job-progress-bar").value > 0`)
	if js[bool](ctx, t, `document.getElementById("job-cancel-confirm").checkVisibility()`) {
		t.Fatal("the confirm button shows before the cancel control is opened")
	}
	do(ctx, t, "cancel, then confirm",
		chromedp.Click(chromedp.CSS("#job-cancel summary")),
		chromedp.WaitVisible(chromedp.CSS("#job-cancel-confirm")),
		chromedp.Click(chromedp.CSS("#job-cancel-confirm")),
		chromedp.WaitVisible(chromedp.CSS("#job-notice")))
	if got := js[string](ctx, t, `document.getElementById("job-notice").textContent`); !strings.Contains(got, "Cancel requested") && !strings.Contains(got, "cancelled") {
		t.Errorf("after the cancel the page says %q", got)
	}
	waitJS(ctx, t, 60*time.Second, "the cancelled badge", `document.querySelector("#job-status").dataset.status === "cancelled"`)
	if got := js[string](ctx, t, `document.getElementById("job-status").textContent`); !strings.Contains(got, "cancelled") {
		t.Errorf("the badge says %q", got)
	}
	if js[int](ctx, t, `window.__sameDocument || 0`) != 1 {
		t.Error("the page reloaded")
	}
	if got := js[string](ctx, t, `document.getElementById("job-error").textContent`); !strings.Contains(got, "cancelled by oscar") {
		t.Errorf("the reason shown is %q", got)
	}
	if st := r.waitJob(id); st != "cancelled" {
		t.Errorf("the API has the job %s", st)
	}
	waitJS(ctx, t, 10*time.Second, "the stream's end", `document.getElementById("job-live-state").dataset.state === "ended"`)
	checkShownLog(t, js[[]shownLine](ctx, t, shownLinesJS), r.jobLogs(id))
}
