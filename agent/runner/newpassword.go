package runner

import (
	"encoding/json"
	"strings"

	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// A key_add job carries the password of the key it adds (job_dispatch's
// new_password). The agent keeps it in memory for the job only (never in
// the spool), hands it to the backend in Job.NewPassword, and scrubs it
// from everything the job reports — log lines, error events, the summary
// and job_finished's error — whatever the backend did: the backend scrubs
// restic's output already, this is the agent's own line.

// redacted replaces the new password in what a job reports.
const redacted = "[redacted]"

// newSecretScrubber returns a replacer of secret, as written and as it
// shows inside a JSON string; nil when there is no secret.
func newSecretScrubber(secret string) *strings.Replacer {
	if secret == "" {
		return nil
	}
	pairs := []string{secret, redacted}
	if b, err := json.Marshal(secret); err == nil {
		if esc := string(b[1 : len(b)-1]); esc != secret {
			pairs = append([]string{esc, redacted}, pairs...)
		}
	}
	return strings.NewReplacer(pairs...)
}

// scrubText removes the job's new password from s.
func (j *job) scrubText(s string) string {
	if j.secretScrub == nil || s == "" {
		return s
	}
	return j.secretScrub.Replace(s)
}

// scrubEvent removes the job's new password from the text an event
// carries. Data (a dump's raw bytes) is passed on as it is.
func (j *job) scrubEvent(ev sdk.Event) sdk.Event {
	if j.secretScrub == nil {
		return ev
	}
	switch {
	case ev.Log != nil:
		l := *ev.Log
		l.Text = j.scrubText(l.Text)
		ev.Log = &l
	case ev.Error != nil:
		e := *ev.Error
		e.Message, e.Item, e.During = j.scrubText(e.Message), j.scrubText(e.Item), j.scrubText(e.During)
		ev.Error = &e
	case ev.Summary != nil:
		s := *ev.Summary
		s.Raw = json.RawMessage(j.scrubText(string(s.Raw)))
		ev.Summary = &s
	case ev.Progress != nil && len(ev.Progress.CurrentFiles) > 0:
		p := *ev.Progress
		p.CurrentFiles = make([]string, len(ev.Progress.CurrentFiles))
		for i, f := range ev.Progress.CurrentFiles {
			p.CurrentFiles[i] = j.scrubText(f)
		}
		ev.Progress = &p
	}
	return ev
}
