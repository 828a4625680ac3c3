package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
)

// writeJSON prints v as indented JSON followed by a newline. Raw messages
// from the server pass through unchanged apart from the indentation, so
// fields this CLI does not know about still reach scripts.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// decodeItems decodes each raw list item into a T.
func decodeItems[T any](raw []json.RawMessage) ([]T, error) {
	out := make([]T, 0, len(raw))
	for _, r := range raw {
		var v T
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, fmt.Errorf("the server's answer is not the JSON expected: %w", err)
		}
		out = append(out, v)
	}
	return out, nil
}

// decodeObject decodes one raw object into v.
func decodeObject(raw json.RawMessage, v any) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("the server's answer is not the JSON expected: %w", err)
	}
	return nil
}

// table prints aligned columns for people.
type table struct {
	tw *tabwriter.Writer
}

// newTable starts a table with a header row.
func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	fmt.Fprintln(t.tw, strings.Join(headers, "\t"))
	return t
}

// row adds one row; each value goes through cell.
func (t *table) row(values ...string) {
	for i, v := range values {
		values[i] = cell(v)
	}
	fmt.Fprintln(t.tw, strings.Join(values, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// writeFields prints "Key:  value" lines for one object, aligned.
func writeFields(w io.Writer, fields [][2]string) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, f := range fields {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], cell(f[1]))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// cell makes a value safe for a table: "-" when empty, control characters
// (tabs, newlines, terminal escapes from user-supplied names) replaced.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return sanitize(s)
}

// sanitize replaces control characters with '?', so text from the server
// can neither break a table nor drive the terminal.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

// fmtTime renders a time for a table: RFC 3339 in local time, "-" for null.
func fmtTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}
