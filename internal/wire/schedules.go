package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxSchedules bounds one schedules_sync; the frame cap bounds it as well.
const maxSchedules = 10_000

// Schedule is one element of SchedulesSync.Schedules: everything the agent
// needs to fire a schedule by its own clock, the server away or not. Its
// Repository carries credentials, so a list travels as a ScheduleList,
// whose MarshalWire reveals them to the peer only.
type Schedule struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Kind is the job kind each run is, "backup".
	Kind       string     `json:"kind"`
	Repository Repository `json:"repository"`
	// Cron is a cron expression (five fields, or six with seconds first,
	// or a descriptor such as @daily) in Timezone; EverySeconds an interval
	// instead. internal/timing defines both.
	Cron          string `json:"cron,omitempty"`
	EverySeconds  int64  `json:"every_seconds,omitempty"`
	Timezone      string `json:"timezone,omitempty"`
	JitterSeconds int64  `json:"jitter_seconds,omitempty"`
	// CatchUp runs a run missed while the agent was down (or the host
	// asleep) once, as soon as it can.
	CatchUp bool `json:"catch_up"`
	// Params are the params of each run's job, as job_dispatch carries them
	// (the backend's Args).
	Params json.RawMessage `json:"params"`
	// Forget, when set, are the params of the forget job that follows every
	// successful run (the schedule's retention policy).
	Forget json.RawMessage `json:"forget,omitempty"`
	// CopyTo, when set, is the schedule's secondary repository, with its
	// credentials: after every successful run the agent copies the new
	// snapshot there (a copy job of the same schedule).
	CopyTo *Repository `json:"copy_to,omitempty"`
	// PreHook and PostHook run around each run (the schedule's own, or its
	// host's defaults): a failed pre-hook fails the run ("pre-hook
	// failed") before restic starts; the post-hook always runs.
	PreHook   *Hook     `json:"pre_hook,omitempty"`
	PostHook  *Hook     `json:"post_hook,omitempty"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// maxHookCommand bounds a hook's command text.
const maxHookCommand = 16 << 10

// Hook is a command the agent runs with the host's shell before or after a
// job (agent/hooks), and how long it may take.
type Hook struct {
	Command        string `json:"command"`
	TimeoutSeconds int64  `json:"timeout_seconds,omitempty"`
}

// validateAs checks an optional hook, naming it field; nil is valid.
func (h *Hook) validateAs(field string) error {
	if h == nil {
		return nil
	}
	var errs []error
	if h.TimeoutSeconds < 0 {
		errs = append(errs, fmt.Errorf("%s.timeout_seconds must not be negative", field))
	}
	if strings.TrimSpace(h.Command) == "" {
		errs = append(errs, fmt.Errorf("%s.command is empty", field))
	}
	if len(h.Command) > maxHookCommand || strings.ContainsRune(h.Command, 0) {
		errs = append(errs, fmt.Errorf("%s.command is longer than %d bytes or holds NUL", field, maxHookCommand))
	}
	return errors.Join(errs...)
}

// MarshalWire encodes the schedule with its repositories' secrets revealed.
func (s Schedule) MarshalWire() ([]byte, error) {
	repo, err := s.Repository.MarshalWire()
	if err != nil {
		return nil, err
	}
	var to json.RawMessage
	if s.CopyTo != nil {
		if to, err = s.CopyTo.MarshalWire(); err != nil {
			return nil, err
		}
	}
	type plain Schedule // without this method
	return json.Marshal(struct {
		plain
		Repository json.RawMessage `json:"repository"`
		CopyTo     json.RawMessage `json:"copy_to,omitempty"`
	}{plain(s), repo, to})
}

// Validate checks the schedule's shape; internal/timing checks its timing.
func (s Schedule) Validate() error {
	var errs []error
	if s.EverySeconds < 0 || s.JitterSeconds < 0 {
		errs = append(errs, errors.New("every_seconds and jitter_seconds must not be negative"))
	}
	if (s.Cron == "") == (s.EverySeconds == 0) {
		errs = append(errs, errors.New("a schedule needs exactly one of cron and every_seconds"))
	}
	if t := bytes.TrimSpace(s.Params); len(t) == 0 || t[0] != '{' {
		errs = append(errs, errors.New("params must be a JSON object"))
	}
	return errors.Join(append(errs,
		checkIdent("id", s.ID, true),
		checkText("name", s.Name, maxShortLen, true),
		checkText("kind", s.Kind, maxShortLen, true),
		checkText("cron", s.Cron, maxShortLen, false),
		checkText("timezone", s.Timezone, maxShortLen, false),
		checkObject("forget", s.Forget),
		s.Repository.Validate(),
		s.CopyTo.validateAs("copy_to"),
		s.PreHook.validateAs("pre_hook"),
		s.PostHook.validateAs("post_hook"),
	)...)
}

// ScheduleList is a schedules_sync as its sender builds it: the revision
// and the host's whole list. Printing or json.Marshal shows every
// credential as Redacted; the wire encoder reveals them.
type ScheduleList struct {
	Revision  int64      `json:"revision"`
	Schedules []Schedule `json:"schedules"`
}

// MessageType makes a ScheduleList a schedules_sync payload.
func (ScheduleList) MessageType() Type { return TypeSchedulesSync }

// MarshalWire encodes the list with the repositories' secrets revealed.
func (l ScheduleList) MarshalWire() ([]byte, error) {
	items := make([]json.RawMessage, 0, len(l.Schedules))
	for i, s := range l.Schedules {
		b, err := s.MarshalWire()
		if err != nil {
			return nil, fmt.Errorf("schedule %d: %w", i, err)
		}
		items = append(items, b)
	}
	return json.Marshal(struct {
		Revision  int64             `json:"revision"`
		Schedules []json.RawMessage `json:"schedules"`
	}{l.Revision, items})
}

// List decodes and validates the schedules of a sync. A schedule that
// does not validate is reported, not dropped silently: the caller decides
// whether to apply the others.
func (s SchedulesSync) List() ([]Schedule, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(s.Schedules, &raw); err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	if len(raw) > maxSchedules {
		return nil, fmt.Errorf("schedules: %d schedules, at most %d", len(raw), maxSchedules)
	}
	out := make([]Schedule, 0, len(raw))
	var errs []error
	for i, r := range raw {
		var sc Schedule
		if err := json.Unmarshal(r, &sc); err != nil {
			errs = append(errs, fmt.Errorf("schedules[%d]: %w", i, err))
			continue
		}
		if err := sc.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %w", truncate(sc.Name, 64), err))
			continue
		}
		out = append(out, sc)
	}
	return out, errors.Join(errs...)
}
