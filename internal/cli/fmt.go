package cli

import (
	"fmt"
	"path/filepath"

	"github.com/drsctl/drsctl/internal/config"
)

// FmtOptions are drsctl fmt's options.
type FmtOptions struct {
	// Paths are files and directories to format, relative to -chdir; none:
	// the configuration (-config FILE, or the directory).
	Paths     []string
	Recursive bool // descend into the directories under each directory
	Check     bool // write nothing; exit 3 when a file needs formatting
	Diff      bool // print each change as a unified diff
}

// Fmt runs `drsctl fmt [PATH…]`.
func (e *Env) Fmt(g Globals, o FmtOptions) int {
	paths := o.Paths
	if len(paths) == 0 {
		paths = []string{g.configPath()}
	} else if g.Config != "" {
		return e.errorf("-config and paths to format cannot be used together: name the files as arguments (drsctl fmt %s).", g.Config)
	} else if g.Chdir != "" {
		paths = make([]string, len(o.Paths))
		for i, p := range o.Paths {
			if !filepath.IsAbs(p) {
				p = filepath.Join(g.Chdir, p)
			}
			paths[i] = p
		}
	}
	results, diags := config.FormatPaths(paths, o.Recursive, !o.Check, o.Diff)
	if len(diags) > 0 {
		config.WriteDiagnostics(e.Stderr, nil, diags, 100, false)
		if diags.HasErrors() {
			return ExitError
		}
	}
	changed := false
	for _, r := range results {
		if !r.Changed {
			continue
		}
		changed = true
		fmt.Fprintln(e.Stdout, r.Path)
		if o.Diff && r.Diff != "" {
			fmt.Fprintln(e.Stdout, r.Diff)
		}
	}
	if o.Check && changed {
		return ExitFormat
	}
	return ExitOK
}
