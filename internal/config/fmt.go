package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// FormatResult is the outcome of formatting one file.
type FormatResult struct {
	Path    string
	Changed bool   // the file was not in canonical format
	Diff    string // unified diff from the old to the new text, when requested and Changed
}

// Format formats the *.drs.hcl files of a directory (or the one file path
// names) with hclwrite.Format. It returns a result for every file it
// formatted, changed or not, in name order. With write, changed files are
// replaced atomically (a temporary file in the same directory, then a
// rename), keeping their permissions. With diff, each changed file's result
// carries a unified diff. A file with syntax errors is reported as
// diagnostics and left alone.
func Format(path string, write bool, diff bool) ([]FormatResult, hcl.Diagnostics) {
	files, _, diags := configFiles(path)
	if diags.HasErrors() {
		return nil, diags
	}
	return formatFiles(files, write, diff)
}

// formatFiles formats each file in turn; see Format.
func formatFiles(files []string, write bool, diff bool) ([]FormatResult, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	var results []FormatResult
	for _, name := range files {
		src, err := os.ReadFile(name)
		if err != nil {
			diags = diags.Append(&hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read configuration file",
				Detail:   fmt.Sprintf("Cannot read %s: %s.", name, unwrapPathError(err)),
			})
			continue
		}
		if _, syntax := hclsyntax.ParseConfig(src, name, hcl.InitialPos); syntax.HasErrors() {
			diags = append(diags, syntax...)
			continue
		}
		out := hclwrite.Format(src)
		r := FormatResult{Path: name, Changed: !bytes.Equal(src, out)}
		if r.Changed && diff {
			r.Diff = unifiedDiff("old/"+filepath.ToSlash(name), "new/"+filepath.ToSlash(name), string(src), string(out))
		}
		if r.Changed && write {
			if err := writeFileAtomic(name, out); err != nil {
				diags = diags.Append(&hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Cannot write configuration file",
					Detail:   fmt.Sprintf("Cannot write %s: %s.", name, err),
				})
				continue
			}
		}
		results = append(results, r)
	}
	return results, diags
}

// writeFileAtomic replaces name with data so that a crash leaves either the
// old or the new content: a temporary file beside it, synced, then renamed
// over it. The file keeps its permissions.
func writeFileAtomic(name string, data []byte) (err error) {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(fi.Mode().Perm()); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), name); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(name)); derr == nil {
		d.Sync() // best effort: the rename is done, a failed directory sync must not fail fmt
		d.Close()
	}
	return nil
}
