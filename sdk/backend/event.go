package backend

import (
	"encoding/json"
	"errors"
	"time"
)

// EventKind names the payload an Event carries.
type EventKind string

// The event kinds.
const (
	EventProgress EventKind = "progress"
	EventLog      EventKind = "log"
	EventSummary  EventKind = "summary"
	EventError    EventKind = "error"
	// EventData carries raw output bytes (a dump's stdout), API 1.2.0.
	EventData EventKind = "data"
)

// Event is one thing that happened during a job. It carries exactly one of
// Progress, Log, Summary, Error and Data.
type Event struct {
	// Seq numbers a job's events from 1, without gaps, in the order they
	// were emitted. The SDK sets it; a backend leaves it zero.
	Seq uint64 `json:"seq"`
	// Time is when it happened; the SDK stamps events that have none.
	Time time.Time `json:"time"`

	Progress *Progress   `json:"progress,omitempty"`
	Log      *LogLine    `json:"log,omitempty"`
	Summary  *Summary    `json:"summary,omitempty"`
	Error    *ErrorEvent `json:"error,omitempty"`
	// Data is a piece of the job's raw output, for the dump kind: the
	// host passes the bytes on as they are, in order, and stores none.
	Data *Data `json:"data,omitempty"`
}

// errEventPayload is what emit returns for an event without exactly one
// payload.
var errEventPayload = errors.New("backend: an event must carry exactly one of progress, log, summary, error and data")

// Kind returns the kind of payload e carries, or "" if it does not carry
// exactly one.
func (e Event) Kind() EventKind {
	var kind EventKind
	n := 0
	if e.Progress != nil {
		kind, n = EventProgress, n+1
	}
	if e.Log != nil {
		kind, n = EventLog, n+1
	}
	if e.Summary != nil {
		kind, n = EventSummary, n+1
	}
	if e.Error != nil {
		kind, n = EventError, n+1
	}
	if e.Data != nil {
		kind, n = EventData, n+1
	}
	if n != 1 {
		return ""
	}
	return kind
}

// Progress is how far a job is, from restic's "status" messages.
type Progress struct {
	// PercentDone is between 0 and 1.
	PercentDone      float64  `json:"percent_done"`
	FilesDone        uint64   `json:"files_done,omitempty"`
	TotalFiles       uint64   `json:"total_files,omitempty"`
	BytesDone        uint64   `json:"bytes_done,omitempty"`
	TotalBytes       uint64   `json:"total_bytes,omitempty"`
	ErrorCount       uint64   `json:"error_count,omitempty"`
	SecondsElapsed   int64    `json:"seconds_elapsed,omitempty"`
	SecondsRemaining int64    `json:"seconds_remaining,omitempty"`
	CurrentFiles     []string `json:"current_files,omitempty"`
}

// The streams a LogLine comes from.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// LogLine is one line restic printed that is not a structured message, such
// as prune's report or a warning on stderr, without its line ending.
type LogLine struct {
	// Stream is StreamStdout or StreamStderr.
	Stream string `json:"stream"`
	Text   string `json:"text"`
}

// Summary is the outcome of a backup (or restore, check, …): restic's
// "summary" message verbatim in Raw, and the fields every consumer wants
// typed.
type Summary struct {
	Raw                 json.RawMessage `json:"raw,omitempty"`
	SnapshotID          string          `json:"snapshot_id,omitempty"`
	FilesNew            uint64          `json:"files_new,omitempty"`
	FilesChanged        uint64          `json:"files_changed,omitempty"`
	FilesUnmodified     uint64          `json:"files_unmodified,omitempty"`
	DirsNew             uint64          `json:"dirs_new,omitempty"`
	DirsChanged         uint64          `json:"dirs_changed,omitempty"`
	DirsUnmodified      uint64          `json:"dirs_unmodified,omitempty"`
	DataAdded           uint64          `json:"data_added,omitempty"`
	TotalFilesProcessed uint64          `json:"total_files_processed,omitempty"`
	TotalBytesProcessed uint64          `json:"total_bytes_processed,omitempty"`
	DurationSeconds     float64         `json:"duration_seconds,omitempty"`
}

// ErrorEvent is an error restic reported without stopping, such as a file
// it could not read ("error" messages), or the final "exit_error".
type ErrorEvent struct {
	Message string `json:"message"`
	// Item is the file or object concerned, if any.
	Item string `json:"item,omitempty"`
	// During is what restic was doing ("scan", "archival", "restore", …).
	During string `json:"during,omitempty"`
}

// MaxDataBytes bounds one Data event's bytes, so that a piece always fits
// one gRPC message and one agent protocol frame.
const MaxDataBytes = 256 << 10

// Data is a piece of a job's raw output.
type Data struct {
	Bytes []byte `json:"bytes"`
}
