package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// unsetRecorder collects the names of environment variables that env() was
// asked for but are not set. The decoder resets it before evaluating an
// attribute and reads it afterwards, so it can say which variable made a
// value unknown. Load is single-threaded, so no locking is needed.
type unsetRecorder struct {
	names []string
}

func (r *unsetRecorder) reset() { r.names = r.names[:0] }

func (r *unsetRecorder) add(name string) {
	if !slices.Contains(r.names, name) {
		r.names = append(r.names, name)
	}
}

// taken returns the names recorded since the last reset.
func (r *unsetRecorder) taken() []string { return slices.Clone(r.names) }

// functions returns the functions available in configuration expressions.
//
//   - env(NAME) is the value of an environment variable. An unset variable is
//     not an error here: the call returns an unknown string and the name is
//     recorded, so `validate` works in CI without secrets. The decoder decides
//     whether an unknown value is acceptable where it is used (it is for a
//     connection, it is not for a url or a path).
//   - file(PATH) is the content of a file, PATH relative to the
//     configuration directory. Content is returned as is (like Terraform's
//     file()); wrap it in trimspace() to drop a trailing newline.
//   - trimspace(STRING) removes leading and trailing white space.
func functions(dir string, getenv func(string) (string, bool), unset *unsetRecorder) map[string]function.Function {
	return map[string]function.Function{
		"env":       envFunc(getenv, unset),
		"file":      fileFunc(dir),
		"trimspace": stdlib.TrimSpaceFunc,
	}
}

func envFunc(getenv func(string) (string, bool), unset *unsetRecorder) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the value of an environment variable.",
		Params: []function.Parameter{{
			Name: "name",
			Type: cty.String,
		}},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			name := args[0].AsString()
			if name == "" {
				return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "the variable name is empty")
			}
			v, ok := getenv(name)
			if !ok {
				unset.add(name)
				return cty.UnknownVal(cty.String), nil
			}
			return cty.StringVal(v), nil
		},
	})
}

func fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the content of a file; relative paths are resolved against the configuration directory.",
		Params: []function.Parameter{{
			Name: "path",
			Type: cty.String,
		}},
		Type: function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			p := args[0].AsString()
			if p == "" {
				return cty.UnknownVal(cty.String), function.NewArgErrorf(0, "the path is empty")
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(dir, p)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				var pe *fs.PathError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				// The error names the path, never the content.
				return cty.UnknownVal(cty.String), fmt.Errorf("read %s: %w", p, err)
			}
			return cty.StringVal(string(b)), nil
		},
	})
}
