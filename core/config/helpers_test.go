package config

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// diagText renders diags as a user would see them.
func diagText(t *testing.T, files *Files, diags hcl.Diagnostics) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteDiagnostics(&buf, files, diags); err != nil {
		t.Fatalf("WriteDiagnostics: %v", err)
	}
	return buf.String()
}

// requireUnset fails the test when name is set, since the test relies on
// env() not finding it.
func requireUnset(t *testing.T, name string) {
	t.Helper()
	if _, ok := os.LookupEnv(name); ok {
		t.Fatalf("this test needs %s unset", name)
	}
}

// containsAll reports whether s contains every sub, ignoring how
// whitespace is laid out (WriteDiagnostics wraps detail text).
func containsAll(s string, subs ...string) bool {
	s = strings.Join(strings.Fields(s), " ")
	for _, sub := range subs {
		if !strings.Contains(s, strings.Join(strings.Fields(sub), " ")) {
			return false
		}
	}
	return true
}
