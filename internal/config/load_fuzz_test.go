package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// FuzzConfigLoad: a whole *.drs.hcl source given to Load yields
// diagnostics or a configuration, never a panic; every error has a summary;
// and a configuration Load accepts survives `drsctl fmt`: formatting again
// changes nothing, and Load reads the formatted file as the same
// configuration. Seeds: every configuration under
// testdata and examples, and the corpus under testdata/fuzz/FuzzConfigLoad.
//
// file() reads real files: the configuration directory holds one secret
// file for it, and sources naming device or process files are skipped (a
// read of /dev/zero would never end).
func FuzzConfigLoad(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*", "*.drs.hcl"))
	if err != nil {
		f.Fatal(err)
	}
	examples, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*.drs.hcl"))
	for _, name := range append(seeds, examples...) {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// One directory per fuzzing process: a worker runs its inputs one at a
	// time.
	dir, err := os.MkdirTemp("", "drsctl-fuzz-config-")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.WriteFile(filepath.Join(dir, "dr_east.dsn"), []byte("sqlserver://sa:secret@dr-east?database=master\n"), 0o600); err != nil {
		f.Fatal(err)
	}
	opts := LoadOptions{KnownEngines: []string{"sqlserver"}, Getenv: mapEnv(map[string]string{
		"SALES_PRIMARY_DSN": "sqlserver://sa:secret@sales?database=master",
		"DR_EAST_DSN":       "sqlserver://sa:secret@dr-east",
		"EMPTY":             "",
		"DRS_DEMO_DIR":      "/var/tmp/drs-demo",
		"DRS_PRIMARY_DSN":   "sqlserver://sa:secret@localhost:14330",
		"DRS_REPORTING_DSN": "sqlserver://sa:secret@localhost:14331",
		"DRS_DR_DSN":        "sqlserver://sa:secret@localhost:14332",
	})}
	path := filepath.Join(dir, "fuzz.drs.hcl")
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, special := range []string{"/dev", "/proc", "/sys", `\\.\`} {
			if bytes.Contains(src, []byte(special)) {
				t.Skip("file() of a device or process file")
			}
		}
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, diags := Load(path, opts)
		if cfg == nil {
			t.Fatal("Load returned no Config")
		}
		for _, d := range diags {
			if strings.TrimSpace(d.Summary) == "" {
				t.Fatalf("a diagnostic without a summary: %+v", d)
			}
		}
		if diags.HasErrors() {
			return
		}
		// What `drsctl fmt` writes (Format, without its fsyncs: they would
		// be most of the time here; fmt_test covers the writing).
		formatted := hclwrite.Format(src)
		if again := hclwrite.Format(formatted); !bytes.Equal(again, formatted) {
			t.Fatalf("fmt is not idempotent:\n--- once\n%s\n--- twice\n%s", formatted, again)
		}
		if err := os.WriteFile(path, formatted, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg2, diags2 := Load(path, opts)
		if diags2.HasErrors() {
			t.Fatalf("the formatted configuration is refused:%s\n--- source\n%s\n--- formatted\n%s", diagsText(diags2), src, formatted)
		}
		if diff := cmp.Diff(cfg, cfg2, configCompare...); diff != "" {
			t.Fatalf("the formatted configuration differs (-source +formatted):\n%s\n--- source\n%s\n--- formatted\n%s", diff, src, formatted)
		}
	})
}

// configCompare compares configurations by what they say, not where they
// say it: source ranges and parsed files are left out; secrets compare by
// value or by why their value is unknown.
var configCompare = []cmp.Option{
	cmpopts.IgnoreTypes(hcl.Range{}),
	cmpopts.IgnoreFields(Config{}, "Files"),
	cmp.Comparer(func(a, b Secret) bool {
		if a.set != b.set || a.missing != b.missing {
			return false
		}
		return !a.set || *a.value == *b.value
	}),
}
