package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// header starts every file Write makes.
const header = `# restic-manager agent configuration, written by "restic-manager-agent enroll".
# It holds this host's credential: keep it readable only by the agent's user.
`

// Encode renders c as HCL. Empty optional attributes are left out.
func (c *Config) Encode() []byte {
	f := hclwrite.NewEmptyFile()
	root := f.Body()
	root.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte(header)}})
	root.AppendNewline()
	agent := root.AppendNewBlock("agent", nil).Body()
	set := func(name, v string) {
		if v != "" {
			agent.SetAttributeValue(name, cty.StringVal(v))
		}
	}
	set("server_url", c.ServerURL)
	set("host_id", c.HostID)
	set("credential", string(c.Credential))
	set("credential_file", c.CredentialFile)
	set("server_fingerprint", c.ServerFingerprint)
	set("state_dir", c.StateDir)
	set("restic_binary", c.ResticBinary)
	if len(c.HookShell) > 0 {
		vals := make([]cty.Value, len(c.HookShell))
		for i, v := range c.HookShell {
			vals[i] = cty.StringVal(v)
		}
		agent.SetAttributeValue("hook_shell", cty.ListVal(vals))
	}
	if c.AllowInsecure {
		agent.SetAttributeValue("allow_insecure", cty.True)
	}
	log := agent.AppendNewBlock("log", nil).Body()
	log.SetAttributeValue("level", cty.StringVal(cmpOr(c.Log.Level, DefaultLogLevel)))
	log.SetAttributeValue("format", cty.StringVal(cmpOr(c.Log.Format, DefaultLogFormat)))
	return f.Bytes()
}

// Write writes c to path atomically with mode 0600: into a temporary file
// in the same directory, synced, then renamed over path, so a crash leaves
// either the old file or the new one. The directory must exist.
func Write(path string, c *Config) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write agent configuration: %w", err)
	}
	done := false
	defer func() {
		if !done {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("write agent configuration: %w", err)
	}
	if _, err := tmp.Write(c.Encode()); err != nil {
		return fmt.Errorf("write agent configuration: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write agent configuration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write agent configuration: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write agent configuration: %w", err)
	}
	done = true
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable where the system allows it
// (Windows cannot open a directory for syncing; its rename is durable
// enough once the file is synced).
func syncDir(dir string) {
	if runtime.GOOS == "windows" {
		return
	}
	d, err := os.Open(dir) //nolint:gosec // G304: the directory of the file just written.
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}
