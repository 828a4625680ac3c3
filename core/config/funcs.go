package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
)

// maxFileFuncSize caps what file() reads, so a path such as /dev/zero
// cannot exhaust memory; configuration values are small.
const maxFileFuncSize = 1 << 20

// evalContext returns the functions a configuration file may call. baseDir
// is the directory file() resolves relative paths against, normally the
// directory of the configuration file.
func evalContext(baseDir string) *hcl.EvalContext {
	return &hcl.EvalContext{
		Functions: map[string]function.Function{
			"env":  envFunc(),
			"file": fileFunc(baseDir),
			"try":  tryfunc.TryFunc,
		},
	}
}

// envFunc returns env(NAME): the value of an environment variable, an
// error when it is not set, so a secret never silently becomes "".
func envFunc() function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of the named environment variable.",
		Params: []function.Parameter{{
			Name:        "name",
			Description: "The name of the environment variable.",
			Type:        cty.String,
		}},
		Type: function.StaticReturnType(cty.String),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder {
			return b.NotNull()
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if name == "" {
				return cty.NilVal, errors.New("the environment variable name must not be empty")
			}
			val, ok := os.LookupEnv(name)
			if !ok {
				return cty.NilVal, fmt.Errorf("environment variable %q is not set", name)
			}
			if !utf8.ValidString(val) {
				return cty.NilVal, fmt.Errorf("environment variable %q is not valid UTF-8", name)
			}
			return cty.StringVal(val), nil
		},
	})
}

// fileFunc returns file(PATH): the contents of a file, verbatim (a trailing
// newline stays). A relative PATH is taken relative to baseDir.
func fileFunc(baseDir string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the contents of the file at the given path.",
		Params: []function.Parameter{{
			Name:        "path",
			Description: "The path of the file, relative to the configuration file's directory unless absolute.",
			Type:        cty.String,
		}},
		Type: function.StaticReturnType(cty.String),
		RefineResult: func(b *cty.RefinementBuilder) *cty.RefinementBuilder {
			return b.NotNull()
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := args[0].AsString()
			if path == "" {
				return cty.NilVal, errors.New("the path must not be empty")
			}
			if !filepath.IsAbs(path) {
				path = filepath.Join(baseDir, path)
			}
			src, err := readSmallFile(path)
			if err != nil {
				return cty.NilVal, err
			}
			if !utf8.Valid(src) {
				return cty.NilVal, fmt.Errorf("file %q is not valid UTF-8", path)
			}
			return cty.StringVal(string(src)), nil
		},
	})
}

// readSmallFile reads at most maxFileFuncSize bytes of path, with errors
// that name the path exactly once.
func readSmallFile(path string) ([]byte, error) {
	f, err := os.Open(path) //nolint:gosec // G304: file() reads what the configuration names.
	if err != nil {
		return nil, fmt.Errorf("cannot read file %q: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	src, err := io.ReadAll(io.LimitReader(f, maxFileFuncSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read file %q: %w", path, unwrapPathError(err))
	}
	if len(src) > maxFileFuncSize {
		return nil, fmt.Errorf("file %q is larger than %d bytes", path, maxFileFuncSize)
	}
	return src, nil
}

// unwrapPathError drops the operation and path an *fs.PathError repeats.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
