package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// FormatPaths formats configuration files as Format does, for each path in
// turn, like terraform fmt: a file is formatted whatever its name; a
// directory's *.drs.hcl files are, and with recursive those of every
// directory under it too (hidden ones, such as .git, excepted). A path that
// does not exist, or a directory holding no configuration file, is an
// error: fmt naming the wrong place must not pass a -check.
func FormatPaths(paths []string, recursive, write, diff bool) ([]FormatResult, hcl.Diagnostics) {
	var files []string
	var diags hcl.Diagnostics
	for _, p := range paths {
		found, d := formatTargets(p, recursive)
		diags = append(diags, d...)
		for _, f := range found {
			if !slices.Contains(files, f) { // fmt a a, or fmt -recursive . sub
				files = append(files, f)
			}
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	results, d := formatFiles(files, write, diff)
	return results, append(diags, d...)
}

// formatTargets lists the files FormatPaths formats for one path.
func formatTargets(path string, recursive bool) ([]string, hcl.Diagnostics) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration",
			Detail:   fmt.Sprintf("Cannot read %s: %s.", path, unwrapPathError(err)),
		}}
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	if !recursive {
		files, _, diags := configFiles(path)
		return files, diags
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hidden := strings.HasPrefix(d.Name(), ".") && p != path
		if d.IsDir() {
			if hidden {
				return filepath.SkipDir
			}
			return nil
		}
		if !hidden && strings.HasSuffix(d.Name(), FileSuffix) && (d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration directory",
			Detail:   fmt.Sprintf("Cannot list %s: %s.", path, unwrapPathError(err)),
		}}
	}
	if len(files) == 0 {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   fmt.Sprintf("Neither %s nor any directory under it contains *%s files.", path, FileSuffix),
		}}
	}
	return files, nil // WalkDir walks in lexical order
}
