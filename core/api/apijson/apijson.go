// Package apijson holds the JSON objects the API answers with, so that
// the web UI (which calls the API in process) and the CLI (over HTTP)
// decode into the API's own types instead of copies of them. It imports
// nothing of the server's.
package apijson

import (
	"fmt"
	"strings"
	"time"
)

// Hook is a hook as the API takes and shows it. timeout is a duration
// ("30s", "5m"; default 5m).
type Hook struct {
	Command        string `json:"command"`
	Timeout        string `json:"timeout,omitempty"`
	TimeoutSeconds int64  `json:"timeout_seconds,omitempty"`
}

// Retention is a forget policy as the API takes and shows it.
type Retention struct {
	KeepLast    int      `json:"keep_last,omitempty"`
	KeepHourly  int      `json:"keep_hourly,omitempty"`
	KeepDaily   int      `json:"keep_daily,omitempty"`
	KeepWeekly  int      `json:"keep_weekly,omitempty"`
	KeepMonthly int      `json:"keep_monthly,omitempty"`
	KeepYearly  int      `json:"keep_yearly,omitempty"`
	KeepWithin  string   `json:"keep_within,omitempty"`
	KeepTags    []string `json:"keep_tags,omitempty"`
	GroupBy     string   `json:"group_by,omitempty"`
}

// ScheduleRun is the newest run of a schedule.
type ScheduleRun struct {
	JobID      string     `json:"job_id"`
	HostID     string     `json:"host_id"`
	Status     string     `json:"status"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string     `json:"error"`
}

// Schedule is a schedule as the API shows it. next_run is when the
// schedule is next due by its cron expression or interval, before the
// agent adds its jitter; null while disabled.
type Schedule struct {
	ID               string       `json:"id"`
	Name             string       `json:"name"`
	HostID           *string      `json:"host_id"`
	Host             string       `json:"host"`
	HostTag          *string      `json:"host_tag"`
	Repository       string       `json:"repository"`
	RepositoryID     string       `json:"repository_id"`
	Kind             string       `json:"kind"`
	Paths            []string     `json:"paths"`
	Excludes         []string     `json:"excludes"`
	ExcludeFiles     []string     `json:"exclude_files"`
	ExcludeIfPresent []string     `json:"exclude_if_present"`
	ExcludeCaches    bool         `json:"exclude_caches"`
	Tags             []string     `json:"tags"`
	OneFileSystem    bool         `json:"one_file_system"`
	Cron             *string      `json:"cron"`
	Every            *string      `json:"every"`
	EverySeconds     *int64       `json:"every_seconds"`
	Timezone         string       `json:"timezone"`
	Jitter           string       `json:"jitter"`
	JitterSeconds    int64        `json:"jitter_seconds"`
	CatchUp          bool         `json:"catch_up"`
	LimitUploadKiB   int64        `json:"limit_upload_kib"`
	LimitDownloadKiB int64        `json:"limit_download_kib"`
	Retention        *Retention   `json:"retention"`
	Prune            bool         `json:"prune"`
	Enabled          bool         `json:"enabled"`
	ManagedBy        string       `json:"managed_by"`
	CreatedAt        time.Time    `json:"created_at"`
	UpdatedAt        time.Time    `json:"updated_at"`
	NextRun          *time.Time   `json:"next_run"`
	LastRun          *ScheduleRun `json:"last_run"`
	LastSuccessAt    *time.Time   `json:"last_success_at"`
	// CopyTo is the secondary repository's name (CopyToID its id), null
	// without one.
	CopyTo   *string `json:"copy_to"`
	CopyToID *string `json:"copy_to_id"`
	// Stale says the schedule's last success (or, before its first, its
	// creation) is older than twice its interval.
	Stale bool `json:"stale"`
	// HasHooks says the schedule has hooks of its own; PreHook and
	// PostHook show them, to admins only.
	HasHooks bool `json:"has_hooks"`
	// ReadDataSubset is a check schedule's --read-data-subset.
	ReadDataSubset string `json:"read_data_subset"`
	PreHook        *Hook  `json:"pre_hook,omitempty"`
	PostHook       *Hook  `json:"post_hook,omitempty"`
	// PruneKey is the key the schedule's step that removes data runs
	// with: "admin", "default", or null when it removes none
	// (core/api/schedule_prunekey.go).
	PruneKey *string `json:"prune_key"`
}

// AlertRule is an alert rule as the API shows it.
type AlertRule struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	On             string    `json:"on"`
	Channels       []string  `json:"channels"`
	MinSeverity    string    `json:"min_severity"`
	RepeatInterval string    `json:"repeat_interval"`
	Enabled        bool      `json:"enabled"`
	Kinds          []string  `json:"kinds"`
	Hosts          []string  `json:"hosts"`
	Tags           []string  `json:"tags"`
	Repositories   []string  `json:"repositories"`
	MaxAge         string    `json:"max_age,omitempty"`
	After          string    `json:"after,omitempty"`
	Intervals      int       `json:"intervals,omitempty"`
	ManagedBy      string    `json:"managed_by"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Alert is an alert as the API shows it.
type Alert struct {
	ID             string     `json:"id"`
	RuleID         string     `json:"rule_id"`
	Rule           string     `json:"rule"`
	Kind           string     `json:"kind"`
	Severity       string     `json:"severity"`
	Status         string     `json:"status"`
	Fingerprint    string     `json:"fingerprint"`
	HostID         string     `json:"host_id"`
	Host           string     `json:"host"`
	JobID          string     `json:"job_id"`
	RepositoryID   string     `json:"repository_id"`
	Repository     string     `json:"repository"`
	Title          string     `json:"title"`
	Body           string     `json:"body"`
	Occurrences    int        `json:"occurrences"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	AcknowledgedBy string     `json:"acknowledged_by"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	ResolvedBy     string     `json:"resolved_by"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	LastNotifiedAt *time.Time `json:"last_notified_at"`
}

// Text is the policy in words: "last 3, daily 7, within 1y".
func (r *Retention) Text() string {
	if r == nil {
		return ""
	}
	var parts []string
	for _, k := range []struct {
		label string
		n     int
	}{{"last", r.KeepLast}, {"hourly", r.KeepHourly}, {"daily", r.KeepDaily}, {"weekly", r.KeepWeekly}, {"monthly", r.KeepMonthly}, {"yearly", r.KeepYearly}} {
		if k.n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k.label, k.n))
		}
	}
	if r.KeepWithin != "" {
		parts = append(parts, "within "+r.KeepWithin)
	}
	if len(r.KeepTags) > 0 {
		parts = append(parts, "tagged "+strings.Join(r.KeepTags, ","))
	}
	return strings.Join(parts, ", ")
}
