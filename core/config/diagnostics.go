package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// diagWrapWidth is where detail text wraps; source lines are never wrapped.
const diagWrapWidth = 78

// WriteDiagnostics prints diags for a person: each starts with
// "Error: FILE:LINE:COL: summary" (or "Warning: ..."), followed by the source
// line with a caret under the offending text and the detail. It uses
// hcl.NewDiagnosticTextWriter without colour. files may be nil; the source
// is then reported as not available.
func WriteDiagnostics(w io.Writer, files *Files, diags hcl.Diagnostics) error {
	sources := files.Map()
	for _, d := range diags {
		var buf bytes.Buffer
		located := *d
		if d.Subject != nil {
			located.Summary = fmt.Sprintf("%s:%d:%d: %s",
				d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column, d.Summary)
		}
		if err := hcl.NewDiagnosticTextWriter(&buf, sources, diagWrapWidth, false).WriteDiagnostic(&located); err != nil {
			return fmt.Errorf("format diagnostic: %w", err)
		}
		out := buf.Bytes()
		if d.Subject != nil {
			if f := sources[d.Subject.Filename]; f != nil {
				out = insertCaret(out, f.Bytes, *d.Subject)
			}
		}
		if _, err := w.Write(out); err != nil {
			return fmt.Errorf("write diagnostic: %w", err)
		}
	}
	return nil
}

// insertCaret adds a line of carets under the subject in the source snippet
// hcl's text writer printed: that writer marks the subject only with colour,
// which we leave off. out is one diagnostic as the writer printed it; the
// snippet is the run of "%4d: source" lines after the "  on FILE line N"
// line, ended by a blank line.
func insertCaret(out, src []byte, subject hcl.Range) []byte {
	lines := strings.SplitAfter(string(out), "\n")
	prefix := fmt.Sprintf("%4d: ", subject.Start.Line)
	inSnippet := false
	for i, line := range lines {
		switch {
		case !inSnippet && strings.HasPrefix(line, "  on "):
			inSnippet = true
		case inSnippet && line == "\n":
			return out
		case inSnippet && strings.HasPrefix(line, prefix):
			caret := strings.Repeat(" ", len(prefix)) + caretLine(src, subject) + "\n"
			return []byte(strings.Join(spliceLine(lines[:i+1], caret, lines[i+1:]), ""))
		}
	}
	return out
}

// caretLine returns the text that puts carets under subject on its first
// line: tabs in the source stay tabs so the carets line up with the line
// above, every other character becomes a space.
func caretLine(src []byte, subject hcl.Range) string {
	start := min(max(subject.Start.Byte, 0), len(src))
	lineStart := bytes.LastIndexByte(src[:start], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		lineEnd = start + i
	}
	end := min(max(subject.End.Byte, start), lineEnd)

	var b strings.Builder
	for _, r := range string(src[lineStart:start]) {
		if r == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	width := utf8.RuneCount(bytes.TrimRight(src[start:end], "\r"))
	b.WriteString(strings.Repeat("^", max(width, 1)))
	return b.String()
}

// spliceLine joins a head, one line and a tail into one slice of lines.
func spliceLine(head []string, line string, tail []string) []string {
	all := make([]string, 0, len(head)+1+len(tail))
	all = append(all, head...)
	all = append(all, line)
	return append(all, tail...)
}
