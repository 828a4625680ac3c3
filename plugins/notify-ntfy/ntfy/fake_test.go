package ntfy

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeNtfyServer is a fake of ntfy's publish API on an httptest server, for
// the ntfy server itself cannot be installed here. It accepts the two ways
// of publishing that ntfy documents (https://docs.ntfy.sh/publish/): a JSON
// message PUT or POSTed to the root URL, and a plain-text body PUT or POSTed
// to /TOPIC with Title, Priority, Tags and Click headers. It validates
// topics and priorities, enforces access control as ntfy does (no
// credentials: 403 forbidden; wrong ones: 401 unauthorized), answers with
// ntfy's message or error JSON, and records every published message.
type fakeNtfyServer struct {
	*httptest.Server

	// token, or user and pass, are the accepted credentials; none set
	// means the server allows anonymous publishing.
	token      string
	user, pass string
	// status, when set, is the answer to every publish, with ntfy's error
	// JSON for errorText.
	status    int
	errorText string

	mu        sync.Mutex
	published []published
}

// published is one message the fake accepted, with the request it came in.
type published struct {
	Path     string
	Header   http.Header
	Topic    string   `json:"topic"`
	Title    string   `json:"title"`
	Message  string   `json:"message"`
	Priority int      `json:"priority"`
	Tags     []string `json:"tags"`
	Click    string   `json:"click"`
	Actions  []action `json:"actions"`
}

// newFakeNtfyServer starts a fake ntfy server; configure is called before
// it starts serving. It is closed when t ends.
func newFakeNtfyServer(t testing.TB, configure func(f *fakeNtfyServer)) *fakeNtfyServer {
	t.Helper()
	f := &fakeNtfyServer{}
	if configure != nil {
		configure(f)
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// messages returns what has been published so far.
func (f *fakeNtfyServer) messages() []published {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]published(nil), f.published...)
}

// last returns the last published message.
func (f *fakeNtfyServer) last(t testing.TB) published {
	t.Helper()
	msgs := f.messages()
	if len(msgs) == 0 {
		t.Fatal("nothing was published to the fake ntfy server")
	}
	return msgs[len(msgs)-1]
}

func (f *fakeNtfyServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		fail(w, http.StatusMethodNotAllowed, 40500, "method not allowed")
		return
	}
	if !f.authorized(w, r) {
		return
	}
	if f.status != 0 {
		fail(w, f.status, f.status*100, f.errorText)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		fail(w, http.StatusBadRequest, 40000, "invalid request")
		return
	}
	m := published{Path: r.URL.Path, Header: r.Header.Clone()}
	if r.URL.Path == "/" {
		if err := json.Unmarshal(body, &m); err != nil {
			fail(w, http.StatusBadRequest, 40017, "invalid request: request body must be message JSON")
			return
		}
	} else {
		m.Topic = strings.TrimPrefix(r.URL.Path, "/")
		m.Message = string(body)
		m.Title = r.Header.Get("Title")
		m.Click = r.Header.Get("Click")
		if tags := r.Header.Get("Tags"); tags != "" {
			m.Tags = strings.Split(tags, ",")
		}
		if p := r.Header.Get("Priority"); p != "" {
			if m.Priority, err = strconv.Atoi(p); err != nil {
				m.Priority = -1
			}
		}
	}
	if !topicPattern.MatchString(m.Topic) {
		fail(w, http.StatusBadRequest, 40009, "invalid request: topic invalid")
		return
	}
	if m.Priority < 0 || m.Priority > 5 {
		fail(w, http.StatusBadRequest, 40007, "invalid priority")
		return
	}
	if len(m.Actions) > 3 {
		fail(w, http.StatusBadRequest, 40018, "invalid request: actions invalid")
		return
	}
	f.mu.Lock()
	f.published = append(f.published, m)
	id := len(f.published)
	f.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": fmt.Sprintf("msg%d", id), "time": time.Now().Unix(), "event": "message",
		"topic": m.Topic, "title": m.Title, "message": m.Message, "priority": m.Priority,
		"tags": m.Tags, "click": m.Click,
	})
}

// authorized applies the access control; it answers the request itself
// when it is refused.
func (f *fakeNtfyServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	if f.token == "" && f.user == "" {
		return true
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		fail(w, http.StatusForbidden, 40301, "forbidden")
		return false
	}
	if token, ok := strings.CutPrefix(h, "Bearer "); ok && f.token != "" && token == f.token {
		return true
	}
	if user, pass, ok := r.BasicAuth(); ok && f.user != "" && user == f.user && pass == f.pass {
		return true
	}
	fail(w, http.StatusUnauthorized, 40101, "unauthorized")
	return false
}

// fail answers with ntfy's error JSON.
func fail(w http.ResponseWriter, status, code int, text string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "http": status, "error": text})
}
