package ui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// In a real browser against the real server: an admin adds a webhook
// channel in the UI (its secret write-only) and sends a test through it;
// an alert rule is created in the UI routing to it (the form shows only
// the chosen condition's fields and names the field the API refuses),
// seen in the API, edited and disabled, then deleted; the channel cannot
// be deleted while the rule uses it; a rule of the configuration file is
// read-only; a viewer sees no edit controls.
func TestBrowserAlertRulesAndChannels(t *testing.T) {
	t.Parallel()
	const secret = "ui-hmac-secret-93b1e7"
	var mu sync.Mutex
	var paths []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		mu.Lock()
		paths = append(paths, req.URL.Path+" "+req.Header.Get("X-Restic-Manager-Signature"))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	r := startAlertingServer(t, hook.URL)
	ctx := newBrowser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(sel string) string { return get(ctx, t, "text of "+sel, chromedp.Text(css(sel))) }
	html := func() string { return get(ctx, t, "page", chromedp.OuterHTML(css("html"))) }
	visible := func(sel string) bool {
		return get(ctx, t, "visibility of "+sel, chromedp.Evaluate[bool](`(() => { const el = document.querySelector(`+"`"+sel+"`"+`); return !!el && !el.closest("[hidden]"); })()`))
	}
	r.login(ctx, "admin", r.adminPassword)

	// A channel, made in the UI.
	do(ctx, t, "the channels page from /alerts",
		chromedp.Navigate(r.base+"/alerts"),
		chromedp.Click(css(`a[href="/channels"]`)),
		chromedp.WaitVisible(css(`li[data-channel="hook"]`)),
		chromedp.Click(css("#add-channel")),
		chromedp.WaitVisible(css("#channel-plugin")),
		chromedp.SendKeys(css("#channel-name"), "ui-hook"),
		chromedp.SetValue(css("#channel-plugin"), "notify-webhook"),
		chromedp.Click(css("#channel-next")),
		chromedp.WaitVisible(css(`#cfg-url`)))
	if !strings.Contains(text(`[data-attr="secret"] label`), "(secret)") || get(ctx, t, "secret input type", chromedp.Evaluate[string](`document.getElementById("cfg-secret").type`)) != "password" {
		t.Errorf("the secret setting is not a password field")
	}
	do(ctx, t, "a bad url is refused by the plugin",
		chromedp.SendKeys(css("#cfg-url"), "ftp://nowhere"),
		chromedp.Click(css("#channel-save")),
		chromedp.WaitVisible(css("#channel-problems")))
	if !strings.Contains(text("#channel-problems"), "rejected") {
		t.Errorf("problems: %q", text("#channel-problems"))
	}
	do(ctx, t, "add the channel",
		chromedp.SetValue(css("#cfg-url"), hook.URL+"/ui"),
		chromedp.SendKeys(css("#cfg-secret"), secret),
		chromedp.Click(css("#channel-save")),
		chromedp.WaitVisible(css(`li[data-channel="ui-hook"]`)))
	screenshot(ctx, t, "channels")
	if got := text(`li[data-channel="ui-hook"]`); !strings.Contains(got, "set (hidden)") || !strings.Contains(got, hook.URL+"/ui") || !strings.Contains(got, "enabled") {
		t.Errorf("the new channel: %q", got)
	}
	if strings.Contains(html(), secret) {
		t.Error("the channels page shows the secret")
	}
	do(ctx, t, "send a test",
		chromedp.Click(css(`li[data-channel="ui-hook"] button.channel-test`)),
		chromedp.WaitVisible(css("#flash")))
	if f := text("#flash"); !strings.Contains(f, "Sent a test notification") {
		t.Errorf("flash after the test: %q", f)
	}
	mu.Lock()
	if len(paths) != 1 || !strings.HasPrefix(paths[0], "/ui sha256=") {
		t.Errorf("the receiver got %v", paths)
	}
	mu.Unlock()

	// A rule, made in the UI.
	do(ctx, t, "the new rule form",
		chromedp.Navigate(r.base+"/alerts"),
		chromedp.Click(css("#add-rule")),
		chromedp.WaitVisible(css("#rule-name")))
	if !visible("#rule-kinds") || visible("#rule-after") {
		t.Error("job_failed's form does not show kinds only")
	}
	do(ctx, t, "name the rule", chromedp.SendKeys(css("#rule-name"), "ui-offline"))
	get(ctx, t, "switch to host_offline", chromedp.Evaluate[bool](
		`(() => { const s = document.getElementById("rule-on"); s.value = "host_offline"; s.dispatchEvent(new Event("change")); return true; })()`))
	do(ctx, t, "save without a channel",
		chromedp.SendKeys(css("#rule-after"), "5m"),
		chromedp.Click(css("#rule-save")),
		chromedp.WaitVisible(css(`[data-error-for="channels"]`)))
	if visible("#rule-kinds") || !visible("#rule-after") {
		t.Error("host_offline's form does not show after only")
	}
	do(ctx, t, "pick the channel and save",
		chromedp.Click(css(`input[name="channels"][value="ui-hook"]`)),
		chromedp.Click(css("#rule-save")),
		chromedp.WaitVisible(css(`li[data-rule="ui-offline"]`)))
	screenshot(ctx, t, "alert-rules")
	var rl struct {
		On        string   `json:"on"`
		Channels  []string `json:"channels"`
		After     string   `json:"after"`
		Enabled   bool     `json:"enabled"`
		ManagedBy string   `json:"managed_by"`
	}
	r.api(http.MethodGet, "/api/v1/alert-rules/ui-offline", nil, http.StatusOK, &rl)
	if rl.On != "host_offline" || strings.Join(rl.Channels, ",") != "ui-hook" || rl.After != "5m" || !rl.Enabled || rl.ManagedBy == "config" {
		t.Fatalf("the rule through the API: %+v", rl)
	}

	// Edit it: the API's refusal is shown at the field; then disable it.
	do(ctx, t, "edit with a bad duration",
		chromedp.Click(css(`li[data-rule="ui-offline"] a[aria-label="Edit rule ui-offline"]`)),
		chromedp.WaitVisible(css("#rule-after")),
		chromedp.SetValue(css("#rule-after"), "soon"),
		chromedp.Click(css("#rule-save")),
		chromedp.WaitVisible(css(`[data-error-for="after"]`)))
	do(ctx, t, "fix it and disable the rule",
		chromedp.SetValue(css("#rule-after"), "15m"),
		chromedp.Click(css("#rule-enabled")),
		chromedp.Click(css("#rule-save")),
		chromedp.WaitVisible(css(`li[data-rule="ui-offline"][data-enabled="false"]`)))
	r.api(http.MethodGet, "/api/v1/alert-rules/ui-offline", nil, http.StatusOK, &rl)
	if rl.After != "15m" || rl.Enabled {
		t.Errorf("after the edit: %+v", rl)
	}
	do(ctx, t, "enable it with the list's button",
		chromedp.Click(css(`li[data-rule="ui-offline"] button.rule-toggle`)),
		chromedp.WaitVisible(css(`li[data-rule="ui-offline"][data-enabled="true"]`)))

	// The channel cannot go while the rule uses it.
	do(ctx, t, "delete the channel in use",
		chromedp.Navigate(r.base+"/channels/ui-hook/delete"),
		chromedp.Click(css("#confirm-delete-channel")),
		chromedp.WaitVisible(css("#flash")))
	if f := text("#flash"); !strings.Contains(f, "ui-offline") {
		t.Errorf("flash after deleting a channel in use: %q", f)
	}

	// A rule of the configuration file is read-only, with the reason.
	do(ctx, t, "the config rule",
		chromedp.Navigate(r.base+"/alert-rules/backup-failed"),
		chromedp.WaitVisible(css("#rule-readonly")))
	if present := get(ctx, t, "save button", chromedp.Evaluate[bool](`!!document.getElementById("rule-save")`)); present {
		t.Error("the config rule has a save button")
	}

	// A viewer sees rules and channels, and no control to change them.
	pw := r.createUser("vic", "viewer")
	vctx, vcancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(vcancel)
	r.login(vctx, "vic", pw)
	do(vctx, t, "viewer's alerts", chromedp.Navigate(r.base+"/alerts"), chromedp.WaitVisible(css(`li[data-rule="ui-offline"]`)))
	controls := get(vctx, t, "rule controls", chromedp.Evaluate[int](`document.querySelectorAll('#add-rule, .rule-toggle, a[href$="/delete"], a[aria-label^="Edit rule"]').length`))
	if controls != 0 {
		t.Errorf("the viewer sees %d rule controls", controls)
	}
	do(vctx, t, "viewer's channels", chromedp.Navigate(r.base+"/channels"), chromedp.WaitVisible(css(`li[data-channel="ui-hook"]`)))
	controls = get(vctx, t, "channel controls", chromedp.Evaluate[int](`document.querySelectorAll('#add-channel, .channel-test, a[href$="/delete"], a[aria-label^="Edit channel"]').length`))
	if controls != 0 {
		t.Errorf("the viewer sees %d channel controls", controls)
	}

	// Delete the rule, then the channel.
	do(ctx, t, "delete the rule",
		chromedp.Navigate(r.base+"/alerts"),
		chromedp.Click(css(`a[aria-label="Delete rule ui-offline"]`)),
		chromedp.Click(css("#confirm-delete-rule")),
		chromedp.WaitVisible(css("#flash")))
	r.api(http.MethodGet, "/api/v1/alert-rules/ui-offline", nil, http.StatusNotFound, nil)
	do(ctx, t, "delete the channel",
		chromedp.Navigate(r.base+"/channels"),
		chromedp.Click(css(`a[aria-label="Delete channel ui-hook"]`)),
		chromedp.Click(css("#confirm-delete-channel")),
		chromedp.WaitVisible(css("#flash")))
	r.api(http.MethodGet, "/api/v1/channels/ui-hook", nil, http.StatusNotFound, nil)
}
