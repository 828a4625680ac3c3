package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"text/template"
	"time"

	"github.com/restic-manager/restic-manager/sdk/notify"
)

// maxBodyBytes bounds what a template may produce.
const maxBodyBytes = 1 << 20

// Payload is the default request body: the notification as a JSON object
// whose members are always present (empty strings and an empty list when
// the notification has no such detail). docs/notifications.md documents it;
// add members, never rename or remove one.
type Payload struct {
	Event    string        `json:"event"`
	Severity string        `json:"severity"`
	Title    string        `json:"title"`
	Body     string        `json:"body"`
	Host     string        `json:"host"`
	Job      string        `json:"job"`
	Links    []PayloadLink `json:"links"`
	// Time is RFC 3339 in UTC, such as "2025-06-01T12:30:45Z".
	Time string `json:"time"`
}

// PayloadLink is a link of the default body.
type PayloadLink struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// NewPayload returns the default body of a notification.
func NewPayload(n notify.Notification) Payload {
	p := Payload{
		Event:    n.Event,
		Severity: string(n.Severity),
		Title:    n.Title,
		Body:     n.Body,
		Host:     n.Host,
		Job:      n.Job,
		Links:    make([]PayloadLink, 0, len(n.Links)),
		Time:     n.Time.UTC().Format(time.RFC3339Nano),
	}
	for _, l := range n.Links {
		p.Links = append(p.Links, PayloadLink{Title: l.Title, URL: l.URL})
	}
	return p
}

// templateFuncs are the functions a body template can call besides Go's
// built-in ones.
var templateFuncs = template.FuncMap{
	// json encodes a value as JSON, so a template building a JSON body
	// can insert strings safely: {"text": {{json .Title}}}.
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

// sampleNotification is what a template is tried on in Configure, so that a
// template that cannot run (a misspelt field) is a configuration error.
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

// parseTemplate parses a body template and tries it on a sample.
func parseTemplate(text string) (*template.Template, error) {
	if text == "" {
		return nil, errors.New("template is empty; leave it out for the default JSON body")
	}
	t, err := template.New("template").Funcs(templateFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, err
	}
	if err := t.Execute(&limitedBuffer{limit: maxBodyBytes}, sampleNotification); err != nil {
		return nil, err
	}
	return t, nil
}

// render returns the request body for n.
func (s *settings) render(n notify.Notification) ([]byte, error) {
	if s.template == nil {
		b, err := json.Marshal(NewPayload(n))
		if err != nil {
			return nil, fmt.Errorf("encoding the body: %w", err)
		}
		return b, nil
	}
	buf := &limitedBuffer{limit: maxBodyBytes}
	if err := s.template.Execute(buf, n); err != nil {
		return nil, fmt.Errorf("executing the template: %w", err)
	}
	return buf.Bytes(), nil
}

// limitedBuffer is a bytes.Buffer that refuses to grow beyond limit.
type limitedBuffer struct {
	bytes.Buffer
	limit int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.limit {
		return 0, fmt.Errorf("body larger than %d bytes", b.limit)
	}
	return b.Buffer.Write(p)
}
