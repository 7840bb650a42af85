package config

import (
	"strings"
	"testing"
)

func pgConfig(primaryLines, targetLines string) string {
	return `backup_folder "local" {
  url = "file:///srv/drs/backups"
}

primary "pg" {
  engine        = "postgres"
  connection    = "postgres://drs@127.0.0.1:5432/postgres"
  backup_folder = backup_folder.local
  full_backup { every = "24h" }
  log_backup { every = "1m" }
  rpo = "5m"
` + primaryLines + `
}

target "dr" {
  primary    = primary.pg
  connection = "postgres://drs@127.0.0.1:5433/postgres"
  destination { url = "file:///srv/drs/dr" }
` + targetLines + `
}
`
}

func loadPG(t *testing.T, primaryLines, targetLines string) (*Config, string) {
	t.Helper()
	opts := testOptions
	opts.KnownEngines = []string{"sqlserver", "postgres"}
	dir := writeConfig(t, map[string]string{"pg.drs.hcl": pgConfig(primaryLines, targetLines)})
	cfg, diags := Load(dir, opts)
	return cfg, diagsText(diags)
}

func TestPostgres_ClusterAndHotStandby(t *testing.T) {
	cfg, diags := loadPG(t, "", `  data_dir = "/var/lib/postgresql/15/dr"`)
	if diags != "" {
		t.Fatalf("unexpected diagnostics:%s", diags)
	}
	p := cfg.PrimaryByName("pg")
	if len(p.Databases) != 1 || p.Databases[0] != ClusterDatabase {
		t.Errorf("databases = %q, want the cluster", p.Databases)
	}
	tg := cfg.TargetByName("dr")
	if tg.RestoreMode != RestoreStandby {
		t.Errorf("restore mode = %q, want standby (a PostgreSQL standby is a hot standby)", tg.RestoreMode)
	}
	if got := tg.DatabaseNames(); len(got) != 1 || got[0] != ClusterDatabase {
		t.Errorf("target databases = %q", got)
	}
}

func TestPostgres_Refused(t *testing.T) {
	for _, c := range []struct {
		name, primary, target, want string
	}{
		{"databases on primary", `  databases = ["shop"]`, `  data_dir = "/d"`, "pg.drs.hcl:12:3: databases on a PostgreSQL primary: A PostgreSQL primary is protected as a whole cluster"},
		{"compression", `  compression = true`, `  data_dir = "/d"`, "compression on a PostgreSQL primary"},
		{"no data_dir", "", "", `pg.drs.hcl:15:1: Missing data_dir on a PostgreSQL target: A PostgreSQL standby runs from a data directory on the host drsctl runs on`},
		{"norecovery", "", "  data_dir = \"/d\"\n  restore_mode = \"norecovery\"", `restore_mode norecovery on a PostgreSQL target`},
		{"databases on target", "", "  data_dir = \"/d\"\n  databases = [\"cluster\"]", "databases on a PostgreSQL target"},
		{"log_dir", "", "  data_dir = \"/d\"\n  log_dir = \"/l\"", "log_dir on a PostgreSQL target"},
		{"sqlserver URL", "", `  data_dir = "/d"` + "\n  connection = \"sqlserver://x\"", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := pgConfig(c.primary, c.target)
			if c.name == "sqlserver URL" {
				src = strings.Replace(src, `connection = "postgres://drs@127.0.0.1:5433/postgres"`, `connection = "sqlserver://x"`, 1)
				src = strings.Replace(src, "\n  connection = \"sqlserver://x\"\n}", "\n}", 1)
				c.want = "Unsupported connection string scheme: A PostgreSQL connection string starts with postgres:// or postgresql://, not sqlserver://"
			}
			opts := testOptions
			opts.KnownEngines = []string{"sqlserver", "postgres"}
			dir := writeConfig(t, map[string]string{"pg.drs.hcl": src})
			_, d := Load(dir, opts)
			if !strings.Contains(diagsText(d), c.want) {
				t.Errorf("diagnostics:%s\nwant %q", diagsText(d), c.want)
			}
		})
	}
}

// drsctl carries a PostgreSQL primary's backups and a PostgreSQL standby's
// copies itself: no server reads the place, so no server_path is needed.
func TestPostgres_NoServerPathNeeded(t *testing.T) {
	src := strings.Replace(pgConfig("", `  data_dir = "/d"`), `destination { url = "file:///srv/drs/dr" }`, `destination { url = "s3://bucket/dr?region=eu-west-1" }`, 1)
	src = strings.Replace(src, `url = "file:///srv/drs/backups"`, `url = "s3://bucket/backups?region=eu-west-1"`, 1)
	opts := testOptions
	opts.KnownEngines = []string{"sqlserver", "postgres"}
	cfg, d := Load(writeConfig(t, map[string]string{"pg.drs.hcl": src}), opts)
	if d.HasErrors() {
		t.Fatalf("diagnostics:%s", diagsText(d))
	}
	if sp := cfg.TargetByName("dr").Destination.ServerPath; sp != "s3://bucket/dr" {
		t.Errorf("destination server path = %q", sp)
	}
	// A folder shared with a SQL Server primary still needs one.
	src += `
primary "sql" {
  engine        = "sqlserver"
  connection    = "sqlserver://sql"
  databases     = ["Shop"]
  backup_folder = backup_folder.local
  full_backup { every = "24h" }
  log_backup { every = "1m" }
  rpo = "5m"
}
`
	if _, d := Load(writeConfig(t, map[string]string{"pg.drs.hcl": src}), opts); !strings.Contains(diagsText(d), "Missing server_path") {
		t.Errorf("a folder a SQL Server primary writes to needs server_path; diagnostics:%s", diagsText(d))
	}
}
