package plugin

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

var testSchema = Schema{Attributes: []Attribute{
	{Name: "server", Type: TypeString, Required: true, Description: "Server URL."},
	{Name: "token", Type: TypeString, Sensitive: true, Description: "Access token."},
	{Name: "priority", Type: TypeNumber, Description: "Priority."},
	{Name: "insecure", Type: TypeBool, Description: "Skip TLS verification."},
	{Name: "to", Type: TypeListString, Description: "Recipients."},
	{Name: "headers", Type: TypeMapString, Description: "Extra headers."},
}}

// channelConfig parses src as a server config holding one channel block
// and returns the body of its config block, as the host would.
func channelConfig(t *testing.T, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "server.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	var root struct {
		Channel struct {
			Name   string `hcl:"name,label"`
			Plugin string `hcl:"plugin"`
			Config struct {
				Body hcl.Body `hcl:",remain"`
			} `hcl:"config,block"`
		} `hcl:"channel,block"`
	}
	if diags := gohcl.DecodeBody(f.Body, nil, &root); diags.HasErrors() {
		t.Fatal(diags)
	}
	return root.Channel.Config.Body
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	body := channelConfig(t, `
channel "ops" {
  plugin = "notify-ntfy"
  config {
    server   = "https://ntfy.example.com"
    token    = env("NTFY_TOKEN")
    priority = 4
    to       = ["a@example.com", "b@example.com"]
    headers  = { X-Team = "ops" }
  }
}
`)
	ectx := &hcl.EvalContext{Functions: map[string]function.Function{
		"env": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "name", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.StringVal("tk_" + args[0].AsString()), nil
			},
		}),
	}}
	js, diags := testSchema.DecodeJSON(body, ectx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := `{"headers":{"X-Team":"ops"},"priority":4,"server":"https://ntfy.example.com","to":["a@example.com","b@example.com"],"token":"tk_NTFY_TOKEN"}`
	if string(js) != want {
		t.Errorf("config JSON\n%s\nwant\n%s", js, want)
	}
}

func TestDecodeDiagnostics(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src     string
		summary string
		detail  string
		pos     string
	}{
		"typo": {
			src: `channel "ops" {
  plugin = "notify-ntfy"
  config {
    server = "https://ntfy.example.com"
    tokne  = "x"
  }
}`,
			summary: "Unsupported argument",
			detail:  `Did you mean "token"?`,
			pos:     "server.hcl:5,5",
		},
		"missing required": {
			src: `channel "ops" {
  plugin = "notify-ntfy"
  config {
    priority = 1
  }
}`,
			summary: "Missing required argument",
			detail:  `"server" is required`,
			pos:     "server.hcl:3,10",
		},
		"wrong type": {
			src: `channel "ops" {
  plugin = "notify-ntfy"
  config {
    server   = "https://ntfy.example.com"
    priority = "high"
  }
}`,
			summary: "Incorrect attribute value type",
			detail:  "a number is required",
			pos:     "server.hcl:5,16",
		},
		"nested block": {
			src: `channel "ops" {
  plugin = "notify-ntfy"
  config {
    server = "https://ntfy.example.com"
    auth {
      token = "x"
    }
  }
}`,
			summary: "Unsupported block type",
			pos:     "server.hcl:5,5",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, diags := testSchema.DecodeJSON(channelConfig(t, tc.src), nil)
			if !diags.HasErrors() {
				t.Fatal("no error")
			}
			d := diags[0]
			if d.Summary != tc.summary || !strings.Contains(d.Detail, tc.detail) {
				t.Errorf("diagnostic %q / %q, want %q / …%q…", d.Summary, d.Detail, tc.summary, tc.detail)
			}
			if d.Subject == nil {
				t.Fatal("diagnostic has no source range")
			}
			pos := fmt.Sprintf("%s:%d,%d", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
			if pos != tc.pos {
				t.Errorf("diagnostic at %s, want %s", pos, tc.pos)
			}
		})
	}
}

func TestDecodeEmptyBody(t *testing.T) {
	t.Parallel()
	optional := Schema{Attributes: []Attribute{{Name: "path", Type: TypeString, Description: "d"}}}
	js, diags := optional.DecodeJSON(nil, nil)
	if diags.HasErrors() || string(js) != "{}" {
		t.Errorf("DecodeJSON(nil) = %s, %v; want {}", js, diags)
	}
	if _, diags := testSchema.DecodeJSON(nil, nil); !diags.HasErrors() {
		t.Error("a missing required attribute in an absent block is no error")
	}
}

func TestSchemaValidate(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		schema Schema
		err    string
	}{
		"ok":        {testSchema, ""},
		"empty":     {Schema{}, ""},
		"no name":   {Schema{Attributes: []Attribute{{Type: TypeString}}}, "has no name"},
		"bad name":  {Schema{Attributes: []Attribute{{Name: "my-attr!", Type: TypeString}}}, "not a valid HCL identifier"},
		"duplicate": {Schema{Attributes: []Attribute{{Name: "a", Type: TypeString}, {Name: "a", Type: TypeBool}}}, "declared twice"},
		"bad type":  {Schema{Attributes: []Attribute{{Name: "a", Type: "list(number)"}}}, `unknown type "list(number)"`},
	}
	for name, tc := range tests {
		err := tc.schema.Validate()
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", name, err, tc.err)
		}
	}
	_, diags := (Schema{Attributes: []Attribute{{Name: "a", Type: "any"}}}).Decode(nil, nil)
	if !diags.HasErrors() || diags[0].Summary != "Invalid plugin config schema" {
		t.Errorf("decoding against an invalid schema: %v", diags)
	}
}
