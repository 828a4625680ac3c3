package smtp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
	"github.com/restic-manager/restic-manager/sdk/sdktest"
)

const password = "Tr0ub4dor&3-smtp"

// configured returns a Notifier configured with cfg, logging to logs if it
// is not nil.
func configured(t testing.TB, cfg map[string]any, logs *bytes.Buffer) *Notifier {
	t.Helper()
	logger := hclog.NewNullLogger()
	if logs != nil {
		logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	}
	n := New(logger)
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Configure(context.Background(), raw); err != nil {
		t.Fatalf("Configure(%s): %v", raw, err)
	}
	return n
}

// parsedMail is a received message taken apart as a mail client would.
type parsedMail struct {
	Header  mail.Header
	Subject string // decoded
	Text    string
	HTML    string
}

// parseMail parses a message: headers, then the parts of its
// multipart/alternative body, quoted-printable decoded.
func parseMail(t testing.TB, data []byte) parsedMail {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("reading the message: %v\n%s", err, data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decoding the subject: %v", err)
	}
	p := parsedMail{Header: msg.Header, Subject: subject}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading a part: %v", err)
		}
		b, err := io.ReadAll(part) // NextPart decodes quoted-printable
		if err != nil {
			t.Fatal(err)
		}
		// The parts have CRLF line endings, which a mail client shows as
		// line breaks.
		text := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=utf-8":
			p.Text = text
		case "text/html; charset=utf-8":
			p.HTML = text
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	if p.Text == "" || p.HTML == "" {
		t.Fatalf("the message lacks a text or an HTML part:\n%s", data)
	}
	return p
}

func TestMessage(t *testing.T) {
	t.Parallel()
	ms := newMailServer(t, mailServerOptions{})
	n := configured(t, ms.config(map[string]any{
		"from": "Backups <backups@example.com>",
		"to":   []string{"ops@example.com", "Jörg Müller <jm@example.org>"},
	}), nil)
	n.now = func() time.Time { return time.Date(2025, 6, 1, 12, 31, 0, 0, time.UTC) }
	note := sdktest.SampleNotification()
	note.Severity = notify.SeverityCritical
	note.Title = `backup of <script>alert("web-1")</script> failed`
	// Lines that need dot-stuffing on the wire, and a line longer than
	// SMTP allows unencoded.
	note.Body = "restic said:\n.\n..hidden\n.exit 1\n" + strings.Repeat("x", 1200)
	note.Links = append(note.Links, notify.Link{Title: "evil", URL: "javascript:alert(1)"})
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	got := ms.last(t)
	if got.From != "backups@example.com" || !slices.Equal(got.To, []string{"ops@example.com", "jm@example.org"}) {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	for _, line := range strings.Split(string(got.Data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line of %d bytes: %.80s…", len(line), line)
		}
	}
	m := parseMail(t, got.Data)

	if want := `[restic-manager] critical: backup of <script>alert("web-1")</script> failed`; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	for header, want := range map[string]string{
		"From":           `"Backups" <backups@example.com>`,
		"Date":           "Sun, 01 Jun 2025 12:31:00 +0000",
		"MIME-Version":   "1.0",
		"Auto-Submitted": "auto-generated",
	} {
		if v := m.Header.Get(header); v != want {
			t.Errorf("%s: %q, want %q", header, v, want)
		}
	}
	to, err := m.Header.AddressList("To")
	if err != nil || len(to) != 2 || to[1].Name != "Jörg Müller" || to[1].Address != "jm@example.org" {
		t.Errorf("To %q: %v, %v", m.Header.Get("To"), to, err)
	}
	if id := m.Header.Get("Message-ID"); !regexp.MustCompile(`^<[0-9a-f]{24}\.\d+@example\.com>$`).MatchString(id) {
		t.Errorf("Message-ID %q", id)
	}

	for _, want := range []string{
		note.Title, note.Body, "Host:     sdktest-host", "Job:      job_sdktest", "Severity: critical",
		"Time:     2025-06-01 12:30:45 UTC", "Job: https://restic-manager.invalid/jobs/job_sdktest",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("the text part lacks %q:\n%s", want, m.Text)
		}
	}
	for _, want := range []string{
		`backup of &lt;script&gt;alert(&#34;web-1&#34;)&lt;/script&gt; failed`,
		".\n..hidden\n.exit 1\n",
		`<a href="https://restic-manager.invalid/jobs/job_sdktest">Job</a>`,
		`<a href="#ZgotmplZ">evil</a>`,
		"<td style=\"padding: 2px 0;\">sdktest-host</td>",
	} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("the HTML part lacks %q:\n%s", want, m.HTML)
		}
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "javascript:") {
		t.Errorf("the HTML part is not escaped:\n%s", m.HTML)
	}
}

func TestSubjectTemplate(t *testing.T) {
	t.Parallel()
	ms := newMailServer(t, mailServerOptions{})
	n := configured(t, ms.config(map[string]any{
		"subject": "{{if eq .Severity \"critical\"}}ALARM {{end}}{{.Host}} — {{.Title}}\n{{.Job}}",
	}), nil)
	note := sdktest.SampleNotification()
	note.Severity = notify.SeverityCritical
	note.Title = "Sicherung fehlgeschlagen: Überprüfung nötig"
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	got := ms.last(t)
	m := parseMail(t, got.Data)
	if want := "ALARM sdktest-host — Sicherung fehlgeschlagen: Überprüfung nötig job_sdktest"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if raw := m.Header.Get("Subject"); !strings.HasPrefix(raw, "=?utf-8?q?") {
		t.Errorf("raw subject %q is not RFC 2047 encoded", raw)
	}
}

func TestLongHeaders(t *testing.T) {
	t.Parallel()
	ms := newMailServer(t, mailServerOptions{})
	var to []string
	for i := range 40 {
		to = append(to, fmt.Sprintf("Operator Number %d <operator-%d@example.com>", i, i))
	}
	n := configured(t, ms.config(map[string]any{"to": to, "subject": "{{.Title}}"}), nil)
	note := sdktest.SampleNotification()
	note.Title = strings.Repeat("Überprüfung ", 40)
	if err := n.Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	got := ms.last(t)
	for _, line := range strings.Split(string(got.Data), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line of %d bytes: %.80s…", len(line), line)
		}
	}
	m := parseMail(t, got.Data)
	if r := []rune(m.Subject); len(r) != maxSubjectRunes || !strings.HasPrefix(m.Subject, "Überprüfung Überprüfung") || r[len(r)-1] != '…' {
		t.Errorf("subject %q", m.Subject)
	}
	if list, err := m.Header.AddressList("To"); err != nil || len(list) != 40 {
		t.Errorf("To: %d addresses, %v", len(list), err)
	}
	if len(got.To) != 40 {
		t.Errorf("%d envelope recipients", len(got.To))
	}
}

func TestTransport(t *testing.T) {
	t.Parallel()
	cert, caFile := selfSignedCert(t)
	tests := map[string]struct {
		server mailServerOptions
		config map[string]any
		tls    bool   // the session must have been encrypted
		user   string // who must have authenticated
		err    string // in Notify's error; "" for success
	}{
		"none": {
			config: map[string]any{"tls": "none"},
		},
		"none, AUTH PLAIN to 127.0.0.1": {
			server: mailServerOptions{user: "rm", pass: password, insecureAuth: true},
			config: map[string]any{"tls": "none", "username": "rm", "password": password},
			user:   "rm",
		},
		"starttls, AUTH PLAIN": {
			server: mailServerOptions{cert: &cert, user: "rm", pass: password},
			config: map[string]any{"tls": "starttls", "username": "rm", "password": password + "\n", "ca_file": caFile},
			tls:    true,
			user:   "rm",
		},
		"starttls, AUTH LOGIN": {
			server: mailServerOptions{cert: &cert, user: "rm", pass: password, mechs: []string{sasl.Login}},
			config: map[string]any{"tls": "starttls", "username": "rm", "password": password, "ca_file": caFile},
			tls:    true,
			user:   "rm",
		},
		"implicit tls": {
			server: mailServerOptions{cert: &cert, implicit: true, user: "rm", pass: password},
			config: map[string]any{"tls": "tls", "username": "rm", "password": password, "ca_file": caFile},
			tls:    true,
			user:   "rm",
		},
		"starttls is the default": {
			server: mailServerOptions{cert: &cert},
			config: map[string]any{"tls": nil, "ca_file": caFile},
			tls:    true,
		},
		"starttls, certificate not trusted": {
			server: mailServerOptions{cert: &cert},
			config: map[string]any{"tls": "starttls"},
			err:    "STARTTLS: tls: failed to verify certificate: x509: certificate signed by unknown authority",
		},
		"starttls not offered": {
			config: map[string]any{"tls": "starttls"},
			err:    "the server does not offer STARTTLS",
		},
		"wrong password": {
			server: mailServerOptions{cert: &cert, user: "rm", pass: "other"},
			config: map[string]any{"tls": "starttls", "username": "rm", "password": password, "ca_file": caFile},
			err:    `AUTH as "rm": 535 "5.7.8 Authentication failed"`,
		},
		"AUTH required but no credentials": {
			server: mailServerOptions{cert: &cert, user: "rm", pass: password},
			config: map[string]any{"tls": "starttls", "ca_file": caFile},
			err:    `MAIL FROM <restic-manager@example.com>: 502 "5.7.0 Please authenticate first"`,
		},
		"AUTH not offered without TLS": {
			server: mailServerOptions{user: "rm", pass: password},
			config: map[string]any{"tls": "none", "username": "rm", "password": password},
			err:    "the server does not offer AUTH",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ms := newMailServer(t, tc.server)
			var logs bytes.Buffer
			cfg := ms.config(tc.config)
			if tc.config["tls"] == nil {
				delete(cfg, "tls")
			}
			n := configured(t, cfg, &logs)
			err := n.Notify(context.Background(), sdktest.SampleNotification())
			if strings.Contains(logs.String(), password) || (err != nil && strings.Contains(err.Error(), password)) {
				t.Errorf("the password leaked:\nlog: %s\nerror: %v", logs.String(), err)
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Notify = %v, want an error containing %q", err, tc.err)
				}
				if len(ms.received()) != 0 {
					t.Error("a message was accepted anyway")
				}
				return
			}
			if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := ms.last(t)
			if got.TLS != tc.tls || got.User != tc.user {
				t.Errorf("session TLS %v as %q, want TLS %v as %q", got.TLS, got.User, tc.tls, tc.user)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never greets.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := map[string]any{"host": "127.0.0.1", "port": port, "tls": "none", "from": "a@example.com", "to": []string{"b@example.com"}}

	t.Run("context", func(t *testing.T) {
		t.Parallel()
		n := configured(t, cfg, nil)
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
		c := map[string]any{"timeout": "200ms"}
		for k, v := range cfg {
			c[k] = v
		}
		n := configured(t, c, nil)
		start := time.Now()
		err := n.Notify(context.Background(), sdktest.SampleNotification())
		if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") || errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Notify = %v, want the channel's own timeout", err)
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
	if err := n.Configure(context.Background(), []byte(`{"host":"h","from":"a@b.c","to":[]}`)); err == nil {
		t.Fatal("Configure without recipients succeeded")
	}
	if err := n.Notify(context.Background(), sdktest.SampleNotification()); !errors.Is(err, plugin.ErrNotConfigured) {
		t.Errorf("Notify after a failed Configure = %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		config map[string]any
		addr   string
	}{
		"starttls": {map[string]any{}, "smtp.example.com:587"},
		"tls":      {map[string]any{"tls": "TLS"}, "smtp.example.com:465"},
		"none":     {map[string]any{"tls": "none"}, "smtp.example.com:25"},
		"port":     {map[string]any{"port": 2525}, "smtp.example.com:2525"},
	}
	for name, tc := range tests {
		cfg := map[string]any{"host": "smtp.example.com", "from": "a@example.com", "to": []string{"b@example.com"}}
		for k, v := range tc.config {
			cfg[k] = v
		}
		raw, _ := json.Marshal(cfg)
		s, err := parseConfig(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.addr != tc.addr {
			t.Errorf("%s: address %s, want %s", name, s.addr, tc.addr)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	_, caFile := selfSignedCert(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := func(extra map[string]any) map[string]any {
		cfg := map[string]any{"host": "smtp.example.com", "from": "a@example.com", "to": []string{"b@example.com"}}
		for k, v := range extra {
			if v == nil {
				delete(cfg, k)
			} else {
				cfg[k] = v
			}
		}
		return cfg
	}
	tests := map[string]struct {
		config map[string]any
		want   string
	}{
		"no host":               {valid(map[string]any{"host": nil}), "host is required"},
		"host with port":        {valid(map[string]any{"host": "smtp.example.com:587"}), "the port goes into port"},
		"tls":                   {valid(map[string]any{"tls": "ssl"}), `tls "ssl": use "starttls", "tls" or "none"`},
		"port":                  {valid(map[string]any{"port": 70000}), "port 70000 is not a TCP port"},
		"fractional port":       {valid(map[string]any{"port": 25.5}), "port 25.5"},
		"from":                  {valid(map[string]any{"from": "restic-manager"}), `from "restic-manager" is not a mail address`},
		"no recipients":         {valid(map[string]any{"to": []string{}}), "to needs at least one recipient"},
		"bad recipient":         {valid(map[string]any{"to": []string{"ops@example.com", "ops at example.com"}}), `to: "ops at example.com" is not a mail address`},
		"username only":         {valid(map[string]any{"username": "u"}), "username is set but password is not"},
		"password only":         {valid(map[string]any{"password": password}), "password is set but username is not"},
		"password in the clear": {valid(map[string]any{"tls": "none", "username": "u", "password": password}), `tls = "none" would send the password unencrypted to smtp.example.com`},
		"subject syntax":        {valid(map[string]any{"subject": "{{.Title"}), "subject: template: subject:1: unclosed action"},
		"subject field":         {valid(map[string]any{"subject": "{{.Titel}}"}), "can't evaluate field Titel"},
		"empty subject":         {valid(map[string]any{"subject": "{{/* nothing */}}"}), "empty subject"},
		"missing ca_file":       {valid(map[string]any{"ca_file": "/nonexistent/ca.pem"}), "ca_file: open /nonexistent/ca.pem"},
		"ca_file without PEM":   {valid(map[string]any{"ca_file": notPEM}), "holds no PEM certificate"},
		"ca_file with none":     {valid(map[string]any{"ca_file": caFile, "tls": "none"}), `ca_file is set but tls is "none"`},
		"timeout":               {valid(map[string]any{"timeout": "30"}), `timeout "30"`},
		"unknown attribute":     {valid(map[string]any{"recipients": []string{"x@example.com"}}), `unknown field "recipients"`},
		"several at once":       {valid(map[string]any{"host": nil, "to": []string{}}), "host is required\nto needs at least one recipient"},
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
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q contains the password", err)
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
	for _, name := range []string{"host", "port", "tls", "username", "password", "from", "to", "subject"} {
		a, ok := s.Attribute(name)
		if !ok {
			t.Errorf("attribute %q missing: the names are a contract", name)
			continue
		}
		if a.Sensitive != (name == "password") {
			t.Errorf("attribute %q: Sensitive = %v", name, a.Sensitive)
		}
	}
	for _, a := range s.Attributes {
		if a.Description == "" {
			t.Errorf("attribute %q has no description", a.Name)
		}
	}
	if a, _ := s.Attribute("to"); a.Type != plugin.TypeListString || !a.Required {
		t.Errorf("to is %+v, want a required list(string)", a)
	}
}
