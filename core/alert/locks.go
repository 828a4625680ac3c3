package alert

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// resticExitLocked is restic's exit code for "repository is already
// locked" (restic 0.17 and later; older ones exit 1 and only say so).
const resticExitLocked = 11

// What restic prints about the lock that stopped it, in every version
// from 0.14 to 0.18:
//
//	unable to create lock in backend: repository is already locked [exclusively ]by PID 5317 on web-1 by root (UID 0, GID 0)
//	lock was created at 2026-11-26 21:20:16 (3.334946417s ago)
//	storage ID 56634b4d
var (
	lockHolderRE = regexp.MustCompile(`repository is already locked (exclusively )?by ([^\n]+)`)
	lockAgeRE    = regexp.MustCompile(`lock was created at [^\n(]*\(([0-9][0-9a-zµ.]*) ago\)`)
)

// lockSeen is what a job's failure says about the lock that stopped it.
type lockSeen struct {
	since  time.Time
	holder string
}

// parseLock reads a failed job's error: whether restic found the
// repository locked and, if it says, since when and by whom. The creation
// time is restic's age of the lock taken back from the job's end, since
// restic prints the time itself in the agent's own time zone.
func parseLock(j store.Job, end time.Time) (lockSeen, bool) {
	locked := (j.ExitCode != nil && *j.ExitCode == resticExitLocked) || strings.Contains(j.Error, "repository is already locked")
	if !locked {
		return lockSeen{}, false
	}
	l := lockSeen{since: end}
	if m := lockHolderRE.FindStringSubmatch(j.Error); m != nil {
		l.holder = strings.TrimSpace(m[2])
		if m[1] != "" {
			l.holder += " (exclusive)"
		}
	}
	if m := lockAgeRE.FindStringSubmatch(j.Error); m != nil {
		if age, err := time.ParseDuration(m[1]); err == nil && age >= 0 {
			l.since = end.Add(-age).Round(time.Second)
		}
	}
	return l, true
}

// trackLock records what a job's end says about its repository's lock: a
// failure because of a lock records the lock, any success clears it (restic
// could take its own lock, or an unlock removed the stale ones). It
// reports whether the recorded state changed.
func (e *Engine) trackLock(ctx context.Context, j store.Job, end time.Time) bool {
	if j.RepositoryID == "" {
		return false
	}
	switch j.Status {
	case store.JobFailed:
		l, ok := parseLock(j, end)
		if !ok {
			return false
		}
		err := e.store.SetRepositoryLocked(ctx, store.RepositoryLock{RepositoryID: j.RepositoryID, Since: l.since, Holder: l.holder}, e.now())
		if err != nil {
			e.log.Error("recording a repository lock failed", "repository_id", j.RepositoryID, "error", err)
			return false
		}
		e.log.Warn("repository is locked", "repository_id", j.RepositoryID, "job_id", j.ID, "since", l.since, "holder", l.holder)
		return true
	case store.JobSucceeded:
		was, err := e.store.ClearRepositoryLock(ctx, j.RepositoryID, e.now())
		if err != nil {
			e.log.Error("clearing a repository lock failed", "repository_id", j.RepositoryID, "error", err)
			return false
		}
		if was {
			e.log.Info("repository lock cleared", "repository_id", j.RepositoryID, "job_id", j.ID, "kind", j.Kind)
		}
		return was
	}
	return false
}

func lockFingerprint(repoID string) string { return "lock|repository=" + repoID }

// evaluateLocks fires repo_locked for repositories locked longer than a
// rule's After and resolves the alerts of those no longer locked.
func (e *Engine) evaluateLocks(ctx context.Context, rules []activeRule) {
	locks, err := e.store.LockedRepositories(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("reading repository locks failed", "error", err)
		}
		return
	}
	now := e.now()
	for _, r := range rules {
		active := map[string]firing{}
		for _, l := range locks {
			if !r.matchRepo(l.RepositoryID, l.Name) {
				continue
			}
			age := now.Sub(l.Since)
			if age < r.spec.After {
				continue
			}
			sev := notify.SeverityWarning
			if age >= 2*r.spec.After {
				sev = notify.SeverityCritical
			}
			fp := lockFingerprint(l.RepositoryID)
			title, body := lockText(l, age, r.spec.After)
			active[fp] = firing{
				fingerprint: fp, severity: sev, repoID: l.RepositoryID, title: title, body: body,
				at: now, when: l.Since.Add(r.spec.After),
			}
		}
		e.settle(ctx, r, active, func(a store.Alert) string {
			return fmt.Sprintf("Repository %s is no longer locked: a job on it succeeded.", repoLabel(a.RepositoryName, a.RepositoryID))
		})
	}
}

func lockText(l store.RepositoryLock, age, after time.Duration) (string, string) {
	title := fmt.Sprintf("repository %s locked for %s", l.Name, roundAge(age))
	var b strings.Builder
	fmt.Fprintf(&b, "Repository %s has been locked since %s (%s); the rule allows %s.", l.Name,
		l.Since.UTC().Format(time.RFC3339), roundAge(age), rule.FormatDuration(after))
	if l.Holder != "" {
		fmt.Fprintf(&b, " The lock is held by %s.", scrub(l.Holder))
	}
	b.WriteString("\nJobs on it fail until the lock goes. If no restic still works on the repository, run an unlock job on it.")
	return title, b.String()
}
