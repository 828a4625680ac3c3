// Package rule defines alert rules as users write them: in the API, on the
// command line and in HCL alert blocks. It parses and validates a rule's
// fields, naming the field of every problem, and imports nothing of the
// server's, so the configuration loader, the API, the CLI and the alert
// engine (core/alert) share one definition.
package rule

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/internal/timing"
	"github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// Condition is what a rule watches.
type Condition string

// The conditions.
const (
	// JobFailed: a job ended in status failed (by kind, host, tag,
	// repository); resolved by the next successful job of the same kind,
	// host and repository.
	JobFailed Condition = "job_failed"
	// CheckFailed: a check job failed; resolved by the next successful
	// check of the repository.
	CheckFailed Condition = "check_failed"
	// BackupStale: no successful backup of a host to a repository within
	// Intervals times the interval of the backup schedule of the pair, or
	// within MaxAge; resolved by the next successful one.
	BackupStale Condition = "backup_stale"
	// HostOffline: a host's agent has been offline for longer than After;
	// resolved when it is online again.
	HostOffline Condition = "host_offline"
	// PluginFailing: a notification channel's plugin failed to deliver,
	// crashed or was given up on; resolved when it delivers (or runs)
	// again. It is reported on the rule's other channels.
	PluginFailing Condition = "plugin_failing"
	// RepoLocked: a repository has been locked for longer than After, as
	// the server learnt from a job that failed because restic found it
	// locked; resolved by the next successful job on the repository (an
	// unlock, or any other).
	RepoLocked Condition = "repo_locked"
)

// Conditions lists every condition, in the order the docs present them.
var Conditions = []Condition{JobFailed, CheckFailed, BackupStale, HostOffline, RepoLocked, PluginFailing}

// Valid reports whether c is one of the conditions.
func (c Condition) Valid() bool { return slices.Contains(Conditions, c) }

// Defaults of the optional fields.
const (
	DefaultMinSeverity    = notify.SeverityWarning
	DefaultRepeatInterval = time.Hour
	DefaultOfflineAfter   = 10 * time.Minute
	// DefaultLockedAfter is repo_locked's After: restic itself calls a
	// lock stale after 30 minutes.
	DefaultLockedAfter = 30 * time.Minute
)

// Bounds of the durations.
const (
	MinRepeatInterval = time.Second
	MaxRepeatInterval = 30 * 24 * time.Hour
	MinAge            = time.Second
	MaxAge            = 366 * 24 * time.Hour
	// MaxIntervals bounds Intervals.
	MaxIntervals = 1000
	// MaxListLen bounds each list field.
	MaxListLen = 100
)

// Field names, as the API's JSON and the HCL attributes spell them.
const (
	FieldName           = "name"
	FieldOn             = "on"
	FieldChannels       = "channels"
	FieldMinSeverity    = "min_severity"
	FieldRepeatInterval = "repeat_interval"
	FieldKinds          = "kinds"
	FieldHosts          = "hosts"
	FieldTags           = "tags"
	FieldRepositories   = "repositories"
	FieldMaxAge         = "max_age"
	FieldIntervals      = "intervals"
	FieldAfter          = "after"
)

// nameRE is what rule and channel names look like; they appear in URLs and
// CLI arguments.
var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// ValidName reports whether s is a well-formed rule or channel name.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Spec is a parsed, valid rule.
type Spec struct {
	Name           string
	On             Condition
	Channels       []string
	MinSeverity    notify.Severity
	RepeatInterval time.Duration
	Enabled        bool

	// Kinds narrows job_failed to these job kinds (none: every kind).
	Kinds []string
	// Hosts narrows the rule to hosts with these names or ids, Tags to
	// hosts with any of these tags (both: both must match).
	Hosts []string
	Tags  []string
	// Repositories narrows the rule to repositories with these names or
	// ids.
	Repositories []string
	// MaxAge is backup_stale's allowed age of the last successful backup.
	MaxAge time.Duration
	// Intervals is backup_stale's allowed age of the last successful
	// backup in intervals of the host's backup schedule to the repository
	// (its every, or the gap between two cron firings); pairs without such
	// a schedule are held to MaxAge, if set.
	Intervals int
	// After is how long a host must be offline for host_offline, or a
	// repository locked for repo_locked.
	After time.Duration
}

// Input is a rule as written, every value still a string: the API's JSON,
// an HCL block or CLI flags. Empty strings and nil lists are "not given".
type Input struct {
	Name           string
	On             string
	Channels       []string
	MinSeverity    string
	RepeatInterval string
	Enabled        *bool
	Kinds          []string
	Hosts          []string
	Tags           []string
	Repositories   []string
	MaxAge         string
	After          string
	// Intervals is not given when 0.
	Intervals int
}

// FieldError is a problem with one field of a rule.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Problems returns the field errors err joins, in order; nil when err is
// not a validation error.
func Problems(err error) []*FieldError {
	if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // splitting a join, not matching an error
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return nil
}

func problem(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// uses says which optional fields a condition takes.
var uses = map[Condition][]string{
	JobFailed:     {FieldKinds, FieldHosts, FieldTags, FieldRepositories},
	CheckFailed:   {FieldHosts, FieldTags, FieldRepositories},
	BackupStale:   {FieldHosts, FieldTags, FieldRepositories, FieldMaxAge, FieldIntervals},
	HostOffline:   {FieldHosts, FieldTags, FieldAfter},
	RepoLocked:    {FieldRepositories, FieldAfter},
	PluginFailing: {},
}

// Takes reports whether rules on c take the optional field.
func Takes(c Condition, field string) bool { return slices.Contains(uses[c], field) }

// Parse checks in and returns the rule it describes, with defaults filled
// in. Every problem is a *FieldError naming its field; they are joined, so
// Problems lists them all.
func Parse(in Input) (Spec, error) {
	var errs []error
	s := Spec{
		Name: in.Name, On: Condition(in.On), MinSeverity: DefaultMinSeverity, RepeatInterval: DefaultRepeatInterval, Enabled: true,
		Kinds: clean(in.Kinds), Hosts: clean(in.Hosts), Tags: clean(in.Tags), Repositories: clean(in.Repositories), Channels: clean(in.Channels),
		Intervals: in.Intervals,
	}
	if in.Enabled != nil {
		s.Enabled = *in.Enabled
	}
	switch {
	case in.Name == "":
		errs = append(errs, problem(FieldName, "is required: lower-case letters, digits, '-' and '_', such as \"backup-failed\""))
	case !ValidName(in.Name):
		errs = append(errs, problem(FieldName, "%q is not a valid name: lower-case letters, digits, '-' and '_', starting with a letter or digit, at most 64 characters", in.Name))
	}
	switch {
	case in.On == "":
		errs = append(errs, problem(FieldOn, "is required: one of %s", conditionList()))
	case !s.On.Valid():
		errs = append(errs, problem(FieldOn, "%q is not a condition; use one of %s", in.On, conditionList()))
	}
	errs = append(errs, checkChannels(s.Channels)...)
	if in.MinSeverity != "" {
		s.MinSeverity = notify.Severity(in.MinSeverity)
		if !s.MinSeverity.Valid() {
			errs = append(errs, problem(FieldMinSeverity, "%q is not a severity; use info, warning or critical", in.MinSeverity))
		}
	}
	if in.RepeatInterval != "" {
		d, err := ParseDuration(in.RepeatInterval)
		switch {
		case err != nil:
			errs = append(errs, problem(FieldRepeatInterval, "%s", err))
		case d < MinRepeatInterval || d > MaxRepeatInterval:
			errs = append(errs, problem(FieldRepeatInterval, "%q is out of range: from 1s to 30d", in.RepeatInterval))
		default:
			s.RepeatInterval = d
		}
	}
	if in.MaxAge != "" {
		d, err := ParseDuration(in.MaxAge)
		switch {
		case err != nil:
			errs = append(errs, problem(FieldMaxAge, "%s", err))
		case d < MinAge || d > MaxAge:
			errs = append(errs, problem(FieldMaxAge, "%q is out of range: from 1s to 366d", in.MaxAge))
		default:
			s.MaxAge = d
		}
	}
	if in.After != "" {
		d, err := ParseDuration(in.After)
		switch {
		case err != nil:
			errs = append(errs, problem(FieldAfter, "%s", err))
		case d < MinAge || d > MaxAge:
			errs = append(errs, problem(FieldAfter, "%q is out of range: from 1s to 366d", in.After))
		default:
			s.After = d
		}
	}
	if in.Intervals < 0 || in.Intervals > MaxIntervals {
		errs = append(errs, problem(FieldIntervals, "%d is out of range: from 1 to %d", in.Intervals, MaxIntervals))
	}
	for _, k := range s.Kinds {
		if !backend.JobKind(k).Valid() {
			errs = append(errs, problem(FieldKinds, "%q is not a job kind; use %s", k, kindList()))
		}
	}
	for field, list := range map[string][]string{FieldKinds: s.Kinds, FieldHosts: s.Hosts, FieldTags: s.Tags, FieldRepositories: s.Repositories} {
		if len(list) > MaxListLen {
			errs = append(errs, problem(field, "has %d entries; at most %d", len(list), MaxListLen))
		}
		if slices.Contains(list, "") {
			errs = append(errs, problem(field, "holds an empty entry"))
		}
	}
	if s.On.Valid() {
		errs = append(errs, s.checkApplicable(in)...)
	}
	if len(errs) > 0 {
		// Problems in the order of the fields, so messages read the same
		// every time.
		slices.SortStableFunc(errs, func(a, b error) int { return fieldOrder(a) - fieldOrder(b) })
		return Spec{}, errors.Join(errs...)
	}
	return s, nil
}

// checkApplicable refuses fields the condition does not take, and fills in
// or requires the ones it needs.
func (s *Spec) checkApplicable(in Input) []error {
	var errs []error
	given := map[string]bool{
		FieldKinds: len(s.Kinds) > 0, FieldHosts: len(s.Hosts) > 0, FieldTags: len(s.Tags) > 0,
		FieldRepositories: len(s.Repositories) > 0, FieldMaxAge: in.MaxAge != "", FieldAfter: in.After != "",
		FieldIntervals: in.Intervals != 0,
	}
	for _, f := range []string{FieldKinds, FieldHosts, FieldTags, FieldRepositories, FieldMaxAge, FieldIntervals, FieldAfter} {
		if given[f] && !Takes(s.On, f) {
			errs = append(errs, problem(f, "does not apply to %s rules; %s", s.On, takesText(s.On)))
		}
	}
	switch s.On {
	case BackupStale:
		if in.MaxAge == "" && in.Intervals == 0 {
			errs = append(errs, problem(FieldMaxAge, "is required for backup_stale rules without intervals: the age after which a host's last successful backup is stale, such as \"26h\" (or give intervals, such as 2: twice the interval of the backup schedule)"))
		}
	case HostOffline:
		if in.After == "" {
			s.After = DefaultOfflineAfter
		}
	case RepoLocked:
		if in.After == "" {
			s.After = DefaultLockedAfter
		}
	}
	return errs
}

func takesText(c Condition) string {
	if len(uses[c]) == 0 {
		return "they take no filters"
	}
	return "they take " + strings.Join(uses[c], ", ")
}

var fieldRank = []string{
	FieldName, FieldOn, FieldChannels, FieldMinSeverity, FieldRepeatInterval,
	FieldKinds, FieldHosts, FieldTags, FieldRepositories, FieldMaxAge, FieldIntervals, FieldAfter,
}

func fieldOrder(err error) int {
	var fe *FieldError
	if errors.As(err, &fe) {
		return slices.Index(fieldRank, fe.Field)
	}
	return len(fieldRank)
}

func checkChannels(channels []string) []error {
	if len(channels) == 0 {
		return []error{problem(FieldChannels, "is required: name at least one notification channel")}
	}
	var errs []error
	seen := map[string]bool{}
	for _, c := range channels {
		switch {
		case !ValidName(c):
			errs = append(errs, problem(FieldChannels, "%q is not a channel name", c))
		case seen[c]:
			errs = append(errs, problem(FieldChannels, "names %q twice", c))
		}
		seen[c] = true
	}
	if len(channels) > MaxListLen {
		errs = append(errs, problem(FieldChannels, "has %d entries; at most %d", len(channels), MaxListLen))
	}
	return errs
}

// clean drops surrounding spaces from each entry; a nil or empty list
// stays empty (nil).
func clean(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	out := make([]string, len(list))
	for i, v := range list {
		out[i] = strings.TrimSpace(v)
	}
	return out
}

func conditionList() string {
	names := make([]string, len(Conditions))
	for i, c := range Conditions {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

func kindList() string {
	names := make([]string, len(backend.JobKinds))
	for i, k := range backend.JobKinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// ParseDuration reads a duration as schedules do (timing.ParseDuration):
// Go's durations ("90m", "26h", "1h30m") and whole days ("7d").
func ParseDuration(s string) (time.Duration, error) { return timing.ParseDuration(s) }

// FormatDuration writes d the way ParseDuration reads it ("7d", "26h"),
// and nothing for no duration.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return timing.FormatDuration(d)
}

// Input returns s as written, so a change to some fields can be parsed
// again with the others as they were.
func (s Spec) Input() Input {
	enabled := s.Enabled
	in := Input{
		Name: s.Name, On: string(s.On), Channels: s.Channels, MinSeverity: string(s.MinSeverity),
		RepeatInterval: FormatDuration(s.RepeatInterval), Enabled: &enabled,
		Kinds: s.Kinds, Hosts: s.Hosts, Tags: s.Tags, Repositories: s.Repositories,
	}
	if s.On == BackupStale {
		in.MaxAge = FormatDuration(s.MaxAge)
		in.Intervals = s.Intervals
	}
	if s.On == HostOffline || s.On == RepoLocked {
		in.After = FormatDuration(s.After)
	}
	return in
}
