package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"testing"
)

// pathCheckE2E is GET /api/v1/hosts/{id}/path-check's answer.
type pathCheckE2E struct {
	Path     string `json:"path"`
	Exists   bool   `json:"exists"`
	IsDir    bool   `json:"is_dir"`
	Writable bool   `json:"writable"`
	User     string `json:"user"`
	Error    string `json:"error"`
}

// TestEndToEndPathCheck asks the real agent, through the real server's
// API, about paths on its host: the answers, that the probe leaves nothing
// behind, and 409 once the host is offline.
func TestEndToEndPathCheck(t *testing.T) {
	r := newRig(t, rigOptions{noInit: true})
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(p string) pathCheckE2E {
		t.Helper()
		status, body := r.apiGet("/api/v1/hosts/"+r.hostID+"/path-check", url.Values{"path": {p}})
		if status != http.StatusOK {
			t.Fatalf("path-check %s: %d %s", p, status, body)
		}
		var res pathCheckE2E
		if err := json.Unmarshal(body, &res); err != nil {
			t.Fatal(err)
		}
		if res.User != me.Username || res.Path != p {
			t.Errorf("path-check %s: path %q, user %q; want the path and %q", p, res.Path, res.User, me.Username)
		}
		return res
	}
	if got := check(base); !got.Exists || !got.IsDir || !got.Writable || got.Error != "" {
		t.Errorf("a writable directory: %+v", got)
	}
	missing := filepath.Join(base, "to", "create")
	if got := check(missing); got.Exists || got.IsDir || !got.Writable {
		t.Errorf("a path to create in a writable directory: %+v", got)
	}
	if got := check(filepath.Join(file, "below")); got.Exists || got.Writable {
		t.Errorf("a path below a file: %+v", got)
	}
	if got := check(file); !got.Exists || got.IsDir || got.Writable {
		t.Errorf("a file: %+v", got)
	}
	if ents, err := os.ReadDir(base); err != nil || len(ents) != 1 {
		t.Errorf("the checked directory holds %v (%v); want only its file", ents, err)
	}
	if _, err := os.Stat(filepath.Join(base, "to")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checking a path to create created something: %v", err)
	}
	if status, body := r.apiGet("/api/v1/hosts/"+r.hostID+"/path-check", url.Values{"path": {"relative"}}); status != http.StatusBadRequest {
		t.Errorf("a relative path: %d %s; want 400", status, body)
	}

	r.agent.kill(t)
	r.waitHostStatus("offline")
	if status, body := r.apiGet("/api/v1/hosts/"+r.hostID+"/path-check", url.Values{"path": {base}}); status != http.StatusConflict {
		t.Errorf("an offline host: %d %s; want 409", status, body)
	}
}
