package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hashicorp/hcl/v2"
)

// noEnv is an environment where nothing is set, as in CI without secrets.
func noEnv(string) (string, bool) { return "", false }

func mapEnv(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

var testOptions = LoadOptions{KnownEngines: []string{"sqlserver"}, Getenv: noEnv}

// writeConfig writes files into a new temporary directory.
func writeConfig(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func errorsOnly(diags hcl.Diagnostics) hcl.Diagnostics {
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	return errs
}

func diagsText(diags hcl.Diagnostics) string {
	var b strings.Builder
	for _, d := range diags {
		if d.Subject != nil {
			fmt.Fprintf(&b, "\n  %s:%d:%d: ", d.Subject.Filename, d.Subject.Start.Line, d.Subject.Start.Column)
		} else {
			b.WriteString("\n  ")
		}
		fmt.Fprintf(&b, "%s: %s", d.Summary, d.Detail)
	}
	return b.String()
}

func TestLoad_DesignExample(t *testing.T) {
	path := "testdata/valid/design_example.drs.hcl"
	cfg, diags := Load(path, testOptions)
	if len(diags) != 0 {
		t.Fatalf("want no diagnostics, got:%s", diagsText(diags))
	}

	if got, want := cfg.State.URL, "drs.state.json"; got != want {
		t.Errorf("State.URL = %q, want %q", got, want)
	}
	absDir, _ := filepath.Abs("testdata/valid")
	if got, want := cfg.StateLocation(), filepath.Join(absDir, "drs.state.json"); got != want {
		t.Errorf("StateLocation() = %q, want %q", got, want)
	}
	if len(cfg.BackupFolders) != 1 || len(cfg.Primaries) != 1 || len(cfg.Targets) != 1 {
		t.Fatalf("got %d folders, %d primaries, %d targets; want 1 of each", len(cfg.BackupFolders), len(cfg.Primaries), len(cfg.Targets))
	}

	f := cfg.BackupFolders[0]
	if f.Name != "sales_share" || f.URL != "smb://fs01.corp.example/drs/sales" ||
		f.ServerPath != `\\fs01.corp.example\drs\sales` || f.Retention != 7*24*time.Hour {
		t.Errorf("backup folder = %+v", f)
	}

	p := cfg.PrimaryByName("sales")
	if p == nil {
		t.Fatal("no primary sales")
	}
	if p.Folder != f {
		t.Errorf("primary.Folder = %p, want the sales_share folder %p", p.Folder, f)
	}
	if p.Engine != "sqlserver" || !p.Compression || p.RPO != 30*time.Minute ||
		p.FullBackup.Every != 24*time.Hour || p.LogBackup.Every != 15*time.Minute {
		t.Errorf("primary = %+v", p)
	}
	if diff := cmp.Diff([]string{"Sales", "Inventory"}, p.Databases); diff != "" {
		t.Errorf("primary databases (-want +got):\n%s", diff)
	}
	if p.Connection.IsSet() {
		t.Error("primary connection is known with SALES_PRIMARY_DSN unset")
	}
	_, err := p.Connection.Value()
	if !errors.Is(err, ErrSecretUnknown) || !strings.Contains(err.Error(), `environment variable "SALES_PRIMARY_DSN" is not set`) {
		t.Errorf("primary Connection.Value() error = %v", err)
	}
	if !strings.Contains(err.Error(), "design_example.drs.hcl:13") {
		t.Errorf("Connection.Value() error %q does not say where the connection is configured", err)
	}

	tg := cfg.TargetByName("dr_east")
	if tg == nil {
		t.Fatal("no target dr_east")
	}
	if tg.Primary != p {
		t.Errorf("target.Primary = %p, want %p", tg.Primary, p)
	}
	if tg.Kind != Standby || tg.RestoreMode != RestoreStandby || tg.RestoreDelay != 0 || !tg.DisconnectUsers ||
		tg.DataDir != `D:\Data` || tg.LogDir != `L:\Log` || tg.Databases != nil {
		t.Errorf("target = %+v", tg)
	}
	if diff := cmp.Diff(p.Databases, tg.DatabaseNames()); diff != "" {
		t.Errorf("target DatabaseNames (-want +got):\n%s", diff)
	}
	wantDest := Destination{
		URL:        "s3://drs-east/sales?region=us-east-1",
		ServerPath: "s3://s3.us-east-1.amazonaws.com/drs-east/sales",
		Retention:  3 * 24 * time.Hour,
	}
	gotDest := tg.Destination
	gotDest.DeclRange = hcl.Range{}
	if gotDest != wantDest {
		t.Errorf("destination = %+v, want %+v", gotDest, wantDest)
	}
	if tg.Connection.IsSet() {
		t.Error("target connection is known with DR_EAST_DSN unset")
	}
	if _, err := tg.Connection.Value(); err == nil || !strings.Contains(err.Error(), `"DR_EAST_DSN"`) {
		t.Errorf("target Connection.Value() error = %v", err)
	}
	if !slices.Equal(cfg.TargetsOf(p), []*Target{tg}) {
		t.Errorf("TargetsOf(sales) = %v", cfg.TargetsOf(p))
	}
	if cfg.Files[path] == nil {
		t.Errorf("Files has no %s: %v", path, cfg.Files)
	}
}

// wantDiag is one diagnostic a fixture must produce.
type wantDiag struct {
	summary string // substring of the summary
	line    int
	column  int    // 0: not checked
	detail  string // substring of the detail; "" not checked
}

// The fixtures in testdata/invalid are named after the problem they show;
// each must produce exactly these errors (so no problem hides another, and
// no problem cascades into noise).
var problemFixtures = map[string][]wantDiag{
	"unknown_primary_reference":       {{"Reference to undeclared primary", 19, 16, `Did you mean "sales"?`}},
	"unknown_backup_folder_reference": {{"Reference to undeclared backup folder", 12, 19, `Did you mean "sales_share"?`}},
	"wrong_reference_kind":            {{"Wrong reference kind", 19, 16, "refers to a backup folder"}},
	"quoted_reference":                {{"Invalid reference", 19, 16, "write primary.sales without quotes"}},
	"duplicate_target":                {{"Duplicate target name", 27, 8, "duplicate_target.drs.hcl:18"}},
	"duplicate_primary":               {{"Duplicate primary name", 18, 9, "duplicate_primary.drs.hcl:8"}},
	"log_interval_longer_than_rpo":    {{"Log backup interval longer than RPO", 14, 25, "every 1h"}},
	"full_interval_shorter_than_log":  {{"Full backup interval shorter than log backup interval", 13, 25, ""}},
	"interval_not_positive":           {{"Interval not positive", 14, 25, ""}},
	"database_listed_twice":           {{"Database listed twice", 11, 42, `"Sales" is already listed (line 11, column 20)`}},
	"empty_database_name":             {{"Empty database name", 11, 29, ""}},
	"target_database_not_on_primary":  {{"Database not on primary", 21, 26, `no database "Payroll"`}},
	"bad_duration":                    {{"Invalid duration", 15, 19, `"30 minutes"`}},
	"url_unknown_scheme":              {{"Unsupported URL scheme", 22, 19, `"ftp"`}},
	"url_not_a_url":                   {{"Invalid URL", 22, 19, "invalid URL escape"}},
	"url_no_scheme":                   {{"URL has no scheme", 22, 19, "file:///"}},
	"file_url_with_host":              {{"Invalid file URL", 22, 19, `host "backups"`}},
	"server_path_missing":             {{"Missing server_path", 3, 1, "smb://"}},
	"unknown_engine":                  {{"Unsupported engine", 9, 19, `Did you mean "sqlserver"?`}},
	"missing_required_attribute":      {{"Missing required argument", 8, 1, `"rpo"`}},
	"standby_without_connection":      {{"Missing required argument", 18, 1, `"connection"`}},
	"missing_destination":             {{"Missing destination block", 18, 1, ""}},
	"unknown_attribute":               {{"Unsupported argument", 21, 3, `Did you mean "restore_mode"?`}},
	"unknown_block_type":              {{"Unsupported block type", 7, 1, `Did you mean "primary"?`}},
	"invalid_target_kind":             {{"Invalid target kind", 21, 16, `Did you mean "copy_only"?`}},
	"invalid_restore_mode":            {{"Invalid restore mode", 21, 18, `"readonly"`}},
	"restore_mode_on_copy_only":       {{"restore_mode on a copy_only target", 22, 3, ""}},
	"part_size_out_of_range":          {{"part_size out of range", 24, 19, "1048576 bytes"}},
	"concurrency_out_of_range":        {{"concurrency out of range", 24, 19, "it is 0"}},
	"negative_retention":              {{"Negative retention", 24, 19, ""}},
	"two_state_blocks":                {{"More than one state block", 7, 1, "two_state_blocks.drs.hcl:3"}},
	"shared_destination":              {{"Shared destination", 32, 19, `"dr_east" and "dr_east_copy"`}},
	"destination_is_backup_folder":    {{"Destination is the backup folder", 22, 19, ""}},
	"url_needs_known_value":           {{"Unset environment variable", 22, 19, `needs a known value; environment variable "DRSCTL_TEST_DEST_URL" is not set`}},
	"file_not_found":                  {{"Error in function call", 20, 16, "dr_east.dsn"}},
	"syntax_error":                    {{"Invalid block definition", 9, 28, ""}},
	"control_character_in_database_name": {
		{"Control character in database name", 11, 29, `U+0009 at character 6`},
		{"Control character in database name", 12, 20, `U+202E`},
	},
	"database_name_too_long":        {{"Database name too long", 12, 29, "130 UTF-16 code units"}},
	"database_name_trailing_space":  {{"Database name ends with a space", 11, 40, `names the database "Sales"`}},
	"system_database":               {{"System database", 11, 29, "back up system databases with your regular jobs"}},
	"database_names_differ_in_case": {{"Database names differ only in case", 12, 42, `"Sales" (line 12, column 20)`}},
	"primary_names_differ_in_case":  {{"Primary names differ only in case", 19, 9, "primary_names_differ_in_case.drs.hcl:9"}},
	"invalid_name": {
		{"Invalid name", 8, 9, ""},
		{"Reference to undeclared primary", 19, 16, `Declared: "sales db"`},
	},
	"two_problems_at_once": {
		{"Database listed twice", 11, 29, ""},
		{"Invalid duration", 15, 19, `"30"`},
		{"Reference to undeclared primary", 19, 16, `Did you mean "sales"?`},
	},
}

func TestLoad_Problems(t *testing.T) {
	for name, wants := range problemFixtures {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", "invalid", name+".drs.hcl")
			cfg, diags := Load(path, testOptions)
			if cfg == nil || cfg.Files[path] == nil {
				t.Fatalf("Load returned no source for %s", path)
			}
			errs := errorsOnly(diags)
			if len(errs) != len(wants) {
				t.Errorf("got %d errors, want %d:%s", len(errs), len(wants), diagsText(diags))
			}
			for _, want := range wants {
				found := false
				for _, d := range errs {
					if !strings.Contains(d.Summary, want.summary) || d.Subject == nil {
						continue
					}
					s := d.Subject
					if s.Filename != path || s.Start.Line != want.line || (want.column != 0 && s.Start.Column != want.column) {
						continue
					}
					if !strings.Contains(d.Detail, want.detail) {
						t.Errorf("%q detail = %q, want it to contain %q", d.Summary, d.Detail, want.detail)
					}
					found = true
				}
				if !found {
					t.Errorf("no error %q at %s:%d:%d; got:%s", want.summary, path, want.line, want.column, diagsText(diags))
				}
			}
		})
	}
}

// Every fixture is in the table, and every table entry has a fixture.
func TestLoad_ProblemFixturesCovered(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.drs.hcl")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), FileSuffix))
	}
	var want []string
	for name := range problemFixtures {
		want = append(want, name)
	}
	slices.Sort(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("fixtures and table differ (-table +testdata):\n%s", diff)
	}
}

func TestLoad_Directory(t *testing.T) {
	// Blocks spread over files refer to each other; files are read in name
	// order; other files are ignored.
	dir := writeConfig(t, map[string]string{
		"b_targets.drs.hcl": `
target "dr_west" {
  primary = primary.sales
  kind    = "copy_only"
  destination {
    url = "file:///srv/drs/west"
  }
}
`,
		"a_primary.drs.hcl": `
backup_folder "local" {
  url = "file:///var/opt/mssql/backup"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = "sqlserver://sa@localhost"
  databases     = ["Sales"]
  backup_folder = backup_folder.local
  full_backup { every = "1d" }
  log_backup { every = "5m" }
  rpo = "15m"
}
`,
		"notes.hcl":  `this is not = read {`,
		"README.md":  "# not configuration",
		".x.drs.hcl": `hidden files are ignored {`,
	})
	cfg, diags := Load(dir, testOptions)
	if len(diags) != 0 {
		t.Fatalf("want no diagnostics, got:%s", diagsText(diags))
	}
	if cfg.Dir != dir {
		t.Errorf("Dir = %q, want %q", cfg.Dir, dir)
	}
	if len(cfg.Files) != 2 {
		t.Errorf("read %d files, want 2: %v", len(cfg.Files), cfg.Files)
	}
	tg := cfg.TargetByName("dr_west")
	if tg == nil || tg.Primary != cfg.PrimaryByName("sales") {
		t.Fatalf("dr_west not resolved to sales: %+v", tg)
	}
	if tg.Kind != CopyOnly || tg.Restores() || tg.RestoreMode != RestoreNoRecovery {
		t.Errorf("target kind/mode = %s/%s", tg.Kind, tg.RestoreMode)
	}
	if got := tg.Destination.ServerPath; got != "/srv/drs/west" {
		t.Errorf("destination server_path defaults to %q, want the file URL's path", got)
	}
	if got := cfg.Primaries[0].Folder.ServerPath; got != "/var/opt/mssql/backup" {
		t.Errorf("backup folder server_path defaults to %q, want the file URL's path", got)
	}
	if v, err := cfg.Primaries[0].Connection.Value(); err != nil || v != "sqlserver://sa@localhost" {
		t.Errorf("literal connection = %q, %v", v, err)
	}
	if got, want := cfg.StateLocation(), filepath.Join(dir, DefaultStateURL); got != want {
		t.Errorf("StateLocation() = %q, want %q", got, want)
	}
}

func TestLoad_DuplicateAcrossFiles(t *testing.T) {
	folder := "backup_folder \"f\" {\n  url = \"file:///b\"\n}\n"
	dir := writeConfig(t, map[string]string{"a.drs.hcl": folder, "b.drs.hcl": folder})
	_, diags := Load(dir, testOptions)
	if len(diags) != 1 || diags[0].Summary != "Duplicate backup folder name" {
		t.Fatalf("want one duplicate error, got:%s", diagsText(diags))
	}
	if !strings.HasSuffix(diags[0].Subject.Filename, "b.drs.hcl") || !strings.Contains(diags[0].Detail, "a.drs.hcl:1") {
		t.Errorf("duplicate reported at %s: %s", diags[0].Subject.Filename, diags[0].Detail)
	}
}

func TestLoad_NothingToRead(t *testing.T) {
	tests := map[string]struct {
		path    string
		summary string
	}{
		"missing path":   {filepath.Join(t.TempDir(), "nope"), "Cannot read configuration"},
		"empty dir":      {t.TempDir(), "No configuration files"},
		"file is parsed": {"testdata/invalid/syntax_error.drs.hcl", "Invalid block definition"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg, diags := Load(tt.path, testOptions)
			if cfg == nil || cfg.Files == nil {
				t.Fatal("Load returned a nil Config or Files")
			}
			if !diags.HasErrors() || !strings.Contains(diags[0].Summary, tt.summary) {
				t.Errorf("want %q, got:%s", tt.summary, diagsText(diags))
			}
		})
	}
}

const minimal = `
backup_folder "f" {
  url = "file:///var/backups"
}
primary "p" {
  engine        = "sqlserver"
  connection    = %s
  databases     = ["A", "B"]
  backup_folder = backup_folder.f
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "30m"
}
target "t" {
  primary    = primary.p
  connection = env("T_DSN")
  %s
  destination {
    url = "s3://bucket/p"
    server_path = "s3://s3.example/bucket/p"
    %s
  }
}
`

func minimalConfig(connection, target, destination string) string {
	return fmt.Sprintf(minimal, connection, target, destination)
}

func TestLoad_Values(t *testing.T) {
	tests := map[string]struct {
		target, destination string
		check               func(t *testing.T, tg *Target)
	}{
		"part size with unit": {"", `part_size = "16MiB"`, func(t *testing.T, tg *Target) {
			if tg.Destination.PartSize != 16<<20 {
				t.Errorf("PartSize = %d", tg.Destination.PartSize)
			}
		}},
		"part size in bytes": {"", `part_size = 8388608`, func(t *testing.T, tg *Target) {
			if tg.Destination.PartSize != 8<<20 {
				t.Errorf("PartSize = %d", tg.Destination.PartSize)
			}
		}},
		"concurrency and credential": {"", "concurrency = 8\n credential = \"drs_east\"", func(t *testing.T, tg *Target) {
			if tg.Destination.Concurrency != 8 || tg.Destination.Credential != "drs_east" {
				t.Errorf("destination = %+v", tg.Destination)
			}
		}},
		"defaults": {"", "", func(t *testing.T, tg *Target) {
			if tg.Kind != Standby || tg.RestoreMode != RestoreNoRecovery || tg.RestoreDelay != 0 || tg.DisconnectUsers || tg.Databases != nil {
				t.Errorf("target = %+v", tg)
			}
			if tg.Primary.Compression || tg.Primary.Credential != "" {
				t.Errorf("primary = %+v", tg.Primary)
			}
		}},
		"database subset": {`databases = ["B"]`, "", func(t *testing.T, tg *Target) {
			if diff := cmp.Diff([]string{"B"}, tg.DatabaseNames()); diff != "" {
				t.Errorf("DatabaseNames (-want +got):\n%s", diff)
			}
		}},
		"norecovery with delay": {"restore_mode = \"norecovery\"\n restore_delay = \"10m\"", "", func(t *testing.T, tg *Target) {
			if tg.RestoreMode != RestoreNoRecovery || tg.RestoreDelay != 10*time.Minute {
				t.Errorf("target = %+v", tg)
			}
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{"c.drs.hcl": minimalConfig(`env("P_DSN")`, tt.target, tt.destination)})
			cfg, diags := Load(dir, testOptions)
			if len(diags) != 0 {
				t.Fatalf("want no diagnostics, got:%s", diagsText(diags))
			}
			tt.check(t, cfg.Targets[0])
		})
	}
}

func TestLoad_Warnings(t *testing.T) {
	tests := map[string]struct {
		target  string
		summary string
	}{
		"restore setting on copy_only": {"kind = \"copy_only\"\n data_dir = \"D:\\\\Data\"", "data_dir has no effect on a copy_only target"},
		"delay not shorter than rpo":   {`restore_delay = "1h"`, "Restore delay not shorter than RPO"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			dir := writeConfig(t, map[string]string{"c.drs.hcl": minimalConfig(`env("P_DSN")`, tt.target, "")})
			_, diags := Load(dir, testOptions)
			if diags.HasErrors() || len(diags) != 1 || diags[0].Severity != hcl.DiagWarning || diags[0].Summary != tt.summary {
				t.Errorf("want one warning %q, got:%s", tt.summary, diagsText(diags))
			}
		})
	}
}

func TestLoad_Options(t *testing.T) {
	dir := writeConfig(t, map[string]string{"c.drs.hcl": minimalConfig(`env("P_DSN")`, "", "")})
	// Any engine when KnownEngines is nil.
	cfg, diags := Load(dir, LoadOptions{Getenv: noEnv})
	if len(diags) != 0 || cfg.Primaries[0].Engine != "sqlserver" {
		t.Errorf("nil KnownEngines: got:%s", diagsText(diags))
	}
	_, diags = Load(dir, LoadOptions{Getenv: noEnv, KnownEngines: []string{"postgres"}})
	if len(diags) != 1 || diags[0].Summary != "Unsupported engine" {
		t.Errorf("KnownEngines [postgres]: got:%s", diagsText(diags))
	}
	// KnownSchemes replaces the default list.
	_, diags = Load(dir, LoadOptions{Getenv: noEnv, KnownSchemes: []string{"file"}})
	if len(diags) != 1 || diags[0].Summary != "Unsupported URL scheme" {
		t.Errorf("KnownSchemes [file]: got:%s", diagsText(diags))
	}
}

func TestLoad_Functions(t *testing.T) {
	dir := writeConfig(t, map[string]string{
		"c.drs.hcl": minimalConfig(`trimspace(file("secrets/p.dsn"))`, "", ""),
	})
	if err := os.Mkdir(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "p.dsn"), []byte("sqlserver://sa:pw@p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// file() resolves against the configuration directory, not the
	// working directory.
	cfg, diags := Load(dir, LoadOptions{Getenv: mapEnv(map[string]string{"T_DSN": "sqlserver://t"})})
	if len(diags) != 0 {
		t.Fatalf("want no diagnostics, got:%s", diagsText(diags))
	}
	if v, err := cfg.Primaries[0].Connection.Value(); err != nil || v != "sqlserver://sa:pw@p" {
		t.Errorf("file() connection = %q, %v", v, err)
	}
	if v, err := cfg.Targets[0].Connection.Value(); err != nil || v != "sqlserver://t" {
		t.Errorf("env() connection = %q, %v", v, err)
	}
}

func TestLoad_InterpolatedUnknownConnection(t *testing.T) {
	dir := writeConfig(t, map[string]string{
		"c.drs.hcl": minimalConfig(`"sqlserver://sa:${env("PW_A")}@${env("HOST_B")}"`, "", ""),
	})
	cfg, diags := Load(dir, testOptions)
	if len(diags) != 0 {
		t.Fatalf("want no diagnostics, got:%s", diagsText(diags))
	}
	_, err := cfg.Primaries[0].Connection.Value()
	if err == nil || !strings.Contains(err.Error(), `environment variables "PW_A", "HOST_B" are not set`) {
		t.Errorf("Value() error = %v", err)
	}
}

const secretValue = "sqlserver://sa:Pa55-very-secret@sales01?database=master"

func TestSecret_NeverPrinted(t *testing.T) {
	env := mapEnv(map[string]string{"SALES_PRIMARY_DSN": secretValue, "DR_EAST_DSN": secretValue + "-east"})
	cfg, diags := Load("testdata/valid/design_example.drs.hcl", LoadOptions{Getenv: env})
	if len(diags) != 0 {
		t.Fatalf("want no diagnostics, got:%s", diagsText(diags))
	}
	p, tg := cfg.Primaries[0], cfg.Targets[0]
	if v, err := p.Connection.Value(); err != nil || v != secretValue {
		t.Errorf("primary Connection.Value() = %q, %v; want the environment's value", v, err)
	}
	if v, err := tg.Connection.Value(); err != nil || v != secretValue+"-east" {
		t.Errorf("target Connection.Value() = %q, %v; want the environment's value", v, err)
	}

	var outputs []string
	for _, v := range []any{cfg, *cfg, p, *p, tg, *tg, p.Connection, tg.Connection} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%d", "%x", "%q"} {
			outputs = append(outputs, fmt.Sprintf(verb, v))
		}
	}
	for _, v := range []any{p, tg, cfg.BackupFolders, cfg.Targets} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("json.Marshal: %v", err)
		}
		outputs = append(outputs, string(b))
	}
	// The whole Config, sources included: the source has env("…"), not
	// the value.
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("json.Marshal(cfg): %v", err)
	}
	outputs = append(outputs, string(b))
	for _, out := range outputs {
		if strings.Contains(out, "Pa55-very-secret") {
			t.Fatalf("secret printed: %s", out)
		}
	}
	if !strings.Contains(fmt.Sprintf("%+v", *p), "Connection:(sensitive)") {
		t.Errorf("%%+v of a primary does not show the connection as (sensitive): %+v", *p)
	}
}

// A connection whose value is wrong (here: not a string) is reported
// without the value, even though the value came from the environment.
func TestSecret_NotInDiagnostics(t *testing.T) {
	dir := writeConfig(t, map[string]string{"c.drs.hcl": minimalConfig(`[env("P_DSN")]`, "", "")})
	cfg, diags := Load(dir, LoadOptions{Getenv: mapEnv(map[string]string{"P_DSN": secretValue, "T_DSN": secretValue})})
	if len(diags) != 1 || diags[0].Summary != "Incorrect attribute value type" {
		t.Fatalf("want one type error, got:%s", diagsText(diags))
	}
	var text, js strings.Builder
	if err := WriteDiagnostics(&text, cfg.Files, diags, 0, false); err != nil {
		t.Fatal(err)
	}
	if err := ValidateJSON(&js, cfg.Files, diags); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{text.String(), js.String(), diagsText(diags)} {
		if strings.Contains(out, "Pa55-very-secret") {
			t.Fatalf("secret in diagnostic output: %s", out)
		}
	}
}
