package ui

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/api"
)

// The alert rule editor: /alert-rules/new and /alert-rules/{id}, its
// enable/disable button and its delete confirm step. Every change goes
// through POST or PATCH /api/v1/alert-rules, whose 400s name the field.

// alertRuleRoutes are the rule editor's routes; alertRoutes includes them.
func (u *UI) alertRuleRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.alert_rules.new", method: http.MethodGet, path: "/alert-rules/new", access: loggedIn, handler: u.alertRuleNew},
		{name: "ui.alert_rules.create", method: http.MethodPost, path: "/alert-rules", access: loggedIn, handler: u.alertRuleCreate},
		{name: "ui.alert_rules.show", method: http.MethodGet, path: "/alert-rules/{id}", access: loggedIn, handler: u.alertRulePage},
		{name: "ui.alert_rules.update", method: http.MethodPost, path: "/alert-rules/{id}", access: loggedIn, handler: u.alertRuleUpdate},
		{name: "ui.alert_rules.enabled", method: http.MethodPost, path: "/alert-rules/{id}/enabled", access: loggedIn, handler: u.alertRuleEnabled},
		{name: "ui.alert_rules.delete.confirm", method: http.MethodGet, path: "/alert-rules/{id}/delete", access: loggedIn, handler: u.alertRuleDeleteConfirm},
		{name: "ui.alert_rules.delete", method: http.MethodPost, path: "/alert-rules/{id}/delete", access: loggedIn, handler: u.alertRuleDelete},
	}
}

// ruleCondition is a condition as the editor offers it: what it watches,
// and the optional fields it takes (space-separated, for rule_form.js).
type ruleCondition struct{ Value, Label, Fields string }

// alertConditions are the rule conditions, in the editor's order.
var alertConditions = func() []ruleCondition {
	out := []ruleCondition{
		{Value: "job_failed", Label: "a job failed"},
		{Value: "check_failed", Label: "a repository check failed"},
		{Value: "backup_stale", Label: "no successful backup within an age"},
		{Value: "host_offline", Label: "a host is offline longer than a time"},
		{Value: "repo_locked", Label: "a repository is locked longer than a time"},
		{Value: "plugin_failing", Label: "a notification channel is failing"},
	}
	optional := []string{rule.FieldMaxAge, rule.FieldIntervals, rule.FieldAfter, rule.FieldKinds, rule.FieldHosts, rule.FieldTags, rule.FieldRepositories}
	for i := range out {
		var fields []string
		for _, f := range optional {
			if rule.Takes(rule.Condition(out[i].Value), f) {
				fields = append(fields, f)
			}
		}
		out[i].Fields = strings.Join(fields, " ")
	}
	return out
}()

// alertRuleForm is the rule editor's fields as typed, kept when the API
// refuses them.
type alertRuleForm struct {
	Name, On, MinSeverity, RepeatInterval, Kinds, Hosts, Tags, Repositories, MaxAge, After, Intervals string
	Channels                                                                                          []string
	Enabled                                                                                           bool
}

// ruleFormOf fills the editor from a rule.
func ruleFormOf(r alertRuleItem) alertRuleForm {
	f := alertRuleForm{
		Name: r.Name, On: r.On, MinSeverity: r.MinSeverity, RepeatInterval: r.RepeatInterval,
		Kinds: strings.Join(r.Kinds, ", "), Hosts: strings.Join(r.Hosts, ", "), Tags: strings.Join(r.Tags, ", "),
		Repositories: strings.Join(r.Repositories, ", "), MaxAge: r.MaxAge, After: r.After,
		Channels: slices.Clone(r.Channels), Enabled: r.Enabled,
	}
	if r.Intervals > 0 {
		f.Intervals = strconv.Itoa(r.Intervals)
	}
	return f
}

func readAlertRuleForm(r *http.Request) alertRuleForm {
	_ = r.ParseForm()
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return alertRuleForm{
		Name: v("name"), On: v("on"), MinSeverity: v("min_severity"), RepeatInterval: v("repeat_interval"),
		Kinds: v("kinds"), Hosts: v("hosts"), Tags: v("tags"), Repositories: v("repositories"),
		MaxAge: v("max_age"), After: v("after"), Intervals: v("intervals"), Channels: r.PostForm["channels"],
		Enabled: r.PostFormValue("enabled") == "on",
	}
}

// splitList reads a comma- or space-separated list field.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

// body is the form as the body of POST /api/v1/alert-rules or PATCH
// /api/v1/alert-rules/{id}. The fields of the chosen condition are sent as
// typed; the condition-specific fields it does not take are sent empty, so
// that values left in fields the page hid (after switching the condition)
// neither count nor linger from the rule's former condition. A field the
// form cannot read is a fieldErrors entry.
func (f alertRuleForm) body() (map[string]any, fieldErrors) {
	cond := rule.Condition(f.On)
	b := map[string]any{"name": f.Name, "on": f.On, "channels": nonNil(f.Channels), "enabled": f.Enabled}
	for k, v := range map[string]string{rule.FieldMinSeverity: f.MinSeverity, rule.FieldRepeatInterval: f.RepeatInterval} {
		if v != "" {
			b[k] = v
		}
	}
	for k, v := range map[string]string{rule.FieldMaxAge: f.MaxAge, rule.FieldAfter: f.After} {
		b[k] = ""
		if rule.Takes(cond, k) {
			b[k] = v
		}
	}
	for k, v := range map[string]string{rule.FieldKinds: f.Kinds, rule.FieldHosts: f.Hosts, rule.FieldTags: f.Tags, rule.FieldRepositories: f.Repositories} {
		b[k] = []string{}
		if rule.Takes(cond, k) {
			b[k] = nonNil(splitList(v))
		}
	}
	b[rule.FieldIntervals] = 0
	if rule.Takes(cond, rule.FieldIntervals) && f.Intervals != "" {
		n, err := strconv.Atoi(f.Intervals)
		if err != nil || n < 1 {
			return nil, fieldErrors{rule.FieldIntervals: {"Give a whole number of schedule intervals, such as 2."}}
		}
		b[rule.FieldIntervals] = n
	}
	return b, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// HasChannel reports whether the form picked the channel.
func (f alertRuleForm) HasChannel(name string) bool { return slices.Contains(f.Channels, name) }

// Takes reports whether the form's condition takes the field; with no
// condition chosen yet every field shows.
func (f alertRuleForm) Takes(field string) bool {
	return f.On == "" || rule.Takes(rule.Condition(f.On), field)
}

// ruleEditor is what alert-rule.html shows: a new rule's form, or a rule
// with its form (read-only for viewers and for rules of the config file).
type ruleEditor struct {
	Rule       *alertRuleItem
	Form       alertRuleForm
	Action     string
	Conditions []ruleCondition
	Severities []string
	Channels   []channelItem
	// ReadOnly is why the form cannot be saved: "" when it can.
	ReadOnly string
	Errors   fieldErrors
	Problems []string
}

// Err is the problem of a field, "" for none.
func (e ruleEditor) Err(field string) string { return strings.Join(e.Errors[field], " ") }

// ChannelChoices are the channels to pick from: the server's, and any the
// form names that the server no longer has (so saving does not drop them
// unseen).
func (e ruleEditor) ChannelChoices() []channelItem {
	out := slices.Clone(e.Channels)
	for _, name := range e.Form.Channels {
		if !slices.ContainsFunc(out, func(c channelItem) bool { return c.Name == name }) {
			out = append(out, channelItem{Name: name, Plugin: "no such channel"})
		}
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// Disabled is the disabled attribute for read-only forms.
func (e ruleEditor) Disabled() bool { return e.ReadOnly != "" }

// renderRuleEditor reads what the editor offers (the channels) and shows it.
func (u *UI) renderRuleEditor(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, e ruleEditor, flashes []flash) {
	e.Conditions, e.Severities = alertConditions, []string{"info", "warning", "critical"}
	var list itemsPage[channelItem]
	if err := u.call(r, c, http.MethodGet, "/api/v1/channels", nil, &list); err != nil {
		u.fail(w, r, c, err)
		return
	}
	e.Channels = list.Items
	title := "New alert rule"
	if e.Rule != nil {
		title = "Alert rule " + e.Rule.Name
	}
	u.render(w, r, c, status, "alert-rule", view{Title: title, Nav: "alerts", Data: e, Flashes: flashes})
}

func (u *UI) alertRuleNew(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	if !canRun(c) {
		u.renderError(w, r, c, http.StatusForbidden, "Only operators and admins may add alert rules.")
		return
	}
	u.renderRuleEditor(w, r, c, http.StatusOK, ruleEditor{
		Action: "/alert-rules",
		Form:   alertRuleForm{On: "job_failed", MinSeverity: "warning", RepeatInterval: "1h", Enabled: true},
	}, nil)
}

func (u *UI) readRule(r *http.Request, c *api.Caller) (alertRuleItem, error) {
	var rl alertRuleItem
	err := u.call(r, c, http.MethodGet, "/api/v1/alert-rules/"+url.PathEscape(mux.Vars(r)["id"]), nil, &rl)
	return rl, err
}

// ruleReadOnly says why c cannot change rl, "" when it can.
func ruleReadOnly(c *api.Caller, rl alertRuleItem) string {
	switch {
	case rl.ManagedBy == "config":
		return "This rule is declared in the server's configuration file: change it there."
	case !canRun(c):
		return "You can view this rule; changing it needs the operator or admin role."
	}
	return ""
}

func (u *UI) alertRulePage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	rl, err := u.readRule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.renderRuleEditor(w, r, c, http.StatusOK, ruleEditor{
		Rule: &rl, Form: ruleFormOf(rl), Action: "/alert-rules/" + rl.ID, ReadOnly: ruleReadOnly(c, rl),
	}, nil)
}

// ruleRefused shows the editor again with the form as typed and the
// reason: each of the API's problems next to its field.
func (u *UI) ruleRefused(w http.ResponseWriter, r *http.Request, c *api.Caller, e ruleEditor, err error, errs fieldErrors) {
	status, msg := http.StatusBadRequest, "The rule was not saved: fix the fields marked below."
	var ae *api.Error
	switch {
	case errs != nil:
		e.Errors = errs
	case errors.As(err, &ae) && ae.Status == http.StatusBadRequest:
		var rest []string
		e.Errors, rest = apiFieldErrors(ae.Message)
		e.Problems = append(e.Problems, rest...)
	case errors.As(err, &ae) && ae.Code == "conflict" && strings.Contains(ae.Message, "named"):
		status = ae.Status
		e.Errors = fieldErrors{rule.FieldName: {sentence(ae.Message) + "."}}
	default:
		status, msg = u.userMessage(err)
	}
	for _, field := range slices.Sorted(maps.Keys(e.Errors)) {
		for _, p := range e.Errors[field] {
			e.Problems = append(e.Problems, field+": "+p)
		}
	}
	u.renderRuleEditor(w, r, c, status, e, []flash{{Kind: "error", Message: msg}})
}

func (u *UI) alertRuleCreate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	form := readAlertRuleForm(r)
	e := ruleEditor{Action: "/alert-rules", Form: form}
	body, errs := form.body()
	if errs != nil {
		u.ruleRefused(w, r, c, e, nil, errs)
		return
	}
	var out alertRuleItem
	err := u.call(r, c, http.MethodPost, "/api/v1/alert-rules", body, &out)
	switch {
	case err == nil:
		u.back(w, r, "/alerts#alert-rules", nil, fmt.Sprintf("Alert rule %q created.", out.Name))
	case refusedByAPI(err):
		u.fail(w, r, c, err)
	default:
		u.ruleRefused(w, r, c, e, err, nil)
	}
}

func (u *UI) alertRuleUpdate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	rl, err := u.readRule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	form := readAlertRuleForm(r)
	e := ruleEditor{Rule: &rl, Form: form, Action: "/alert-rules/" + rl.ID}
	body, errs := form.body()
	if errs != nil {
		u.ruleRefused(w, r, c, e, nil, errs)
		return
	}
	if sameSet(form.Channels, rl.Channels) {
		// Unchanged channels are not checked again: a rule keeps a channel
		// that has gone until someone changes its channels.
		delete(body, rule.FieldChannels)
	}
	var out alertRuleItem
	err = u.call(r, c, http.MethodPatch, "/api/v1/alert-rules/"+url.PathEscape(rl.ID), body, &out)
	switch {
	case err == nil:
		u.back(w, r, "/alerts#alert-rules", nil, fmt.Sprintf("Alert rule %q saved.", out.Name))
	case refusedByAPI(err):
		u.fail(w, r, c, err)
	default:
		var ae *api.Error
		if errors.As(err, &ae) && ae.Code == "managed_by_config" {
			e.ReadOnly = ruleReadOnly(c, rl)
		}
		u.ruleRefused(w, r, c, e, err, nil)
	}
}

// alertRuleEnabled is the list's enable/disable button.
func (u *UI) alertRuleEnabled(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	on := r.PostFormValue("enabled") == "true"
	var out alertRuleItem
	err := u.call(r, c, http.MethodPatch, "/api/v1/alert-rules/"+url.PathEscape(mux.Vars(r)["id"]), map[string]bool{"enabled": on}, &out)
	word := "disabled: nothing is watched for it until it is enabled again"
	if on {
		word = "enabled"
	}
	u.back(w, r, "/alerts#alert-rules", err, fmt.Sprintf("Alert rule %q %s.", out.Name, word))
}

type alertRuleDeleteData struct{ Rule alertRuleItem }

func (u *UI) alertRuleDeleteConfirm(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	rl, err := u.readRule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	if !canRun(c) {
		u.renderError(w, r, c, http.StatusForbidden, "Only operators and admins may delete alert rules.")
		return
	}
	u.render(w, r, c, http.StatusOK, "alert-rule-delete", view{Title: "Delete rule " + rl.Name, Nav: "alerts", Data: alertRuleDeleteData{Rule: rl}})
}

func (u *UI) alertRuleDelete(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	name := r.PostFormValue("name")
	err := u.call(r, c, http.MethodDelete, "/api/v1/alert-rules/"+url.PathEscape(mux.Vars(r)["id"]), nil, nil)
	u.back(w, r, "/alerts#alert-rules", err, fmt.Sprintf("Alert rule %q deleted; its alerts stay in the history.", name))
}
