package backend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// maxOutputBytes bounds Result.Output. The document a job prints as
// a whole (the snapshot list, forget's groups) is collected while its
// elements are streamed as lines; past this size collecting stops and the
// lines alone carry it.
const maxOutputBytes = 16 << 20

// The message types of the data lines: LogLine events on stdout whose Text
// is one JSON object carrying "message_type". Those restic prints itself
// as lines keep its own names; the others are named here.
const (
	msgSnapshot    = "snapshot"     // an element of `snapshots`, or the snapshot `ls` lists
	msgNode        = "node"         // an entry of `ls`
	msgChange      = "change"       // a changed path of `diff`
	msgForgetGroup = "forget_group" // a group of `forget`
	msgForgetDone  = "forget_result"
	msgCopyDone    = "copy_result"
	msgStats       = "stats"
	msgRepoStats   = "repository_stats"
	msgVersion     = "version"
)

// converter turns the restic package's events into SDK events and
// collects the job's Result.Output. One converter serves one run; the
// runner calls it from one goroutine at a time.
type converter struct {
	kind     restic.Kind
	maxBytes int

	array    bytes.Buffer // the array being collected, without its closing ']'
	doc      json.RawMessage
	overflow bool

	plan []forgetPlanGroup // forget's groups so far, for its result
}

func newConverter(kind restic.Kind, maxBytes int) *converter {
	return &converter{kind: kind, maxBytes: maxBytes}
}

// convert returns the SDK events for ev, in order.
func (c *converter) convert(ev restic.Event) []sdk.Event {
	switch e := ev.(type) {
	case *restic.Progress:
		return one(sdk.Event{Progress: progressOf(e)})
	case *restic.LogLine:
		return one(logEvent(string(e.Stream), e.Text))
	case *restic.Error:
		return one(sdk.Event{Error: &sdk.ErrorEvent{Message: e.Message, Item: e.Item, During: e.During}})
	case *restic.Summary:
		return c.setDoc(sdk.Event{Summary: summaryOf(e)}, e.Raw)
	case *restic.Stats:
		return c.setDoc(sdk.Event{Summary: &sdk.Summary{Raw: e.Raw}}, e.Raw)
	case *restic.RepoConfig:
		return c.setDoc(sdk.Event{Summary: &sdk.Summary{Raw: e.Raw}}, e.Raw)
	case *restic.Snapshot:
		doc, err := json.Marshal(e.SnapshotInfo)
		if err != nil {
			return c.marshalFailed(msgSnapshot, err)
		}
		line := dataLine(msgSnapshot, doc)
		if c.kind == restic.KindLs {
			return c.setDoc(line, doc)
		}
		return c.addElement(line, doc)
	case *restic.ForgetGroup:
		doc, err := json.Marshal(forgetGroupDoc{
			Host: e.Host, Tags: e.Tags, Paths: e.Paths, Keep: e.Keep, Remove: e.Remove, Reasons: e.Reasons,
		})
		if err != nil {
			return c.marshalFailed(msgForgetGroup, err)
		}
		c.plan = append(c.plan, planGroup(e))
		return one(dataLine(msgForgetGroup, doc))
	case *restic.ForgetResult:
		groups := c.plan
		if groups == nil {
			groups = []forgetPlanGroup{}
		}
		raw, err := json.Marshal(forgetResultDoc{
			MessageType: msgForgetDone, DryRun: e.DryRun,
			Kept: nonNil(e.Kept), Removed: nonNil(e.Removed), Groups: groups,
		})
		if err != nil {
			return c.marshalFailed(msgForgetDone, err)
		}
		return c.setDoc(sdk.Event{Summary: &sdk.Summary{Raw: raw}}, raw)
	case *restic.CopyResult:
		raw, err := json.Marshal(copyResultDoc{
			MessageType: msgCopyDone, Copied: nonNilCopies(e.Copied), Skipped: nonNilCopies(e.Skipped),
		})
		if err != nil {
			return c.marshalFailed(msgCopyDone, err)
		}
		return c.setDoc(sdk.Event{Summary: &sdk.Summary{Raw: raw}}, raw)
	case *restic.KeyResult:
		raw, err := json.Marshal(keyResultDoc{KeyID: e.KeyID, AlreadyGone: e.AlreadyGone})
		if err != nil {
			return c.marshalFailed("key_result", err)
		}
		return c.setDoc(sdk.Event{Summary: &sdk.Summary{Raw: raw}}, raw)
	case *restic.Node:
		doc, err := json.Marshal(nodeDoc{Node: e})
		if err != nil {
			return c.marshalFailed(msgNode, err)
		}
		return one(dataLine(msgNode, doc))
	case *restic.Change:
		doc, err := json.Marshal(changeDoc{MessageType: msgChange, Path: e.Path, Modifier: e.Modifier})
		if err != nil {
			return c.marshalFailed(msgChange, err)
		}
		return one(logEvent(sdk.StreamStdout, string(doc)))
	case *restic.Data:
		return one(sdk.Event{Data: &sdk.Data{Bytes: e.Bytes}})
	case *restic.VersionInfo:
		v := e.Version
		doc, err := json.Marshal(versionDoc{Version: v.String(), GoVersion: v.GoVersion, GoOS: v.OS, GoArch: v.Arch})
		if err != nil {
			return c.marshalFailed(msgVersion, err)
		}
		text := "restic " + v.String()
		if v.GoVersion != "" {
			text += fmt.Sprintf(" compiled with %s on %s/%s", v.GoVersion, v.OS, v.Arch)
		}
		return c.setDoc(logEvent(sdk.StreamStdout, text), doc)
	}
	// A type the restic package added later: pass it on as JSON.
	raw, err := json.Marshal(ev)
	if err != nil {
		return c.marshalFailed(fmt.Sprintf("%T", ev), err)
	}
	return one(logEvent(sdk.StreamStdout, string(raw)))
}

// output returns the job's Result.Output: the document collected, or nil.
func (c *converter) output() json.RawMessage {
	switch {
	case c.overflow:
		return nil
	case c.array.Len() > 0:
		return append(bytes.Clone(c.array.Bytes()), ']')
	case c.kind == restic.KindSnapshots:
		// No element: restic printed an empty array, or nothing.
		return json.RawMessage("[]")
	case len(c.doc) > 0:
		return bytes.Clone(c.doc)
	}
	return nil
}

// setDoc makes doc the job's output and returns ev.
func (c *converter) setDoc(ev sdk.Event, doc json.RawMessage) []sdk.Event {
	if c.overflow || len(doc) == 0 {
		return one(ev)
	}
	if len(doc) > c.maxBytes {
		return []sdk.Event{ev, c.overflowed()}
	}
	c.doc = doc
	return one(ev)
}

// addElement appends doc to the array being collected and returns ev.
func (c *converter) addElement(ev sdk.Event, doc json.RawMessage) []sdk.Event {
	if c.overflow {
		return one(ev)
	}
	if c.array.Len()+len(doc)+2 > c.maxBytes {
		return []sdk.Event{ev, c.overflowed()}
	}
	if c.array.Len() == 0 {
		c.array.WriteByte('[')
	} else {
		c.array.WriteByte(',')
	}
	c.array.Write(doc)
	return one(ev)
}

// overflowed drops the output collected so far and says so, once.
func (c *converter) overflowed() sdk.Event {
	c.overflow = true
	c.array = bytes.Buffer{}
	c.doc = nil
	return logEvent(sdk.StreamStderr, fmt.Sprintf(
		"[backend-restic: restic's %s output exceeds %d bytes; the job's output is left empty, the lines above carry it]",
		c.kind, c.maxBytes))
}

func (c *converter) marshalFailed(what string, err error) []sdk.Event {
	return one(logEvent(sdk.StreamStderr, fmt.Sprintf("[backend-restic: cannot encode %s for %s: %v]", what, c.kind, err)))
}

func one(ev sdk.Event) []sdk.Event { return []sdk.Event{ev} }

func logEvent(stream, text string) sdk.Event {
	return sdk.Event{Log: &sdk.LogLine{Stream: stream, Text: text}}
}

// dataLine is the LogLine of a data item: doc, a JSON object, with
// "message_type" added in front.
func dataLine(typ string, doc []byte) sdk.Event {
	var b bytes.Buffer
	b.Grow(len(doc) + len(typ) + 20)
	b.WriteString(`{"message_type":"`)
	b.WriteString(typ)
	b.WriteByte('"')
	if body := bytes.TrimSpace(doc[1:]); len(body) > 0 && body[0] != '}' {
		b.WriteByte(',')
	}
	b.Write(doc[1:])
	return logEvent(sdk.StreamStdout, b.String())
}

func progressOf(p *restic.Progress) *sdk.Progress {
	return &sdk.Progress{
		PercentDone:      p.PercentDone,
		FilesDone:        p.FilesDone,
		TotalFiles:       p.TotalFiles,
		BytesDone:        p.BytesDone,
		TotalBytes:       p.TotalBytes,
		ErrorCount:       p.ErrorCount,
		SecondsElapsed:   clampInt64(p.SecondsElapsed),
		SecondsRemaining: clampInt64(p.SecondsRemaining),
		CurrentFiles:     p.CurrentFiles,
	}
}

// summaryOf keeps restic's summary in Raw and fills the typed fields
// that mean something for its kind: all of them for a backup; files,
// bytes and duration for a restore; none for the others.
func summaryOf(s *restic.Summary) *sdk.Summary {
	out := &sdk.Summary{Raw: s.Raw}
	switch {
	case s.Backup != nil:
		b := s.Backup
		out.SnapshotID = b.SnapshotID
		out.FilesNew, out.FilesChanged, out.FilesUnmodified = b.FilesNew, b.FilesChanged, b.FilesUnmodified
		out.DirsNew, out.DirsChanged, out.DirsUnmodified = b.DirsNew, b.DirsChanged, b.DirsUnmodified
		out.DataAdded = b.DataAdded
		out.TotalFilesProcessed, out.TotalBytesProcessed = b.TotalFilesProcessed, b.TotalBytesProcessed
		out.DurationSeconds = b.TotalDuration
	case s.Restore != nil:
		r := s.Restore
		out.TotalFilesProcessed, out.TotalBytesProcessed = r.TotalFiles, r.TotalBytes
		out.DurationSeconds = float64(r.SecondsElapsed)
	}
	return out
}

func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// planGroup is g as the plan shows it: each snapshot once, kept ones with
// the rules that keep them.
func planGroup(g *restic.ForgetGroup) forgetPlanGroup {
	reasons := map[string][]string{}
	for _, r := range g.Reasons {
		if r.Snapshot.ID != "" {
			reasons[r.Snapshot.ID] = r.Matches
		}
	}
	out := forgetPlanGroup{
		Host: g.Host, Tags: nonNil(g.Tags), Paths: nonNil(g.Paths),
		Keep: make([]forgetPlanSnapshot, 0, len(g.Keep)), Remove: make([]forgetPlanSnapshot, 0, len(g.Remove)),
	}
	for _, s := range g.Keep {
		out.Keep = append(out.Keep, forgetPlanSnapshot{ID: s.ID, Time: s.Time, Reasons: reasons[s.ID]})
	}
	for _, s := range g.Remove {
		out.Remove = append(out.Remove, forgetPlanSnapshot{ID: s.ID, Time: s.Time})
	}
	return out
}

func nonNilCopies(s []restic.CopiedSnapshot) []restic.CopiedSnapshot {
	if s == nil {
		return []restic.CopiedSnapshot{}
	}
	return s
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// The JSON documents built here rather than printed by restic.
type (
	// forgetGroupDoc is one group of forget's array, as restic prints it.
	forgetGroupDoc struct {
		Host    string                `json:"host"`
		Tags    []string              `json:"tags"`
		Paths   []string              `json:"paths"`
		Keep    []restic.SnapshotInfo `json:"keep"`
		Remove  []restic.SnapshotInfo `json:"remove"`
		Reasons []restic.KeepReason   `json:"reasons"`
	}
	// forgetResultDoc is forget's plan (dry run) or what it did: the
	// Raw of its summary and its Output, so the job's summary.
	forgetResultDoc struct {
		MessageType string            `json:"message_type"`
		DryRun      bool              `json:"dry_run"`
		Kept        []string          `json:"kept"`    // snapshot ids
		Removed     []string          `json:"removed"` // snapshot ids
		Groups      []forgetPlanGroup `json:"groups"`
	}
	// forgetPlanGroup is one group of the plan, its snapshots by id and
	// time only (the forget_group lines carry all of restic's fields).
	forgetPlanGroup struct {
		Host   string               `json:"host"`
		Tags   []string             `json:"tags"`
		Paths  []string             `json:"paths"`
		Keep   []forgetPlanSnapshot `json:"keep"`
		Remove []forgetPlanSnapshot `json:"remove"`
	}
	forgetPlanSnapshot struct {
		ID   string    `json:"id"`
		Time time.Time `json:"time"`
		// Reasons are the rules that keep the snapshot ("daily snapshot").
		Reasons []string `json:"reasons,omitempty"`
	}
	// copyResultDoc is the Raw of copy's summary and its Output.
	copyResultDoc struct {
		MessageType string                  `json:"message_type"`
		Copied      []restic.CopiedSnapshot `json:"copied"`
		Skipped     []restic.CopiedSnapshot `json:"skipped"`
	}
	// keyResultDoc is the Raw of a key_add's or key_remove's summary and
	// its Output: {"key_id"}, and "already_gone" for a key that was not
	// there to remove.
	keyResultDoc struct {
		KeyID       string `json:"key_id"`
		AlreadyGone bool   `json:"already_gone,omitempty"`
	}
	// nodeDoc is an ls node as restic prints it. Its Seq field hides the
	// runner's numbering (restic.Meta), which means nothing to the host:
	// encoding/json takes the shallowest field of a name.
	nodeDoc struct {
		Seq *struct{} `json:"seq,omitempty"`
		*restic.Node
	}
	changeDoc struct {
		MessageType string `json:"message_type"`
		Path        string `json:"path"`
		Modifier    string `json:"modifier"`
	}
	// versionDoc has the fields of `restic version --json`.
	versionDoc struct {
		Version   string `json:"version"`
		GoVersion string `json:"go_version,omitempty"`
		GoOS      string `json:"go_os,omitempty"`
		GoArch    string `json:"go_arch,omitempty"`
	}
)
