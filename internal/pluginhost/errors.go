package pluginhost

import "errors"

// The errors a host returns, for errors.Is. A crashed plugin's error wraps
// plugin.ErrUnavailable instead.
var (
	// ErrUnknownPlugin: no built-in or registered plugin has the name.
	ErrUnknownPlugin = errors.New("unknown plugin")
	// ErrWrongKind: the plugin is of another kind than the handle asked
	// for, such as a backend used as a notifier.
	ErrWrongKind = errors.New("wrong plugin kind")
	// ErrIncompatible: the plugin's API version has another major version
	// than the host's.
	ErrIncompatible = errors.New("incompatible plugin API version")
	// ErrChecksum: the plugin binary's SHA-256 is not the pinned one.
	ErrChecksum = errors.New("plugin checksum mismatch")
	// ErrOutsideDir: an external plugin's command does not resolve to a
	// file inside plugin_dir.
	ErrOutsideDir = errors.New("plugin command is not inside plugin_dir")
	// ErrFailed: the plugin crashed too often, or cannot start for a reason
	// a retry will not fix; calls fail until Reset.
	ErrFailed = errors.New("plugin failed")
	// ErrClosed: the host has been closed.
	ErrClosed = errors.New("plugin host is closed")
)
