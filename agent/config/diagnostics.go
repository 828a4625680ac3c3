package config

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// WriteDiagnostics prints diags for a person: each starts with
// "Error: FILE:LINE:COL: summary" (or "Warning: …"), then the source line
// with carets under the offending text, then the detail. files may be nil.
func WriteDiagnostics(w io.Writer, files *Files, diags hcl.Diagnostics) error {
	var out bytes.Buffer
	for _, d := range diags {
		kind := "Error"
		if d.Severity == hcl.DiagWarning {
			kind = "Warning"
		}
		if d.Subject == nil {
			fmt.Fprintf(&out, "%s: %s\n", kind, d.Summary)
		} else {
			s := d.Subject
			fmt.Fprintf(&out, "%s: %s:%d:%d: %s\n", kind, s.Filename, s.Start.Line, s.Start.Column, d.Summary)
			if line, caret, ok := sourceLine(files, *s); ok {
				fmt.Fprintf(&out, "\n  %4d | %s\n         %s\n", s.Start.Line, line, caret)
			}
		}
		if d.Detail != "" {
			fmt.Fprintf(&out, "\n  %s\n", d.Detail)
		}
		out.WriteByte('\n')
	}
	_, err := w.Write(out.Bytes())
	return err
}

// sourceLine returns the subject's first line and a caret line under it.
func sourceLine(files *Files, r hcl.Range) (line, caret string, ok bool) {
	if files == nil || files.byName[r.Filename] == nil {
		return "", "", false
	}
	src := files.byName[r.Filename].Bytes
	if r.Start.Byte > len(src) {
		return "", "", false
	}
	start := bytes.LastIndexByte(src[:r.Start.Byte], '\n') + 1
	end := len(src)
	if i := bytes.IndexByte(src[start:], '\n'); i >= 0 {
		end = start + i
	}
	line = strings.TrimRight(string(src[start:end]), "\r")
	var b strings.Builder
	for _, c := range string(src[start:r.Start.Byte]) {
		if c == '\t' {
			b.WriteByte('\t')
		} else {
			b.WriteByte(' ')
		}
	}
	width := utf8.RuneCount(src[r.Start.Byte:max(min(r.End.Byte, end), r.Start.Byte)])
	b.WriteString(strings.Repeat("^", max(width, 1)))
	return line, b.String(), true
}
