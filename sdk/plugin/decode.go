package plugin

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// ctyType returns the cty type of an attribute type.
func (t Type) ctyType() (cty.Type, bool) {
	switch t {
	case TypeString:
		return cty.String, true
	case TypeNumber:
		return cty.Number, true
	case TypeBool:
		return cty.Bool, true
	case TypeListString:
		return cty.List(cty.String), true
	case TypeMapString:
		return cty.Map(cty.String), true
	}
	return cty.NilType, false
}

// Spec returns the hcldec specification of a config block described by s.
// It fails if the schema is invalid (see Validate).
func (s Schema) Spec() (hcldec.ObjectSpec, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	spec := make(hcldec.ObjectSpec, len(s.Attributes))
	for _, a := range s.Attributes {
		typ, _ := a.Type.ctyType()
		spec[a.Name] = &hcldec.AttrSpec{Name: a.Name, Type: typ, Required: a.Required}
	}
	return spec, nil
}

// Decode decodes the body of a config block against s. Every problem is a
// diagnostic with the source range of the offending attribute (or of the
// block, for a missing one): unknown attributes, with a "Did you mean"
// suggestion, missing required ones and values of the wrong type. ectx may
// be nil or carry the host's functions (env, file, …).
//
// The result is an object value with one attribute per schema attribute;
// unset optional attributes are null. ConfigJSON turns it into what
// Configure takes; DecodeJSON does both steps.
func (s Schema) Decode(body hcl.Body, ectx *hcl.EvalContext) (cty.Value, hcl.Diagnostics) {
	if body == nil {
		body = hcl.EmptyBody()
	}
	spec, err := s.Spec()
	if err != nil {
		rng := body.MissingItemRange()
		return cty.DynamicVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid plugin config schema",
			Detail:   fmt.Sprintf("The plugin reports a config schema that cannot be used: %s. This is a bug in the plugin.", err),
			Subject:  &rng,
		}}
	}
	val, diags := hcldec.Decode(body, spec, ectx)
	if diags.HasErrors() {
		return val, diags
	}
	if !val.IsWhollyKnown() {
		rng := body.MissingItemRange()
		diags = diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unknown value in plugin config",
			Detail:   "Every value in a plugin's config block must be known when the configuration is loaded.",
			Subject:  &rng,
		})
	}
	return val, diags
}

// DecodeJSON decodes the body of a config block against s, like Decode, and
// returns the JSON object to hand to the plugin's Configure.
func (s Schema) DecodeJSON(body hcl.Body, ectx *hcl.EvalContext) ([]byte, hcl.Diagnostics) {
	val, diags := s.Decode(body, ectx)
	if diags.HasErrors() {
		return nil, diags
	}
	js, err := ConfigJSON(val)
	if err != nil {
		if body == nil {
			body = hcl.EmptyBody()
		}
		rng := body.MissingItemRange()
		return nil, diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid plugin config",
			Detail:   err.Error(),
			Subject:  &rng,
		})
	}
	return js, diags
}

// ConfigJSON encodes a decoded config block (an object value, as Decode
// returns) as the JSON object Configure takes. Null attributes are left
// out, so a plugin sees an unset optional attribute as absent.
func ConfigJSON(val cty.Value) ([]byte, error) {
	if val.IsNull() {
		return []byte("{}"), nil
	}
	if !val.Type().IsObjectType() {
		return nil, fmt.Errorf("plugin config must be an object, not %s", val.Type().FriendlyName())
	}
	if !val.IsWhollyKnown() {
		return nil, fmt.Errorf("plugin config has unknown values")
	}
	set := make(map[string]cty.Value)
	for name, v := range val.AsValueMap() {
		if !v.IsNull() {
			set[name] = v
		}
	}
	obj := cty.EmptyObjectVal
	if len(set) > 0 {
		obj = cty.ObjectVal(set)
	}
	return ctyjson.Marshal(obj, obj.Type())
}
