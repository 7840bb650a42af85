package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
)

// FileSuffix is the suffix of configuration files in a directory.
const FileSuffix = ".drs.hcl"

// DefaultStateURL is the state location when there is no state block: a file
// beside the configuration.
const DefaultStateURL = "drs.state.json"

// DefaultSchemes are the URL schemes accepted for url attributes when
// LoadOptions.KnownSchemes is nil.
var DefaultSchemes = []string{"file", "smb", "s3", "azblob"}

// LoadOptions tunes Load.
type LoadOptions struct {
	// KnownEngines lists the accepted primary engines, e.g. ["sqlserver"];
	// nil means any engine name is accepted.
	KnownEngines []string
	// KnownSchemes lists the URL schemes accepted for url attributes; nil
	// means DefaultSchemes.
	KnownSchemes []string
	// Getenv looks up environment variables for env(); nil means
	// os.LookupEnv.
	Getenv func(string) (string, bool)
}

// Load reads a directory of *.drs.hcl files (in name order), or one file
// when path names a file, decodes it and checks it. It reports every
// problem it finds at once.
//
// The returned Config is never nil: its Files always holds whatever sources
// were parsed, so callers can render the diagnostics with snippets
// (WriteDiagnostics, ValidateJSON). Its other fields are only meaningful when
// the diagnostics have no errors.
//
// env() of an unset variable is not an error by itself (validate runs in CI
// without secrets): a connection that depends on one becomes an unknown
// Secret whose Value says which variable is missing. Any other attribute
// that depends on one is an error, because its value is needed to check the
// configuration.
func Load(path string, opts LoadOptions) (*Config, hcl.Diagnostics) {
	cfg := &Config{Files: map[string]*hcl.File{}}
	files, dir, diags := configFiles(path)
	if diags.HasErrors() {
		return cfg, diags
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	cfg.Dir = dir

	parser := hclparse.NewParser()
	var parsed []*hcl.File
	for _, name := range files {
		f, parseDiags := parser.ParseHCLFile(name)
		diags = append(diags, parseDiags...)
		if f != nil {
			cfg.Files[name] = f
			parsed = append(parsed, f)
		}
	}
	// A syntax error leaves a body that would produce a cascade of
	// misleading "missing argument" diagnostics; report the syntax errors of
	// every file and stop there.
	if diags.HasErrors() {
		return cfg, diags
	}

	l := newLoader(dir, opts)
	for _, f := range parsed {
		diags = append(diags, l.decodeFile(f)...)
	}
	diags = append(diags, l.validate(cfg)...)
	return cfg, diags
}

// configFiles lists the files to read for path and the configuration
// directory.
func configFiles(path string) (files []string, dir string, diags hcl.Diagnostics) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, "", diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration",
			Detail:   fmt.Sprintf("Cannot read %s: %s.", path, unwrapPathError(err)),
		})
	}
	if !fi.IsDir() {
		return []string{path}, filepath.Dir(path), nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, "", diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot read configuration directory",
			Detail:   fmt.Sprintf("Cannot list %s: %s.", path, unwrapPathError(err)),
		})
	}
	for _, e := range entries {
		if e.Type().IsRegular() || e.Type()&os.ModeSymlink != 0 {
			if strings.HasSuffix(e.Name(), FileSuffix) && !strings.HasPrefix(e.Name(), ".") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, "", diags.Append(&hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No configuration files",
			Detail:   fmt.Sprintf("The directory %s contains no *%s files. Change to the configuration directory, or use -chdir DIR or -config FILE.", path, FileSuffix),
		})
	}
	return files, path, nil
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// rootSchema is the top level of a configuration file.
var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "state"},
		{Type: "backup_folder", LabelNames: []string{"name"}},
		{Type: "primary", LabelNames: []string{"name"}},
		{Type: "target", LabelNames: []string{"name"}},
	},
}

// decodeFile decodes one file's top-level blocks, each with the decode
// function of its kind, appending them to the loader in source order.
func (l *loader) decodeFile(f *hcl.File) hcl.Diagnostics {
	content, diags := f.Body.Content(rootSchema)
	for _, block := range content.Blocks {
		switch block.Type {
		case "state":
			s, ds := l.decodeState(block)
			diags = append(diags, ds...)
			l.states = append(l.states, s)
		case "backup_folder":
			bf, ds := l.decodeBackupFolder(block)
			diags = append(diags, ds...)
			l.folders = append(l.folders, bf)
		case "primary":
			p, ds := l.decodePrimary(block)
			diags = append(diags, ds...)
			l.primaries = append(l.primaries, p)
		case "target":
			t, ds := l.decodeTarget(block)
			diags = append(diags, ds...)
			l.targets = append(l.targets, t)
		}
	}
	return diags
}
