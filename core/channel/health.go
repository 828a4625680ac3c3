package channel

import (
	"context"
)

// PluginInstance is the plugin host's instance key of the channel's
// plugin process, as pluginhost.InstanceStatus.Instance shows it.
func PluginInstance(name string) string { return instanceKey(name) }

// Probe checks that the channel's plugin is reachable: the plugin host
// answers from the running process, and notices (and restarts) a process
// that has died since the last call. A stopped plugin is started by it, so
// callers probe only running ones.
func (r *Registry) Probe(ctx context.Context, name string) error {
	e, err := r.usable(name)
	if err != nil {
		return err
	}
	_, err = e.notifier.Info(ctx)
	return err
}
