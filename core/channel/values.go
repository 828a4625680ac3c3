package channel

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// FieldError is a problem with one field of a channel as the API takes it
// ("name", "plugin", "config.url"); the API answers it with a 400 naming
// the field.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Problems returns the field errors err joins, in order; nil when it holds
// none.
func Problems(err error) []*FieldError {
	if j, ok := err.(interface{ Unwrap() []error }); ok { //nolint:errorlint // splitting a join, not matching an error
		var out []*FieldError
		for _, e := range j.Unwrap() {
			out = append(out, Problems(e)...)
		}
		return out
	}
	var fe *FieldError
	if errors.As(err, &fe) {
		return []*FieldError{fe}
	}
	return nil
}

// coerce checks the settings of a channel against its plugin's schema and
// returns them typed as the schema says. Values may come as JSON types or,
// from the command line and the web form, as strings: "true"/"false" for a
// bool, a decimal for a number, comma-separated items for a list and a JSON
// object for a map. An empty string or null unsets a setting. Every
// problem is a *FieldError "config.NAME", joined.
func coerce(schema plugin.Schema, pluginName string, in map[string]any) (map[string]any, error) {
	out := map[string]any{}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(in)) {
		v := in[k]
		a, ok := schema.Attribute(k)
		if !ok {
			errs = append(errs, fieldErr("config."+k, "plugin %s has no setting %q; its settings are %s", pluginName, k, attributeNames(schema)))
			continue
		}
		if s, isStr := v.(string); v == nil || (isStr && s == "") {
			continue
		}
		val, err := coerceValue(a.Type, v)
		if err != nil {
			errs = append(errs, fieldErr("config."+k, "%s", err))
			continue
		}
		out[k] = val
	}
	return out, errors.Join(errs...)
}

// missing names the required settings cfg lacks.
func missing(schema plugin.Schema, cfg map[string]any) error {
	var errs []error
	for _, a := range schema.Attributes {
		if _, ok := cfg[a.Name]; a.Required && !ok {
			errs = append(errs, fieldErr("config."+a.Name, "is required: %s", strings.TrimSuffix(a.Description, ".")))
		}
	}
	return errors.Join(errs...)
}

func attributeNames(s plugin.Schema) string {
	names := make([]string, 0, len(s.Attributes))
	for _, a := range s.Attributes {
		names = append(names, a.Name)
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func coerceValue(t plugin.Type, v any) (any, error) {
	s, isStr := v.(string)
	switch t {
	case plugin.TypeString:
		if !isStr {
			return nil, fmt.Errorf("want a string, got %s", jsonText(v))
		}
		return s, nil
	case plugin.TypeNumber:
		switch n := v.(type) {
		case float64:
			return n, nil
		case json.Number:
			return n.Float64()
		case string:
			f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
			if err != nil {
				return nil, fmt.Errorf("want a number, got %q", n)
			}
			return f, nil
		}
		return nil, fmt.Errorf("want a number, got %s", jsonText(v))
	case plugin.TypeBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		if isStr {
			if b, err := strconv.ParseBool(strings.TrimSpace(s)); err == nil {
				return b, nil
			}
		}
		return nil, fmt.Errorf("want true or false, got %s", jsonText(v))
	case plugin.TypeListString:
		if isStr {
			var items []string
			for _, it := range strings.Split(s, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
			return items, nil
		}
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("want a list of strings, got %s", jsonText(v))
		}
		items := make([]string, 0, len(list))
		for _, it := range list {
			str, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("want a list of strings, got the item %s", jsonText(it))
			}
			items = append(items, str)
		}
		return items, nil
	case plugin.TypeMapString:
		m, ok := v.(map[string]any)
		if isStr {
			if err := json.Unmarshal([]byte(s), &m); err != nil {
				return nil, errors.New(`want an object of strings, such as {"X-Token": "abc"}`)
			}
			ok = true
		}
		if !ok {
			return nil, fmt.Errorf("want an object of strings, got %s", jsonText(v))
		}
		out := make(map[string]string, len(m))
		for k, it := range m {
			str, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("want an object of strings, got %s for %q", jsonText(it), k)
			}
			out[k] = str
		}
		return out, nil
	}
	return nil, fmt.Errorf("the plugin's schema has the unknown type %q", t)
}

func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// split separates a configuration into what may be shown (public) and
// which secret attributes of the schema are set.
func split(schema plugin.Schema, cfg map[string]any) (public map[string]any, secrets map[string]bool) {
	public, secrets = map[string]any{}, map[string]bool{}
	for _, a := range schema.Attributes {
		v, ok := cfg[a.Name]
		if a.Sensitive {
			secrets[a.Name] = ok
			continue
		}
		if ok {
			public[a.Name] = v
		}
	}
	return public, secrets
}
