// Package pluginhost starts, supervises and calls restic-manager plugins:
// hashicorp/go-plugin subprocesses speaking gRPC. The server and the agent
// share it, so it imports nothing server-only (no store, no SQLite).
//
// A host knows two sources of plugins. Built-in plugins are compiled into
// the host binary and started by re-executing it as
// "<binary> plugin serve NAME" (ServeBuiltin is that command's body); their
// SHA-256 pin is the running executable's own hash. External plugins are
// binaries inside plugin_dir, registered with a SHA-256 pin: the command
// must resolve inside plugin_dir (no absolute path, no "..", no symlink
// leading out), and go-plugin's SecureConfig checks the hash right before
// every start, so a binary swapped after registration never runs. Every
// plugin runs with automatic mutual TLS and a minimal environment that
// carries none of the host's secrets.
//
// Plugins start on first use. Notifier, Backend and Authenticator return
// handles whose every call goes through supervision: a plugin that crashes
// fails the call in flight with an error wrapping plugin.ErrUnavailable and
// is restarted on the next call, after a backoff, and configured again with
// the last configuration it accepted; a call that outlives its context or
// the host's per-call timeout has its plugin killed and restarted; after
// too many restarts within a window the plugin is "failed" and every call
// says why, until Reset. The plugin's standard error is re-logged under
// "plugin.NAME", and nothing a plugin does makes the host panic.
//
// Each handle names an instance of its plugin (Instance; the default is
// ""): handles of the same plugin and instance share one process and one
// configuration, different instances run separate processes. The server
// runs one instance per notification channel, so two channels of one
// plugin keep their own configurations.
package pluginhost
