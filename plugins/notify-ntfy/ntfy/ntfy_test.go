package ntfy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
	"github.com/restic-manager/restic-manager/sdk/sdktest"
)

// configured returns a Notifier configured with cfg, failing the test if
// Configure does.
func configured(t testing.TB, cfg map[string]any) *Notifier {
	t.Helper()
	n := New(hclog.NewNullLogger())
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Configure(context.Background(), raw); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	return n
}

func note(event string, sev notify.Severity) notify.Notification {
	n := sdktest.SampleNotification()
	n.Event, n.Severity = event, sev
	return n
}

func TestPublish(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		config   map[string]any
		note     notify.Notification
		priority int
		tags     []string
	}{
		"info": {
			note:     note(notify.EventTest, notify.SeverityInfo),
			priority: 3,
			tags:     []string{"test", "sdktest-host"},
		},
		"warning": {
			note:     note(notify.EventBackupStale, notify.SeverityWarning),
			priority: 4,
			tags:     []string{"warning", "backup_stale", "sdktest-host"},
		},
		"critical": {
			note:     note(notify.EventJobFailed, notify.SeverityCritical),
			priority: 5,
			tags:     []string{"rotating_light", "job_failed", "sdktest-host"},
		},
		"success": {
			note:     note(notify.EventJobSucceeded, notify.SeverityInfo),
			priority: 3,
			tags:     []string{"white_check_mark", "job_succeeded", "sdktest-host"},
		},
		"priority override by name, extra tags": {
			config:   map[string]any{"priority": "min", "tags": []string{"backup", "floppy_disk"}},
			note:     note(notify.EventJobFailed, notify.SeverityCritical),
			priority: 1,
			tags:     []string{"rotating_light", "job_failed", "sdktest-host", "backup", "floppy_disk"},
		},
		"priority override by number": {
			config:   map[string]any{"priority": "4"},
			note:     note(notify.EventTest, notify.SeverityInfo),
			priority: 4,
			tags:     []string{"test", "sdktest-host"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fake := newFakeNtfyServer(t, nil)
			cfg := map[string]any{"server": fake.URL, "topic": "backups-7f3a"}
			for k, v := range tc.config {
				cfg[k] = v
			}
			n := configured(t, cfg)
			if err := n.Notify(context.Background(), tc.note); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := fake.last(t)
			if got.Path != "/" || got.Topic != "backups-7f3a" {
				t.Errorf("published to path %q, topic %q; want JSON on / for topic backups-7f3a", got.Path, got.Topic)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if got.Title != tc.note.Title {
				t.Errorf("title %q, want %q", got.Title, tc.note.Title)
			}
			if got.Priority != tc.priority {
				t.Errorf("priority %d, want %d", got.Priority, tc.priority)
			}
			if !reflect.DeepEqual(got.Tags, tc.tags) {
				t.Errorf("tags %q, want %q", got.Tags, tc.tags)
			}
			if want := tc.note.Links[0].URL; got.Click != want {
				t.Errorf("click %q, want the first link %q", got.Click, want)
			}
			wantActions := []action{
				{Action: "view", Label: "Job", URL: tc.note.Links[0].URL},
				{Action: "view", Label: "Host", URL: tc.note.Links[1].URL},
			}
			if !reflect.DeepEqual(got.Actions, wantActions) {
				t.Errorf("actions %+v, want %+v", got.Actions, wantActions)
			}
			for _, want := range []string{tc.note.Body, "host: sdktest-host", "job: job_sdktest"} {
				if !strings.Contains(got.Message, want) {
					t.Errorf("message %q does not contain %q", got.Message, want)
				}
			}
		})
	}
}

func TestPublishUnderPath(t *testing.T) {
	t.Parallel()
	fake := newFakeNtfyServer(t, nil)
	var path string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		r.URL.Path = strings.TrimPrefix(r.URL.Path, "/ntfy")
		fake.Config.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	n := configured(t, map[string]any{"server": proxy.URL + "/ntfy/", "topic": "t"})
	if err := n.Notify(context.Background(), sdktest.SampleNotification()); err != nil {
		t.Fatal(err)
	}
	if path != "/ntfy/" {
		t.Errorf("POSTed to %q, want the server's root /ntfy/", path)
	}
}

func TestMinimalNotification(t *testing.T) {
	t.Parallel()
	fake := newFakeNtfyServer(t, nil)
	n := configured(t, map[string]any{"server": fake.URL, "topic": "t"})
	if err := n.Notify(context.Background(), notify.Notification{Event: "e", Severity: notify.SeverityInfo, Title: "only a title"}); err != nil {
		t.Fatal(err)
	}
	got := fake.last(t)
	if got.Message != "only a title" || got.Click != "" || len(got.Actions) != 0 {
		t.Errorf("published %+v", got)
	}
}

func TestLongBodyIsCut(t *testing.T) {
	t.Parallel()
	fake := newFakeNtfyServer(t, nil)
	n := configured(t, map[string]any{"server": fake.URL, "topic": "t"})
	long := sdktest.SampleNotification()
	long.Body = strings.Repeat("é", 5000)
	if err := n.Notify(context.Background(), long); err != nil {
		t.Fatal(err)
	}
	got := fake.last(t).Message
	if len(got) > maxMessageBytes || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("message of %d bytes, valid UTF-8 %v, ends %q", len(got), utf8.ValidString(got), got[len(got)-8:])
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	const token = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
	const password = "correct horse battery staple"
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("phil:"+password))
	tests := map[string]struct {
		server func(*fakeNtfyServer)
		config map[string]any
		header string // the Authorization header sent
		err    string // in Notify's error, "" for success
	}{
		"anonymous": {
			config: map[string]any{},
		},
		"token": {
			server: func(f *fakeNtfyServer) { f.token = token },
			config: map[string]any{"token": token},
			header: "Bearer " + token,
		},
		"token from a file, with its newline": {
			server: func(f *fakeNtfyServer) { f.token = token },
			config: map[string]any{"token": token + "\n"},
			header: "Bearer " + token,
		},
		"basic": {
			server: func(f *fakeNtfyServer) { f.user, f.pass = "phil", password },
			config: map[string]any{"username": "phil", "password": password},
			header: basic,
		},
		"no credentials for a protected topic": {
			server: func(f *fakeNtfyServer) { f.token = token },
			config: map[string]any{},
			err:    "403 Forbidden: forbidden (ntfy error 40301)",
		},
		"wrong token": {
			server: func(f *fakeNtfyServer) { f.token = "tk_other" },
			config: map[string]any{"token": token},
			header: "Bearer " + token,
			err:    "401 Unauthorized: unauthorized (ntfy error 40101)",
		},
		"wrong password": {
			server: func(f *fakeNtfyServer) { f.user, f.pass = "phil", "other" },
			config: map[string]any{"username": "phil", "password": password},
			header: basic,
			err:    "401 Unauthorized",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var header string
			fake := newFakeNtfyServer(t, tc.server)
			spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				header = r.Header.Get("Authorization")
				fake.Config.Handler.ServeHTTP(w, r)
			}))
			t.Cleanup(spy.Close)
			var logs bytes.Buffer
			n := New(hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Trace}))
			cfg := map[string]any{"server": spy.URL, "topic": "alerts"}
			for k, v := range tc.config {
				cfg[k] = v
			}
			raw, _ := json.Marshal(cfg)
			if err := n.Configure(context.Background(), raw); err != nil {
				t.Fatal(err)
			}
			err := n.Notify(context.Background(), sdktest.SampleNotification())
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Notify: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Notify = %v, want an error containing %q", err, tc.err)
			}
			if header != tc.header {
				t.Errorf("Authorization %q, want %q", header, tc.header)
			}
			for _, secret := range []string{token, password, strings.TrimPrefix(basic, "Basic ")} {
				if strings.Contains(logs.String(), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
					t.Errorf("a secret leaked into the log or the error:\nlog: %s\nerror: %v", logs.String(), err)
				}
			}
		})
	}
}

func TestServerErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		handler http.HandlerFunc
		want    []string
	}{
		"ntfy error JSON": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				fail(w, http.StatusTooManyRequests, 42901, "limit reached: too many requests")
			},
			want: []string{`topic "t"`, "429 Too Many Requests", "limit reached: too many requests (ntfy error 42901)"},
		},
		"proxy error page": {
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte("<html>\n<body>Bad\tgateway</body>\n</html>\n" + strings.Repeat("x", 2000)))
			},
			want: []string{"502 Bad Gateway: <html> <body>Bad gateway</body> </html> xxx", "…"},
		},
		"redirect": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "https://ntfy.example.com/", http.StatusMovedPermanently)
			},
			want: []string{"301 Moved Permanently", `redirecting to "https://ntfy.example.com/"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			n := configured(t, map[string]any{"server": srv.URL, "topic": "t"})
			err := n.Notify(context.Background(), sdktest.SampleNotification())
			if err == nil {
				t.Fatal("Notify succeeded")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if len(err.Error()) > 1000 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
		})
	}
}

func TestUnreachableServer(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	n := configured(t, map[string]any{"server": url, "topic": "t"})
	err := n.Notify(context.Background(), sdktest.SampleNotification())
	if err == nil || !strings.Contains(err.Error(), "ntfy: publish to "+url+": ") {
		t.Errorf("Notify = %v", err)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })

	t.Run("context", func(t *testing.T) {
		t.Parallel()
		n := configured(t, map[string]any{"server": srv.URL, "topic": "t", "timeout": "1m"})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		err := n.Notify(ctx, sdktest.SampleNotification())
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Notify = %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Notify returned %s after the cancel", d)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		n := configured(t, map[string]any{"server": srv.URL, "topic": "t", "timeout": "200ms"})
		start := time.Now()
		err := n.Notify(context.Background(), sdktest.SampleNotification())
		if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
			t.Errorf("Notify = %v, want a timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Notify took %s with a 200ms timeout", d)
		}
	})
}

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	n := New(nil)
	if err := n.Notify(context.Background(), sdktest.SampleNotification()); !errors.Is(err, plugin.ErrNotConfigured) {
		t.Errorf("Notify before Configure = %v", err)
	}
	if err := n.Configure(context.Background(), []byte(`{}`)); err == nil {
		t.Fatal("Configure without topic succeeded")
	}
	if err := n.Notify(context.Background(), sdktest.SampleNotification()); !errors.Is(err, plugin.ErrNotConfigured) {
		t.Errorf("Notify after a failed Configure = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Pa55"
	tests := map[string]struct {
		config string
		want   string
	}{
		"no topic":             {`{}`, "topic is required"},
		"topic with a slash":   {`{"topic":"a/b"}`, `topic "a/b": use 1 to 64 letters`},
		"long topic":           {`{"topic":"` + strings.Repeat("a", 65) + `"}`, "use 1 to 64"},
		"token and basic":      {`{"topic":"t","token":"` + secret + `","username":"u","password":"p"}`, "either token or username and password"},
		"username only":        {`{"topic":"t","username":"u"}`, "username is set but password is not"},
		"password only":        {`{"topic":"t","password":"` + secret + `"}`, "password is set but username is not"},
		"priority 6":           {`{"topic":"t","priority":"6"}`, `priority "6"`},
		"priority name":        {`{"topic":"t","priority":"loud"}`, `priority "loud"`},
		"server scheme":        {`{"topic":"t","server":"ntfy.sh"}`, "http:// or https://"},
		"server credentials":   {`{"topic":"t","server":"https://u:` + secret + `@ntfy.sh"}`, "must not contain credentials"},
		"server unparseable":   {`{"topic":"t","server":"https://u:` + secret + `@nt fy.sh/%zz"}`, "server is not a URL"},
		"timeout":              {`{"topic":"t","timeout":"10"}`, `timeout "10"`},
		"negative timeout":     {`{"topic":"t","timeout":"-1s"}`, "must be positive"},
		"tag with a comma":     {`{"topic":"t","tags":["a,b"]}`, "comma"},
		"unknown attribute":    {`{"topic":"t","prority":"5"}`, `unknown field "prority"`},
		"several at once":      {`{"topic":"","priority":"9"}`, "topic is required\npriority \"9\""},
		"token with a newline": {`{"topic":"t","token":"a\nb"}`, "token contains a line break"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := New(nil).Configure(context.Background(), []byte(tc.config))
			if !errors.Is(err, plugin.ErrInvalidConfig) {
				t.Fatalf("Configure = %v, want ErrInvalidConfig", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains a secret", err)
			}
		})
	}
}

func TestSchema(t *testing.T) {
	t.Parallel()
	s, err := New(nil).ConfigSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	sensitive := map[string]bool{"token": true, "password": true}
	for _, name := range []string{"server", "topic", "token", "username", "password", "priority"} {
		a, ok := s.Attribute(name)
		if !ok {
			t.Errorf("attribute %q missing: the names are a contract", name)
			continue
		}
		if a.Sensitive != sensitive[name] {
			t.Errorf("attribute %q: Sensitive = %v", name, a.Sensitive)
		}
	}
	for _, a := range s.Attributes {
		if a.Description == "" {
			t.Errorf("attribute %q has no description", a.Name)
		}
	}
	if a, _ := s.Attribute("topic"); !a.Required {
		t.Error("topic is not required")
	}
}
