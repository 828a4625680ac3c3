package web

import (
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"
)

// These are cheap staleness checks on the committed build output; the full
// rebuild-and-compare is scripts/check-web.sh, which `make test` runs.

func TestBuiltAssetsAreEmbedded(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"app.css", "htmx.min.js", "htmx.LICENSE", "app.js"} {
		b, err := fs.ReadFile(Static(), name)
		if err != nil {
			t.Errorf("static/%s is missing: run `make web` and commit the output (%v)", name, err)
			continue
		}
		if len(b) == 0 {
			t.Errorf("static/%s is empty: run `make web`", name)
		}
	}
	css, err := fs.ReadFile(Static(), "app.css")
	if err == nil && !strings.Contains(string(css), "tailwindcss v4.") {
		t.Errorf("static/app.css was not built by Tailwind 4: run `make web`")
	}
}

func TestHTMXMatchesPinnedVersion(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(raw, &pkg); err != nil {
		t.Fatalf("package.json: %v", err)
	}
	pin := pkg.DevDependencies["htmx.org"]
	if !regexp.MustCompile(`^2\.\d+\.\d+$`).MatchString(pin) {
		t.Fatalf("package.json pins htmx.org %q; want an exact 2.x.y version", pin)
	}
	js, err := fs.ReadFile(Static(), "htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`version:"([0-9.]+)"`).FindSubmatch(js)
	if m == nil {
		t.Fatal("static/htmx.min.js carries no version: is it htmx?")
	}
	if got := string(m[1]); got != pin {
		t.Errorf("static/htmx.min.js is htmx %s, package.json pins %s: run `make web` and commit static/", got, pin)
	}
}

func TestTemplatesNeedNoCDN(t *testing.T) {
	t.Parallel()
	err := fs.WalkDir(Templates(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(Templates(), path)
		if err != nil {
			return err
		}
		for _, bad := range []string{`src="http`, `href="http`, `src="//`, `href="//`} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s loads something from another origin (%s): the UI must work offline", path, bad)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
