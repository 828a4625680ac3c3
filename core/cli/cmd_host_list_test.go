package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestHostListSearchAndOrder(t *testing.T) {
	t.Parallel()
	srv, admin := realServer(t)
	in := invocation{env: map[string]string{envAddr: srv.URL, envToken: admin}}
	r := in.run(t, "enroll-token", "create", "--json", "--uses", "4")
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"web-a", "db1", "WEB-c", "web-b"} {
		agentEnroll(t, srv.URL, tok.Token, name)
	}
	names := func(args ...string) string {
		t.Helper()
		r := in.run(t, append([]string{"host", "list", "--json"}, args...)...)
		var hosts []struct{ Name string }
		if r.code != 0 {
			t.Fatalf("host list %v: exit %d %s", args, r.code, r.stderr)
		}
		if err := json.Unmarshal([]byte(r.stdout), &hosts); err != nil {
			t.Fatalf("host list %v: %v\n%s", args, err, r.stdout)
		}
		var out []string
		for _, h := range hosts {
			out = append(out, h.Name)
		}
		return strings.Join(out, " ")
	}
	for args, want := range map[string]string{
		"":                                      "WEB-c db1 web-a web-b",
		"--search web":                          "WEB-c web-a web-b",
		"--search web --order desc":             "web-b web-a WEB-c",
		"--search web --sort name --order desc": "web-b web-a WEB-c",
		"--search nothing":                      "",
		"--sort status --order desc":            "WEB-c db1 web-a web-b",
	} {
		if got := names(strings.Fields(args)...); got != want {
			t.Errorf("host list %s: %q, want %q", args, got, want)
		}
	}
	// A table too, in the order asked for.
	r = in.run(t, "host", "list", "--search", "WEB", "--order", "desc")
	if r.code != 0 || strings.Index(r.stdout, "web-b") > strings.Index(r.stdout, "web-a") || !strings.Contains(r.stdout, "WEB-c") || strings.Contains(r.stdout, "db1") {
		t.Fatalf("table:\n%s", r.stdout)
	}
	for args, want := range map[string]string{
		"--sort size":    `--sort "size": want name, status, last_seen or last_backup`,
		"--order upward": `--order "upward": want asc or desc`,
	} {
		r := in.run(t, append([]string{"host", "list"}, strings.Fields(args)...)...)
		if r.code != 2 || !strings.Contains(r.stderr, want) {
			t.Errorf("host list %s: exit %d %q, want 2 and %q", args, r.code, r.stderr, want)
		}
	}
}
