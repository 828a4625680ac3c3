package api

import (
	"net/http"
	"strings"
	"testing"
)

// Downloading hands out file contents, which viewers never see: operator+.
var dumpMatrix = map[string]access{
	"snapshot.dump": operator,
}

// The download with a real agent, restic and repository is tested end to
// end in core/cmd/restic-manager (e2e_dump_test.go); these tests cover what
// the API decides alone.
func TestDumpRefusesBeforeRunning(t *testing.T) {
	t.Parallel()
	r := newRestoreEnv(t)
	base := "/api/v1/hosts/jobhost/snapshots/" + r.snap + "/dump"
	for name, tc := range map[string]struct {
		token, query string
		status       int
		code         string
	}{
		"viewer":     {r.viewer, "?path=/etc/hosts", http.StatusForbidden, ""},
		"no hub":     {r.operator, "?path=/etc/hosts", http.StatusNotImplemented, "not_implemented"},
		"no path":    {r.operator, "", http.StatusBadRequest, "bad_path"},
		"relative":   {r.operator, "?path=etc/hosts", http.StatusBadRequest, "bad_path"},
		"dot-dot":    {r.operator, "?path=/etc/../root", http.StatusBadRequest, "bad_path"},
		"bad format": {r.operator, "?path=/etc&format=rar", http.StatusBadRequest, "bad_format"},
	} {
		t.Run(name, func(t *testing.T) {
			res := r.do(call{method: http.MethodGet, path: base + tc.query, token: tc.token})
			if res.status != tc.status {
				t.Fatalf("status %d, want %d: %s", res.status, tc.status, res.body)
			}
			if tc.code != "" && !strings.Contains(string(res.body), `"code":"`+tc.code+`"`) {
				t.Fatalf("body %s, want code %s", res.body, tc.code)
			}
		})
	}
}

func TestSafeFilename(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"report.pdf":          "report.pdf",
		"a\"b\\c:d":           "a_b_c_d",
		"line\nbreak\x00.txt": "line_break_.txt",
		"..":                  "",
		"héllo wörld.txt":     "héllo wörld.txt",
		"bad\xffutf8":         "bad_utf8",
	} {
		if got := safeFilename(in); got != want {
			t.Errorf("safeFilename(%q) = %q, want %q", in, got, want)
		}
	}
	if got := safeFilename(strings.Repeat("x", 300)); len(got) > 204 {
		t.Errorf("a 300-byte name stays %d bytes", len(got))
	}
}

func TestDumpParams(t *testing.T) {
	t.Parallel()
	file, err := dumpParams("abc", "/etc/hosts", false, "zip")
	if err != nil || string(file) != `{"snapshots":["abc"],"paths":["/etc/hosts"]}` {
		t.Errorf("file params %s, %v", file, err)
	}
	dir, err := dumpParams("abc", "/etc", true, "tar")
	if err != nil || string(dir) != `{"snapshots":["abc"],"paths":["/etc"],"extra":{"archive":"tar"}}` {
		t.Errorf("folder params %s, %v", dir, err)
	}
}
