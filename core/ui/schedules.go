package ui

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/api/apijson"
)

// scheduleRoutes are the schedule list, the editor, delete with its
// confirm page, run-now and the retention preview.
func (u *UI) scheduleRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.schedules", method: http.MethodGet, path: "/schedules", access: loggedIn, handler: u.schedulesPage},
		{name: "ui.schedules.new", method: http.MethodGet, path: "/schedules/new", access: loggedIn, handler: u.scheduleNew},
		{name: "ui.schedules.create", method: http.MethodPost, path: "/schedules", access: loggedIn, handler: u.scheduleCreate},
		{name: "ui.schedule", method: http.MethodGet, path: "/schedules/{id}", access: loggedIn, handler: u.schedulePage},
		{name: "ui.schedule.update", method: http.MethodPost, path: "/schedules/{id}", access: loggedIn, handler: u.scheduleUpdate},
		{name: "ui.schedule.delete.confirm", method: http.MethodGet, path: "/schedules/{id}/delete", access: loggedIn, handler: u.scheduleDeleteConfirm},
		{name: "ui.schedule.delete", method: http.MethodPost, path: "/schedules/{id}/delete", access: loggedIn, handler: u.scheduleDelete},
		{name: "ui.schedule.run", method: http.MethodPost, path: "/schedules/{id}/run", access: loggedIn, handler: u.scheduleRun},
		{name: "ui.schedule.preview", method: http.MethodPost, path: "/schedules/{id}/preview", access: loggedIn, handler: u.schedulePreview},
		{name: "ui.schedule.preview.show", method: http.MethodGet, path: "/schedules/{id}/preview/{job}", access: loggedIn, handler: u.schedulePreviewShow},
	}
}

// scheduleItem is a schedule as the schedule API answers it, with what
// the pages say of it.
type scheduleItem struct {
	apijson.Schedule
}

// Target is who the schedule runs on, for people.
func (s scheduleItem) Target() string {
	if s.HostTag != nil {
		return "every host tagged " + *s.HostTag
	}
	if s.Host == "" {
		return "a removed host"
	}
	return s.Host
}

// When is the schedule's timing, for people.
func (s scheduleItem) When() string {
	out := ""
	switch {
	case s.Cron != nil:
		out = "cron " + *s.Cron + " (" + s.Timezone + ")"
	case s.Every != nil:
		out = "every " + *s.Every
	}
	if s.JitterSeconds > 0 {
		out += ", jitter up to " + s.Jitter
	}
	return out
}

// StaleWord says whether the schedule is stale, in words.
func (s scheduleItem) StaleWord() string {
	if s.Stale {
		return "stale"
	}
	return "on time"
}

// scheduleEditor is the editor page.
type scheduleEditor struct {
	Schedule *scheduleItem // nil for a new schedule
	Form     scheduleForm
	Errors   fieldErrors
	Problems []string // every problem, for the summary above the form
	CanEdit  bool
	IsAdmin  bool
	Hosts    []hostItem
	Repos    []hostRepo
	Action   string
	Preview  []hostItem // hosts a preview or run-now may pick (tag schedules)
}

// Err is the field's problems, for the message next to its input.
func (e scheduleEditor) Err(field string) string { return strings.Join(e.Errors[field], " ") }

// ErrTree is the problems of field and its parts (pre_hook.timeout).
func (e scheduleEditor) ErrTree(field string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(e.Errors)) {
		if k == field || strings.HasPrefix(k, field+".") {
			out = append(out, e.Errors[k]...)
		}
	}
	return strings.Join(out, " ")
}

// scheduleKinds are what a schedule may run, for the editor's select.
var scheduleKinds = []struct{ Name, Label string }{
	{"backup", "Back up"},
	{"forget", "Forget (retention only)"},
	{"check", "Check"},
	{"prune", "Prune (admins)"},
	{"unlock", "Unlock"},
	{"stats", "Statistics"},
}

// Kinds are the editor's kind choices.
func (e scheduleEditor) Kinds() []struct{ Name, Label string } { return scheduleKinds }

// keepField is one keep-count input of the editor.
type keepField struct{ Field, Label, Value string }

// KeepFields are the keep-count inputs, in restic's order.
func (e scheduleEditor) KeepFields() []keepField {
	f := e.Form
	return []keepField{
		{"keep_last", "Keep last", f.KeepLast},
		{"keep_hourly", "Keep hourly", f.KeepHourly},
		{"keep_daily", "Keep daily", f.KeepDaily},
		{"keep_weekly", "Keep weekly", f.KeepWeekly},
		{"keep_monthly", "Keep monthly", f.KeepMonthly},
		{"keep_yearly", "Keep yearly", f.KeepYearly},
	}
}

// ReadOnly says whether the editor shows the schedule without controls.
func (e scheduleEditor) ReadOnly() bool {
	return !e.CanEdit || (e.Schedule != nil && e.Schedule.ManagedBy == "config")
}

type schedulesData struct {
	Items   []scheduleItem
	CanEdit bool
}

// scheduleTable is what the partial "schedule-table" shows.
type scheduleTable struct {
	Items      []scheduleItem
	HideTarget bool
}

// Table is the list's table.
func (d schedulesData) Table() scheduleTable { return scheduleTable{Items: d.Items} }

func (u *UI) schedulesPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	items, err := allItems[scheduleItem](u, r, c, "/api/v1/schedules")
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.render(w, r, c, http.StatusOK, "schedules", view{
		Title: "Schedules", Nav: "schedules", Data: schedulesData{Items: items, CanEdit: canRun(c)},
	})
}

// editorChoices reads the hosts and repositories the editor offers.
func (u *UI) editorChoices(r *http.Request, c *api.Caller, e *scheduleEditor) error {
	hosts, err := allItems[hostItem](u, r, c, "/api/v1/hosts")
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if h.Status != "revoked" {
			e.Hosts = append(e.Hosts, h)
		}
	}
	e.Repos, err = allItems[hostRepo](u, r, c, "/api/v1/repositories")
	return err
}

func (u *UI) renderEditor(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, e scheduleEditor, flashes []flash) {
	e.CanEdit, e.IsAdmin = canRun(c), callerIsAdmin(c)
	if err := u.editorChoices(r, c, &e); err != nil {
		u.fail(w, r, c, err)
		return
	}
	title := "New schedule"
	e.Action = "/schedules"
	if e.Schedule != nil {
		title = "Schedule " + e.Schedule.Name
		e.Action = "/schedules/" + url.PathEscape(e.Schedule.ID)
		if e.Schedule.HostTag != nil {
			for _, h := range e.Hosts {
				if slices.Contains(h.Tags, *e.Schedule.HostTag) {
					e.Preview = append(e.Preview, h)
				}
			}
		}
	}
	u.render(w, r, c, status, "schedule_form", view{Title: title, Nav: "schedules", Data: e, Flashes: flashes})
}

func (u *UI) scheduleNew(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	if !canRun(c) {
		u.renderError(w, r, c, http.StatusForbidden, "Creating schedules needs the operator or admin role; you are "+c.User.Role+".")
		return
	}
	q := r.URL.Query()
	f := scheduleForm{Target: "host", Host: q.Get("host"), Kind: "backup", Timing: "cron", Cron: "0 3 * * *", Timezone: "UTC", CatchUp: true, Enabled: true}
	u.renderEditor(w, r, c, http.StatusOK, scheduleEditor{Form: f}, nil)
}

func (u *UI) readSchedule(r *http.Request, c *api.Caller) (scheduleItem, error) {
	var s scheduleItem
	err := u.call(r, c, http.MethodGet, "/api/v1/schedules/"+url.PathEscape(mux.Vars(r)["id"]), nil, &s)
	return s, err
}

func (u *UI) schedulePage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	s, err := u.readSchedule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.renderEditor(w, r, c, http.StatusOK, scheduleEditor{Schedule: &s, Form: formOf(s)}, nil)
}

// refused shows the editor again with the form as typed and the reason:
// each of the API's problems next to its field.
func (u *UI) refused(w http.ResponseWriter, r *http.Request, c *api.Caller, e scheduleEditor, err error) {
	status, msg := u.userMessage(err)
	var ae *api.Error
	e.Errors = fieldErrors{}
	if errors.As(err, &ae) && ae.Status == http.StatusBadRequest {
		byField, rest := apiFieldErrors(ae.Message)
		e.Errors = byField
		for field, problems := range byField {
			for _, p := range problems {
				e.Problems = append(e.Problems, field+": "+p)
			}
		}
		slices.Sort(e.Problems)
		e.Problems = append(e.Problems, rest...)
		msg = "The schedule was not saved: fix the fields marked below."
	} else if errors.As(err, &ae) && ae.Code == "conflict" && strings.Contains(ae.Message, "named") {
		e.Errors["name"] = []string{sentence(ae.Message) + "."}
	}
	u.renderEditor(w, r, c, status, e, []flash{{Kind: "error", Message: msg}})
}

// formRefused shows the editor again for fields the form itself cannot
// read (a number that is not one).
func (u *UI) formRefused(w http.ResponseWriter, r *http.Request, c *api.Caller, e scheduleEditor, errs fieldErrors) {
	e.Errors = errs
	for field, problems := range errs {
		for _, p := range problems {
			e.Problems = append(e.Problems, field+": "+p)
		}
	}
	slices.Sort(e.Problems)
	u.renderEditor(w, r, c, http.StatusBadRequest, e, []flash{{Kind: "error", Message: "The schedule was not saved: fix the fields marked below."}})
}

func (u *UI) scheduleCreate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	f := readScheduleForm(r)
	e := scheduleEditor{Form: f}
	body, errs := f.request(callerIsAdmin(c), nil)
	if errs != nil {
		u.formRefused(w, r, c, e, errs)
		return
	}
	var s scheduleItem
	if err := u.call(r, c, http.MethodPost, "/api/v1/schedules", body, &s); err != nil {
		u.refused(w, r, c, e, err)
		return
	}
	u.back(w, r, "/schedules/"+url.PathEscape(s.ID), nil, fmt.Sprintf("Schedule %q created; its agents have it now, or when they connect.", s.Name))
}

func (u *UI) scheduleUpdate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	s, err := u.readSchedule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	f := readScheduleForm(r)
	e := scheduleEditor{Schedule: &s, Form: f}
	body, errs := f.request(callerIsAdmin(c), &s)
	if errs != nil {
		u.formRefused(w, r, c, e, errs)
		return
	}
	var out scheduleItem
	if err := u.call(r, c, http.MethodPatch, "/api/v1/schedules/"+url.PathEscape(s.ID), body, &out); err != nil {
		u.refused(w, r, c, e, err)
		return
	}
	u.back(w, r, "/schedules/"+url.PathEscape(out.ID), nil, fmt.Sprintf("Schedule %q saved.", out.Name))
}

type scheduleDeleteData struct{ Schedule scheduleItem }

func (u *UI) scheduleDeleteConfirm(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	if !canRun(c) {
		u.renderError(w, r, c, http.StatusForbidden, "Deleting schedules needs the operator or admin role; you are "+c.User.Role+".")
		return
	}
	s, err := u.readSchedule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.render(w, r, c, http.StatusOK, "schedule_delete", view{Title: "Delete " + s.Name, Nav: "schedules", Data: scheduleDeleteData{Schedule: s}})
}

func (u *UI) scheduleDelete(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	s, err := u.readSchedule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		u.render(w, r, c, http.StatusOK, "schedule_delete", view{Title: "Delete " + s.Name, Nav: "schedules", Data: scheduleDeleteData{Schedule: s}})
		return
	}
	if err := u.call(r, c, http.MethodDelete, "/api/v1/schedules/"+url.PathEscape(s.ID), nil, nil); err != nil {
		u.back(w, r, "/schedules/"+url.PathEscape(s.ID), err, "")
		return
	}
	u.back(w, r, "/schedules", nil, fmt.Sprintf("Schedule %q deleted; its agents stop firing it. Its jobs keep their history.", s.Name))
}

// scheduleRun runs the schedule's backup now (POST
// /api/v1/schedules/{id}/run) and opens the job.
func (u *UI) scheduleRun(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	s, err := u.readSchedule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	id := s.ID
	body := map[string]any{}
	if h := strings.TrimSpace(r.PostFormValue("host")); h != "" {
		body["host"] = h
	}
	var job struct {
		ID string `json:"id"`
	}
	if err := u.call(r, c, http.MethodPost, "/api/v1/schedules/"+url.PathEscape(id)+"/run", body, &job); err != nil {
		u.back(w, r, "/schedules/"+url.PathEscape(id), err, "")
		return
	}
	u.back(w, r, "/jobs/"+url.PathEscape(job.ID), nil, "Backup started.")
}
