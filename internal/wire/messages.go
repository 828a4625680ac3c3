package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Limits on payload fields that end up in the server's database.
const (
	maxIdentLen = 128  // job, host, repository ids
	maxShortLen = 255  // hostname, versions, kinds, names
	maxTextLen  = 4096 // reasons, error messages, URLs
)

// Hello is the agent's first message on every connection. The server
// identifies the host by the bearer credential, not by anything in here, and
// upserts the host record from these fields.
type Hello struct {
	Hostname      string     `json:"hostname"`
	OS            string     `json:"os"`
	Arch          string     `json:"arch"`
	AgentVersion  string     `json:"agent_version"`
	ResticVersion string     `json:"restic_version"`
	Backends      []string   `json:"backends"`
	State         AgentState `json:"state"`
	// Protocols lists the envelope versions the agent speaks; empty means
	// [1]. The server picks one and names it in HelloOK.Protocol.
	Protocols []int `json:"protocols,omitempty"`
}

// AgentState is what an agent is doing as it (re)connects.
type AgentState struct {
	// RunningJobs are the ids of jobs whose restic process is still running.
	RunningJobs []string `json:"running_jobs"`
	// ScheduleRevision is the revision of the schedule list the agent has
	// in force (0: none); the server sends schedules_sync on connect only
	// when its own differs.
	ScheduleRevision int64 `json:"schedule_revision,omitempty"`
}

// HelloOK accepts a hello.
type HelloOK struct {
	HostID             string `json:"host_id"`
	ServerVersion      string `json:"server_version"`
	HeartbeatIntervalS int    `json:"heartbeat_interval_s"`
	// Protocol is the envelope version both sides use from now on; 0 means 1.
	Protocol int `json:"protocol,omitempty"`
}

// HeartbeatInterval is HeartbeatIntervalS as a duration.
func (h HelloOK) HeartbeatInterval() time.Duration {
	return time.Duration(h.HeartbeatIntervalS) * time.Second
}

// Heartbeat tells the server the agent is alive; the server marks a host
// offline after 90 s without one.
type Heartbeat struct {
	Time        time.Time `json:"time,omitzero"`
	RunningJobs []string  `json:"running_jobs,omitempty"`
}

// HeartbeatAck answers a heartbeat with the server's clock.
type HeartbeatAck struct {
	ServerTime time.Time `json:"server_time,omitzero"`
}

// Repository is a restic repository with its credentials, sent with every
// job that needs it. Password and Env values are Secrets: they travel on the
// wire and print as Redacted everywhere else.
type Repository struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	URL      string            `json:"url"`
	Password Secret            `json:"password,omitzero"`
	Env      map[string]Secret `json:"env,omitempty"`
	// AdminKey says the repository has an admin key, which the agent asks
	// for (admin_key) right before a scheduled step that removes data; the
	// key itself is never sent with a schedule.
	AdminKey bool `json:"admin_key,omitempty"`
}

// repositoryWire is Repository with its secrets revealed, for the wire only.
type repositoryWire struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	URL      string            `json:"url"`
	Password string            `json:"password,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
	AdminKey bool              `json:"admin_key,omitempty"`
}

// MarshalWire encodes the repository with its secrets, for the wire encoder
// and for payloads that embed a repository (see WireMarshaler).
func (r Repository) MarshalWire() ([]byte, error) {
	w := repositoryWire{ID: r.ID, Name: r.Name, URL: r.URL, Password: r.Password.Reveal(), AdminKey: r.AdminKey}
	if len(r.Env) > 0 {
		w.Env = make(map[string]string, len(r.Env))
		for k, v := range r.Env {
			w.Env[k] = v.Reveal()
		}
	}
	return json.Marshal(w) //nolint:gosec // G117: revealing the secret to the peer is this method's job
}

// Validate checks the repository's shape.
func (r Repository) Validate() error { return r.validate("repository") }

// validateAs checks an optional second repository (a copy's destination),
// naming it field in errors; nil is valid.
func (r *Repository) validateAs(field string) error {
	if r == nil {
		return nil
	}
	return r.validate(field)
}

func (r Repository) validate(field string) error {
	errs := []error{
		checkIdent(field+".id", r.ID, false),
		checkText(field+".name", r.Name, maxShortLen, false),
		checkText(field+".url", r.URL, maxTextLen, true),
	}
	for k := range r.Env {
		if !validEnvName(k) {
			errs = append(errs, fmt.Errorf("%s.env: %q is not an environment variable name", field, truncate(k, 64)))
		}
	}
	return errors.Join(errs...)
}

// validEnvName allows POSIX-style names only, so nothing smuggles "=" or NUL
// into restic's environment.
func validEnvName(k string) bool {
	if k == "" || len(k) > maxShortLen {
		return false
	}
	for i, c := range k {
		switch {
		case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// JobDispatch asks the agent to run a job. The agent answers job_accept or
// job_reject; a job id is never run twice.
type JobDispatch struct {
	JobID string `json:"job_id"`
	// Kind is the restic operation: backup, snapshots, forget, prune, check,
	// unlock, stats, ls, restore, init. An agent rejects kinds it does not
	// know with job_reject rather than failing the connection.
	Kind       string     `json:"kind"`
	Repository Repository `json:"repository"`
	// ToRepository is where a copy job writes, with its credentials; the
	// other kinds have none. Its secrets are revealed on the wire only,
	// like Repository's.
	ToRepository *Repository     `json:"to_repository,omitempty"`
	Params       json.RawMessage `json:"params,omitempty"`
	// ScheduleID names the schedule a run-now backup belongs to (its hooks
	// see it as RM_SCHEDULE); PreHook and PostHook are that schedule's
	// hooks, run around the job as around a scheduled run.
	ScheduleID string `json:"schedule_id,omitempty"`
	PreHook    *Hook  `json:"pre_hook,omitempty"`
	PostHook   *Hook  `json:"post_hook,omitempty"`
	// Deadline, if set, is when the agent must give up on the job.
	Deadline time.Time `json:"deadline,omitzero"`
	// NewPassword is the password of the key a key_add job creates (a
	// short-lived key the server gives another agent for one job); the
	// other kinds have none. Like the repositories' secrets it is revealed
	// on the wire only, and the agent scrubs it from the job's output.
	NewPassword Secret `json:"new_password,omitzero"`
}

// MarshalWire encodes the dispatch with the repositories' secrets and the
// new key's password revealed.
func (d JobDispatch) MarshalWire() ([]byte, error) {
	repo, err := d.Repository.MarshalWire()
	if err != nil {
		return nil, err
	}
	var to json.RawMessage
	if d.ToRepository != nil {
		if to, err = d.ToRepository.MarshalWire(); err != nil {
			return nil, err
		}
	}
	// The outer fields shadow the embedded ones in encoding/json.
	return json.Marshal(struct {
		JobDispatch
		Repository   json.RawMessage `json:"repository"`
		ToRepository json.RawMessage `json:"to_repository,omitempty"`
		NewPassword  string          `json:"new_password,omitempty"`
	}{d, repo, to, d.NewPassword.Reveal()})
}

// Validate checks the dispatch's shape.
func (d JobDispatch) Validate() error {
	return errors.Join(
		checkIdent("job_id", d.JobID, true),
		checkText("kind", d.Kind, maxShortLen, true),
		d.Repository.Validate(),
		d.ToRepository.validateAs("to_repository"),
		checkObject("params", d.Params),
		checkIdent("schedule_id", d.ScheduleID, false),
		d.PreHook.validateAs("pre_hook"),
		d.PostHook.validateAs("post_hook"),
	)
}

// JobAccept says the agent has taken the job and will report on it.
type JobAccept struct {
	JobID string `json:"job_id"`
}

// JobReject says the agent will not run the job, and why.
type JobReject struct {
	JobID  string `json:"job_id"`
	Reason string `json:"reason"`
}

// JobCancel asks the agent to stop a job (restic's whole process group). The
// agent answers ack at once; the job's job_finished follows with status
// cancelled.
type JobCancel struct {
	JobID  string `json:"job_id"`
	Reason string `json:"reason,omitempty"`
}

// EventKind classifies a job event.
type EventKind string

// Event kinds of protocol version 1. Others are refused as invalid.
const (
	// EventProgress carries one of restic's status lines, verbatim.
	EventProgress EventKind = "progress"
	// EventLog carries output lines as LogData.
	EventLog EventKind = "log"
	// EventSummary carries restic's summary line, verbatim.
	EventSummary EventKind = "summary"
	// EventError carries restic's error or exit_error line, verbatim.
	EventError EventKind = "error"
	// EventStatus carries a job state change as StatusData.
	EventStatus EventKind = "status"
)

func (k EventKind) valid() bool {
	switch k {
	case EventProgress, EventLog, EventSummary, EventError, EventStatus:
		return true
	}
	return false
}

// JobEvent is one numbered event of a job. Seq starts at 1 for each job and
// grows by one per event; the agent spools each event until a job_event_ack
// covers it and resends the rest after a reconnect, so the server must store
// each (job_id, seq) once.
type JobEvent struct {
	JobID string          `json:"job_id"`
	Seq   uint64          `json:"seq"`
	Time  time.Time       `json:"time"`
	Kind  EventKind       `json:"kind"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// LogData is the data of a log event: one or more lines of one stream.
type LogData struct {
	Stream string   `json:"stream"` // stdout or stderr
	Lines  []string `json:"lines"`
}

// An agent puts the log lines of a job that come close together into one
// log event of at most LogBatchLines lines and about LogBatchBytes bytes of
// text (a longer line travels alone): the server's cost is per event, so a
// stream of short lines is ingested several times faster this way. A
// receiver accepts any number of lines that fits a frame.
const (
	LogBatchLines = 256
	LogBatchBytes = 32 << 10
)

// StatusData is the data of a status event. For a run the agent starts on its
// own (a schedule), the first status event names the kind, schedule and
// repository so the server can create the job record.
type StatusData struct {
	Status       string `json:"status"` // running, or a terminal status
	Message      string `json:"message,omitempty"`
	Kind         string `json:"kind,omitempty"`
	ScheduleID   string `json:"schedule_id,omitempty"`
	RepositoryID string `json:"repository_id,omitempty"`
	// Params are the params the agent ran a scheduled job with (the
	// backend's Args), so the server can record them with the job.
	Params json.RawMessage `json:"params,omitempty"`
}

// JobEventAck acknowledges every event of a job up to and including UpToSeq
// (acks are cumulative); the agent may drop them from its spool.
type JobEventAck struct {
	JobID   string `json:"job_id"`
	UpToSeq uint64 `json:"up_to_seq"`
}

// Terminal job statuses, as in the jobs table.
const (
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
	StatusSkipped   = "skipped"
)

// JobFinished is a job's last event. It takes the next seq after the job's
// last job_event, so the same cumulative job_event_ack covers it; once acked
// the agent forgets the job.
type JobFinished struct {
	JobID      string          `json:"job_id"`
	Seq        uint64          `json:"seq"`
	Status     string          `json:"status"`
	ExitCode   int             `json:"exit_code"`
	Error      string          `json:"error,omitempty"`
	Summary    json.RawMessage `json:"summary,omitempty"`
	StartedAt  time.Time       `json:"started_at,omitzero"`
	FinishedAt time.Time       `json:"finished_at,omitzero"`
}

// SchedulesSync replaces the agent's whole schedule list. Schedules is a JSON
// array whose element format belongs to the scheduler; if an element carries
// repository credentials, its producer must splice in
// Repository.MarshalWire, since json.Marshal redacts Secrets.
type SchedulesSync struct {
	Revision  int64           `json:"revision"`
	Schedules json.RawMessage `json:"schedules"`
}

// Ack is the empty reply to job_cancel and schedules_sync.
type Ack struct{}

// Error is the payload of an error message, and a Go error. Request returns
// it when the peer answers with an error.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error codes. A peer may send others; treat unknown codes as CodeInternal.
const (
	CodeInvalid     = "invalid"     // the request's payload is invalid
	CodeUnsupported = "unsupported" // no handler for this request type
	CodeNotFound    = "not_found"   // the job or object named does not exist
	CodeConflict    = "conflict"    // the request clashes with current state
	CodeInternal    = "internal"    // the handler failed
)

func (e *Error) Error() string { return "wire: peer error " + e.Code + ": " + e.Message }

// MessageType methods tie each payload struct to its catalogue entry.

func (Hello) MessageType() Type         { return TypeHello }
func (HelloOK) MessageType() Type       { return TypeHelloOK }
func (Heartbeat) MessageType() Type     { return TypeHeartbeat }
func (HeartbeatAck) MessageType() Type  { return TypeHeartbeatAck }
func (JobDispatch) MessageType() Type   { return TypeJobDispatch }
func (JobAccept) MessageType() Type     { return TypeJobAccept }
func (JobReject) MessageType() Type     { return TypeJobReject }
func (JobCancel) MessageType() Type     { return TypeJobCancel }
func (JobEvent) MessageType() Type      { return TypeJobEvent }
func (JobEventAck) MessageType() Type   { return TypeJobEventAck }
func (JobFinished) MessageType() Type   { return TypeJobFinished }
func (SchedulesSync) MessageType() Type { return TypeSchedulesSync }
func (Ack) MessageType() Type           { return TypeAck }
func (Error) MessageType() Type         { return TypeError }

// Validate methods check what the receiver relies on. DecodePayload calls
// them; unknown fields are not an error.

func (h Hello) Validate() error {
	errs := []error{
		checkText("hostname", h.Hostname, maxShortLen, true),
		checkText("os", h.OS, maxShortLen, true),
		checkText("arch", h.Arch, maxShortLen, true),
		checkText("agent_version", h.AgentVersion, maxShortLen, false),
		checkText("restic_version", h.ResticVersion, maxShortLen, false),
	}
	for _, b := range h.Backends {
		errs = append(errs, checkText("backends[]", b, maxShortLen, true))
	}
	for _, id := range h.State.RunningJobs {
		errs = append(errs, checkIdent("state.running_jobs[]", id, true))
	}
	return errors.Join(errs...)
}

func (h HelloOK) Validate() error {
	var err error
	if h.HeartbeatIntervalS <= 0 {
		err = errors.New("heartbeat_interval_s must be positive")
	}
	return errors.Join(checkIdent("host_id", h.HostID, true), checkText("server_version", h.ServerVersion, maxShortLen, false), err)
}

func (h Heartbeat) Validate() error {
	errs := make([]error, 0, len(h.RunningJobs))
	for _, id := range h.RunningJobs {
		errs = append(errs, checkIdent("running_jobs[]", id, true))
	}
	return errors.Join(errs...)
}

func (a JobAccept) Validate() error { return checkIdent("job_id", a.JobID, true) }

func (r JobReject) Validate() error {
	return errors.Join(checkIdent("job_id", r.JobID, true), checkText("reason", r.Reason, maxTextLen, true))
}

func (c JobCancel) Validate() error {
	return errors.Join(checkIdent("job_id", c.JobID, true), checkText("reason", c.Reason, maxTextLen, false))
}

func (e JobEvent) Validate() error {
	var errs []error
	if e.Seq == 0 {
		errs = append(errs, errors.New("seq must start at 1"))
	}
	if !e.Kind.valid() {
		errs = append(errs, fmt.Errorf("kind %q is not one of progress, log, summary, error, status", truncate(string(e.Kind), 32)))
	}
	return errors.Join(append(errs, checkIdent("job_id", e.JobID, true))...)
}

func (a JobEventAck) Validate() error {
	var err error
	if a.UpToSeq == 0 {
		err = errors.New("up_to_seq must be at least 1")
	}
	return errors.Join(checkIdent("job_id", a.JobID, true), err)
}

func (f JobFinished) Validate() error {
	var errs []error
	if f.Seq == 0 {
		errs = append(errs, errors.New("seq must be at least 1"))
	}
	switch f.Status {
	case StatusSucceeded, StatusFailed, StatusCancelled, StatusSkipped:
	default:
		errs = append(errs, fmt.Errorf("status %q is not a terminal status", truncate(f.Status, 32)))
	}
	return errors.Join(append(errs, checkIdent("job_id", f.JobID, true), checkText("error", f.Error, maxTextLen, false))...)
}

func (s SchedulesSync) Validate() error {
	if s.Revision < 0 {
		return errors.New("revision must not be negative")
	}
	if t := bytes.TrimLeft(s.Schedules, " \t\r\n"); len(t) == 0 || t[0] != '[' {
		return errors.New("schedules must be a JSON array")
	}
	return nil
}

func (e Error) Validate() error {
	return errors.Join(checkText("code", e.Code, maxShortLen, true), checkText("message", e.Message, maxTextLen, false))
}

// checkIdent checks an id: bounded, printable, no spaces.
func checkIdent(field, s string, required bool) error {
	if err := checkText(field, s, maxIdentLen, required); err != nil {
		return err
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return fmt.Errorf("%s must not contain spaces", field)
	}
	return nil
}

// checkText checks a bounded string without control characters.
func checkText(field, s string, limit int, required bool) error {
	switch {
	case s == "" && required:
		return fmt.Errorf("%s is required", field)
	case len(s) > limit:
		return fmt.Errorf("%s is longer than %d bytes", field, limit)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }):
		return fmt.Errorf("%s contains control characters", field)
	}
	return nil
}

// checkObject accepts an absent, null or object-valued raw field.
func checkObject(field string, raw json.RawMessage) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || string(t) == "null" || t[0] == '{' {
		return nil
	}
	return fmt.Errorf("%s must be a JSON object", field)
}

// truncate shortens peer-supplied text quoted in errors and close reasons.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
