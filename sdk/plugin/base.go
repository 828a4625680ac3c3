// Package plugin is the part of the restic-manager plugin SDK that every
// plugin kind shares: the go-plugin handshake and protocol version, the Base
// interface every plugin implements (Info, ConfigSchema, Configure), the
// config schema and its HCL decoding, the errors that cross the process
// boundary, Serve, and the logger a plugin writes to stderr.
//
// A plugin author imports the package of the plugin's kind (sdk/notify,
// sdk/auth or sdk/backend) for the interface to implement and its Serve
// function, and this package for the shared types. A host additionally uses
// NewClientConfig to start plugins and Schema.Decode to decode their config
// blocks.
//
// Inside the SDK, github.com/hashicorp/go-plugin is imported as goplugin.
package plugin

import (
	"context"

	"github.com/restic-manager/restic-manager/sdk/internal/rpcerr"
)

// Kind is what a plugin is for. A plugin binary serves exactly one kind.
type Kind string

// The plugin kinds.
const (
	KindNotify  Kind = "notify"
	KindAuth    Kind = "auth"
	KindBackend Kind = "backend"
)

// Valid reports whether k is one of the known kinds.
func (k Kind) Valid() bool {
	switch k {
	case KindNotify, KindAuth, KindBackend:
		return true
	}
	return false
}

// Info describes a plugin.
type Info struct {
	// Name is the plugin's own name, such as "notify-log". The host
	// registers plugins under names of the operator's choosing; this one is
	// shown next to it.
	Name string `json:"name"`
	// Kind is the kind of plugin. Serve fills it in from the package the
	// plugin is served through; implementations may leave it empty.
	Kind Kind `json:"kind"`
	// APIVersion is the semantic version of the kind's API the plugin was
	// built against (notify.APIVersion, ...). Serve fills it in from the
	// SDK the plugin was compiled with; implementations leave it empty.
	APIVersion string `json:"api_version"`
	// PluginVersion is the semantic version of the plugin itself.
	PluginVersion string `json:"plugin_version"`
}

// Base is implemented by every plugin, whatever its kind.
//
// The host calls Info and ConfigSchema right after starting the plugin, then
// Configure with the plugin's config block before any call of the kind's own
// methods, and again whenever the block changes. After a crash the plugin is
// restarted and configured anew, so a plugin keeps no state it cannot
// rebuild from its configuration.
type Base interface {
	// Info describes the plugin.
	Info(ctx context.Context) (Info, error)
	// ConfigSchema describes the plugin's config block. The host decodes the
	// operator's HCL against it, so it must not depend on the configuration.
	ConfigSchema(ctx context.Context) (Schema, error)
	// Configure hands the plugin its configuration: a JSON object with one
	// member per attribute of the schema that is set (unset optional
	// attributes are left out). A configuration the plugin cannot use is an
	// error; every error Configure returns reaches the host wrapping
	// ErrInvalidConfig.
	Configure(ctx context.Context, config []byte) error
}

// The errors that keep their identity across the plugin boundary: an error
// a plugin returns that wraps one of these (or context.Canceled, or
// context.DeadlineExceeded) is matched by errors.Is in the host. Any other
// error reaches the host with its message only.
var (
	// ErrInvalidConfig means the plugin cannot use the configuration it was
	// given. Configure's errors always wrap it.
	ErrInvalidConfig = rpcerr.ErrInvalidConfig
	// ErrNotConfigured means a method was called before a successful
	// Configure.
	ErrNotConfigured = rpcerr.ErrNotConfigured
	// ErrUnsupported means the plugin does not implement what was asked,
	// such as a backend job kind it does not know.
	ErrUnsupported = rpcerr.ErrUnsupported
	// ErrDenied means the plugin refused the request on purpose, such as a
	// login by someone the identity provider does not allow.
	ErrDenied = rpcerr.ErrDenied
	// ErrUnavailable means the plugin could not be reached: its process
	// exited or crashed. The host restarts it.
	ErrUnavailable = rpcerr.ErrUnavailable
)
