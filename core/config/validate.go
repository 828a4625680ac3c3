package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/restic-manager/restic-manager/core/auth"
)

var (
	logLevels  = []string{"trace", "debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// validate checks what gohcl cannot: values that have the right type but
// make no sense. It reports every problem, not just the first.
func (c *Config) validate(at node) hcl.Diagnostics {
	return slices.Concat(
		c.Server.validate(at.block("server", 0)),
		c.Log.validate(at.block("log", 0)),
		c.validatePlugins(),
		c.validateAlerts(at),
	)
}

func (s *Server) validate(at node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if err := checkListen(s.Listen); err != nil {
		diags = append(diags, invalid(at.attr("listen"), "Invalid listen address",
			"listen must be host:port with a port from 1 to 65535, such as \"127.0.0.1:8080\" or \":8443\"; got %q: %s.", s.Listen, err))
	}
	if s.PublicURL != "" {
		if err := checkPublicURL(s.PublicURL); err != nil {
			diags = append(diags, invalid(at.attr("public_url"), "Invalid public URL",
				"public_url must be an absolute http or https URL with a host, such as \"https://backup.example.com\"; got %q: %s.", s.PublicURL, err))
		}
	}
	if s.DataDir == "" {
		diags = append(diags, invalid(at.attr("data_dir"), "Empty data directory",
			"data_dir must name the directory the server keeps its state in; leave it out to use %q.", defaultDataDir))
	}
	if s.BrowseCacheSnapshots < 0 || s.BrowseCacheSnapshots > 10000 {
		diags = append(diags, invalid(at.attr("browse_cache_snapshots"), "Invalid browse cache size",
			"browse_cache_snapshots must be from 1 to 10000 snapshots (leave it out for 20); got %d.", s.BrowseCacheSnapshots))
	}
	if s.DownloadLimitMiB < 0 || s.DownloadLimitMiB > maxDownloadLimitMiB {
		diags = append(diags, invalid(at.attr("download_limit_mib"), "Invalid download limit",
			"download_limit_mib must be from 1 to %d MiB (leave it out for %d, 4 GiB); got %d.", maxDownloadLimitMiB, DefaultDownloadLimitMiB, s.DownloadLimitMiB))
	}
	for _, e := range s.TrustedProxies {
		if _, err := auth.ParseTrustedProxy(e); err != nil {
			diags = append(diags, invalid(at.attr("trusted_proxies"), "Invalid trusted proxy",
				"trusted_proxies must list IP addresses or networks in CIDR notation, such as \"127.0.0.1\" or \"10.0.0.0/8\"; got %q.", e))
		}
	}
	if s.TLS != nil {
		diags = append(diags, s.TLS.validate(at.block("tls", 0))...)
	}
	return diags
}

func (t *TLS) validate(at node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if t.CertFile == "" {
		diags = append(diags, invalid(at.attr("cert_file"), "Missing TLS certificate file",
			"The tls block needs cert_file, the PEM certificate (chain) the server serves HTTPS with; remove the tls block to serve plain HTTP."))
	}
	if t.KeyFile == "" {
		diags = append(diags, invalid(at.attr("key_file"), "Missing TLS key file",
			"The tls block needs key_file, the PEM private key of cert_file; remove the tls block to serve plain HTTP."))
	}
	return diags
}

func (l *Log) validate(at node) hcl.Diagnostics {
	var diags hcl.Diagnostics
	if !slices.Contains(logLevels, l.Level) {
		diags = append(diags, invalid(at.attr("level"), "Invalid log level",
			"level must be one of %s; got %q.", quoteList(logLevels), l.Level))
	}
	if !slices.Contains(logFormats, l.Format) {
		diags = append(diags, invalid(at.attr("format"), "Invalid log format",
			"format must be one of %s; got %q.", quoteList(logFormats), l.Format))
	}
	return diags
}

// checkListen accepts host:port with a numeric port from 1 to 65535; an
// empty host means every interface.
func checkListen(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err)
		}
		return err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("port %q is not a number from 1 to 65535", port)
	}
	return nil
}

// checkPublicURL accepts an absolute http or https URL with a host.
func checkPublicURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return err
	}
	switch {
	case u.Scheme == "":
		return errors.New("no scheme")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q is not http or https", u.Scheme)
	case u.Hostname() == "":
		return errors.New("no host")
	}
	return nil
}

// invalid returns an error diagnostic about the source at subject.
func invalid(subject hcl.Range, summary, detail string, args ...any) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(detail, args...),
		Subject:  subject.Ptr(),
	}
}

// quoteList renders values as "a", "b" or "c".
func quoteList(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = strconv.Quote(v)
	}
	if len(quoted) < 2 {
		return strings.Join(quoted, "")
	}
	return strings.Join(quoted[:len(quoted)-1], ", ") + " or " + quoted[len(quoted)-1]
}

// node is where a decoded block sits in the source, so validation can point
// at the exact expression it rejects, or at the block when the attribute is
// absent (a default was used).
type node struct {
	body *hclsyntax.Body // nil when the block is not in the file
	rng  hcl.Range       // the block's definition, or its parent's when absent
}

// rootNode is the top level of file. Bodies of other syntaxes than native
// HCL have no positions to offer, and validation then points at the file.
func rootNode(file *hcl.File) node {
	rng := file.Body.MissingItemRange()
	body, _ := file.Body.(*hclsyntax.Body)
	return node{body: body, rng: rng}
}

// block returns the i-th block of type typ, in source order: the same
// order gohcl decodes a repeated block into a slice.
func (n node) block(typ string, i int) node {
	if n.body == nil {
		return node{rng: n.rng}
	}
	for _, b := range n.body.Blocks {
		if b.Type != typ {
			continue
		}
		if i == 0 {
			return node{body: b.Body, rng: b.DefRange()}
		}
		i--
	}
	return node{rng: n.rng}
}

// attr returns the range of the named attribute's value, or the block's own
// range when the attribute is not written.
func (n node) attr(name string) hcl.Range {
	if n.body != nil {
		if a, ok := n.body.Attributes[name]; ok {
			return a.Expr.Range()
		}
	}
	return n.rng
}
