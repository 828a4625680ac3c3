package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
	"github.com/restic-manager/restic-manager/sdk/sdktest"
)

const secret = "whsec_9d8c7b6a5f4e3d2c1b0a"

// configured returns a Notifier with short retry waits, configured with
// cfg, logging to logs if it is not nil.
func configured(t testing.TB, cfg map[string]any, logs *bytes.Buffer) *Notifier {
	t.Helper()
	logger := hclog.NewNullLogger()
	if logs != nil {
		logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	}
	n := New(logger)
	n.retryBase = 10 * time.Millisecond
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Configure(context.Background(), raw); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	return n
}

// answers returns an answer function that writes statuses[i] (with the
// header h, if any) to request i, and 200 once they are used up.
func answers(h http.Header, statuses ...int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, i int) {
		if i >= len(statuses) {
			w.WriteHeader(http.StatusOK)
			return
		}
		for k, v := range h {
			w.Header()[k] = v
		}
		http.Error(w, http.StatusText(statuses[i])+" from the receiver", statuses[i])
	}
}

func TestDefaultBody(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, secret, nil)
	n := configured(t, map[string]any{"url": rc.URL + "/hooks/rm?token=abc", "secret": secret}, nil)
	note := sdktest.SampleNotification()
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	got := rc.last(t)
	if !got.SignatureOK {
		t.Errorf("signature %q does not verify", got.Header.Get("X-Restic-Manager-Signature"))
	}
	if got.Method != http.MethodPost || got.Path != "/hooks/rm?token=abc" {
		t.Errorf("%s %s, want POST /hooks/rm?token=abc", got.Method, got.Path)
	}
	for header, want := range map[string]string{
		"Content-Type":           "application/json",
		"User-Agent":             "restic-manager-notify-webhook/" + Version,
		"X-Restic-Manager-Event": "test",
	} {
		if v := got.Header.Get(header); v != want {
			t.Errorf("%s: %q, want %q", header, v, want)
		}
	}
	if got.Header.Get("X-Restic-Manager-Delivery") == "" {
		t.Error("no delivery id")
	}

	// The documented schema, member for member.
	var body map[string]any
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("body %s: %v", got.Body, err)
	}
	want := map[string]any{
		"event":    "test",
		"severity": "warning",
		"title":    note.Title,
		"body":     note.Body,
		"host":     "sdktest-host",
		"job":      "job_sdktest",
		"links": []any{
			map[string]any{"title": "Job", "url": note.Links[0].URL},
			map[string]any{"title": "Host", "url": note.Links[1].URL},
		},
		"time": "2025-06-01T12:30:45Z",
	}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body\n%s\nwant\n%v", got.Body, want)
	}
}

func TestDefaultBodyOfAMinimalNotification(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", nil)
	n := configured(t, map[string]any{"url": rc.URL}, nil)
	at := time.Date(2025, 6, 1, 14, 30, 45, 500_000_000, time.FixedZone("CEST", 2*3600))
	if err := n.Notify(context.Background(), notify.Notification{Event: "e", Severity: notify.SeverityInfo, Title: "t", Time: at}); err != nil {
		t.Fatal(err)
	}
	got := rc.last(t)
	const want = `{"event":"e","severity":"info","title":"t","body":"","host":"","job":"","links":[],"time":"2025-06-01T12:30:45.5Z"}`
	if string(got.Body) != want {
		t.Errorf("body %s\nwant %s", got.Body, want)
	}
	if h := got.Header.Get("X-Restic-Manager-Signature"); h != "" {
		t.Errorf("signature %q sent without a secret", h)
	}
}

func TestTemplateMethodHeaders(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, secret, nil)
	n := configured(t, map[string]any{
		"url":    rc.URL + "/services/T000/B000/XXXX",
		"method": "put",
		"headers": map[string]string{
			"Authorization": "Bearer team-token\n", // as file() reads it
			"X-Team":        "ops",
			"content-type":  "application/vnd.chat+json",
		},
		"template": `{"text": {{json (printf "[%s] %s" .Severity .Title)}}, "link": {{json (index .Links 0).URL}}, "at": "{{.Time.Format "2006-01-02"}}"}`,
		"secret":   secret,
	}, nil)
	note := sdktest.SampleNotification()
	note.Title = `backup of "web-1" failed`
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	got := rc.last(t)
	if got.Method != http.MethodPut || got.Path != "/services/T000/B000/XXXX" {
		t.Errorf("%s %s", got.Method, got.Path)
	}
	if !got.SignatureOK {
		t.Error("signature does not verify over the templated body")
	}
	for header, want := range map[string]string{
		"Authorization": "Bearer team-token",
		"X-Team":        "ops",
		"Content-Type":  "application/vnd.chat+json",
	} {
		if v := got.Header.Get(header); v != want {
			t.Errorf("%s: %q, want %q", header, v, want)
		}
	}
	var body map[string]string
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatalf("templated body %s is not JSON: %v", got.Body, err)
	}
	want := map[string]string{"text": `[warning] backup of "web-1" failed`, "link": note.Links[0].URL, "at": "2025-06-01"}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body %v, want %v", body, want)
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		statuses []int
		retries  int
		attempts int
		err      string // in Notify's error; "" for success
	}{
		"500 then success":        {statuses: []int{500}, retries: 3, attempts: 2},
		"502, 503, 408 then done": {statuses: []int{502, 503, 408}, retries: 3, attempts: 4},
		"no retry on 400":         {statuses: []int{400}, retries: 3, attempts: 1, err: "receiver answered 400 Bad Request: Bad Request from the receiver"},
		"no retry on 404":         {statuses: []int{404}, retries: 3, attempts: 1, err: "404 Not Found"},
		"retries used up":         {statuses: []int{500, 500, 500}, retries: 2, attempts: 3, err: "500 Internal Server Error: Internal Server Error from the receiver (gave up after 3 attempts)"},
		"retries 0":               {statuses: []int{500}, retries: 0, attempts: 1, err: "500 Internal Server Error"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rc := newReceiver(t, secret, answers(nil, tc.statuses...))
			n := configured(t, map[string]any{"url": rc.URL, "secret": secret, "retries": tc.retries}, nil)
			err := n.Notify(context.Background(), sdktest.SampleNotification())
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("Notify: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Notify = %v, want an error containing %q", err, tc.err)
			}
			reqs := rc.requests()
			if len(reqs) != tc.attempts {
				t.Fatalf("%d attempts, want %d", len(reqs), tc.attempts)
			}
			// Every attempt is the same delivery: same id, same body, signed.
			for _, r := range reqs {
				if !r.SignatureOK || !bytes.Equal(r.Body, reqs[0].Body) ||
					r.Header.Get("X-Restic-Manager-Delivery") != reqs[0].Header.Get("X-Restic-Manager-Delivery") {
					t.Errorf("attempts differ: %+v", reqs)
				}
			}
		})
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", func(w http.ResponseWriter, _ *http.Request, i int) {
		if i == 0 {
			// Drop the connection without an answer.
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				_ = conn.Close()
			}
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	n := configured(t, map[string]any{"url": rc.URL}, nil)
	if err := n.Notify(context.Background(), sdktest.SampleNotification()); err != nil {
		t.Fatal(err)
	}
	if got := len(rc.requests()); got != 2 {
		t.Errorf("%d attempts, want 2", got)
	}
}

func TestSlowAttemptIsRetried(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", func(w http.ResponseWriter, r *http.Request, i int) {
		if i == 0 {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	n := configured(t, map[string]any{"url": rc.URL, "timeout": "200ms"}, nil)
	if err := n.Notify(context.Background(), sdktest.SampleNotification()); err != nil {
		t.Fatal(err)
	}
	if got := len(rc.requests()); got != 2 {
		t.Errorf("%d attempts, want 2", got)
	}
}

func TestTimeoutIsNotTheCallersDeadline(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", func(_ http.ResponseWriter, r *http.Request, _ int) { <-r.Context().Done() })
	n := configured(t, map[string]any{"url": rc.URL, "timeout": "100ms", "retries": 0}, nil)
	err := n.Notify(context.Background(), sdktest.SampleNotification())
	if err == nil || !strings.Contains(err.Error(), "no answer within 100ms") || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Notify = %v, want the channel's own timeout", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", answers(http.Header{"Retry-After": {"1"}}, http.StatusTooManyRequests))
	n := configured(t, map[string]any{"url": rc.URL}, nil)
	if err := n.Notify(context.Background(), sdktest.SampleNotification()); err != nil {
		t.Fatal(err)
	}
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d attempts, want 2", len(reqs))
	}
	if gap := reqs[1].At.Sub(reqs[0].At); gap < 950*time.Millisecond {
		t.Errorf("retried after %s; the receiver asked for 1s", gap)
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", answers(http.Header{"Retry-After": {"3600"}}, http.StatusTooManyRequests))
	n := configured(t, map[string]any{"url": rc.URL}, nil)
	start := time.Now()
	err := n.Notify(context.Background(), sdktest.SampleNotification())
	if err == nil || !strings.Contains(err.Error(), "429 Too Many Requests") || !strings.Contains(err.Error(), "retry after 1h0m0s") {
		t.Errorf("Notify = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Notify took %s", d)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":                              0,
		"120":                           2 * time.Minute,
		"-5":                            0,
		"soon":                          0,
		"Sun, 01 Jun 2025 12:00:30 GMT": 30 * time.Second,
		"Sun, 01 Jun 2025 11:00:00 GMT": 0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second} {
		got := backoff(time.Second, attempt)
		if got > want || got < want*4/5 {
			t.Errorf("backoff(1s, %d) = %s, want %s less up to a fifth", attempt, got, want)
		}
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", answers(nil, 500, 500, 500))
	n := configured(t, map[string]any{"url": rc.URL}, nil)
	n.retryBase = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	err := n.Notify(ctx, sdktest.SampleNotification())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Notify = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Notify returned %s after the cancel", d)
	}
	if got := len(rc.requests()); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
}

func TestNoRetryPastTheDeadline(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", answers(nil, 503, 503))
	n := configured(t, map[string]any{"url": rc.URL}, nil)
	n.retryBase = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	err := n.Notify(ctx, sdktest.SampleNotification())
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") || !strings.Contains(err.Error(), "no time left to retry") {
		t.Errorf("Notify = %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Notify took %s instead of giving up at once", d)
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	rc := newReceiver(t, "", func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, "https://elsewhere.example.com/hook?token=sekrit", http.StatusFound)
	})
	n := configured(t, map[string]any{"url": rc.URL}, nil)
	err := n.Notify(context.Background(), sdktest.SampleNotification())
	if err == nil || !strings.Contains(err.Error(), "302 Found, a redirect") || strings.Contains(err.Error(), "sekrit") {
		t.Errorf("Notify = %v", err)
	}
	if got := len(rc.requests()); got != 1 {
		t.Errorf("%d requests", got)
	}
}

func TestSecretsStayOut(t *testing.T) {
	t.Parallel()
	const (
		urlToken    = "T0KEN-in-the-path"
		headerValue = "Bearer header-s3cret"
	)
	var logs bytes.Buffer
	rc := newReceiver(t, "", answers(nil, 500, 500, 400))
	n := configured(t, map[string]any{
		"url":     rc.URL + "/hook/" + urlToken + "?key=" + urlToken,
		"secret":  secret,
		"headers": map[string]string{"Authorization": headerValue},
	}, &logs)
	err := n.Notify(context.Background(), sdktest.SampleNotification())
	if err == nil {
		t.Fatal("Notify succeeded against a failing receiver")
	}
	// An unreachable URL, too.
	rc.Close()
	if err2 := n.Notify(context.Background(), sdktest.SampleNotification()); err2 != nil {
		err = errors.Join(err, err2)
	}
	if !strings.Contains(err.Error(), "webhook: POST "+rc.URL+": ") {
		t.Errorf("error %q does not name the target", err)
	}
	for _, s := range []string{urlToken, "header-s3cret", secret} {
		if strings.Contains(logs.String(), s) || strings.Contains(err.Error(), s) {
			t.Errorf("%q leaked:\nlog: %s\nerror: %v", s, logs.String(), err)
		}
	}
	if !strings.Contains(logs.String(), "delivery failed, retrying") {
		t.Errorf("the retries were not logged: %s", logs.String())
	}
}

func TestNotConfigured(t *testing.T) {
	t.Parallel()
	n := New(nil)
	if err := n.Notify(context.Background(), sdktest.SampleNotification()); !errors.Is(err, plugin.ErrNotConfigured) {
		t.Errorf("Notify before Configure = %v", err)
	}
	if err := n.Configure(context.Background(), []byte(`{"url":"ftp://x"}`)); err == nil {
		t.Fatal("Configure with an ftp URL succeeded")
	}
	if err := n.Notify(context.Background(), sdktest.SampleNotification()); !errors.Is(err, plugin.ErrNotConfigured) {
		t.Errorf("Notify after a failed Configure = %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		config map[string]any
		want   string
	}{
		"no url":            {map[string]any{}, "url is required"},
		"relative url":      {map[string]any{"url": "/hook"}, "http:// or https://"},
		"bad url":           {map[string]any{"url": "https://u:" + secret + "@ho st/"}, "url is not a URL"},
		"method":            {map[string]any{"url": "https://h", "method": "DELETE"}, `method "DELETE"`},
		"header name":       {map[string]any{"url": "https://h", "headers": map[string]string{"X Team": "a"}}, `"X Team" is not a valid header name`},
		"header value":      {map[string]any{"url": "https://h", "headers": map[string]string{"X-A": "a\r\nX-B: " + secret}}, "value of X-A contains a line break"},
		"reserved header":   {map[string]any{"url": "https://h", "headers": map[string]string{"x-restic-manager-signature": "sha256=00"}}, "X-Restic-Manager-Signature is set by the plugin"},
		"template syntax":   {map[string]any{"url": "https://h", "template": `{{.Title`}, "unclosed action"},
		"template field":    {map[string]any{"url": "https://h", "template": `{{.Titel}}`}, "can't evaluate field Titel"},
		"template function": {map[string]any{"url": "https://h", "template": `{{jsn .Title}}`}, `function "jsn" not defined`},
		"empty template":    {map[string]any{"url": "https://h", "template": ""}, "template is empty"},
		"timeout":           {map[string]any{"url": "https://h", "timeout": "ten seconds"}, `timeout "ten seconds"`},
		"retries":           {map[string]any{"url": "https://h", "retries": 1.5}, "retries 1.5"},
		"too many retries":  {map[string]any{"url": "https://h", "retries": 11}, "retries 11"},
		"unknown attribute": {map[string]any{"url": "https://h", "secrets": "x"}, `unknown field "secrets"`},
		"several at once":   {map[string]any{"url": "", "method": "GET"}, "url is required\nmethod \"GET\""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			raw, _ := json.Marshal(tc.config)
			err := New(nil).Configure(context.Background(), raw)
			if !errors.Is(err, plugin.ErrInvalidConfig) {
				t.Fatalf("Configure(%s) = %v, want ErrInvalidConfig", raw, err)
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
	sensitive := map[string]bool{"secret": true, "headers": true}
	for _, name := range []string{"url", "method", "headers", "template", "secret", "timeout"} {
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
	if a, _ := s.Attribute("url"); !a.Required {
		t.Error("url is not required")
	}
}

func TestSign(t *testing.T) {
	t.Parallel()
	// RFC 4231, test case 2.
	got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?"))
	if want := "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}
