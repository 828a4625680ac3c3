package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// logItemJSON is one stored event of a job.
type logItemJSON struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Type   string    `json:"type"`
	Line   string    `json:"line"`
}

func toLogItem(l store.JobLog) logItemJSON {
	return logItemJSON{Seq: l.Seq, Time: l.Time, Stream: l.Stream, Type: l.Type, Line: l.Line}
}

// jobLogs pages through a job's events in seq order, after ?after_seq or
// the cursor; ?format=text answers with the whole log as a file instead.
func (a *API) jobLogs(w http.ResponseWriter, r *http.Request) error {
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
	case "text":
		return a.jobLogsText(w, r)
	default:
		return errorf(http.StatusBadRequest, "bad_request", "format %q: want json (pages of events) or text (the whole log as a file)", truncateText(f, 20))
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	j, err := a.getJob(r)
	if err != nil {
		return err
	}
	after, err := afterSeq(r, cursor)
	if err != nil {
		return err
	}
	rows, err := a.store.JobLogs(r.Context(), j.ID, after, limit+1)
	if err != nil {
		return err
	}
	writePage(w, rows, limit, func(l store.JobLog) string { return strconv.FormatInt(l.Seq, 10) }, toLogItem)
	return nil
}

// textLogPage is how many events the text download reads from the store
// at a time: the file is streamed, never held whole.
const textLogPage = 1000

// jobLogsText writes every event of a job after ?after_seq as text/plain,
// one line per line of output: "TIME LABEL TEXT", where LABEL is the
// stream of a log line (stdout, stderr) or the event's type (progress,
// summary, error, status) and TEXT is the stored line (events' JSON as
// stored). A log event of several lines gives as many lines, each with the
// prefix. It reads the store page by page while it writes.
func (a *API) jobLogsText(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Has("limit") || q.Has("cursor") {
		return errorf(http.StatusBadRequest, "bad_request", "limit and cursor page the JSON listing; format=text returns the whole log (after after_seq)")
	}
	j, err := a.getJob(r)
	if err != nil {
		return err
	}
	after, err := afterSeq(r, "")
	if err != nil {
		return err
	}
	rows, err := a.store.JobLogs(r.Context(), j.ID, after, textLogPage)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": "job-" + j.ID + ".log"})
	if disposition == "" { // an id no header can carry as a file name
		disposition = "attachment"
	}
	h.Set("Content-Disposition", disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	for {
		for _, l := range rows {
			writeTextLog(bw, l)
		}
		if err := bw.Flush(); err != nil {
			return nil // the client has gone
		}
		if len(rows) < textLogPage {
			return nil
		}
		if rows, err = a.store.JobLogs(r.Context(), j.ID, rows[len(rows)-1].Seq, textLogPage); err != nil {
			// The status line is sent: abort the response, so the client
			// sees a broken transfer rather than a log cut short.
			a.logger.Error("reading a job log for download failed", "job_id", j.ID, "error", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// writeTextLog writes one event as the lines of the text download.
func writeTextLog(w *bufio.Writer, l store.JobLog) {
	label := l.Type
	if l.Type == "log" {
		label = l.Stream
	}
	prefix := l.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00") + " " + fmt.Sprintf("%-8s", label) + " "
	for line := range strings.SplitSeq(l.Line, "\n") {
		_, _ = w.WriteString(prefix)
		_, _ = w.WriteString(line)
		_ = w.WriteByte('\n')
	}
}

// afterSeq reads ?after_seq, or the cursor of a previous page.
func afterSeq(r *http.Request, cursor string) (int64, error) {
	s := r.URL.Query().Get("after_seq")
	if s == "" {
		s = cursor
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "bad_request", "after_seq must be a sequence number (0 or more)")
	}
	return n, nil
}

// cancelJob cancels a job: a queued one at once (200), a running one by
// asking its agent to stop restic (202; the job ends as cancelled when the
// agent reports it). A job that has ended is a 409.
func (a *API) cancelJob(w http.ResponseWriter, r *http.Request) error {
	j, err := a.getJob(r)
	if err != nil {
		return err
	}
	who := state(r).who
	reason := "cancelled by " + who.user.Username
	if a.opts.Agents != nil {
		j, err = a.opts.Agents.Cancel(r.Context(), j.ID, reason)
	} else {
		j, err = a.cancelWithoutHub(r.Context(), j, reason)
	}
	if errors.Is(err, store.ErrJobFinished) {
		return errorf(http.StatusConflict, "job_finished", "job %s has already ended (%s)", j.ID, j.Status)
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !store.Terminal(j.Status) {
		status = http.StatusAccepted
	}
	writeJSON(w, status, a.newNames(r.Context()).job(j))
	return nil
}

// cancelWithoutHub cancels a queued job on a server without an agent hub;
// a running one cannot be reached.
func (a *API) cancelWithoutHub(ctx context.Context, j store.Job, reason string) (store.Job, error) {
	if store.Terminal(j.Status) {
		return j, store.ErrJobFinished
	}
	if j.Status != store.JobQueued {
		return j, errorf(http.StatusServiceUnavailable, "no_agent_hub", "this server cannot reach agents to stop a running job")
	}
	if err := a.store.FinishJob(ctx, j.ID, store.JobEnd{Status: store.JobCancelled, Error: reason, At: a.now()}); err != nil {
		cur, _ := a.store.GetJob(ctx, j.ID)
		return cur, err
	}
	return a.store.GetJob(ctx, j.ID)
}
