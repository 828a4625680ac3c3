package plugin

import (
	"errors"
	"fmt"

	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Type is the type of a config attribute, written as in HCL type constraints.
type Type string

// The attribute types a schema can use.
const (
	TypeString     Type = "string"
	TypeNumber     Type = "number"
	TypeBool       Type = "bool"
	TypeListString Type = "list(string)"
	TypeMapString  Type = "map(string)"
)

// Valid reports whether t is one of the attribute types.
func (t Type) Valid() bool {
	switch t {
	case TypeString, TypeNumber, TypeBool, TypeListString, TypeMapString:
		return true
	}
	return false
}

// Schema describes a plugin's config block: the `config { … }` block of the
// channel (or login provider, or backend) that uses the plugin. The block
// holds attributes only, no nested blocks.
type Schema struct {
	Attributes []Attribute `json:"attributes"`
}

// Attribute describes one attribute of a config block.
type Attribute struct {
	// Name is the attribute's name in HCL and its member name in the JSON
	// object Configure receives; snake_case by convention.
	Name string `json:"name"`
	Type Type   `json:"type"`
	// Required attributes must be set in the block.
	Required bool `json:"required,omitempty"`
	// Sensitive attributes hold secrets (passwords, tokens): the host never
	// logs or displays their values.
	Sensitive bool `json:"sensitive,omitempty"`
	// Description is one sentence for the operator, shown by the host's
	// documentation and diagnostics.
	Description string `json:"description"`
}

// Attribute returns the attribute named name, if the schema has one.
func (s Schema) Attribute(name string) (Attribute, bool) {
	for _, a := range s.Attributes {
		if a.Name == name {
			return a, true
		}
	}
	return Attribute{}, false
}

// Validate reports every problem with the schema itself: names that are not
// HCL identifiers, duplicate names and unknown types.
func (s Schema) Validate() error {
	var errs []error
	seen := make(map[string]bool, len(s.Attributes))
	for i, a := range s.Attributes {
		switch {
		case a.Name == "":
			errs = append(errs, fmt.Errorf("attribute %d has no name", i))
		case !hclsyntax.ValidIdentifier(a.Name):
			errs = append(errs, fmt.Errorf("attribute name %q is not a valid HCL identifier", a.Name))
		case seen[a.Name]:
			errs = append(errs, fmt.Errorf("attribute %q is declared twice", a.Name))
		}
		seen[a.Name] = true
		if !a.Type.Valid() {
			errs = append(errs, fmt.Errorf("attribute %q has unknown type %q", a.Name, a.Type))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("invalid config schema: %w", err)
	}
	return nil
}
