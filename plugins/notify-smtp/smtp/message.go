package smtp

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/textproto"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/sdk/notify"
)

// maxSubjectRunes bounds the subject, which must fit on a header line.
const maxSubjectRunes = 200

// timeLayout is how the notification's time is shown in the message.
const timeLayout = "2006-01-02 15:04:05 MST"

// sampleNotification is what the subject template is tried on in
// Configure, so that a template that cannot run (a misspelt field) is a
// configuration error rather than a failed notification.
var sampleNotification = notify.Notification{
	Event:    notify.EventTest,
	Severity: notify.SeverityWarning,
	Title:    "sample title",
	Body:     "sample body",
	Host:     "host",
	Job:      "job",
	Links:    []notify.Link{{Title: "Job", URL: "https://example.com/jobs/job"}},
	Time:     time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
}

// parseSubject parses the subject template and tries it on a sample.
func parseSubject(text string) (*template.Template, error) {
	t, err := template.New("subject").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	subject, err := renderSubject(t, sampleNotification)
	if err != nil {
		return nil, err
	}
	if subject == "" {
		return nil, errors.New("subject: the template makes an empty subject")
	}
	return t, nil
}

// renderSubject executes the subject template and makes its result fit a
// header: one line, at most maxSubjectRunes characters.
func renderSubject(t *template.Template, n notify.Notification) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, n); err != nil {
		return "", fmt.Errorf("subject: %w", err)
	}
	subject := strings.Join(strings.FieldsFunc(b.String(), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	if utf8.RuneCountInString(subject) > maxSubjectRunes {
		subject = string([]rune(subject)[:maxSubjectRunes-1]) + "…"
	}
	return subject, nil
}

// buildMessage returns the message for n: headers and a
// multipart/alternative body with a plain-text and an HTML part, CRLF line
// endings, every part quoted-printable so that the message is 7-bit clean.
// Dot-stuffing is left to the SMTP client.
func buildMessage(s *settings, n notify.Notification, now time.Time) ([]byte, error) {
	subject, err := renderSubject(s.subject, n)
	if err != nil {
		return nil, err
	}
	var html bytes.Buffer
	if err := htmlBody.Execute(&html, newHTMLView(n)); err != nil {
		return nil, fmt.Errorf("rendering the HTML part: %w", err)
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	if err := writePart(mw, "text/plain", textBody(n)); err != nil {
		return nil, err
	}
	if err := writePart(mw, "text/html", html.String()); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	to := make([]string, len(s.to))
	for i, a := range s.to {
		to[i] = a.String()
	}
	var msg bytes.Buffer
	header := func(name, value string) {
		msg.WriteString(name + ": " + value + "\r\n")
	}
	header("From", s.from.String())
	// Long headers are folded (a line break before white space) so that no
	// line exceeds SMTP's limit: between addresses, and between the
	// encoded words of a subject that is not ASCII.
	header("To", strings.Join(to, ",\r\n "))
	header("Subject", strings.ReplaceAll(mime.QEncoding.Encode("utf-8", subject), "?= =?", "?=\r\n =?"))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", messageID(s.from.Address, now))
	header("MIME-Version", "1.0")
	header("Content-Type", mime.FormatMediaType("multipart/alternative", map[string]string{"boundary": mw.Boundary()}))
	// RFC 3834: a machine wrote this; vacation responders stay quiet.
	header("Auto-Submitted", "auto-generated")
	header("X-Auto-Response-Suppress", "All")
	header("X-Restic-Manager-Event", headerText(n.Event))
	header("X-Restic-Manager-Severity", headerText(string(n.Severity)))
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}

// writePart adds a UTF-8, quoted-printable part of the given media type.
func writePart(mw *multipart.Writer, mediaType, content string) error {
	h := textproto.MIMEHeader{}
	h.Set("Content-Type", mediaType+"; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	w, err := mw.CreatePart(h)
	if err != nil {
		return err
	}
	qp := quotedprintable.NewWriter(w)
	if _, err := qp.Write([]byte(content)); err != nil {
		return err
	}
	return qp.Close()
}

// textBody is the plain-text part.
func textBody(n notify.Notification) string {
	var b strings.Builder
	b.WriteString(n.Title + "\n")
	if body := strings.TrimSpace(n.Body); body != "" {
		b.WriteString("\n" + body + "\n")
	}
	b.WriteString("\n")
	for _, f := range facts(n) {
		fmt.Fprintf(&b, "%-9s %s\n", f.Name+":", f.Value)
	}
	if len(n.Links) > 0 {
		b.WriteString("\n")
		for _, l := range n.Links {
			if l.Title != "" {
				b.WriteString(l.Title + ": ")
			}
			b.WriteString(l.URL + "\n")
		}
	}
	b.WriteString("\n-- \nSent by restic-manager\n")
	return b.String()
}

// fact is one labelled detail of a notification.
type fact struct{ Name, Value string }

// facts are the details both parts list under the body.
func facts(n notify.Notification) []fact {
	out := []fact{{"Event", n.Event}, {"Severity", string(n.Severity)}}
	if n.Host != "" {
		out = append(out, fact{"Host", n.Host})
	}
	if n.Job != "" {
		out = append(out, fact{"Job", n.Job})
	}
	if !n.Time.IsZero() {
		out = append(out, fact{"Time", n.Time.Format(timeLayout)})
	}
	return out
}

// htmlView is what the HTML template sees; html/template escapes every
// value of it for its context (text, attribute, URL).
type htmlView struct {
	Title string
	Body  string
	Color string
	Facts []fact
	Links []notify.Link
}

func newHTMLView(n notify.Notification) htmlView {
	v := htmlView{Title: n.Title, Body: strings.TrimSpace(n.Body), Facts: facts(n), Color: "#1d4ed8"}
	switch {
	case n.Event == notify.EventJobSucceeded || n.Event == notify.EventAlertResolved:
		v.Color = "#15803d"
	case n.Severity == notify.SeverityCritical:
		v.Color = "#b91c1c"
	case n.Severity == notify.SeverityWarning:
		v.Color = "#b45309"
	}
	for _, l := range n.Links {
		if l.Title == "" {
			l.Title = l.URL
		}
		v.Links = append(v.Links, l)
	}
	return v
}

// htmlBody is the HTML part: simple markup with inline styles, which is
// what mail clients render reliably.
var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; font-size: 14px; line-height: 1.45; color: #111827;">
<h2 style="margin: 0 0 12px; font-size: 18px; color: {{.Color}};">{{.Title}}</h2>
{{- if .Body}}
<p style="white-space: pre-wrap; margin: 0 0 12px;">{{.Body}}</p>
{{- end}}
<table style="border-collapse: collapse; margin: 0 0 12px;">
{{- range .Facts}}
<tr><th style="text-align: left; padding: 2px 12px 2px 0; color: #6b7280; font-weight: normal;">{{.Name}}</th><td style="padding: 2px 0;">{{.Value}}</td></tr>
{{- end}}
</table>
{{- if .Links}}
<p style="margin: 0 0 12px;">
{{- range $i, $l := .Links}}{{if $i}} · {{end}}<a href="{{$l.URL}}">{{$l.Title}}</a>{{end -}}
</p>
{{- end}}
<p style="margin: 24px 0 0; font-size: 12px; color: #9ca3af;">Sent by restic-manager</p>
</body>
</html>
`))

// messageID returns a globally unique Message-ID in the sender's domain.
func messageID(from string, now time.Time) string {
	domain := "restic-manager.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" && !strings.ContainsAny(d, "<>@ \t\r\n") {
		domain = d
	}
	var r [12]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("<%s.%d@%s>", hex.EncodeToString(r[:]), now.Unix(), domain)
}

// headerText makes s safe as the value of an unstructured header: one
// line, encoded when it is not ASCII.
func headerText(s string) string {
	s = strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}), " ")
	return mime.QEncoding.Encode("utf-8", s)
}
