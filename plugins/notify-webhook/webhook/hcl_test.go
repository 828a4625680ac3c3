package webhook

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
		"default body": `
			url     = "https://hooks.example.com/restic-manager"
			secret  = "whsec_0123456789"
			timeout = "5s"
			retries = 5
		`,
		"template and headers": `
			url     = "https://chat.example.com/hooks/T000/B000"
			method  = "PUT"
			headers = {
			  Authorization = "Bearer chat-token"
			  X-Team        = "ops"
			}
			template = <<-EOT
			  {"text": {{json (printf "%s: %s" .Severity .Title)}}}
			EOT
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
