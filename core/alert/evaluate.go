package alert

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// jobFingerprint is what makes two failures of jobs "the same": the host,
// the repository and the kind.
func jobFingerprint(j store.Job) string {
	return fmt.Sprintf("host=%s|repository=%s|kind=%s", j.HostID, j.RepositoryID, j.Kind)
}

func checkFingerprint(repoID string) string { return "repository=" + repoID }

func offlineFingerprint(hostID string) string { return "host=" + hostID }

func staleFingerprint(hostID, repoID string) string {
	return fmt.Sprintf("host=%s|repository=%s", hostID, repoID)
}

// onJobEnd matches a job that ended against the rules: a failed job fires
// job_failed and check_failed rules, a succeeded one resolves their alerts
// for the same job kind, host and repository (and a succeeded backup
// settles backup_stale at once).
func (e *Engine) onJobEnd(ctx context.Context, je jobEnd) {
	if done, err := e.store.JobAlertsDone(ctx, je.id); err == nil && done {
		return // evaluated already, by catchUp
	}
	j, err := e.store.GetJob(ctx, je.id)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Warn("reading an ended job failed", "job_id", je.id, "error", err)
		}
		return
	}
	switch j.Status {
	case store.JobFailed, store.JobSucceeded:
	case store.JobCancelled, store.JobSkipped:
		e.markDone(ctx, j.ID)
		return
	default:
		return // not ended
	}
	// Marked once every rule has seen the job: a server that stops before
	// evaluates it at its next start (catchUp).
	defer e.markDone(ctx, j.ID)
	when := je.at
	if j.FinishedAt != nil {
		when = *j.FinishedAt
	}
	lockChanged := e.trackLock(ctx, j, when)
	rules := e.rules(ctx)
	if len(rules) == 0 {
		return
	}
	if lockChanged {
		if locked := rulesOn(rules, rule.RepoLocked); len(locked) > 0 {
			e.evaluateLocks(ctx, locked)
		}
	}
	h, err := e.store.GetHost(ctx, j.HostID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		e.log.Warn("reading a job's host failed", "job_id", j.ID, "error", err)
	}
	hostName := hostLabel(h, j.HostID)
	repoName := ""
	if j.RepositoryID != "" {
		if repo, err := e.store.GetRepository(ctx, j.RepositoryID); err == nil {
			repoName = repo.Name
		}
	}
	failed := j.Status == store.JobFailed
	settleStale := false
	for _, r := range rules {
		switch r.spec.On {
		case rule.JobFailed:
			if (len(r.spec.Kinds) > 0 && !slices.Contains(r.spec.Kinds, j.Kind)) || !r.matchHost(h) || !r.matchRepo(j.RepositoryID, repoName) {
				continue
			}
			fp := jobFingerprint(j)
			if !failed {
				e.resolveFingerprint(ctx, r, fp, fmt.Sprintf("The %s job %s on host %s succeeded.", j.Kind, j.ID, hostName))
				continue
			}
			title, body := jobFailedText(j, hostName, repoName)
			e.fire(ctx, r, firing{
				fingerprint: fp, severity: jobSeverity(j.Kind), hostID: h.ID, hostName: h.Name, jobID: j.ID, repoID: j.RepositoryID,
				title: title, body: body, event: true, at: je.at, when: when,
			}, nil)
		case rule.CheckFailed:
			if j.Kind != "check" || j.RepositoryID == "" || !r.matchHost(h) || !r.matchRepo(j.RepositoryID, repoName) {
				continue
			}
			fp := checkFingerprint(j.RepositoryID)
			if !failed {
				e.resolveFingerprint(ctx, r, fp, fmt.Sprintf("The check %s of repository %s on host %s succeeded.", j.ID, repoLabel(repoName, j.RepositoryID), hostName))
				continue
			}
			title, body := checkFailedText(j, hostName, repoName)
			e.fire(ctx, r, firing{
				fingerprint: fp, severity: notify.SeverityCritical, hostID: h.ID, hostName: h.Name, jobID: j.ID, repoID: j.RepositoryID,
				title: title, body: body, event: true, at: je.at, when: when,
			}, nil)
		case rule.BackupStale:
			if j.Kind == "backup" && !failed {
				settleStale = true
			}
		}
	}
	if settleStale {
		e.evaluateStale(ctx, rulesOn(rules, rule.BackupStale))
	}
}

// evaluateState checks the conditions that hold over time: host_offline,
// backup_stale and repo_locked.
func (e *Engine) evaluateState(ctx context.Context) {
	rules := e.rules(ctx)
	offline := rulesOn(rules, rule.HostOffline)
	if len(offline) > 0 {
		e.evaluateOffline(ctx, offline)
	} else {
		clear(e.offlineSince)
	}
	if stale := rulesOn(rules, rule.BackupStale); len(stale) > 0 {
		e.evaluateStale(ctx, stale)
	}
	if locked := rulesOn(rules, rule.RepoLocked); len(locked) > 0 {
		e.evaluateLocks(ctx, locked)
	}
}

// evaluateOffline fires host_offline for hosts offline longer than a
// rule's After, and resolves the alerts of hosts that are back. A host's
// offline time counts from when the engine first saw it offline, which is
// when its status changed (the row's updated_at) for a host already
// offline when the engine started.
func (e *Engine) evaluateOffline(ctx context.Context, rules []activeRule) {
	hosts, err := e.store.ActiveHosts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("reading hosts failed", "error", err)
		}
		return
	}
	now := e.now()
	seen := map[string]bool{}
	byID := map[string]store.Host{}
	for _, h := range hosts {
		seen[h.ID] = true
		byID[h.ID] = h
		if h.Status != store.HostOffline {
			delete(e.offlineSince, h.ID)
			continue
		}
		if _, ok := e.offlineSince[h.ID]; !ok {
			since := h.UpdatedAt
			if since.After(now) {
				since = now
			}
			e.offlineSince[h.ID] = since
		}
	}
	for id := range e.offlineSince {
		if !seen[id] {
			delete(e.offlineSince, id)
		}
	}
	for _, r := range rules {
		active := map[string]firing{}
		for _, h := range hosts {
			since, off := e.offlineSince[h.ID]
			if !off || !r.matchHost(h) || now.Sub(since) < r.spec.After {
				continue
			}
			title, body := offlineText(h, since, now.Sub(since))
			active[offlineFingerprint(h.ID)] = firing{
				fingerprint: offlineFingerprint(h.ID), severity: notify.SeverityWarning, hostID: h.ID, hostName: h.Name,
				title: title, body: body, at: now, when: since.Add(r.spec.After),
			}
		}
		e.settle(ctx, r, active, func(a store.Alert) string {
			h, ok := byID[a.HostID]
			switch {
			case !ok:
				return fmt.Sprintf("Host %s was removed.", a.HostName)
			case h.Status == store.HostOnline:
				return fmt.Sprintf("Host %s is online again.", h.Name)
			}
			return fmt.Sprintf("Host %s no longer matches rule %s.", h.Name, r.spec.Name)
		})
	}
}

// evaluateStale fires backup_stale for each host and repository whose last
// successful backup is older than a rule's MaxAge (critical at twice that
// age), and resolves the alerts of pairs backed up since. The repositories
// of a host are the rule's, or else every repository the host has run a
// backup to; a host with none at all is one pair with no repository. Age
// counts from the host's enrollment or the rule's creation, whichever is
// later, when there never was a successful backup.
func (e *Engine) evaluateStale(ctx context.Context, rules []activeRule) {
	hosts, err := e.store.ActiveHosts(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("reading hosts failed", "error", err)
		}
		return
	}
	fresh, err := e.store.BackupFreshnesses(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("reading backup times failed", "error", err)
		}
		return
	}
	names, err := e.store.RepositoryNames(ctx)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("reading repository names failed", "error", err)
		}
		return
	}
	ids := map[string]string{} // name → id
	for id, name := range names {
		ids[name] = id
	}
	type pair struct{ host, repo string }
	last := map[pair]*time.Time{}
	reposOf := map[string][]string{}
	for _, f := range fresh {
		last[pair{f.HostID, f.RepositoryID}] = f.LastSuccess
		reposOf[f.HostID] = append(reposOf[f.HostID], f.RepositoryID)
	}
	now := e.now()
	scheds := e.backupSchedules(ctx, rules, hosts)
	for _, r := range rules {
		active := map[string]firing{}
		limits := map[string]time.Duration{}
		for _, h := range hosts {
			if !r.matchHost(h) {
				continue
			}
			repos := reposOf[h.ID]
			if r.spec.Intervals > 0 {
				for repo := range scheds[h.ID] {
					if !slices.Contains(repos, repo) {
						repos = append(repos, repo)
					}
				}
			}
			if len(r.spec.Repositories) > 0 {
				repos = nil
				for _, ref := range r.spec.Repositories {
					if _, ok := names[ref]; ok {
						repos = append(repos, ref)
					} else if id, ok := ids[ref]; ok {
						repos = append(repos, id)
					}
				}
			} else if len(repos) == 0 {
				repos = []string{""}
			}
			for _, repo := range repos {
				lastOK := last[pair{h.ID, repo}]
				ref := h.EnrolledAt
				if r.createdAt.After(ref) {
					ref = r.createdAt
				}
				limit, sched := r.spec.MaxAge, scheduleBar{}
				if r.spec.Intervals > 0 {
					if b, ok := scheds[h.ID][repo]; ok {
						sched = b
						limit = time.Duration(r.spec.Intervals) * b.interval
						if b.since.After(ref) {
							ref = b.since
						}
					}
				}
				if limit <= 0 {
					continue // no schedule to measure by, and no fixed age
				}
				if lastOK != nil {
					ref = *lastOK
				}
				age := now.Sub(ref)
				if age < limit {
					continue
				}
				sev := notify.SeverityWarning
				if age >= 2*limit {
					sev = notify.SeverityCritical
				}
				title, body := staleText(h.Name, names[repo], lastOK, age, limit)
				if sched.interval > 0 {
					body += fmt.Sprintf(" That is %d × the interval of schedule %s (%s).", r.spec.Intervals, sched.name, roundAge(sched.interval))
				}
				fp := staleFingerprint(h.ID, repo)
				limits[fp] = limit
				active[fp] = firing{
					fingerprint: fp, severity: sev, hostID: h.ID, hostName: h.Name, repoID: repo,
					title: title, body: body, at: now, when: ref.Add(limit),
				}
			}
		}
		e.settle(ctx, r, active, func(a store.Alert) string {
			to := ""
			if a.RepositoryName != "" {
				to = " to " + a.RepositoryName
			}
			if l := last[pair{a.HostID, a.RepositoryID}]; l != nil && (!l.Before(a.CreatedAt) || now.Sub(*l) < r.spec.MaxAge) {
				return fmt.Sprintf("A backup of host %s%s succeeded at %s.", a.HostName, to, l.UTC().Format(time.RFC3339))
			}
			return fmt.Sprintf("Host %s%s is no longer watched by rule %s (the host, the repository, its schedule or the rule changed).", a.HostName, to, r.spec.Name)
		})
	}
}
