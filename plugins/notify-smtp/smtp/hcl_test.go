package smtp

import (
	"context"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// TestConfigFromHCL decodes config blocks the way the host does, against
// the plugin's schema, and configures the plugin with the result: the
// types the schema declares must carry what operators write.
func TestConfigFromHCL(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"submission with STARTTLS": `
			host     = "smtp.example.com"
			port     = 587
			tls      = "starttls"
			username = "restic-manager@example.com"
			password = "hunter2"
			from     = "restic-manager <restic-manager@example.com>"
			to       = ["ops@example.com", "Oncall <oncall@example.com>"]
			subject  = "[backup] {{.Severity}} on {{.Host}}: {{.Title}}"
			timeout  = "20s"
		`,
		"local relay": `
			host = "localhost"
			tls  = "none"
			from = "restic-manager@backup.example.com"
			to   = ["root@localhost"]
		`,
	}
	for name, src := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, diags := hclsyntax.ParseConfig([]byte(src), "channel.hcl", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			raw, diags := schema.DecodeJSON(f.Body, nil)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if err := New(nil).Configure(context.Background(), raw); err != nil {
				t.Errorf("Configure(%s): %v", raw, err)
			}
		})
	}
}
