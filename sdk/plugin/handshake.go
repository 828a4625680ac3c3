package plugin

import (
	"errors"
	"fmt"
	"strings"

	goplugin "github.com/hashicorp/go-plugin"
	"golang.org/x/mod/semver"
)

// ProtocolVersion is the go-plugin protocol version of restic-manager
// plugins. It changes only when the wire protocol breaks (a removed RPC, a
// renumbered field); everything else is a new semantic API version reported
// in Info.
const ProtocolVersion = 1

// BasePluginName is the name under which every plugin serves the Base
// service in its go-plugin plugin set. Each kind's service is served under
// the kind's name (notify.PluginName, ...).
const BasePluginName = "base"

// Handshake is the go-plugin handshake shared by hosts and plugins.
//
// The magic cookie is a UX feature, not a security feature: it lets a plugin
// binary started by hand print a helpful message instead of waiting for a
// host. It never changes. Trust comes from the SHA-256 pin and mTLS
// (NewClientConfig).
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "RESTIC_MANAGER_PLUGIN",
	MagicCookieValue: "dfa2731409abece5f234d7510267f91f1eb3e10d394e23bd5f4f72c66ebbf7ba",
}

// VersionedPlugins returns the go-plugin VersionedPlugins map for set: the
// set plus the Base plugin, under ProtocolVersion. Plugins get it through
// Serve; hosts pass it in their ClientConfig with empty plugins of every
// kind they use:
//
//	plugin.VersionedPlugins(goplugin.PluginSet{
//		notify.PluginName: &notify.GRPCPlugin{},
//	})
func VersionedPlugins(set goplugin.PluginSet) map[int]goplugin.PluginSet {
	all := goplugin.PluginSet{BasePluginName: &BasePlugin{}}
	for name, p := range set {
		all[name] = p
	}
	return map[int]goplugin.PluginSet{ProtocolVersion: all}
}

// CheckAPIVersion reports whether a plugin built against API version got can
// serve a host built against want: both must be semantic versions ("1.2.0"
// or "v1.2.0") with the same major version.
func CheckAPIVersion(want, got string) error {
	w, g := canonical(want), canonical(got)
	if w == "" {
		return fmt.Errorf("host API version %q is not a semantic version", want)
	}
	if g == "" {
		if got == "" {
			return errors.New("plugin reports no API version")
		}
		return fmt.Errorf("plugin API version %q is not a semantic version", got)
	}
	if semver.Major(w) != semver.Major(g) {
		return fmt.Errorf("plugin API version %s is incompatible with the host's %s", got, want)
	}
	return nil
}

// ValidVersion reports whether v is a semantic version, with or without a
// leading "v".
func ValidVersion(v string) bool { return canonical(v) != "" }

// canonical returns v as a full "vMAJOR.MINOR.PATCH[-pre]" semantic version,
// or "" if it is none. Shortened forms such as "1.2" are not accepted.
func canonical(v string) string {
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	core, _, _ := strings.Cut(strings.SplitN(v, "+", 2)[0], "-")
	if strings.Count(core, ".") != 2 || !semver.IsValid(v) {
		return ""
	}
	return semver.Canonical(v)
}
