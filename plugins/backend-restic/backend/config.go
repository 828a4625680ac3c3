package backend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Bounds of the config attributes that take a number or a duration.
const (
	maxKillGrace   = 10 * time.Minute
	maxProgressFPS = 60
)

// schema is the backend's config block. The attribute names are part of
// the contract (README.md, config.hcl.example).
var schema = plugin.Schema{Attributes: []plugin.Attribute{
	{
		Name: "restic_binary",
		Type: plugin.TypeString,
		Description: "Path of the restic binary, or a command name looked up in PATH; " +
			`"restic" from PATH when unset. restic 0.14 or newer is required.`,
	},
	{
		Name: "kill_grace",
		Type: plugin.TypeString,
		Description: "How long a cancelled restic gets to remove its lock between the interrupt and the kill, " +
			`as a Go duration such as "10s" (the default) or "1m".`,
	},
	{
		Name: "cache_dir",
		Type: plugin.TypeString,
		Description: "Absolute path of restic's cache directory (RESTIC_CACHE_DIR) for every job " +
			"whose repository does not set one; restic's default cache when unset.",
	},
	{
		Name: "pass_env",
		Type: plugin.TypeListString,
		Description: "Names of further environment variables of the agent that restic inherits, " +
			"such as HTTPS_PROXY; restic gets only PATH, HOME, TMPDIR, the locale and its cache settings otherwise.",
	},
	{
		Name: "progress_fps",
		Type: plugin.TypeNumber,
		Description: "Progress events per second during backups and restores (RESTIC_PROGRESS_FPS), " +
			"between 0.01 and 60; 1 when unset.",
	},
}}

// config is a decoded config block; its JSON names are the schema's.
type config struct {
	ResticBinary string   `json:"restic_binary"`
	KillGrace    string   `json:"kill_grace"`
	CacheDir     string   `json:"cache_dir"`
	PassEnv      []string `json:"pass_env"`
	ProgressFPS  float64  `json:"progress_fps"`
}

// parseConfig decodes and validates a config block and returns the
// runner configuration it describes (without the logger). Every problem
// is reported, not only the first.
func parseConfig(raw []byte) (config, restic.Config, error) {
	var c config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, restic.Config{}, fmt.Errorf("decode config: %w", err)
	}
	rc := restic.Config{Binary: c.ResticBinary, PassEnv: c.PassEnv, ProgressFPS: c.ProgressFPS}
	var errs []error
	if strings.ContainsRune(c.ResticBinary, 0) {
		errs = append(errs, errors.New("restic_binary contains a NUL byte"))
	}
	if c.KillGrace != "" {
		d, err := time.ParseDuration(c.KillGrace)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf(`kill_grace %q is not a duration such as "10s"`, c.KillGrace))
		case d <= 0 || d > maxKillGrace:
			errs = append(errs, fmt.Errorf("kill_grace %s is not between 0s and %s", d, maxKillGrace))
		default:
			rc.KillGrace = d
		}
	}
	if c.CacheDir != "" && !filepath.IsAbs(c.CacheDir) {
		errs = append(errs, fmt.Errorf("cache_dir %q is not an absolute path", c.CacheDir))
	}
	for _, name := range c.PassEnv {
		if name == "" || strings.ContainsAny(name, "=\x00") {
			errs = append(errs, fmt.Errorf("pass_env: %q is not an environment variable name", name))
		}
	}
	if c.ProgressFPS != 0 && (c.ProgressFPS < 0.01 || c.ProgressFPS > maxProgressFPS) {
		errs = append(errs, fmt.Errorf("progress_fps %v is not between 0.01 and %d", c.ProgressFPS, maxProgressFPS))
	}
	return c, rc, errors.Join(errs...)
}
