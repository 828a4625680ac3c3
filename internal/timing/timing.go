// Package timing parses and evaluates when a schedule fires: a cron
// expression in an IANA time zone (github.com/robfig/cron/v3, with an
// optional seconds field) or a plain interval. The server validates
// schedules with it and shows their next run; the agent's scheduler fires
// them with it, so both sides always agree on what an expression means.
package timing

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // agents on Windows and minimal containers have no zoneinfo

	"github.com/robfig/cron/v3"
)

// Limits on a schedule's timing.
const (
	MinInterval = time.Second
	MaxInterval = 366 * 24 * time.Hour
	MaxJitter   = 24 * time.Hour
	maxExprLen  = 256
	// gapSamples is how many consecutive fire times bound the jitter of a
	// cron expression.
	gapSamples = 16
)

// ErrNever means a cron expression matches no time in the next five years
// (such as the 30th of February).
var ErrNever = errors.New("the expression never fires")

// FieldError is a problem with one field of a schedule's timing: cron,
// every, timezone or jitter.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// parser reads five fields (minute hour day-of-month month day-of-week),
// six with seconds first, or a descriptor such as @daily.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Spec is a parsed timing: exactly one of a cron expression (evaluated in
// Location) or an interval.
type Spec struct {
	cron  cron.Schedule
	every time.Duration
	loc   *time.Location
}

// Parse checks a timing and returns it. Exactly one of expr and every must
// be set; zone is an IANA time zone name ("" means UTC) and applies to cron
// expressions. Errors are *FieldError values joined with errors.Join.
func Parse(expr string, every time.Duration, zone string) (Spec, error) {
	var errs []error
	var sched cron.Schedule
	loc, err := LoadZone(zone)
	if err != nil {
		errs = append(errs, err)
	}
	switch {
	case strings.TrimSpace(expr) == "" && every == 0:
		errs = append(errs, fieldErr("cron", "give a cron expression or an interval (every)"))
	case strings.TrimSpace(expr) != "" && every != 0:
		errs = append(errs, fieldErr("every", "give either a cron expression or an interval, not both"))
	case every != 0:
		if every < MinInterval || every > MaxInterval || every%time.Second != 0 {
			errs = append(errs, fieldErr("every", "must be whole seconds from %s to %s, got %s", MinInterval, FormatDuration(MaxInterval), every))
		}
	default:
		if err := checkExpr(expr); err != nil {
			errs = append(errs, err)
		} else if sched, err = parser.Parse(strings.TrimSpace(expr)); err != nil {
			errs = append(errs, fieldErr("cron", "%v", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Spec{}, err
	}
	if every != 0 {
		return Spec{every: every, loc: loc}, nil
	}
	s := Spec{cron: sched, loc: loc}
	if s.Next(time.Now()).IsZero() {
		return Spec{}, &FieldError{Field: "cron", Msg: ErrNever.Error()}
	}
	return s, nil
}

// checkExpr refuses what the parser would take but a schedule must not
// hold: a zone prefix (the zone is a field of its own) and @every (an
// interval is one too).
func checkExpr(expr string) error {
	trimmed := strings.TrimSpace(expr)
	switch {
	case strings.ContainsFunc(expr, func(r rune) bool { return r < 0x20 && r != ' ' || r == 0x7f }):
		return fieldErr("cron", "contains control characters")
	case len(expr) > maxExprLen:
		return fieldErr("cron", "longer than %d characters", maxExprLen)
	case strings.HasPrefix(trimmed, "TZ=") || strings.HasPrefix(trimmed, "CRON_TZ="):
		return fieldErr("cron", "give the time zone in timezone, not in the expression")
	case strings.HasPrefix(trimmed, "@every"):
		return fieldErr("cron", "use an interval (every) instead of @every")
	}
	return nil
}

// LoadZone returns the IANA time zone name ("" and "UTC" are UTC). "Local"
// is refused: a schedule must mean the same on the server and every agent.
func LoadZone(name string) (*time.Location, error) {
	switch name {
	case "", "UTC":
		return time.UTC, nil
	case "Local":
		return nil, fieldErr("timezone", "\"Local\" differs between machines; name the zone, such as Europe/Berlin")
	}
	if len(name) > 64 || strings.ContainsAny(name, "\x00\\") || strings.Contains(name, "..") || strings.HasPrefix(name, "/") {
		return nil, fieldErr("timezone", "%q is not an IANA time zone name such as Europe/Berlin", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fieldErr("timezone", "%q is not an IANA time zone name such as Europe/Berlin", name)
	}
	return loc, nil
}

// IsInterval reports whether the spec is an interval rather than a cron
// expression.
func (s Spec) IsInterval() bool { return s.every > 0 }

// Next returns the first fire time strictly after t, or the zero time when
// there is none. Intervals are aligned to whole multiples of the interval
// since the Unix epoch, so every 6h fires at 00:00, 06:00, 12:00 and 18:00
// UTC on every machine whatever it was doing before; cron expressions are
// evaluated in the spec's time zone, daylight saving time included.
func (s Spec) Next(t time.Time) time.Time {
	if s.every > 0 {
		n, e := t.UnixNano(), s.every.Nanoseconds()
		next := (n/e + 1) * e
		if n < 0 && n%e != 0 {
			next -= e
		}
		return time.Unix(0, next).UTC()
	}
	if s.cron == nil {
		return time.Time{}
	}
	next := s.cron.Next(t.In(s.loc))
	if next.IsZero() {
		return next
	}
	return next.UTC()
}

// MinGap is the shortest time between two consecutive fire times from t
// on (sampled over the next few fires for a cron expression).
func (s Spec) MinGap(t time.Time) time.Duration {
	if s.every > 0 {
		return s.every
	}
	gap := time.Duration(0)
	prev := s.Next(t)
	for range gapSamples {
		next := s.Next(prev)
		if prev.IsZero() || next.IsZero() {
			break
		}
		if d := next.Sub(prev); gap == 0 || d < gap {
			gap = d
		}
		prev = next
	}
	return gap
}

// CheckJitter checks a jitter for the spec: from 0 to MaxJitter, and
// shorter than the time between two runs, so jittered runs keep their
// order.
func (s Spec) CheckJitter(jitter time.Duration, now time.Time) error {
	if jitter < 0 || jitter > MaxJitter || jitter%time.Second != 0 {
		return fieldErr("jitter", "must be whole seconds from 0 to %s, got %s", FormatDuration(MaxJitter), jitter)
	}
	if gap := s.MinGap(now); jitter > 0 && gap > 0 && jitter >= gap {
		return fieldErr("jitter", "%s is not shorter than the %s between two runs", FormatDuration(jitter), FormatDuration(gap))
	}
	return nil
}

// Jitter returns a random delay in [0, max) with a millisecond grain; 0
// when max is 0.
func Jitter(maxDelay time.Duration) time.Duration {
	if maxDelay <= time.Millisecond {
		return 0
	}
	return time.Duration(rand.Int64N(int64(maxDelay/time.Millisecond))) * time.Millisecond //nolint:gosec // G404: spreading start times needs no cryptographic randomness
}

// ParseDuration reads an interval or a jitter: Go's durations ("90s",
// "6h", "1h30m") and whole days ("7d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 3660 {
			return 0, fmt.Errorf("%q is not a duration such as 90s, 6h or 7d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 90s, 6h or 7d", s)
	}
	return d, nil
}

// FormatDuration prints a duration the way ParseDuration reads it, without
// the zero units time.Duration.String adds: "6h", "1h30m", "90s" → "1m30s",
// "7d" for whole days.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
