package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Plugin is a `plugin "NAME"` block: an external plugin binary inside
// server.plugin_dir, pinned by its SHA-256. Built-in plugins need no block.
type Plugin struct {
	Name string `hcl:"name,label"`
	// Command is the binary's path relative to plugin_dir.
	Command string   `hcl:"command"`
	Args    []string `hcl:"args,optional"`
	// SHA256 is the binary's checksum, 64 hex digits; the plugin runs only
	// while the binary matches it.
	SHA256 string `hcl:"sha256"`

	DefRange     hcl.Range `hcl:",def_range"`
	NameRange    hcl.Range `hcl:"name,label_range"`
	CommandRange hcl.Range `hcl:"command,attr_value_range"`
	SHA256Range  hcl.Range `hcl:"sha256,attr_value_range"`
}

// Channel is a `channel "NAME"` block: a notification channel, delivered by
// a notify plugin configured with the channel's config block.
type Channel struct {
	Name string `hcl:"name,label"`
	// Plugin names a built-in plugin or a plugin block.
	Plugin string `hcl:"plugin"`
	// Config is nil when the block has no config block.
	Config *PluginConfig `hcl:"config,block"`

	DefRange    hcl.Range `hcl:",def_range"`
	NameRange   hcl.Range `hcl:"name,label_range"`
	PluginRange hcl.Range `hcl:"plugin,attr_value_range"`

	// evalCtx holds the functions (env, file) the config block may call.
	evalCtx *hcl.EvalContext
}

// PluginConfig is a `config { … }` block. Its attributes are the plugin's
// to define, so the body is kept undecoded until the plugin has reported
// its schema (Channel.DecodeConfig).
type PluginConfig struct {
	Body     hcl.Body  `hcl:",remain"`
	DefRange hcl.Range `hcl:",def_range"`
}

// DecodeConfig decodes the channel's config block against the schema its
// plugin reports, with the functions of the configuration file (env,
// file), and returns the JSON object the plugin's Configure takes. Each
// problem (an unknown attribute, with a suggestion; a missing or mistyped
// one) is a diagnostic pointing into the block. A channel without a config
// block decodes like an empty one.
func (c *Channel) DecodeConfig(schema plugin.Schema) ([]byte, hcl.Diagnostics) {
	var body hcl.Body
	if c.Config != nil && c.Config.Body != nil {
		body = c.Config.Body
	} else {
		// An empty body placed at the channel block, so that a missing
		// required attribute points there.
		body = &hclsyntax.Body{SrcRange: c.DefRange, EndRange: c.DefRange}
	}
	ectx := c.evalCtx
	if ectx == nil {
		ectx = evalContext(".")
	}
	js, diags := schema.DecodeJSON(body, ectx)
	widenFunctionCallSubjects(diags)
	return js, diags
}

// ConfigRange is where the channel's config block starts, or the channel
// block when it has none: where a plugin's refusal of the whole
// configuration is reported.
func (c *Channel) ConfigRange() hcl.Range {
	if c.Config != nil {
		return c.Config.DefRange
	}
	return c.DefRange
}

// channelName is what a channel's name looks like; it appears in URLs and
// CLI arguments.
var channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// validatePlugins checks the plugin and channel blocks as far as the file
// alone allows; whether a channel's plugin exists and accepts its config
// is checked when the plugins are started (core/channel).
func (c *Config) validatePlugins() hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]hcl.Range{}
	for i, p := range c.Plugins {
		if !pluginhost.ValidName(p.Name) {
			diags = append(diags, invalid(p.NameRange, "Invalid plugin name",
				"A plugin name is lower-case letters, digits and dashes, starting with a letter or digit, at most 64 characters, such as \"notify-log\"; got %q.", p.Name))
		} else if first, dup := seen[p.Name]; dup {
			diags = append(diags, invalid(p.NameRange, "Duplicate plugin block",
				"A plugin named %q is already declared at %s; each plugin is declared once.", p.Name, position(first)))
		} else {
			seen[p.Name] = p.NameRange
		}
		if err := checkCommand(p.Command); err != "" && present(p.CommandRange) {
			diags = append(diags, invalid(p.CommandRange, "Invalid plugin command",
				"command is the plugin binary's path relative to plugin_dir, such as \"notify-log\"; %s.", err))
		}
		if _, err := pluginhost.ParseSHA256(p.SHA256); err != nil && present(p.SHA256Range) {
			diags = append(diags, invalid(p.SHA256Range, "Invalid plugin checksum",
				"sha256 is the binary's SHA-256 as printed by sha256sum, 64 hex digits; %s.", err))
		}
		if i == 0 && c.Server.PluginDir == "" {
			diags = append(diags, invalid(p.DefRange, "No plugin directory",
				"External plugins live in the server block's plugin_dir; set it to the directory that holds %q.", p.Command))
		}
	}
	seen = map[string]hcl.Range{}
	for _, ch := range c.Channels {
		if !channelName.MatchString(ch.Name) {
			diags = append(diags, invalid(ch.NameRange, "Invalid channel name",
				"A channel name is lower-case letters, digits, dashes and underscores, starting with a letter or digit, at most 64 characters, such as \"ops-mail\"; got %q.", ch.Name))
		} else if first, dup := seen[ch.Name]; dup {
			diags = append(diags, invalid(ch.NameRange, "Duplicate channel block",
				"A channel named %q is already declared at %s; each channel is declared once.", ch.Name, position(first)))
		} else {
			seen[ch.Name] = ch.NameRange
		}
		if !pluginhost.ValidName(ch.Plugin) && present(ch.PluginRange) {
			diags = append(diags, invalid(ch.PluginRange, "Invalid plugin name",
				"plugin names the plugin that delivers the channel, a built-in one such as \"notify-ntfy\" or a plugin block; got %q.", ch.Plugin))
		}
	}
	return diags
}

// checkCommand says what is wrong with a plugin command, or "".
func checkCommand(command string) string {
	switch {
	case command == "":
		return "it is empty"
	case filepath.IsAbs(command) || filepath.VolumeName(command) != "" ||
		strings.HasPrefix(command, "/") || strings.HasPrefix(command, `\`):
		return fmt.Sprintf("%q is absolute", command)
	case strings.ContainsRune(command, 0):
		return "it contains a NUL byte"
	}
	for _, part := range strings.FieldsFunc(command, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return fmt.Sprintf("%q leaves plugin_dir with \"..\"", command)
		}
	}
	return ""
}

// position writes where r starts as FILE:LINE:COL.
func position(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// present reports whether a range was filled in by decoding, that is
// whether the attribute it is for was written (gohcl reports a missing
// required one itself).
func present(r hcl.Range) bool { return r.Filename != "" }
