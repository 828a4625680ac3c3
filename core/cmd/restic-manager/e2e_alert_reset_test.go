package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// pluginResetHCL: check every second, reset a plugin given up on after 3 s.
const pluginResetHCL = `
alerting {
  evaluate_every     = "1s"
  plugin_reset_after = "3s"
}

alert "plugins" {
  on       = "plugin_failing"
  channels = ["hook", "phone", "mail"]
}
`

// channelInstance returns the state and pid of a channel's plugin
// instance, from plugin list --json ("" when it is not listed).
func channelInstance(r *rig, plugin, instance string) (string, int) {
	r.t.Helper()
	var plugins []struct {
		Name      string
		Instances []struct {
			Instance string
			State    string
			PID      int
		}
	}
	r.okJSON(&plugins, "plugin", "list")
	for _, p := range plugins {
		for _, in := range p.Instances {
			if p.Name == plugin && in.Instance == instance {
				return in.State, in.PID
			}
		}
	}
	return "", 0
}

// The webhook channel's plugin is killed until the plugin host gives up on
// it: the other channels hear that it is failing (critical); after
// plugin_reset_after the engine resets it, it runs again, and the
// resolution reaches every channel, the webhook included.
func TestEndToEndGivenUpPluginIsReset(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	in := &inbox{}
	r.withConfig(startReceivers(t, in) + pluginResetHCL)

	kills := 0
	last := 0
	deadline := time.Now().Add(90 * time.Second)
	for {
		state, pid := channelInstance(r, "notify-webhook", "channel:hook")
		switch {
		case state == "failed":
		case time.Now().After(deadline):
			t.Fatalf("the plugin host did not give up on the webhook plugin after %d kills (state %q)", kills, state)
		case state != "running":
			// Plugins start on use: a test notification starts it (or
			// restarts it after a crash, once its back-off has passed).
			r.cli("channel", "test", "hook")
			continue
		case pid > 0 && pid != last:
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			last = pid
			kills++
			continue
		default:
			time.Sleep(100 * time.Millisecond)
			continue
		}
		break
	}
	t.Logf("the plugin host gave up after %d kills", kills)
	// The alert opened on the first crash; the give-up raises it to
	// critical, which is notified again.
	eventuallyE2EWithin(t, 30*time.Second, "the give-up report on the other channels", func() bool {
		seen := map[string]bool{}
		for _, n := range in.matching("plugin_failing", "channel hook is failing") {
			if strings.Contains(n.body, "crashed too often") {
				seen[n.via] = true
			}
		}
		return seen["ntfy"] && seen["smtp"] && !seen["webhook"]
	})

	// Reset after 3 s: the plugin runs again and delivers the all-clear.
	in.wait(t, "alert_resolved", "Resolved: channel hook is failing", "webhook", "ntfy", "smtp")
	if state, pid := channelInstance(r, "notify-webhook", "channel:hook"); state != "running" || pid == last {
		t.Fatalf("after the reset the webhook plugin is %q (pid %d, the last killed %d)", state, pid, last)
	}
	if log := r.srv.log.String(); !strings.Contains(log, "resetting a channel's plugin that was given up on") {
		t.Error("the server log does not show the reset")
	}
}
