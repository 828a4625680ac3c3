package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/wire"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// kindFinished is the spool kind of a job's last event: its job_finished
// message, stored by FinishJob so that it takes the seq after the job's last
// job_event and cannot be lost or reported twice.
const kindFinished = "finished"

// Limits on what goes into a job_finished message: its error text must pass
// the receiver's payload validation (wire: at most 4096 bytes, no control
// characters) and the whole frame must stay well under the 1 MiB frame cap.
const (
	maxErrorText    = 4096
	maxSummaryBytes = 512 << 10
)

// progressData is restic's "status" line as the backend reported it; the
// field names are restic's own.
type progressData struct {
	MessageType string `json:"message_type"`
	*sdk.Progress
}

// errorData is restic's "error" line as the backend reported it.
type errorData struct {
	MessageType string `json:"message_type"`
	Error       struct {
		Message string `json:"message"`
	} `json:"error"`
	During string `json:"during,omitempty"`
	Item   string `json:"item,omitempty"`
}

// spoolEvent turns a backend event into the spool event that becomes its
// job_event: the spool kind is the wire event kind and the data is the
// wire event's data.
func spoolEvent(ev sdk.Event) (spool.Event, error) {
	out := spool.Event{Time: ev.Time}
	var (
		data any
		err  error
	)
	switch ev.Kind() {
	case sdk.EventProgress:
		out.Kind = string(wire.EventProgress)
		data = progressData{MessageType: "status", Progress: ev.Progress}
	case sdk.EventLog:
		out.Kind = string(wire.EventLog)
		data = wire.LogData{Stream: ev.Log.Stream, Lines: []string{ev.Log.Text}}
	case sdk.EventSummary:
		out.Kind = string(wire.EventSummary)
		if raw := bytes.TrimSpace(ev.Summary.Raw); len(raw) > 0 && json.Valid(raw) {
			out.Data = raw
			return out, nil
		}
		data = ev.Summary
	case sdk.EventError:
		out.Kind = string(wire.EventError)
		e := errorData{MessageType: "error", During: ev.Error.During, Item: ev.Error.Item}
		e.Error.Message = ev.Error.Message
		data = e
	default:
		return spool.Event{}, fmt.Errorf("backend event without exactly one payload (seq %d)", ev.Seq)
	}
	if out.Data, err = json.Marshal(data); err != nil {
		return spool.Event{}, fmt.Errorf("encode %s event: %w", out.Kind, err)
	}
	return out, nil
}

// statusEvent is a status event of the job.
func statusEvent(status, message string) spool.Event {
	data, _ := json.Marshal(wire.StatusData{Status: status, Message: message})
	return spool.Event{Kind: string(wire.EventStatus), Time: time.Now(), Data: data}
}

// finishedEvent stores f as the job's last spool event.
func finishedEvent(f wire.JobFinished) (spool.Event, error) {
	f.Seq = 0 // the spool assigns it
	data, err := json.Marshal(f)
	if err != nil {
		return spool.Event{}, fmt.Errorf("encode job_finished: %w", err)
	}
	return spool.Event{Kind: kindFinished, Time: f.FinishedAt, Data: data}, nil
}

// message is what one spooled event is on the wire.
type message struct {
	typ     wire.Type
	payload any
}

// wireMessage turns a spooled event into its job_event or job_finished.
func wireMessage(e spool.Entry) (message, error) {
	switch e.Kind {
	case kindFinished:
		var f wire.JobFinished
		if err := json.Unmarshal(e.Data, &f); err != nil {
			return message{}, fmt.Errorf("job %s seq %d: decode job_finished: %w", e.JobID, e.Seq, err)
		}
		f.JobID, f.Seq = e.JobID, e.Seq
		return message{wire.TypeJobFinished, f}, nil
	case spool.KindLogsDropped:
		// The spool's marker for log events it dropped when it was full.
		// It counts events, and each held up to wire.LogBatchLines lines.
		var d spool.DroppedLogs
		_ = json.Unmarshal(e.Data, &d)
		line := "log output dropped: the agent's spool was full"
		if d.Count > 0 {
			line = fmt.Sprintf("log output dropped: %d log events (seqs %d-%d) because the agent's spool was full", d.Count, d.FirstSeq, d.LastSeq)
		}
		return message{wire.TypeJobEvent, logEvent(e, "[restic-manager agent: "+line+"]")}, nil
	}
	kind := wire.EventKind(e.Kind)
	switch kind {
	case wire.EventProgress, wire.EventLog, wire.EventSummary, wire.EventError, wire.EventStatus:
	default:
		// Written by a newer agent, perhaps: carry it as a log line rather
		// than break the stream.
		return message{wire.TypeJobEvent, logEvent(e, fmt.Sprintf("[restic-manager agent: %s event] %s", e.Kind, e.Data))}, nil
	}
	return message{wire.TypeJobEvent, wire.JobEvent{JobID: e.JobID, Seq: e.Seq, Time: e.Time, Kind: kind, Data: e.Data}}, nil
}

// gapEvent stands in for a seq the spool no longer holds (dropped when the
// spool was full), so that the server sees an unbroken sequence.
func gapEvent(jobID string, seq uint64, first, last uint64) wire.JobEvent {
	lines := []string{}
	if seq == first {
		lines = append(lines, fmt.Sprintf("[restic-manager agent: events %d-%d were dropped because the agent's spool was full]", first, last))
	}
	data, _ := json.Marshal(wire.LogData{Stream: sdk.StreamStderr, Lines: lines})
	return wire.JobEvent{JobID: jobID, Seq: seq, Time: time.Now().UTC(), Kind: wire.EventLog, Data: data}
}

func logEvent(e spool.Entry, line string) wire.JobEvent {
	data, _ := json.Marshal(wire.LogData{Stream: sdk.StreamStderr, Lines: []string{line}})
	return wire.JobEvent{JobID: e.JobID, Seq: e.Seq, Time: e.Time, Kind: wire.EventLog, Data: data}
}

// cleanText makes s fit a protocol text field: control characters become
// spaces (newlines included), invalid UTF-8 is replaced, and the result is
// cut to at most limit bytes on a rune boundary.
func cleanText(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\t' {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= limit {
		return s
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// jobSummary picks what job_finished carries as the job's summary: the
// document the kind prints as a whole (Result.Output), else restic's last
// summary line, else the snapshot id alone. Anything larger than
// maxSummaryBytes is left out (the job's events still carry it).
func jobSummary(res sdk.Result, lastSummary json.RawMessage) json.RawMessage {
	var doc json.RawMessage
	switch {
	case len(bytes.TrimSpace(res.Output)) > 0 && json.Valid(res.Output):
		doc = res.Output
	case len(lastSummary) > 0:
		doc = lastSummary
	case res.SnapshotID != "":
		doc, _ = json.Marshal(map[string]string{"snapshot_id": res.SnapshotID})
	}
	if len(doc) > maxSummaryBytes {
		doc, _ = json.Marshal(map[string]any{
			"message_type": "summary_omitted",
			"snapshot_id":  res.SnapshotID,
			"bytes":        len(doc),
			"reason":       fmt.Sprintf("the job's output is larger than %d bytes; its events carry it line by line", maxSummaryBytes),
		})
	}
	return doc
}
