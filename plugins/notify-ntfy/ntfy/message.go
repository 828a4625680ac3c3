package ntfy

import (
	"strings"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/sdk/notify"
)

// maxMessageBytes is ntfy's default limit on a message body; a longer one
// is turned into an attachment or refused, depending on the server.
const maxMessageBytes = 4096

// maxActions is the number of action buttons ntfy allows on a message.
const maxActions = 3

// message is ntfy's JSON publish format.
type message struct {
	Topic    string   `json:"topic"`
	Title    string   `json:"title,omitempty"`
	Message  string   `json:"message"`
	Priority int      `json:"priority,omitempty"`
	Tags     []string `json:"tags,omitempty"`
	Click    string   `json:"click,omitempty"`
	Actions  []action `json:"actions,omitempty"`
}

// action is an action button; restic-manager uses "view" only, which opens
// a URL.
type action struct {
	Action string `json:"action"`
	Label  string `json:"label"`
	URL    string `json:"url"`
}

// buildMessage turns a notification into what is published.
func buildMessage(s *settings, n notify.Notification) message {
	m := message{
		Topic:    s.topic,
		Title:    n.Title,
		Message:  messageBody(n),
		Priority: s.priority,
		Tags:     tags(n, s.tags),
	}
	if m.Priority == 0 {
		m.Priority = severityPriority(n.Severity)
	}
	for _, l := range n.Links {
		if l.URL == "" {
			continue
		}
		if m.Click == "" {
			m.Click = l.URL
		}
		if len(m.Actions) < maxActions {
			label := l.Title
			if label == "" {
				label = "Open"
			}
			m.Actions = append(m.Actions, action{Action: "view", Label: label, URL: l.URL})
		}
	}
	return m
}

// severityPriority maps a severity to ntfy's priority: info is the
// default (3), warning high (4), critical max (5).
func severityPriority(s notify.Severity) int {
	switch s {
	case notify.SeverityWarning:
		return 4
	case notify.SeverityCritical:
		return 5
	}
	return 3
}

// tags returns the message's tags: an emoji for the outcome or severity
// (ntfy shows the short codes as emojis in front of the title), then the
// event kind and the host as plain tags, then the configured ones.
func tags(n notify.Notification, extra []string) []string {
	var out []string
	switch {
	case n.Event == notify.EventJobSucceeded || n.Event == notify.EventAlertResolved:
		out = append(out, "white_check_mark")
	case n.Severity == notify.SeverityCritical:
		out = append(out, "rotating_light")
	case n.Severity == notify.SeverityWarning:
		out = append(out, "warning")
	}
	if n.Event != "" {
		out = append(out, n.Event)
	}
	if n.Host != "" && !strings.Contains(n.Host, ",") {
		out = append(out, n.Host)
	}
	return append(out, extra...)
}

// messageBody is the notification's body followed by the host and the job
// it is about, cut to what ntfy accepts.
func messageBody(n notify.Notification) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(n.Body))
	var facts []string
	if n.Host != "" {
		facts = append(facts, "host: "+n.Host)
	}
	if n.Job != "" {
		facts = append(facts, "job: "+n.Job)
	}
	if len(facts) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(strings.Join(facts, " · "))
	}
	if b.Len() == 0 {
		// ntfy would publish "triggered" for an empty message.
		b.WriteString(n.Title)
	}
	return truncate(b.String(), maxMessageBytes)
}

// truncate cuts s to at most max bytes on a character boundary, marking
// the cut with an ellipsis.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	const ellipsis = "…"
	cut := limit - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}
