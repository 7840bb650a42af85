package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/wiring"
)

const dstConfig = `
backup_folder "share" {
  url = "file://%[1]s/share"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.share
  full_backup { every = "6h" }
  log_backup { every = "15m" }
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
`

// TestSQLServer_DSTChangeTakesNoFullAndReseedsNothing: servers in
// Europe/Berlin, drsctl applied every 5 minutes of a fake clock from 22:00
// UTC to 03:55 UTC across each 2026 daylight saving change (01:00 UTC on
// the last Sunday of March and of October). The one full backup is the
// first apply's; no other full is due (every 6h), the standby is never
// seeded again, and log backups stay 15 minutes apart, although
// create_date and msdb's dates are local and their offset changes in the
// middle (backups stamped an hour off look overdue or from the future, and
// a log backup would be taken at every apply).
func TestSQLServer_DSTChangeTakesNoFullAndReseedsNothing(t *testing.T) {
	for _, start := range []time.Time{
		time.Date(2026, 3, 28, 22, 0, 0, 0, time.UTC),
		time.Date(2026, 10, 24, 22, 0, 0, 0, time.UTC),
	} {
		t.Run(start.Format("January"), func(t *testing.T) { dstRun(t, start) })
	}
}

func dstRun(t *testing.T, start time.Time) {
	clock := &cronClock{t: start}
	h := &harness{t: t, dir: t.TempDir(), clock: clock.Now(), engines: wiring.Engines()}
	startSim := func(name string) *sqlsim.Server {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(h.dir, name+"-sim"),
			Name: strings.ToUpper(name), LSNBase: "98765432109876543210000", Now: clock.Now, TimeZone: "Europe/Berlin"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sh := &sqlHarness{harness: h, primary: startSim("primary"), east: startSim("east")}
	for _, d := range []string{"share", "east", "east-data"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(fmt.Sprintf(dstConfig, h.dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	// The database was created the afternoon before.
	clock.advance(-6 * time.Hour)
	if err := sh.exec(sh.primary, "CREATE DATABASE [Sales]"); err != nil {
		t.Fatal(err)
	}
	clock.advance(6 * time.Hour)
	dsns := map[string]string{"PRIMARY_DSN": sh.primary.DSN(""), "EAST_DSN": sh.east.DSN("")}
	var inserted []int
	for i := 0; clock.Now().Before(start.Add(6 * time.Hour)); i++ {
		id := i + 1
		if err := sh.exec(sh.primary, fmt.Sprintf("INSERT INTO [Sales].dbo.drs_probe (id) VALUES (%d)", id)); err != nil {
			t.Fatal(err)
		}
		inserted = append(inserted, id)
		e := h.env()
		e.Getenv = func(k string) (string, bool) { v, ok := dsns[k]; return v, ok }
		e.Now = clock.Now
		code := e.Apply(context.Background(), h.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 2})
		if code != 0 {
			t.Fatalf("apply at %s exited %d:\n%s%s", clock.Now().Format("15:04"), code, h.stdout.String(), h.stderr.String())
		}
		clock.advance(5 * time.Minute)
	}
	var fulls, logs int
	for _, b := range sh.primary.BackupHistory() {
		switch b.Type {
		case "D":
			fulls++
		case "L":
			logs++
		}
	}
	var seeds int
	for _, r := range sh.east.RestoreHistory() {
		if r.Type == "D" {
			seeds++
		}
	}
	if fulls != 1 || seeds != 1 || logs < 22 || logs > 25 {
		t.Errorf("%d full backups, %d full restores on east, %d log backups; want 1, 1 and a log every 15 minutes (23 in 6 hours)", fulls, seeds, logs)
	}
	// Every row up to the last log backup (at most 15 minutes, three rows,
	// before the end) is on east.
	got := sh.rows(sh.east, "Sales")
	if len(got) < len(inserted)-3 || !slices.Equal(got, inserted[:len(got)]) {
		t.Errorf("east Sales rows = %v\nwant %v, but for at most the last 3", got, inserted)
	}
}
