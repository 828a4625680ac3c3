package alert

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/repos"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// Event kinds of notifications beyond those sdk/notify names.
const (
	EventCheckFailed   = "check_failed"
	EventPluginFailing = "plugin_failing"
	EventRepoLocked    = "repo_locked"
)

// maxDetail caps a job's or a plugin's error text in an alert.
const maxDetail = 2000

// urlLike finds what may be a URL with credentials in free text: a
// scheme's "://" run, or an rclone connection string.
var urlLike = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*:(//)?\S*@\S+|rclone:\S+`)

// scrub makes text from a job or a plugin fit for an alert: the password
// of any URL in it hidden (restic names the repository in some errors),
// control characters but line breaks dropped, and cut to maxDetail bytes.
// Repository passwords never reach it: agents scrub restic's output of
// them before it leaves the host.
func scrub(s string) string {
	s = urlLike.ReplaceAllStringFunc(s, repos.RedactURL)
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) <= maxDetail {
		return s
	}
	n := maxDetail
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// eventOf is the notification event of a condition's firing.
func eventOf(c rule.Condition) string {
	switch c {
	case rule.JobFailed:
		return notify.EventJobFailed
	case rule.CheckFailed:
		return EventCheckFailed
	case rule.BackupStale:
		return notify.EventBackupStale
	case rule.HostOffline:
		return notify.EventHostOffline
	case rule.PluginFailing:
		return EventPluginFailing
	case rule.RepoLocked:
		return EventRepoLocked
	}
	return string(c)
}

// jobSeverity is how bad a failed job of kind is: a failed backup or check
// means data is not protected or may be damaged.
func jobSeverity(kind string) notify.Severity {
	switch kind {
	case "backup", "check":
		return notify.SeverityCritical
	}
	return notify.SeverityWarning
}

func hostLabel(h store.Host, id string) string {
	switch {
	case h.Name != "":
		return h.Name
	case id != "":
		return "host " + id
	}
	return "unknown host"
}

func repoLabel(name, id string) string {
	switch {
	case name != "":
		return name
	case id != "":
		return id
	}
	return ""
}

// jobFailedText is the title and body of a failed job.
func jobFailedText(j store.Job, hostName, repoName string) (string, string) {
	title := fmt.Sprintf("%s of %s failed", j.Kind, hostName)
	var b strings.Builder
	fmt.Fprintf(&b, "The %s job on host %s", j.Kind, hostName)
	if repo := repoLabel(repoName, j.RepositoryID); repo != "" {
		fmt.Fprintf(&b, " (repository %s)", repo)
	}
	b.WriteString(" failed")
	if j.ExitCode != nil {
		fmt.Fprintf(&b, " with exit code %d", *j.ExitCode)
	}
	if msg := scrub(j.Error); msg != "" {
		b.WriteString(": " + msg)
	} else {
		b.WriteString(".")
	}
	if j.FinishedAt != nil {
		fmt.Fprintf(&b, "\nEnded at %s.", j.FinishedAt.UTC().Format(time.RFC3339))
	}
	return title, b.String()
}

// checkFailedText is the title and body of a failed check.
func checkFailedText(j store.Job, hostName, repoName string) (string, string) {
	repo := repoLabel(repoName, j.RepositoryID)
	title := fmt.Sprintf("check of repository %s failed", repo)
	_, body := jobFailedText(j, hostName, repoName)
	return title, body + "\nThe repository may be damaged or unreachable: look at the job's log before the next backup."
}

func staleText(hostName, repoName string, last *time.Time, age, maxAge time.Duration) (string, string) {
	to := ""
	if repoName != "" {
		to = " to " + repoName
	}
	if last == nil {
		return fmt.Sprintf("no successful backup of %s%s yet", hostName, to),
			fmt.Sprintf("Host %s has no successful backup%s for %s since it was enrolled or the rule was made; the rule allows %s.",
				hostName, to, roundAge(age), rule.FormatDuration(maxAge))
	}
	return fmt.Sprintf("last backup of %s%s is %s old", hostName, to, roundAge(age)),
		fmt.Sprintf("The last successful backup of host %s%s ended at %s, %s ago; the rule allows %s.",
			hostName, to, last.UTC().Format(time.RFC3339), roundAge(age), rule.FormatDuration(maxAge))
}

func offlineText(h store.Host, since time.Time, age time.Duration) (string, string) {
	body := fmt.Sprintf("The agent of host %s has been offline since %s (%s).", h.Name, since.UTC().Format(time.RFC3339), roundAge(age))
	if h.LastSeenAt != nil {
		body += fmt.Sprintf(" It was last seen at %s.", h.LastSeenAt.UTC().Format(time.RFC3339))
	} else {
		body += " It has never connected."
	}
	return fmt.Sprintf("host %s is offline", h.Name), body
}

// roundAge writes an age for people: seconds under a minute, else minutes,
// else hours and minutes.
func roundAge(d time.Duration) string {
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return d.Round(time.Minute).String()
	}
	return rule.FormatDuration(d.Round(time.Minute))
}

// links are the server's pages about an alert, the most relevant first.
func (e *Engine) links(jobID, hostID string) []notify.Link {
	base := strings.TrimRight(e.opts.PublicURL, "/")
	if base == "" {
		return nil
	}
	var out []notify.Link
	if jobID != "" {
		out = append(out, notify.Link{Title: "Job", URL: base + "/jobs/" + url.PathEscape(jobID)})
	}
	if hostID != "" {
		out = append(out, notify.Link{Title: "Host", URL: base + "/hosts/" + url.PathEscape(hostID)})
	}
	return out
}

// footer ends every alert's body: which rule and alert it is.
func footer(ruleName, alertID string, occurrences int) string {
	s := fmt.Sprintf("\n\nrule: %s · alert: %s", ruleName, alertID)
	if occurrences > 1 {
		s += fmt.Sprintf(" · occurred %d times", occurrences)
	}
	return s
}
