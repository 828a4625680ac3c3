package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/restic-manager/restic-manager/internal/version"
)

// streamReadTimeout drops a job stream that has been silent this long; the
// server pings every 25 seconds.
const streamReadTimeout = 90 * time.Second

// logItem is one stored event of a job (GET /jobs/{id}/logs).
type logItem struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Type   string    `json:"type"`
	Line   string    `json:"line"`
}

// streamFrame is one frame of GET /jobs/{id}/stream: an "event" (a log
// item) or the last one, "status", with the ended job.
type streamFrame struct {
	Frame string `json:"frame"`
	logItem
	Status string `json:"status"`
	Job    *job   `json:"job"`
}

func jobLogsCommand() Command {
	return Command{
		Name:     "job logs",
		Synopsis: "Print a job's log; -f follows it live",
		Usage: `Usage: restic-manager job logs [-f] ID [--json]

  Print what restic and the agent reported for a job: output lines, errors,
  restic's summary and status changes. With -f, follow the job live until
  it ends; on a terminal a backup's progress (percent, files, bytes, ETA)
  is drawn on one line. Progress updates are left out otherwise.

Flags:
  -f, --follow   Follow the job until it ends (exits 0 when it has ended,
                 whatever its status; use "job wait" for that).
  --json         Print a JSON array of log items ({seq, time, stream, type,
                 line}, all of them, progress included); with -f, one item
                 per line as they arrive.

` + apiFlagsHelp + `
Example:
  $ restic-manager job logs -f 6f1c0f0e-5b7a-4f0e-9d43-2b1d2c9a4e11
`,
		Run: func(ctx context.Context, env *Env, args []string) error {
			a := newAPICmd(env, "job logs", true)
			var follow bool
			a.fs.BoolVar(&follow, "f", false, "")
			a.fs.BoolVar(&follow, "follow", false, "")
			pos, err := a.parse(args, 1, "the job's ID")
			if err != nil {
				return err
			}
			if follow {
				return followJob(ctx, a, pos[0])
			}
			p := newLogPrinter(env.Stdout, false)
			return list(ctx, a, jobPath(pos[0])+"/logs", nil, func(items []logItem) error {
				for _, it := range items {
					p.item(it)
				}
				return nil
			})
		},
	}
}

// followJob prints a job's stream until the job ends.
func followJob(ctx context.Context, a *apiCmd, id string) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	ws, err := c.dialStream(ctx, jobPath(id)+"/stream")
	if err != nil {
		return err
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stop()
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(streamReadTimeout))
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(10*time.Second))
	})
	p := newLogPrinter(a.env.Stdout, isTerminal(a.env.Stdout))
	for {
		_ = ws.SetReadDeadline(time.Now().Add(streamReadTimeout))
		var f streamFrame
		if err := ws.ReadJSON(&f); err != nil {
			p.endProgress()
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("the job stream ended before the job did: %w", err)
		}
		switch f.Frame {
		case "event":
			if a.asJSON {
				if err := writeJSONLine(a.env.Stdout, f.logItem); err != nil {
					return err
				}
				continue
			}
			p.item(f.logItem)
		case "status":
			p.endProgress()
			if f.Job != nil {
				fmt.Fprintln(a.env.Stderr, f.Job.outcome())
			}
			return nil
		}
	}
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// dialStream opens a WebSocket to an API path, with the token, and without
// the request timeout of ordinary calls: a stream lasts as long as its job.
func (c *client) dialStream(ctx context.Context, path string) (*websocket.Conn, error) {
	u := c.base + "/api/v1" + path
	switch {
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	}
	d := websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: requestTimeout}
	h := http.Header{"User-Agent": {progName + "-cli/" + version.Version}}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	ws, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
			defer func() { _ = resp.Body.Close() }()
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			return nil, decodeError(resp, data)
		}
		return nil, c.transportError(ctx, err)
	}
	return ws, nil
}

// isTerminal reports whether w is a character device (a terminal), where
// a progress line may be redrawn in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// logPrinter renders log items for people.
type logPrinter struct {
	w           io.Writer
	tty         bool // draw progress on one line
	progressing bool // a progress line is on screen
}

func newLogPrinter(w io.Writer, tty bool) *logPrinter { return &logPrinter{w: w, tty: tty} }

// endProgress moves past a progress line, so the next output starts on a
// clean line.
func (p *logPrinter) endProgress() {
	if p.progressing {
		fmt.Fprint(p.w, "\r\033[K")
		p.progressing = false
	}
}

func (p *logPrinter) println(s string) {
	p.endProgress()
	fmt.Fprintln(p.w, s)
}

func (p *logPrinter) item(it logItem) {
	switch it.Type {
	case "log":
		for line := range strings.SplitSeq(it.Line, "\n") {
			p.println(sanitize(line))
		}
	case "progress":
		if p.tty {
			if line := progressLine(it.Line); line != "" {
				fmt.Fprint(p.w, "\r\033[K"+line)
				p.progressing = true
			}
		}
	case "summary":
		p.println(summaryLine(it.Line))
	case "error":
		p.println(errorLine(it.Line))
	case "status":
		if s := statusLine(it.Line); s != "" {
			p.println(s)
		}
	default:
		p.println(sanitize(it.Line))
	}
}

// resticStatus is restic's backup status line.
type resticStatus struct {
	PercentDone      float64 `json:"percent_done"`
	TotalFiles       uint64  `json:"total_files"`
	FilesDone        uint64  `json:"files_done"`
	TotalBytes       uint64  `json:"total_bytes"`
	BytesDone        uint64  `json:"bytes_done"`
	SecondsRemaining uint64  `json:"seconds_remaining"`
}

// progressLine renders a status line: "[ 42.0%] 120/300 files  1.2 GiB/3.0 GiB  ETA 0:42".
func progressLine(raw string) string {
	var s resticStatus
	if json.Unmarshal([]byte(raw), &s) != nil {
		return ""
	}
	line := fmt.Sprintf("[%5.1f%%] %d/%d files  %s/%s", 100*s.PercentDone, s.FilesDone, s.TotalFiles, fmtBytes(s.BytesDone), fmtBytes(s.TotalBytes))
	if s.SecondsRemaining > 0 {
		line += "  ETA " + fmtClock(time.Duration(s.SecondsRemaining)*time.Second) //nolint:gosec // G115: a restic ETA fits
	}
	return line
}

// summaryLine renders restic's summary: a backup's in one line, anything
// else as restic printed it.
func summaryLine(raw string) string {
	var s struct {
		FilesNew        *uint64 `json:"files_new"`
		FilesChanged    uint64  `json:"files_changed"`
		FilesUnmodified uint64  `json:"files_unmodified"`
		DataAdded       uint64  `json:"data_added"`
		TotalBytes      uint64  `json:"total_bytes_processed"`
		TotalDuration   float64 `json:"total_duration"`
		SnapshotID      string  `json:"snapshot_id"`
	}
	if json.Unmarshal([]byte(raw), &s) != nil || s.FilesNew == nil {
		return "summary: " + sanitize(raw)
	}
	line := fmt.Sprintf("summary: %d new, %d changed, %d unmodified files; %s added, %s processed in %s",
		*s.FilesNew, s.FilesChanged, s.FilesUnmodified, fmtBytes(s.DataAdded), fmtBytes(s.TotalBytes),
		time.Duration(s.TotalDuration*float64(time.Second)).Round(time.Second))
	if s.SnapshotID != "" {
		line += "; snapshot " + sanitize(s.SnapshotID[:min(8, len(s.SnapshotID))]) + " saved"
	}
	return line
}

// errorLine renders restic's error and exit_error lines.
func errorLine(raw string) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
		During  string `json:"during"`
		Item    string `json:"item"`
		Message string `json:"message"`
	}
	if json.Unmarshal([]byte(raw), &e) != nil {
		return "error: " + sanitize(raw)
	}
	msg := e.Error.Message
	if msg == "" {
		msg = e.Message
	}
	if msg == "" {
		return "error: " + sanitize(raw)
	}
	if e.Item != "" {
		msg = e.Item + ": " + msg
	}
	return "error: " + sanitize(msg)
}

// statusLine renders a status event: "[running]", or how the job ended.
func statusLine(raw string) string {
	var s struct {
		Status   string `json:"status"`
		Message  string `json:"message"`
		ExitCode *int   `json:"exit_code"`
		Final    bool   `json:"final"`
	}
	if json.Unmarshal([]byte(raw), &s) != nil || s.Status == "" {
		return ""
	}
	line := "[" + s.Status
	if s.Final && s.ExitCode != nil {
		line += fmt.Sprintf(", exit code %d", *s.ExitCode)
	}
	line += "]"
	if s.Message != "" {
		line += " " + s.Message
	}
	return sanitize(line)
}

// fmtBytes renders a size in binary units: "1.5 GiB".
func fmtBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// fmtClock renders a duration as h:mm:ss or m:ss.
func fmtClock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
