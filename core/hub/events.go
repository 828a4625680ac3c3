package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// Job log streams and types as stored.
const (
	streamStdout = "stdout"
	streamStderr = "stderr"
	streamEvent  = "event"
)

// maxPendingSeqs bounds the out-of-order events remembered per job; past
// it the job's acknowledgement state is reloaded from the store.
const maxPendingSeqs = 100_000

// kindRE is what a job kind an agent names may look like.
var kindRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ingestItem is one event on its way to the job log.
type ingestItem struct {
	ac  *agentConn
	row store.JobLog
	fin *wire.JobFinished // set for a job_finished
}

// jobProgress is what the batcher knows of a job's stored events: every
// seq up to contig is stored, and so are the seqs in above.
type jobProgress struct {
	contig uint64
	above  map[uint64]struct{}
	used   time.Time
}

func (p *jobProgress) add(seq uint64) {
	switch {
	case seq <= p.contig:
	case seq == p.contig+1:
		p.contig++
		for {
			if _, ok := p.above[p.contig+1]; !ok {
				return
			}
			delete(p.above, p.contig+1)
			p.contig++
		}
	default:
		if p.above == nil {
			p.above = map[uint64]struct{}{}
		}
		p.above[seq] = struct{}{}
	}
}

func (ac *agentConn) onEvent(ctx context.Context, _ *wire.Conn, env wire.Envelope) error {
	<-ac.ready
	ac.touch(ctx)
	var ev wire.JobEvent
	if err := env.DecodePayload(&ev); err != nil {
		return fmt.Errorf("%w: %w", wire.ErrPolicyViolation, err)
	}
	if err := ac.checkSeq(ev.Seq); err != nil {
		return err
	}
	cj, err := ac.job(ctx, ev.JobID, &ev)
	if err != nil {
		return ac.handlerError(err)
	}
	if cj == nil {
		ac.queueAck(ev.JobID, ev.Seq)
		return nil
	}
	return ac.h.ingest(ctx, ingestItem{ac: ac, row: eventRow(ev, ac.h.now(), cj.scrub)})
}

func (ac *agentConn) onFinished(ctx context.Context, _ *wire.Conn, env wire.Envelope) error {
	<-ac.ready
	ac.touch(ctx)
	var fin wire.JobFinished
	if err := env.DecodePayload(&fin); err != nil {
		return fmt.Errorf("%w: %w", wire.ErrPolicyViolation, err)
	}
	if err := ac.checkSeq(fin.Seq); err != nil {
		return err
	}
	cj, err := ac.job(ctx, fin.JobID, nil)
	if err != nil {
		return ac.handlerError(err)
	}
	if cj == nil {
		ac.queueAck(fin.JobID, fin.Seq)
		return nil
	}
	delete(ac.jobs, fin.JobID)
	fin.Error = scrubText(fin.Error, cj.scrub)
	if len(fin.Summary) > 0 {
		fin.Summary = json.RawMessage(scrubText(string(fin.Summary), cj.scrub))
		if !json.Valid(fin.Summary) || string(bytes.TrimSpace(fin.Summary)) == "null" {
			fin.Summary = nil
		}
	}
	return ac.h.ingest(ctx, ingestItem{ac: ac, row: finishedRow(fin, ac.h.now()), fin: &fin})
}

// checkSeq refuses events before a successful hello and sequence numbers
// the store cannot hold.
func (ac *agentConn) checkSeq(seq uint64) error {
	if !ac.helloDone.Load() {
		return fmt.Errorf("%w: job events before a successful hello", wire.ErrPolicyViolation)
	}
	if seq > math.MaxInt64 {
		return fmt.Errorf("%w: seq %d out of range", wire.ErrPolicyViolation, seq)
	}
	return nil
}

// handlerError passes a policy violation on (the wire closes the
// connection with 1008) and turns anything else into a close with 1011, so
// that the agent reconnects and resends what was not acknowledged.
func (ac *agentConn) handlerError(err error) error {
	if errors.Is(err, wire.ErrPolicyViolation) {
		return err
	}
	ac.log.Error("handling a job event failed; closing the connection so the agent resends", "error", err)
	go ac.close(websocket.CloseInternalServerErr, "internal error")
	return nil
}

// job checks that this connection's host may report on jobID and returns
// what the hub needs to store its events. A job the server never heard of
// is created when the event is a status event naming its kind and schedule
// (a run the agent's schedule started; see agentJobSchedule); events of
// other unknown jobs are dropped (nil, nil). A job of another host is a policy violation: agent A never acts
// for agent B.
func (ac *agentConn) job(ctx context.Context, jobID string, ev *wire.JobEvent) (*connJob, error) {
	if cj := ac.jobs[jobID]; cj != nil {
		return cj, nil
	}
	j, err := ac.h.store.GetJob(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) && ev != nil && ev.Kind == wire.EventStatus {
		j, err = ac.createAgentJob(ctx, *ev)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		ac.log.Warn("dropping events of a job the server does not know", "job_id", jobID)
		return nil, nil
	case err != nil:
		return nil, err
	case j.HostID != ac.hostID:
		ac.log.Warn("agent reported on a job of another host; closing its connection", "job_id", jobID)
		return nil, fmt.Errorf("%w: job %s belongs to another host", wire.ErrPolicyViolation, jobID)
	}
	if len(ac.jobs) >= maxConnJobs {
		clear(ac.jobs)
	}
	cj := &connJob{scrub: ac.h.jobScrubValues(ctx, j)} // copy.go
	ac.jobs[jobID] = cj
	return cj, nil
}

// createAgentJob creates the job of a run the agent started itself, from
// its first status event. It returns ErrNotFound when the event does not
// name a kind.
func (ac *agentConn) createAgentJob(ctx context.Context, ev wire.JobEvent) (store.Job, error) {
	var sd wire.StatusData
	if err := json.Unmarshal(ev.Data, &sd); err != nil || sd.Kind == "" {
		return store.Job{}, store.ErrNotFound
	}
	if !kindRE.MatchString(sd.Kind) {
		return store.Job{}, fmt.Errorf("%w: job kind %q", wire.ErrPolicyViolation, truncate(sd.Kind, 40))
	}
	started := ev.Time
	if started.IsZero() {
		started = ac.h.now()
	}
	scheduleID, repositoryID, params, ok, err := ac.agentJobSchedule(ctx, sd)
	if err != nil {
		return store.Job{}, err
	}
	if !ok {
		ac.log.Warn("the agent started a job naming no schedule; only scheduled runs may start on their own", "job_id", ev.JobID)
		return store.Job{}, store.ErrNotFound
	}
	err = ac.h.store.CreateAgentJob(ctx, store.Job{
		ID: ev.JobID, HostID: ac.hostID, Kind: sd.Kind, Status: store.JobRunning,
		RepositoryID: repositoryID, ScheduleID: scheduleID, Params: params, CreatedBy: "schedule",
		CreatedAt: started, StartedAt: &started,
	})
	if err != nil && !errors.Is(err, store.ErrConflict) {
		return store.Job{}, err
	}
	if err == nil {
		ac.log.Info("agent started a scheduled job", "job_id", ev.JobID, "kind", sd.Kind, "schedule_id", sd.ScheduleID)
	}
	return ac.h.store.GetJob(ctx, ev.JobID)
}

// eventRow turns a job event into its job log row: a log event's lines
// joined by newlines on their stream, anything else as compact JSON on the
// "event" stream, scrubbed of the repository's secrets either way.
func eventRow(ev wire.JobEvent, now time.Time, scrub []string) store.JobLog {
	l := store.JobLog{JobID: ev.JobID, Seq: int64(ev.Seq), Time: ev.Time, Type: string(ev.Kind), Stream: streamEvent} //nolint:gosec // G115: checkSeq bounds seq
	if l.Time.IsZero() {
		l.Time = now
	}
	if ev.Kind == wire.EventLog {
		var d wire.LogData
		if err := json.Unmarshal(ev.Data, &d); err == nil {
			l.Stream = streamStdout
			if d.Stream == streamStderr {
				l.Stream = streamStderr
			}
			l.Line = strings.Join(d.Lines, "\n")
		} else {
			l.Stream, l.Line = streamStdout, string(ev.Data)
		}
	} else {
		l.Line = compactJSON(ev.Data)
	}
	l.Line = scrubText(l.Line, scrub)
	return l
}

// finishedStatus is the line stored for a job_finished: a status event in
// the job's own sequence.
type finishedStatus struct {
	Status   string `json:"status"`
	ExitCode int    `json:"exit_code"`
	Message  string `json:"message,omitempty"`
	Final    bool   `json:"final"`
}

func finishedRow(fin wire.JobFinished, now time.Time) store.JobLog {
	at := fin.FinishedAt
	if at.IsZero() {
		at = now
	}
	line, _ := json.Marshal(finishedStatus{Status: fin.Status, ExitCode: fin.ExitCode, Message: fin.Error, Final: true})
	return store.JobLog{JobID: fin.JobID, Seq: int64(fin.Seq), Time: at, Stream: streamEvent, Type: string(wire.EventStatus), Line: string(line)} //nolint:gosec // G115: checkSeq bounds seq
}

func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// scrubValues returns the secret values of a repository as they may show
// up in restic's output: the password, backend environment values long
// enough to be credentials, and their JSON-escaped forms. The backend
// plugin scrubs restic's output already; this is the server's second line.
func (h *Hub) scrubValues(ctx context.Context, repoID string) []string {
	if repoID == "" || h.opts.Secrets == nil {
		return nil
	}
	_, password, env, err := h.opts.Secrets.RepoSecrets(ctx, repoID)
	if err != nil {
		h.log.Debug("no secrets to scrub job events with", "repository_id", repoID, "error", err)
		return nil
	}
	var out []string
	add := func(v string, minLen int) {
		if len(v) < minLen {
			return
		}
		out = append(out, v)
		if b, err := json.Marshal(v); err == nil {
			if esc := string(b[1 : len(b)-1]); esc != v {
				out = append(out, esc)
			}
		}
	}
	add(password, 4)
	for _, v := range env {
		add(v, 8)
	}
	return out
}

func scrubText(s string, secrets []string) string {
	for _, v := range secrets {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, wire.Redacted)
		}
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ingest hands an event to the batcher, waiting while its queue is full:
// the agent's reader stops and TCP pushes back.
func (h *Hub) ingest(ctx context.Context, it ingestItem) error {
	select {
	case h.ingestq <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-h.ctx.Done():
		return h.ctx.Err()
	}
}

// runBatcher writes events to the job log in batches: a batch closes
// FlushInterval after its first event, at FlushRows events, or at once when
// it takes a job_finished, whichever comes first. A job's end is recorded
// without waiting out the interval; the events received before it (its own
// among them, since a connection's events arrive in order) are in the same
// batch and stored first. When the hub stops it writes what is queued and
// returns.
func (h *Hub) runBatcher() {
	defer h.wg.Done()
	batch := make([]ingestItem, 0, h.opts.FlushRows)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case it := <-h.ingestq:
			batch = append(batch, it)
		case <-h.ctx.Done():
		drain:
			for {
				select {
				case it := <-h.ingestq:
					batch = append(batch, it)
				default:
					break drain
				}
			}
			if len(batch) > 0 {
				h.flush(batch)
			}
			return
		}
		timer.Reset(h.opts.FlushInterval)
	fill:
		for len(batch) < h.opts.FlushRows && batch[len(batch)-1].fin == nil {
			select {
			case it := <-h.ingestq:
				batch = append(batch, it)
			case <-timer.C:
				break fill
			case <-h.ctx.Done():
				break fill
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		h.flush(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// flush stores one batch, then publishes it to live subscribers, then
// finishes the jobs whose job_finished it holds, and only then
// acknowledges: whatever an agent sees acknowledged is stored.
func (h *Hub) flush(batch []ingestItem) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), 30*time.Second)
	defer cancel()
	rows := make([]store.JobLog, len(batch))
	for i := range batch {
		rows[i] = batch[i].row
	}
	err := h.divert(ctx, rows) // tap.go
	if err == nil {
		_, err = h.store.AppendJobLogs(ctx, rows)
	}
	if err != nil {
		h.log.Error("writing job events failed; dropping the agents' connections so that they resend", "events", len(rows), "error", err)
		closed := map[*agentConn]bool{}
		for _, it := range batch {
			if !closed[it.ac] {
				closed[it.ac] = true
				go it.ac.close(websocket.CloseInternalServerErr, "internal error")
			}
		}
		return
	}
	now := h.now()
	h.advance(ctx, rows, now)
	h.publish(rows)
	jobs := map[string]bool{}
	for _, r := range rows {
		jobs[r.JobID] = true
	}
	h.orphansSeen(jobs)

	type finState struct {
		seq uint64
		ok  bool
	}
	fins := map[string]finState{}
	for _, it := range batch {
		if it.fin != nil {
			fins[it.fin.JobID] = finState{seq: it.fin.Seq, ok: h.finish(ctx, it.ac, *it.fin)}
		}
	}

	type ackKey struct {
		ac  *agentConn
		job string
	}
	acked := map[ackKey]bool{}
	for _, it := range batch {
		k := ackKey{it.ac, it.row.JobID}
		if acked[k] {
			continue
		}
		acked[k] = true
		p := h.progress[it.row.JobID]
		if p == nil {
			continue
		}
		upTo := p.contig
		if f, ok := fins[it.row.JobID]; ok && !f.ok && upTo >= f.seq {
			upTo = f.seq - 1 // the job's end is not recorded yet: let the agent send it again
		}
		if upTo > 0 {
			it.ac.queueAck(it.row.JobID, upTo)
		}
	}
	for job, f := range fins {
		if p := h.progress[job]; f.ok && p != nil && p.contig >= f.seq {
			delete(h.progress, job)
		}
	}
}

// advance updates the batcher's acknowledgement state with stored rows. A
// job it has no state for is read from the store, which holds the rows
// just written.
func (h *Hub) advance(ctx context.Context, rows []store.JobLog, now time.Time) {
	loaded := map[string]bool{}
	for _, r := range rows {
		if h.progress[r.JobID] != nil || loaded[r.JobID] {
			continue
		}
		loaded[r.JobID] = true
		prefix, err := h.store.JobLogPrefix(ctx, r.JobID)
		if err != nil {
			h.log.Warn("reading a job's stored events failed; acknowledging later", "job_id", r.JobID, "error", err)
			continue
		}
		h.progress[r.JobID] = &jobProgress{contig: uint64(prefix), used: now} //nolint:gosec // G115: seqs are positive
	}
	for _, r := range rows {
		if loaded[r.JobID] {
			continue
		}
		p := h.progress[r.JobID]
		if p == nil {
			continue
		}
		p.add(uint64(r.Seq)) //nolint:gosec // G115: seqs are positive
		p.used = now
		if len(p.above) > maxPendingSeqs {
			delete(h.progress, r.JobID)
		}
	}
	// Forget jobs nobody reported on for a while; they are reloaded if
	// their events come back.
	if len(h.progress) > 1024 {
		for id, p := range h.progress {
			if now.Sub(p.used) > 10*time.Minute {
				delete(h.progress, id)
			}
		}
	}
}
