package pluginhost

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Builtin is a plugin compiled into the host binary. The host starts it by
// running its own executable as "<binary> plugin serve NAME", and that
// command calls ServeBuiltin, which calls Serve.
type Builtin struct {
	Name string
	Kind plugin.Kind
	// Serve serves the plugin and returns when the host ends it, such as
	// func() { notify.Serve(ntfy.New(plugin.Logger())) }.
	Serve func()
}

// ServeArgs are the arguments that make a host binary serve the built-in
// plugin name.
func ServeArgs(name string) []string { return []string{"plugin", "serve", name} }

// ServeBuiltin is the body of the "plugin serve NAME" command of a binary
// with built-in plugins: it serves the built-in named name to the host that
// started this process and returns when the host ends it. Run by hand, it
// explains that it is a plugin and exits with status 1 (go-plugin's
// behaviour without the handshake).
func ServeBuiltin(builtins []Builtin, name string) error {
	for _, b := range builtins {
		if b.Name == name && b.Serve != nil {
			b.Serve()
			return nil
		}
	}
	names := make([]string, 0, len(builtins))
	for _, b := range builtins {
		names = append(names, b.Name)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return fmt.Errorf("%w %q: this binary has no built-in plugins", ErrUnknownPlugin, name)
	}
	return fmt.Errorf("%w %q: the built-in plugins are %s", ErrUnknownPlugin, name, strings.Join(names, ", "))
}

// executable is the binary that serves built-in plugins: its resolved path and
// SHA-256, computed once.
type executable struct {
	override string
	once     sync.Once
	path     string
	sum      []byte
	err      error
}

func (e *executable) get() (string, []byte, error) {
	e.once.Do(func() {
		path := e.override
		if path == "" {
			p, err := os.Executable()
			if err != nil {
				e.err = fmt.Errorf("finding the host executable for built-in plugins: %w", err)
				return
			}
			path = p
		}
		resolved, err := filepath.EvalSymlinks(path)
		if err != nil {
			e.err = fmt.Errorf("resolving the host executable %s: %w", path, err)
			return
		}
		if resolved, err = filepath.Abs(resolved); err != nil {
			e.err = err
			return
		}
		sum, err := fileSHA256(resolved)
		if err != nil {
			e.err = fmt.Errorf("hashing the host executable: %w", err)
			return
		}
		e.path, e.sum = resolved, sum
	})
	return e.path, e.sum, e.err
}

// validateBuiltin checks one built-in's declaration.
func validateBuiltin(b Builtin) error {
	var errs []error
	if !ValidName(b.Name) {
		errs = append(errs, fmt.Errorf("name %q is not lower-case letters, digits and dashes", b.Name))
	}
	if !b.Kind.Valid() {
		errs = append(errs, fmt.Errorf("unknown kind %q", b.Kind))
	}
	if b.Serve == nil {
		errs = append(errs, errors.New("no Serve function"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("built-in plugin %q: %w", b.Name, err)
	}
	return nil
}
