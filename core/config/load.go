package config

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Files holds the source of the files a load parsed, keyed by the file name
// diagnostics use, so WriteDiagnostics can quote the offending lines.
// A nil *Files is valid and holds nothing.
type Files struct {
	byName map[string]*hcl.File
}

// Map returns the parsed files keyed by file name, the shape
// hcl.NewDiagnosticTextWriter takes.
func (f *Files) Map() map[string]*hcl.File {
	if f == nil {
		return nil
	}
	return f.byName
}

// fileRoot is the top level of a configuration file. Its fields point into
// a Config pre-filled with defaults, so a block or attribute the file leaves
// out keeps its default; pointers make every block optional, and gohcl
// reports a second block of a kind as a duplicate.
type fileRoot struct {
	Server   *Server   `hcl:"server,block"`
	Log      *Log      `hcl:"log,block"`
	Plugins  []Plugin  `hcl:"plugin,block"`
	Channels []Channel `hcl:"channel,block"`
	Alerts   []Alert   `hcl:"alert,block"`
	Alerting *Alerting `hcl:"alerting,block"`
}

// Load reads, decodes and validates the configuration file at path.
// The returned diagnostics carry a Subject range for every problem that has
// a place in the file. On errors the *Config is nil; warnings alone still
// return it. Files is never nil and is what WriteDiagnostics needs.
func Load(path string) (*Config, *Files, hcl.Diagnostics) {
	src, err := os.ReadFile(path) //nolint:gosec // G304: the operator names the file to load.
	if err != nil {
		return nil, &Files{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration file",
			Detail:   "The configuration file could not be read: " + err.Error() + ".",
		}}
	}
	return LoadBytes(src, path)
}

// LoadBytes is Load for a configuration held in memory; filename names it
// in diagnostics, and its directory is where file() resolves relative paths.
func LoadBytes(src []byte, filename string) (*Config, *Files, hcl.Diagnostics) {
	parser := hclparse.NewParser()
	file, diags := parser.ParseHCL(src, filename)
	files := &Files{byName: parser.Files()}
	if diags.HasErrors() {
		// A body that did not parse would only add noise.
		return nil, files, sortDiagnostics(diags)
	}

	cfg := Default()
	// Empty until decoded, so the default can follow a configured data_dir.
	cfg.Server.SecretKeyFile = ""
	root := fileRoot{Server: &cfg.Server, Log: &cfg.Log, Alerting: &cfg.Alerting}
	ectx := evalContext(filepath.Dir(filename))
	decodeDiags := gohcl.DecodeBody(file.Body, ectx, &root)
	cfg.Plugins, cfg.Channels = root.Plugins, root.Channels
	cfg.Alerts = root.Alerts
	for i := range cfg.Channels {
		cfg.Channels[i].evalCtx = ectx
	}
	widenFunctionCallSubjects(decodeDiags)
	decodeDiags = dropRepeats(decodeDiags)
	diags = append(diags, decodeDiags...)

	if cfg.Server.SecretKeyFile == "" {
		cfg.Server.SecretKeyFile = filepath.Join(cfg.Server.DataDir, secretKeyName)
	}

	diags = append(diags, dropCovered(cfg.validate(rootNode(file)), decodeDiags)...)
	diags = sortDiagnostics(diags)
	if diags.HasErrors() {
		return nil, files, diags
	}
	return cfg, files, diags
}

// widenFunctionCallSubjects makes a failed function call's diagnostic
// point at the whole call, env("NAME") rather than just env(, so the caret
// underlines what the user wrote.
func widenFunctionCallSubjects(diags hcl.Diagnostics) {
	for _, d := range diags {
		if _, ok := hcl.DiagnosticExtra[hclsyntax.FunctionCallDiagExtra](d); !ok {
			continue
		}
		if d.Context != nil {
			d.Subject = d.Context.Ptr()
		}
	}
}

// dropRepeats keeps only the first error about any piece of source: an
// expression that fails to evaluate is otherwise reported a second time by
// gohcl as an unsuitable (unknown) value.
func dropRepeats(diags hcl.Diagnostics) hcl.Diagnostics {
	var kept hcl.Diagnostics
	for _, d := range diags {
		if !overlapsError(d, kept) {
			kept = append(kept, d)
		}
	}
	return kept
}

// dropCovered removes validation diagnostics about source that already has
// an error, so one mistake is reported once.
func dropCovered(validation, existing hcl.Diagnostics) hcl.Diagnostics {
	var kept hcl.Diagnostics
	for _, d := range validation {
		if !overlapsError(d, existing) {
			kept = append(kept, d)
		}
	}
	return kept
}

// overlapsError reports whether d is an error whose subject shares source
// with the subject of an error in others.
func overlapsError(d *hcl.Diagnostic, others hcl.Diagnostics) bool {
	if d.Severity != hcl.DiagError || d.Subject == nil {
		return false
	}
	for _, o := range others {
		if o.Severity == hcl.DiagError && o.Subject != nil && overlaps(*d.Subject, *o.Subject) {
			return true
		}
	}
	return false
}

// overlaps reports whether two ranges share a byte, counting an empty range
// as the byte it sits on. (hcl.Range.Overlaps never matches an empty range
// and counts touching ranges as overlapping.)
func overlaps(a, b hcl.Range) bool {
	if a.Filename != b.Filename {
		return false
	}
	aEnd := max(a.End.Byte, a.Start.Byte+1)
	bEnd := max(b.End.Byte, b.Start.Byte+1)
	return a.Start.Byte < bEnd && b.Start.Byte < aEnd
}

// sortDiagnostics orders diagnostics by file and position, those without a
// place first; gohcl decodes in map order, and users read top to bottom.
func sortDiagnostics(diags hcl.Diagnostics) hcl.Diagnostics {
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil && b.Subject == nil:
			return 0
		case a.Subject == nil:
			return -1
		case b.Subject == nil:
			return 1
		}
		return cmp.Or(
			cmp.Compare(a.Subject.Filename, b.Subject.Filename),
			cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte),
		)
	})
	return diags
}
