package cli_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/wiring"
)

// sqlHarness runs drsctl with the real sqlserver engine against three SQL
// Server simulators on loopback.
type sqlHarness struct {
	*harness
	primary, east, west *sqlsim.Server
}

const hostile = "Sales]; DROP DATABASE x; --"

// newSQLHarness starts the simulators; each option adjusts a simulator's
// Options by its name (primary, east, west).
func newSQLHarness(t *testing.T, options ...func(name string, o *sqlsim.Options)) *sqlHarness {
	h := &harness{t: t, dir: t.TempDir(), clock: time.Now().UTC()}
	h.engines = wiring.Engines()
	start := func(name string) *sqlsim.Server {
		o := sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(h.dir, name+"-sim"), Name: strings.ToUpper(name),
			LSNBase: "98765432109876543210000"}
		for _, opt := range options {
			opt(name, &o)
		}
		s, err := sqlsim.Start(o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sh := &sqlHarness{harness: h, primary: start("primary"), east: start("east"), west: start("west")}
	for _, d := range []string{"share", "east", "west", "vault", "east-data", "west-data"} {
		os.MkdirAll(filepath.Join(h.dir, d), 0o755)
	}
	cfg := fmt.Sprintf(`
backup_folder "share" {
  url = "file://%[1]s/share"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales", "O'Brien", %[2]q]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "1s" }
  rpo = "1h"
}
target "east" {
  primary          = primary.sales
  connection       = env("EAST_DSN")
  restore_mode     = "standby"
  disconnect_users = true
  data_dir         = "%[1]s/east-data"
  destination { url = "file://%[1]s/east" }
}
target "west" {
  primary      = primary.sales
  connection   = env("WEST_DSN")
  restore_mode = "norecovery"
  data_dir     = "%[1]s/west-data"
  destination { url = "file://%[1]s/west" }
}
target "vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = "file://%[1]s/vault" }
}
`, h.dir, hostile)
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"Sales", "O'Brien", hostile} {
		sh.exec(sh.primary, "CREATE DATABASE "+quoteIdent(db))
	}
	return sh
}

func quoteIdent(s string) string { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }

func (h *sqlHarness) envFor() *cli.Env {
	e := h.env()
	dsns := map[string]string{"PRIMARY_DSN": h.primary.DSN(""), "EAST_DSN": h.east.DSN(""), "WEST_DSN": h.west.DSN("")}
	e.Getenv = func(k string) (string, bool) { v, ok := dsns[k]; return v, ok }
	e.Now = nil // real time: the simulators stamp backups with it
	return e
}

func (h *sqlHarness) apply() int {
	h.t.Helper()
	code := h.envFor().Apply(context.Background(), h.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
	h.t.Logf("apply → %d\n%s\n%s", code, h.stdout.String(), h.stderr.String())
	return code
}

func (h *sqlHarness) plan() (int, string) {
	h.t.Helper()
	code := h.envFor().Plan(context.Background(), h.globals(), cli.PlanOptions{Refresh: true, DetailedExitCode: true})
	return code, h.stdout.String() + h.stderr.String()
}

func (h *sqlHarness) exec(s *sqlsim.Server, q string) error {
	h.t.Helper()
	db, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(q)
	return err
}

func (h *sqlHarness) rows(s *sqlsim.Server, database string) []int {
	h.t.Helper()
	db, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		h.t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Query("SELECT id FROM " + quoteIdent(database) + ".dbo.drs_probe ORDER BY id")
	if err != nil {
		h.t.Fatalf("read %s: %v", database, err)
	}
	defer rs.Close()
	var ids []int
	for rs.Next() {
		var id int
		rs.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// waitLogDue lets log_backup.every (1s) pass.
func waitLogDue() { time.Sleep(1100 * time.Millisecond) }

func TestSQLServer_EndToEnd(t *testing.T) {
	h := newSQLHarness(t)
	for _, db := range []string{"Sales", "O'Brien", hostile} {
		if err := h.exec(h.primary, "INSERT INTO "+quoteIdent(db)+".dbo.drs_probe(id, note) VALUES (1, N'one')"); err != nil {
			t.Fatal(err)
		}
	}

	// Seed: STANDBY on east, NORECOVERY on west, copies in the vault.
	if code := h.apply(); code != 0 {
		t.Fatalf("seed apply exit %d", code)
	}
	for _, db := range []string{"Sales", "O'Brien", hostile} {
		if got := h.rows(h.east, db); fmt.Sprint(got) != "[1]" {
			t.Errorf("east %s rows = %v", db, got)
		}
	}
	if _, err := sql.Open("sqlserver", h.west.DSN("")); err == nil {
		if h.exec(h.west, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe") == nil {
			t.Error("a NORECOVERY database must not be readable")
		}
	}

	// Rows written on the primary reach the STANDBY target after the next log backup.
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (2, N'two'), (3, N'three')")
	h.exec(h.primary, "INSERT INTO "+quoteIdent(hostile)+".dbo.drs_probe(id, note) VALUES (2, N'two')")
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("log apply exit %d", code)
	}
	if got := h.rows(h.east, "Sales"); fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("east Sales rows = %v", got)
	}
	if got := h.rows(h.east, hostile); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("east %q rows = %v", hostile, got)
	}
	if err := h.exec(h.east, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (9, N'x')"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("a write on the STANDBY target must fail with 3906, got %v", err)
	}

	// Nothing due: with a long log interval, apply does nothing.
	cfgPath := filepath.Join(h.dir, "main.drs.hcl")
	b, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, []byte(strings.Replace(string(b), `every = "1s"`, `every = "15m"`, 1)), 0o644)
	if code, out := h.plan(); code != 0 {
		t.Fatalf("plan with nothing due: exit %d\n%s", code, out)
	}
	if code := h.apply(); code != 0 || !strings.Contains(h.stdout.String(), "No changes.") {
		t.Fatalf("apply with nothing due: exit %d\n%s", code, h.stdout.String())
	}
	os.WriteFile(cfgPath, b, 0o644)

	// An out-of-band BACKUP LOG to a path drsctl cannot reach breaks the chain:
	// the plan reseeds, and no log is restored out of order.
	elsewhere := t.TempDir()
	// A write first: a log backup of an idle database is empty and breaks
	// nothing.
	h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (4, N'four')")
	if err := h.exec(h.primary, "BACKUP LOG [Sales] TO DISK = N'"+filepath.Join(elsewhere, "manual.trn")+"' WITH INIT"); err != nil {
		t.Fatal(err)
	}
	waitLogDue()
	code, out := h.plan()
	if code != 0 {
		// A reseed repairs what happened on the servers; the configuration
		// did not change, so -detailed-exitcode has nothing to report.
		t.Fatalf("plan exit %d, want 0: the reseed is not the configuration's\n%s", code, out)
	}
	sales := section(out, `database "Sales"`)
	if !strings.Contains(sales, "not in the backup folder") || !strings.Contains(sales, "+ backup full") || strings.Contains(sales, "restore log") {
		t.Fatalf("the plan must reseed Sales, not restore logs:\n%s", sales)
	}
	if code := h.apply(); code != 0 {
		t.Fatalf("reseed apply exit %d", code)
	}
	if got := h.rows(h.east, "Sales"); fmt.Sprint(got) != "[1 2 3 4]" {
		t.Errorf("east Sales rows after reseed = %v", got)
	}

	// A target database recovered by hand is reported, not overwritten.
	if err := h.exec(h.east, "RESTORE DATABASE [O'Brien] WITH RECOVERY"); err != nil {
		t.Fatal(err)
	}
	h.exec(h.east, "INSERT INTO [O'Brien].dbo.drs_probe(id, note) VALUES (100, N'local work')")
	code, out = h.plan()
	if code != 1 || !strings.Contains(out, `database "O'Brien" on target "east" is ONLINE: it was recovered outside drsctl`) {
		t.Fatalf("recovered-by-hand target: exit %d\n%s", code, out)
	}
	h.apply()
	if got := h.rows(h.east, "O'Brien"); fmt.Sprint(got) != "[1 100]" {
		t.Errorf("the recovered database was touched: rows %v", got)
	}

	// A database in SIMPLE recovery is a clear plan error.
	h.exec(h.primary, "ALTER DATABASE [Sales] SET RECOVERY SIMPLE")
	code, out = h.plan()
	if code != 1 || !strings.Contains(out, `database "Sales" uses the SIMPLE recovery model; log shipping needs FULL`) || !strings.Contains(out, "ALTER DATABASE [Sales] SET RECOVERY FULL") {
		t.Fatalf("SIMPLE recovery: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "password") || strings.Contains(out, h.primary.DSN("")) {
		t.Error("a DSN reached the plan output")
	}
}

// section returns the plan text of one database's group.
func section(out, header string) string {
	i := strings.Index(out, header)
	if i < 0 {
		return ""
	}
	rest := out[i+len(header):]
	if j := strings.Index(rest, "\nprimary "); j >= 0 {
		rest = rest[:j]
	}
	if j := strings.Index(rest, "\nRPO:"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
