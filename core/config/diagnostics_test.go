package config

import (
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

func TestWriteDiagnosticsCaret(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src  string
		want string // the source line and the caret line under it
	}{
		"spaces": {
			src:  "log {\n  level = \"loud\"\n}\n",
			want: "   2:   level = \"loud\"\n                ^^^^^^\n",
		},
		"tabs stay tabs": {
			src:  "log {\n\tlevel = \"loud\"\n}\n",
			want: "   2: \tlevel = \"loud\"\n      \t        ^^^^^^\n",
		},
		"multi-byte characters count once": {
			src:  "log { level = \"lö\" }\n",
			want: "   1: log { level = \"lö\" }\n                    ^^^^\n",
		},
		"CRLF line ends": {
			src:  "log {\r\n  format = \"yaml\"\r\n}\r\n",
			want: "   2:   format = \"yaml\"\n                 ^^^^^^\n",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, files, diags := LoadBytes([]byte(tt.src), "caret.hcl")
			if !diags.HasErrors() {
				t.Fatal("want an error")
			}
			if out := diagText(t, files, diags); !strings.Contains(out, tt.want) {
				t.Errorf("want\n%s\nin\n%s", tt.want, out)
			}
		})
	}
}

func TestWriteDiagnosticsWithoutSource(t *testing.T) {
	t.Parallel()
	subject := hcl.Range{
		Filename: "gone.hcl",
		Start:    hcl.Pos{Line: 3, Column: 5, Byte: 20},
		End:      hcl.Pos{Line: 3, Column: 9, Byte: 24},
	}
	diags := hcl.Diagnostics{
		{Severity: hcl.DiagError, Summary: "Something is wrong", Detail: "Details.", Subject: &subject},
		{Severity: hcl.DiagWarning, Summary: "Nowhere in particular"},
	}
	out := diagText(t, nil, diags)
	for _, want := range []string{
		"Error: gone.hcl:3:5: Something is wrong\n",
		"(source code not available)",
		"Warning: Nowhere in particular\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in\n%s", want, out)
		}
	}
}

func TestWriteDiagnosticsLeavesDiagnosticsAlone(t *testing.T) {
	t.Parallel()
	_, files, diags := LoadBytes([]byte(`log { level = "loud" }`), "x.hcl")
	before := diags[0].Summary
	_ = diagText(t, files, diags)
	if diags[0].Summary != before {
		t.Errorf("WriteDiagnostics changed the summary to %q", diags[0].Summary)
	}
}
