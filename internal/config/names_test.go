package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// acceptedNames are database names SQL Server allows and drsctl protects:
// quoting and escaping handle them, so the configuration must not refuse
// them ("a..b" and ".." are legal names, not paths).
var acceptedNames = []string{
	"Sales]; DROP DATABASE x; --", "O'Brien", `a"b`, "semi;colon", "dash--dash", `slash/and\back`, "a/b", `a\b`,
	"a..b", "..", ".", " leading space", "two  spaces", "Ünïcødé", "日本", "Sales 💾", "CON", "x~41", "N'x'",
	"[bracketed]", "/* not a comment */", strings.Repeat("💾", 64), strings.Repeat("n", 128),
}

func TestDatabaseNameProblem(t *testing.T) {
	for _, name := range acceptedNames {
		if s, d := databaseNameProblem("sqlserver", name); s != "" {
			t.Errorf("%q refused: %s: %s", name, s, d)
		}
	}
	for _, c := range []struct{ engine, name, summary string }{
		{"sqlserver", "tab\there", "Control character"},
		{"sqlserver", "nul\x00", "Control character"},
		{"sqlserver", "new\nline", "Control character"},
		{"sqlserver", "del\x7f", "Control character"},
		{"sqlserver", "c1\u0085", "Control character"},
		{"sqlserver", "rtl\u202eoverride", "Control character"},
		{"sqlserver", "isolate\u2066", "Control character"},
		{"sqlserver", "line\u2028sep", "Control character"},
		{"memory", "tab\there", "Control character"},
		{"sqlserver", "bad\xffutf8", "Invalid database name"},
		{"sqlserver", strings.Repeat("💾", 65), "too long"},
		{"sqlserver", strings.Repeat("n", 129), "too long"},
		{"sqlserver", "Sales ", "ends with a space"},
		{"sqlserver", "tempdb", "System database"},
		{"sqlserver", "Master", "System database"},
	} {
		s, d := databaseNameProblem(c.engine, c.name)
		if !strings.Contains(s, c.summary) {
			t.Errorf("%s %q: %q, want %q", c.engine, c.name, s, c.summary)
		}
		if s != "" && !strings.Contains(d, strconv.Quote(c.name)) {
			t.Errorf("%q: the detail does not quote the name: %s", c.name, d)
		}
	}
	// SQL Server's rules are SQL Server's: another engine may have them.
	for _, name := range []string{"master", "Sales ", strings.Repeat("n", 129)} {
		if s, _ := databaseNameProblem("memory", name); s != "" {
			t.Errorf("memory engine: %q refused: %s", name, s)
		}
	}
}

// Every accepted name loads as written: the list's values reach the
// configuration unchanged.
func TestLoad_HostileDatabaseNames(t *testing.T) {
	var quoted []string
	for _, n := range acceptedNames {
		// HCL escapes: \ and " are escaped, ${ and %{ would be templates.
		q := strconv.Quote(n)
		q = strings.ReplaceAll(q, "${", "$${")
		quoted = append(quoted, q)
	}
	dir := writeConfig(t, map[string]string{"main.drs.hcl": fmt.Sprintf(`
backup_folder "share" {
  url = "file:///srv/drs"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = "sqlserver://sa@localhost"
  databases     = [%s]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup  { every = "15m" }
  rpo           = "30m"
}
target "Ünïcødé-east" {
  primary    = primary.sales
  connection = "sqlserver://sa@east"
  databases  = [%s]
  destination { url = "file:///srv/east" }
}
target "日本--vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = "file:///srv/vault" }
}
`, strings.Join(quoted, ", "), quoted[0])})
	cfg, diags := Load(filepath.Join(dir, "main.drs.hcl"), testOptions)
	if diags.HasErrors() {
		t.Fatalf("hostile names refused:%s", diagsText(diags))
	}
	got := cfg.Primaries[0].Databases
	if len(got) != len(acceptedNames) {
		t.Fatalf("databases %q", got)
	}
	for i, n := range acceptedNames {
		if got[i] != n {
			t.Errorf("database %d = %q, want %q", i, got[i], n)
		}
	}
	if cfg.TargetByName("Ünïcødé-east") == nil || cfg.TargetByName("日本--vault") == nil {
		t.Errorf("targets with non-ASCII names not found")
	}
}
