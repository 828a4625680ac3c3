// Package notify is the SDK for notification channel plugins: the Notifier
// interface a plugin implements, the Notification it receives, Serve for the
// plugin's main, and the go-plugin glue a host uses to call one.
//
// A notifier's main is a few lines:
//
//	func main() {
//		notify.Serve(&myNotifier{logger: plugin.Logger()})
//	}
package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Notifier is a notification channel: it delivers notifications to people,
// by mail, chat, push or anything else.
//
// The host calls Notify concurrently and only after a successful Configure;
// a Notify before that returns an error wrapping plugin.ErrNotConfigured.
type Notifier interface {
	plugin.Base

	// Notify delivers one notification and returns when it has been handed
	// over to the receiving system, or with the reason it could not be. It
	// gives up promptly when ctx is done, returning ctx.Err() (wrapped or
	// not). Retries, if any, happen inside Notify, within ctx.
	Notify(ctx context.Context, n Notification) error
}

// Severity is how urgent a notification is.
type Severity string

// The severities, least urgent first.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
)

// Valid reports whether s is one of the severities.
func (s Severity) Valid() bool {
	switch s {
	case SeverityInfo, SeverityWarning, SeverityCritical:
		return true
	}
	return false
}

// Rank orders severities: 1 for info, 2 for warning, 3 for critical, 0 for
// anything else. Notifiers use it to filter ("warning and above").
func (s Severity) Rank() int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityCritical:
		return 3
	}
	return 0
}

// Event kinds the server sends. The set is open: a notifier treats a kind
// it does not know like any other notification.
const (
	// EventTest is the notification of `restic-manager channel test`.
	EventTest = "test"
	// EventJobFailed: a job ended in status failed.
	EventJobFailed = "job_failed"
	// EventJobSucceeded: a job ended in status succeeded.
	EventJobSucceeded = "job_succeeded"
	// EventBackupStale: a schedule's last successful backup is too old.
	EventBackupStale = "backup_stale"
	// EventHostOffline: an agent has not been seen for too long.
	EventHostOffline = "host_offline"
	// EventAlertResolved: the condition of an earlier alert is gone.
	EventAlertResolved = "alert_resolved"
)

// Notification is what a channel delivers. Title and Body are plain text,
// ready to show; the other fields let a notifier format, route or tag it.
type Notification struct {
	// Event is the kind of event, one of the Event constants or another.
	Event string `json:"event"`
	// Severity is one of the Severity constants.
	Severity Severity `json:"severity"`
	// Title is one line, such as "backup of web-1 failed".
	Title string `json:"title"`
	// Body is plain text, possibly several lines.
	Body string `json:"body,omitempty"`
	// Host is the name of the host the event is about, if any.
	Host string `json:"host,omitempty"`
	// Job is the id of the job the event is about, if any.
	Job string `json:"job,omitempty"`
	// Links point to the server's pages about the event, the first one
	// being the most relevant (a notifier with room for one link uses it).
	Links []Link `json:"links,omitempty"`
	// Time is when the event happened.
	Time time.Time `json:"time"`
}

// Link is a titled URL.
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Validate reports whether n is fit to send: it has an event kind, a known
// severity and a title.
func (n Notification) Validate() error {
	switch {
	case n.Event == "":
		return fmt.Errorf("notification has no event kind")
	case !n.Severity.Valid():
		return fmt.Errorf("notification has unknown severity %q", n.Severity)
	case n.Title == "":
		return fmt.Errorf("notification has no title")
	}
	return nil
}
