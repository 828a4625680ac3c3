package ui

import (
	"errors"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/restic-manager/restic-manager/core/api"
)

// The restore wizard's target host: the snapshot's own host by default, or
// another enrolled host (the API restores with a one-job key then). The
// confirm step shows where each chosen path lands on the target and asks
// the target's agent, through GET /api/v1/hosts/{id}/path-check, whether
// its user can write to the target directory.

// restoreHostsShown bounds the target host list.
const restoreHostsShown = 200

// restoreHost is a target host choice.
type restoreHost struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

// restoreHosts lists the hosts a restore may go to (not removed ones).
func (u *UI) restoreHosts(r *http.Request, c *api.Caller) ([]restoreHost, error) {
	var page itemsPage[restoreHost]
	if err := u.call(r, c, http.MethodGet, "/api/v1/hosts?sort=name&limit="+strconv.Itoa(restoreHostsShown), nil, &page); err != nil {
		return nil, err
	}
	out := page.Items[:0]
	for _, h := range page.Items {
		if h.Status != "revoked" {
			out = append(out, h)
		}
	}
	return out, nil
}

// pathMove is where one chosen path lands on the target host.
type pathMove struct{ From, To string }

// Moves maps the chosen paths onto the target: under the target directory
// with their full paths, or with the first Strip components dropped; the
// original location keeps them as they are. The whole snapshot is its
// paths.
func (f restoreForm) Moves(snapPaths []string) []pathMove {
	from := f.Includes
	if len(from) == 0 {
		from = snapPaths
	}
	strip, _ := strconv.Atoi(f.Strip)
	out := make([]pathMove, 0, len(from))
	for _, p := range from {
		out = append(out, pathMove{From: p, To: remapPath(f.Mode == "other", f.Target, p, strip)})
	}
	return out
}

// remapPath is where restic restore puts p: itself in the original
// location, else target/p, less strip leading components.
func remapPath(other bool, target, p string, strip int) string {
	if !other || target == "" {
		return p
	}
	parts := strings.Split(strings.Trim(strings.ReplaceAll(p, `\`, "/"), "/"), "/")
	if strip >= len(parts) {
		return target
	}
	return path.Join(append([]string{target}, parts[max(strip, 0):]...)...)
}

// pathCheckResult is the path check's answer.
type pathCheckResult struct {
	Path     string `json:"path"`
	Exists   bool   `json:"exists"`
	IsDir    bool   `json:"is_dir"`
	Writable bool   `json:"writable"`
	User     string `json:"user"`
	Error    string `json:"error"`
}

// targetCheck is what the confirm step says about the target directory:
// OK when the agent's user can write there, else a warning in words.
type targetCheck struct {
	OK      bool
	Message string
}

// checkTarget asks the target host's agent about dir.
func (u *UI) checkTarget(r *http.Request, c *api.Caller, host restoreHost, dir string) targetCheck {
	var res pathCheckResult
	err := u.call(r, c, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(host.ID)+"/path-check?path="+url.QueryEscape(dir), nil, &res)
	var e *api.Error
	switch {
	case errors.As(err, &e) && e.Status == http.StatusConflict:
		return targetCheck{Message: "Warning: " + host.Name + " is offline, so the target directory could not be checked. The restore waits until its agent connects."}
	case err != nil:
		_, msg := u.userMessage(err)
		return targetCheck{Message: "Warning: the target directory could not be checked on " + host.Name + ": " + msg}
	case res.Error != "":
		return targetCheck{Message: "Warning: checking " + dir + " on " + host.Name + " failed: " + res.Error}
	case res.Exists && !res.IsDir:
		return targetCheck{Message: "Warning: " + dir + " on " + host.Name + " is a file, not a directory; the restore will fail."}
	case !res.Writable:
		who := "the agent's user"
		if res.User != "" {
			who = "the agent's user (" + res.User + ")"
		}
		return targetCheck{Message: "Warning: " + who + " cannot write to " + dir + " on " + host.Name + "; the restore will fail there. Choose another directory."}
	case !res.Exists:
		return targetCheck{OK: true, Message: dir + " does not exist on " + host.Name + " yet; the agent's user (" + res.User + ") can create it."}
	}
	return targetCheck{OK: true, Message: "The agent's user (" + res.User + ") can write to " + dir + " on " + host.Name + "."}
}

// jobScopedKey is a cross-host restore's one-job key as the job page
// shows it: its state in words, and the snapshot's host.
type jobScopedKey struct {
	State        string `json:"state"`
	Note         string `json:"note"`
	SourceHostID string `json:"source_host_id"`
	SourceHost   string `json:"source_host"`
	Error        string `json:"error"`
}
