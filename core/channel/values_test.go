package channel

import (
	"fmt"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

func TestCoerceSettings(t *testing.T) {
	t.Parallel()
	schema := plugin.Schema{Attributes: []plugin.Attribute{
		{Name: "url", Type: plugin.TypeString, Required: true, Description: "Where to."},
		{Name: "retries", Type: plugin.TypeNumber},
		{Name: "tls", Type: plugin.TypeBool},
		{Name: "to", Type: plugin.TypeListString},
		{Name: "headers", Type: plugin.TypeMapString, Sensitive: true},
	}}
	for name, tc := range map[string]struct {
		in   map[string]any
		want string // fmt of the result, or the error
	}{
		"typed":          {map[string]any{"url": "u", "retries": 2.0, "tls": true, "to": []any{"a"}, "headers": map[string]any{"A": "b"}}, "map[headers:map[A:b] retries:2 tls:true to:[a] url:u]"},
		"strings":        {map[string]any{"retries": " 3 ", "tls": "false", "to": "a, b,,c", "headers": `{"X":"y"}`}, "map[headers:map[X:y] retries:3 tls:false to:[a b c]]"},
		"empty unsets":   {map[string]any{"url": "", "tls": nil}, "map[]"},
		"unknown":        {map[string]any{"colour": "red"}, `config.colour: plugin p has no setting "colour"; its settings are url, retries, tls, to, headers`},
		"not a number":   {map[string]any{"retries": "many"}, `config.retries: want a number, got "many"`},
		"not a bool":     {map[string]any{"tls": "yes please"}, `config.tls: want true or false, got "yes please"`},
		"not a string":   {map[string]any{"url": 1.0}, "config.url: want a string, got 1"},
		"bad list item":  {map[string]any{"to": []any{"a", 2.0}}, "config.to: want a list of strings, got the item 2"},
		"bad map":        {map[string]any{"headers": "X=y"}, "config.headers: want an object of strings"},
		"two problems":   {map[string]any{"retries": "x", "tls": "y"}, "config.retries: want a number, got \"x\"\nconfig.tls: want true or false, got \"y\""},
		"bad map value":  {map[string]any{"headers": map[string]any{"A": 1.0}}, `config.headers: want an object of strings, got 1 for "A"`},
		"list as string": {map[string]any{"to": "only"}, "map[to:[only]]"},
	} {
		out, err := coerce(schema, "p", tc.in)
		got := fmt.Sprint(out)
		if err != nil {
			got = err.Error()
		}
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
	if err := missing(schema, map[string]any{}); err == nil || err.Error() != "config.url: is required: Where to" {
		t.Errorf("missing: %v", err)
	}
	pub, sec := split(schema, map[string]any{"url": "u", "headers": map[string]string{"A": "b"}})
	if fmt.Sprint(pub) != "map[url:u]" || fmt.Sprint(sec) != "map[headers:true]" {
		t.Errorf("split: %v %v", pub, sec)
	}
}
