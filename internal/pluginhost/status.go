package pluginhost

import (
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// State is where a plugin (or one instance of it) is in its life.
type State string

// The states, in the order List ranks them when it sums up a plugin's
// instances: the most alarming one wins.
const (
	// StateStopped: no process; the next call starts one.
	StateStopped State = "stopped"
	// StateRunning: the process is up.
	StateRunning State = "running"
	// StateRestarting: the process crashed or did not start; the next call
	// starts it again after a backoff.
	StateRestarting State = "restarting"
	// StateFailed: the plugin crashed too often or cannot start; calls fail
	// until Reset.
	StateFailed State = "failed"
)

func (s State) rank() int {
	return slices.Index([]State{StateStopped, StateRunning, StateRestarting, StateFailed}, s)
}

// Status describes one plugin for `restic-manager plugin list`.
type Status struct {
	Name   string      `json:"name"`
	Kind   plugin.Kind `json:"kind"`
	Source Source      `json:"source"`
	// Path is the binary: the host executable for a built-in plugin, the
	// resolved file in plugin_dir for an external one.
	Path string `json:"path"`
	// SHA256 is the pinned checksum, in hex.
	SHA256 string `json:"sha256"`
	// APIVersion and PluginVersion are what the plugin reported when it
	// last started; empty until it has.
	APIVersion    string `json:"api_version"`
	PluginVersion string `json:"plugin_version"`
	// State sums up the instances: failed if any failed, else restarting,
	// running or stopped in that order.
	State State `json:"state"`
	// Restarts counts restarts after crashes, over all instances.
	Restarts int `json:"restarts"`
	// LastError is the latest crash or start failure, if any.
	LastError string `json:"last_error"`
	// Instances lists each instance of the plugin (one per channel, say).
	Instances []InstanceStatus `json:"instances"`
}

// InstanceStatus describes one instance of a plugin: one process with its
// own configuration.
type InstanceStatus struct {
	Instance  string `json:"instance"`
	State     State  `json:"state"`
	Restarts  int    `json:"restarts"`
	LastError string `json:"last_error"`
	// PID is the process id while the instance runs.
	PID int `json:"pid,omitempty"`

	lastErrAt time.Time
}

// List describes every plugin the host knows, sorted by name.
func (h *Host) List() []Status {
	out := make([]Status, 0, len(h.names))
	for _, name := range h.names {
		out = append(out, h.status(h.defs[name]))
	}
	return out
}

func (h *Host) status(d *definition) Status {
	d.mu.Lock()
	st := Status{
		Name: d.name, Kind: d.kind, Source: d.source, Path: d.path,
		SHA256: hex.EncodeToString(d.sum), APIVersion: d.info.APIVersion, PluginVersion: d.info.PluginVersion,
		State: StateStopped, Instances: []InstanceStatus{},
	}
	d.mu.Unlock()
	if d.source == SourceBuiltin {
		if path, sum, err := h.exe.get(); err == nil {
			st.Path, st.SHA256 = path, hex.EncodeToString(sum)
		} else {
			st.LastError = err.Error()
		}
	}
	var lastErrAt time.Time
	for _, inst := range h.instancesOf(d.name) {
		is := inst.status()
		st.Instances = append(st.Instances, is)
		st.Restarts += is.Restarts
		if is.State.rank() > st.State.rank() {
			st.State = is.State
		}
		if is.LastError != "" && !is.lastErrAt.Before(lastErrAt) {
			st.LastError, lastErrAt = is.LastError, is.lastErrAt
		}
	}
	slices.SortFunc(st.Instances, func(a, b InstanceStatus) int { return strings.Compare(a.Instance, b.Instance) })
	return st
}
