package ntfy

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
		"token, numeric priority": `
			server   = "https://ntfy.example.com"
			topic    = "backups-7f3a9c"
			token    = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
			priority = 4
			tags     = ["floppy_disk"]
			timeout  = "5s"
		`,
		"basic auth, named priority": `
			topic    = "backups"
			username = "restic-manager"
			password = "hunter2"
			priority = "high"
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
