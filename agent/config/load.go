package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

var (
	logLevels  = []string{"trace", "debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// maxCredentialFile caps a credential file: a credential is 47 bytes, and
// a wrong path must not eat memory.
const maxCredentialFile = 4 << 10

// Files holds the parsed source for WriteDiagnostics. A nil *Files is
// valid and holds nothing.
type Files struct {
	byName map[string]*hcl.File
}

// fileRoot and agentBlock are the file's shape for gohcl.
type fileRoot struct {
	Agent *agentBlock `hcl:"agent,block"`
}

type agentBlock struct {
	ServerURL         string   `hcl:"server_url"`
	HostID            string   `hcl:"host_id"`
	Credential        Secret   `hcl:"credential,optional"`
	CredentialFile    string   `hcl:"credential_file,optional"`
	ServerFingerprint string   `hcl:"server_fingerprint,optional"`
	StateDir          string   `hcl:"state_dir,optional"`
	ResticBinary      string   `hcl:"restic_binary,optional"`
	HookShell         []string `hcl:"hook_shell,optional"`
	AllowInsecure     bool     `hcl:"allow_insecure,optional"`
	Log               *Log     `hcl:"log,block"`
}

// Load reads, decodes and validates the configuration file at path. Every
// diagnostic with a place in the file has a Subject (file:line:col). On
// errors the *Config is nil; warnings alone still return it. Files is
// never nil.
func Load(path string) (*Config, *Files, hcl.Diagnostics) {
	src, err := os.ReadFile(path) //nolint:gosec // G304: the operator names the file.
	if err != nil {
		return nil, &Files{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read the agent configuration",
			Detail:   err.Error() + ". Enroll the agent first (\"restic-manager-agent enroll\") or pass --config.",
		}}
	}
	return LoadBytes(src, path)
}

// LoadBytes is Load for a file held in memory; filename names it in
// diagnostics and relative paths in it resolve against its directory.
func LoadBytes(src []byte, filename string) (*Config, *Files, hcl.Diagnostics) {
	parser := hclparse.NewParser()
	file, diags := parser.ParseHCL(src, filename)
	files := &Files{byName: parser.Files()}
	if diags.HasErrors() {
		return nil, files, diags
	}
	log := &Log{Level: DefaultLogLevel, Format: DefaultLogFormat}
	var root fileRoot
	diags = append(diags, gohcl.DecodeBody(file.Body, nil, &root)...)
	if diags.HasErrors() {
		return nil, files, diags
	}
	if root.Agent == nil {
		return nil, files, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing agent block",
			Detail:   "The agent configuration needs an agent block with server_url, host_id and credential; \"restic-manager-agent enroll\" writes one.",
			Subject:  file.Body.MissingItemRange().Ptr(),
		})
	}
	b := root.Agent
	if b.Log != nil {
		log.Level = cmpOr(b.Log.Level, log.Level)
		log.Format = cmpOr(b.Log.Format, log.Format)
	}
	dir := filepath.Dir(filename)
	cfg := &Config{
		ServerURL:         strings.TrimRight(b.ServerURL, "/"),
		HostID:            b.HostID,
		Credential:        b.Credential,
		CredentialFile:    resolve(dir, b.CredentialFile),
		ServerFingerprint: b.ServerFingerprint,
		StateDir:          resolve(dir, b.StateDir),
		ResticBinary:      b.ResticBinary,
		HookShell:         b.HookShell,
		AllowInsecure:     b.AllowInsecure,
		Log:               *log,
	}
	if cfg.StateDir == "" {
		cfg.StateDir = DefaultStateDir()
	}
	diags = append(diags, cfg.validate(at{file: file})...)
	if diags.HasErrors() {
		return nil, files, diags
	}
	return cfg, files, diags
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// at finds the source of an attribute of the agent block for diagnostics.
type at struct{ file *hcl.File }

func (a at) block(typ string) *hclsyntax.Block {
	body, ok := a.file.Body.(*hclsyntax.Body)
	if !ok {
		return nil
	}
	for _, b := range body.Blocks {
		if b.Type == typ {
			return b
		}
	}
	return nil
}

// attr returns the range of the value of agent's attribute name (or of
// log's, for "log.level"), else of the enclosing block's header.
func (a at) attr(name string) *hcl.Range {
	agent := a.block("agent")
	if agent == nil {
		return nil
	}
	body, def := agent.Body, agent.DefRange()
	if sub, ok := strings.CutPrefix(name, "log."); ok {
		name = sub
		for _, b := range agent.Body.Blocks {
			if b.Type == "log" {
				body, def = b.Body, b.DefRange()
			}
		}
	}
	if attr, ok := body.Attributes[name]; ok {
		r := attr.Expr.Range()
		return &r
	}
	return &def
}

func invalid(subject *hcl.Range, summary, format string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: fmt.Sprintf(format, args...), Subject: subject}
}

// validate checks values gohcl cannot, reporting every problem.
func (c *Config) validate(at at) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if err := checkServerURL(c.ServerURL); err != nil {
		diags = append(diags, invalid(at.attr("server_url"), "Invalid server URL",
			"server_url must be the server's http or https URL, such as \"https://backup.example.com\"; %s.", err))
	}
	if c.HostID == "" || len(c.HostID) > 128 || strings.ContainsFunc(c.HostID, unicode.IsControl) {
		diags = append(diags, invalid(at.attr("host_id"), "Invalid host id",
			"host_id must be this host's id on the server (1 to 128 printable characters), as enrollment wrote it."))
	}
	switch {
	case c.Credential != "" && c.CredentialFile != "":
		diags = append(diags, invalid(at.attr("credential_file"), "Two credentials",
			"Set credential or credential_file, not both."))
	case c.Credential == "" && c.CredentialFile == "":
		diags = append(diags, invalid(at.attr("credential"), "Missing credential",
			"The agent block needs credential (the agent's secret, \"rma_…\") or credential_file (a file holding it); enrollment writes credential."))
	case c.Credential != "" && !strings.HasPrefix(string(c.Credential), CredentialPrefix):
		diags = append(diags, invalid(at.attr("credential"), "Invalid credential",
			"credential must be the agent credential enrollment wrote, starting with %q.", CredentialPrefix))
	}
	if len(c.HookShell) > 0 && (c.HookShell[0] == "" || slices.ContainsFunc(c.HookShell, func(s string) bool { return strings.ContainsRune(s, 0) })) {
		diags = append(diags, invalid(at.attr("hook_shell"), "Invalid hook shell",
			"hook_shell must be the shell's program and its arguments before the command, such as [\"/bin/bash\", \"-c\"]."))
	}
	if c.ServerFingerprint != "" {
		fp, err := NormalizeFingerprint(c.ServerFingerprint)
		if err != nil {
			diags = append(diags, invalid(at.attr("server_fingerprint"), "Invalid server fingerprint",
				"server_fingerprint must be the SHA-256 of the server's TLS certificate as 64 hex digits; %s.", err))
		} else {
			c.ServerFingerprint = fp
			if strings.HasPrefix(c.ServerURL, "http://") {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning, Summary: "Fingerprint without TLS",
					Detail:  "server_fingerprint only applies to an https server_url; over plain HTTP it is ignored.",
					Subject: at.attr("server_fingerprint"),
				})
			}
		}
	}
	if strings.ContainsRune(c.StateDir, 0) {
		diags = append(diags, invalid(at.attr("state_dir"), "Invalid state directory", "state_dir must be a directory path."))
	}
	if !slices.Contains(logLevels, c.Log.Level) {
		diags = append(diags, invalid(at.attr("log.level"), "Invalid log level",
			"level must be one of %s; got %q.", strings.Join(logLevels, ", "), c.Log.Level))
	}
	if !slices.Contains(logFormats, c.Log.Format) {
		diags = append(diags, invalid(at.attr("log.format"), "Invalid log format",
			"format must be one of %s; got %q.", strings.Join(logFormats, ", "), c.Log.Format))
	}
	return diags
}

// CheckServerURL reports what is wrong with a server URL, or nil: it must
// be an absolute http or https URL with a host and no user, query or
// fragment.
func CheckServerURL(s string) error { return checkServerURL(s) }

func checkServerURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("got %q, which does not parse", s)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("got %q, whose scheme is not http or https", s)
	case u.Host == "":
		return fmt.Errorf("got %q, which has no host", s)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("got %q, which has a user, query or fragment", s)
	}
	return nil
}

// NormalizeFingerprint turns a SHA-256 fingerprint written as 64 hex digits
// (any case, optionally colon-separated, optionally prefixed "sha256:")
// into lower-case hex without separators.
func NormalizeFingerprint(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) >= 7 && strings.EqualFold(t[:7], "sha256:") {
		t = t[7:]
	}
	t = strings.ToLower(strings.ReplaceAll(t, ":", ""))
	if len(t) != 64 {
		return "", fmt.Errorf("got %d hex digits, want 64", len(t))
	}
	if _, err := hex.DecodeString(t); err != nil {
		return "", errors.New("it holds a character that is not a hex digit")
	}
	return t, nil
}

// ReadCredential returns the agent's credential: credential, or the
// content of credential_file with surrounding white space removed.
func (c *Config) ReadCredential() (string, error) {
	if c.Credential != "" {
		return string(c.Credential), nil
	}
	if c.CredentialFile == "" {
		return "", errors.New("the configuration has no credential")
	}
	f, err := os.Open(c.CredentialFile)
	if err != nil {
		return "", fmt.Errorf("read credential_file: %w", err)
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialFile+1))
	if err != nil {
		return "", fmt.Errorf("read credential_file: %w", err)
	}
	if len(b) > maxCredentialFile {
		return "", fmt.Errorf("credential_file %s is larger than %d bytes; is it the right file?", c.CredentialFile, maxCredentialFile)
	}
	cred := strings.TrimSpace(string(b))
	if !strings.HasPrefix(cred, CredentialPrefix) {
		return "", fmt.Errorf("credential_file %s does not hold an agent credential (%q…)", c.CredentialFile, CredentialPrefix)
	}
	return cred, nil
}
