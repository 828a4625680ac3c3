package restic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
)

// parser turns restic's output into events. restic's --json is uneven:
// most commands print one JSON message per line (typed by message_type,
// or struct_type for `ls` before 0.17) mixed with text lines, while
// snapshots, forget, stats and cat config print one plain JSON document on
// stdout (forget's is followed by prune's text log). Anything not
// understood becomes a LogLine; nothing is dropped.
type parser struct {
	kind    Kind
	dryRun  bool
	emit    func(Event)
	maxLine int
	maxDoc  int64

	// forget state, touched by the stdout reader only
	forgetDone bool
	forget     ForgetResult

	// copy state, touched by the stdout reader only: the source snapshot
	// restic is working on, and what it reported so far
	copySource string
	copied     CopyResult

	mu      sync.Mutex
	exitMsg *Error   // exit_error seen on stderr
	tail    []string // last stderr lines, for an ExitError without exit_error
}

// documentKinds print a plain JSON document on stdout rather than lines.
func documentKind(k Kind) bool {
	switch k {
	case KindSnapshots, KindForget, KindStats, KindCatConfig:
		return true
	}
	return false
}

// readStdout consumes the child's stdout until EOF.
func (p *parser) readStdout(r io.Reader) {
	if p.kind == KindDump {
		p.readRaw(r)
		return
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var rest io.Reader = br
	if documentKind(p.kind) {
		c, err := peekNonSpace(br)
		if err == nil && (c == '[' || c == '{') {
			rest, err = p.readDocument(br)
			if errors.Is(err, ErrOutputTooLarge) {
				p.emit(&LogLine{
					Stream: Stdout, Truncated: true,
					Text: fmt.Sprintf("[restic output document exceeded %d bytes; the rest of stdout was discarded]", p.maxDoc),
				})
				_, _ = io.Copy(io.Discard, br)
				return
			}
			if err != nil {
				p.emit(&LogLine{Stream: Stdout, Text: fmt.Sprintf("[cannot parse restic output: %v]", err)})
			}
		}
	}
	p.readLines(Stdout, rest)
}

// readStderr consumes the child's stderr until EOF.
func (p *parser) readStderr(r io.Reader) { p.readLines(Stderr, r) }

func (p *parser) readLines(s Stream, r io.Reader) {
	lr := newLineReader(r, p.maxLine)
	for {
		line, dropped, err := lr.next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.emit(&LogLine{Stream: s, Text: fmt.Sprintf("[reading restic %s: %v]", s, err)})
			}
			return
		}
		p.line(s, line, dropped)
	}
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			_, _ = br.ReadByte()
		default:
			return b[0], nil
		}
	}
}

// readDocument decodes one JSON value from br (an array is streamed one
// element at a time) and returns a reader for what follows it.
func (p *parser) readDocument(br *bufio.Reader) (io.Reader, error) {
	lim := &boundedReader{r: br, max: p.maxDoc}
	dec := json.NewDecoder(lim)
	rest := func() io.Reader { return io.MultiReader(dec.Buffered(), br) }
	c, _ := br.Peek(1)
	if c[0] == '{' {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return rest(), err
		}
		p.jsonMessage(Stdout, raw)
		return rest(), nil
	}
	if _, err := dec.Token(); err != nil { // '['
		return rest(), err
	}
	for dec.More() {
		lim.reset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return rest(), err
		}
		p.element(raw)
	}
	if _, err := dec.Token(); err != nil { // ']'
		return rest(), err
	}
	p.arrayDone()
	return rest(), nil
}

// line handles one line of output.
func (p *parser) line(s Stream, b []byte, dropped int64) {
	if dropped > 0 {
		p.emit(&LogLine{
			Stream: s, Truncated: true,
			Text: fmt.Sprintf("%s …[truncated: %d more bytes]", b, dropped),
		})
		p.noteStderr(s, string(b))
		return
	}
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return
	}
	if t[0] == '{' && json.Valid(t) {
		p.jsonMessage(s, t)
		return
	}
	text := strings.TrimRight(stripANSI(string(b)), " \t")
	p.noteStderr(s, text)
	if p.kind == KindCopy && s == Stdout {
		p.copyLine(text)
	}
	if p.kind == KindVersion && s == Stdout {
		if v, err := ParseVersion(text); err == nil {
			p.emit(&VersionInfo{Version: v, Text: text})
			return
		}
	}
	p.emit(&LogLine{Stream: s, Text: text})
}

func (p *parser) noteStderr(s Stream, text string) {
	if s != Stderr {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tail = append(p.tail, text)
	if len(p.tail) > maxStderrTailLines {
		p.tail = p.tail[len(p.tail)-maxStderrTailLines:]
	}
}

// jsonMessage handles one JSON object.
func (p *parser) jsonMessage(s Stream, raw []byte) {
	var head struct {
		MessageType string `json:"message_type"`
		StructType  string `json:"struct_type"`
	}
	_ = json.Unmarshal(raw, &head)
	typ := head.MessageType
	if typ == "" {
		typ = head.StructType
	}
	ev, err := p.decode(s, typ, raw)
	if ev == nil || err != nil {
		// Unknown or unexpected: pass it on as it was printed.
		p.noteStderr(s, string(raw))
		p.emit(&LogLine{Stream: s, Text: string(raw), MessageType: typ})
		return
	}
	p.emit(ev)
}

func (p *parser) decode(s Stream, typ string, raw []byte) (Event, error) {
	switch typ {
	case "status":
		return decodeStatus(raw)
	case "summary":
		return p.decodeSummary(raw)
	case "error":
		ev, err := decodeError(raw, p.kind)
		if err == nil {
			p.noteStderr(s, ev.Message)
		}
		return ev, err
	case "exit_error":
		var w struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, err
		}
		ev := &Error{Message: w.Message, During: "exit", Code: w.Code}
		p.mu.Lock()
		p.exitMsg = &Error{Message: w.Message, Code: w.Code}
		p.mu.Unlock()
		return ev, nil
	case "snapshot":
		var sn Snapshot
		return &sn, json.Unmarshal(raw, &sn.SnapshotInfo)
	case "node":
		var n Node
		return &n, json.Unmarshal(raw, &n)
	case "change":
		var c Change
		return &c, json.Unmarshal(raw, &c)
	case "statistics":
		var d DiffStatistics
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, err
		}
		return &Summary{Kind: p.kind, Raw: clone(raw), Diff: &d}, nil
	case "initialized":
		var in InitInfo
		if err := json.Unmarshal(raw, &in); err != nil {
			return nil, err
		}
		return &Summary{Kind: p.kind, Raw: clone(raw), Init: &in}, nil
	case "version":
		var w struct {
			Version   string `json:"version"`
			GoVersion string `json:"go_version"`
			GoOS      string `json:"go_os"`
			GoArch    string `json:"go_arch"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, err
		}
		v, err := ParseVersion("restic " + w.Version)
		if err != nil {
			return nil, err
		}
		v.GoVersion, v.OS, v.Arch = w.GoVersion, w.GoOS, w.GoArch
		return &VersionInfo{Version: v, Text: string(raw)}, nil
	case "":
		switch p.kind {
		case KindStats:
			st := Stats{Raw: clone(raw)}
			return &st, json.Unmarshal(raw, &st)
		case KindCatConfig:
			rc := RepoConfig{Raw: clone(raw)}
			return &rc, json.Unmarshal(raw, &rc)
		}
	}
	return nil, nil
}

func decodeStatus(raw []byte) (Event, error) {
	var w struct {
		Progress
		FilesRestored uint64 `json:"files_restored"`
		BytesRestored uint64 `json:"bytes_restored"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, err
	}
	ev := w.Progress
	ev.FilesDone += w.FilesRestored
	ev.BytesDone += w.BytesRestored
	return &ev, nil
}

func (p *parser) decodeSummary(raw []byte) (Event, error) {
	sum := &Summary{Kind: p.kind, Raw: clone(raw)}
	var err error
	switch p.kind {
	case KindBackup:
		sum.Backup = &BackupSummary{}
		err = json.Unmarshal(raw, sum.Backup)
	case KindRestore:
		sum.Restore = &RestoreSummary{}
		err = json.Unmarshal(raw, sum.Restore)
	case KindCheck:
		sum.Check = &CheckSummary{}
		err = json.Unmarshal(raw, sum.Check)
	default:
		return nil, nil
	}
	return sum, err
}

// decodeError reads restic's two error shapes: backup/restore's
// {"error":{"message":…},"during":…,"item":…} and check's {"message":…}.
// Before 0.17.1 backup marshalled the Go error itself, so "error" may be
// {"Op":…,"Path":…,"Err":{}} or {}.
func decodeError(raw []byte, kind Kind) (*Error, error) {
	var w struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		During  string          `json:"during"`
		Item    string          `json:"item"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, err
	}
	ev := &Error{Message: w.Message, During: w.During, Item: w.Item}
	if len(w.Error) > 0 {
		var inner struct {
			Message string `json:"message"`
			Op      string `json:"Op"`
			Path    string `json:"Path"`
		}
		if json.Unmarshal(w.Error, &inner) == nil {
			switch {
			case inner.Message != "":
				ev.Message = inner.Message
			case inner.Op != "":
				ev.Message = strings.TrimSpace(inner.Op + " " + inner.Path)
			}
		}
	}
	if ev.Message == "" {
		ev.Message = string(raw)
	}
	if ev.During == "" && kind == KindCheck {
		ev.During = "check"
	}
	return ev, nil
}

// element handles one element of a top-level JSON array.
func (p *parser) element(raw json.RawMessage) {
	switch p.kind {
	case KindSnapshots:
		var sn Snapshot
		if err := json.Unmarshal(raw, &sn.SnapshotInfo); err == nil && sn.ID != "" {
			p.emit(&sn)
			return
		}
	case KindForget:
		var g ForgetGroup
		if err := json.Unmarshal(raw, &g); err == nil {
			g.pairReasons()
			p.forget.Groups++
			for _, s := range g.Keep {
				p.forget.Kept = append(p.forget.Kept, s.ID)
			}
			for _, s := range g.Remove {
				p.forget.Removed = append(p.forget.Removed, s.ID)
			}
			p.emit(&g)
			return
		}
	}
	p.emit(&LogLine{Stream: Stdout, Text: string(raw)})
}

func (p *parser) arrayDone() {
	if p.kind == KindForget && !p.forgetDone {
		p.forgetDone = true
		res := p.forget
		res.DryRun = p.dryRun
		p.emit(&res)
	}
}

// finish runs once both streams are read. A successful forget that
// printed no array (no snapshot matched) still reports its empty result; a
// successful copy reports what it copied.
func (p *parser) finish(ok bool) {
	if !ok {
		return
	}
	p.arrayDone()
	if p.kind == KindCopy {
		res := p.copied
		p.emit(&res)
	}
}

// The lines of restic copy's text report (0.14 to 0.18): a header per
// source snapshot ("snapshot 1a2b3c4d of [/srv] at … by user@host", 0.14
// ends it with ")" instead), then either "snapshot 5e6f7a8b saved" or
// "skipping source snapshot 1a2b3c4d, was already copied to snapshot
// 5e6f7a8b".
var (
	copyHeaderRE  = regexp.MustCompile(`^snapshot ([0-9a-f]{8,64}) of \[`)
	copySavedRE   = regexp.MustCompile(`^snapshot ([0-9a-f]{8,64}) saved$`)
	copySkippedRE = regexp.MustCompile(`^skipping source snapshot ([0-9a-f]{8,64}), was already copied to snapshot ([0-9a-f]{8,64})$`)
)

func (p *parser) copyLine(text string) {
	t := strings.TrimSpace(text)
	if m := copyHeaderRE.FindStringSubmatch(t); m != nil {
		p.copySource = m[1]
		return
	}
	if m := copySavedRE.FindStringSubmatch(t); m != nil {
		p.copied.Copied = append(p.copied.Copied, CopiedSnapshot{Source: p.copySource, Snapshot: m[1]})
		p.copySource = ""
		return
	}
	if m := copySkippedRE.FindStringSubmatch(t); m != nil {
		p.copied.Skipped = append(p.copied.Skipped, CopiedSnapshot{Source: m[1], Snapshot: m[2]})
		p.copySource = ""
	}
}

// exitError builds the ExitError for a failed run.
func (p *parser) exitError(code int, scrub *scrubber) *ExitError {
	p.mu.Lock()
	defer p.mu.Unlock()
	msg := ""
	if p.exitMsg != nil {
		msg = p.exitMsg.Message
	} else {
		msg = strings.Join(p.tail, "\n")
	}
	return &ExitError{Code: code, Message: scrub.str(msg)}
}

// ansiRE matches terminal control sequences (CSI), which restic prints
// even to a pipe for some messages ("\x1b[2Ksignal interrupt received").
var ansiRE = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)

func stripANSI(s string) string {
	if !strings.Contains(s, "\x1b") {
		return s
	}
	return ansiRE.ReplaceAllString(s, "")
}

func clone(b []byte) json.RawMessage { return bytes.Clone(b) }
