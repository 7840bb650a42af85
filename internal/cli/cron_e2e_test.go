package cli_test

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/wiring"
)

// cronClock is the one clock drsctl and the three simulators share: the
// test moves it, so minutes of schedule pass in seconds. Safe for
// concurrent use (the simulators read it from their sessions).
type cronClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *cronClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *cronClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const cronConfig = `
backup_folder "share" {
  url = "file://%[1]s/share"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales", "Idle"]
  backup_folder = backup_folder.share
  full_backup { every = "20s" }
  log_backup { every = "7s" }
  rpo = "1m"
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
`

// TestSQLServer_CronStyleAppliesNeverReseed runs drsctl the way an operator
// does from cron: `apply -auto-approve` every couple of seconds of a fake
// clock, against three simulators on the same clock, with a full backup
// due every 20 s and a log backup every 7 s, writes on the primary in some
// stretches and none in others (so idle, empty log backups happen, and on
// the "Idle" database nothing is ever written). Once seeded, the standbys
// must only ever take logs: a new full backup on the primary does not break
// the log chain, and neither does an empty log backup.
func TestSQLServer_CronStyleAppliesNeverReseed(t *testing.T) {
	clock := &cronClock{t: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
	h := &harness{t: t, dir: t.TempDir(), clock: clock.Now(), engines: wiring.Engines()}
	start := func(name string) *sqlsim.Server {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(h.dir, name+"-sim"),
			Name: strings.ToUpper(name), LSNBase: "98765432109876543210000", Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	sh := &sqlHarness{harness: h, primary: start("primary"), east: start("east"), west: start("west")}
	for _, d := range []string{"share", "east", "west", "vault", "east-data", "west-data"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(fmt.Sprintf(cronConfig, h.dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	databases := []string{"Sales", "Idle"}
	for _, db := range databases {
		if err := sh.exec(sh.primary, "CREATE DATABASE "+quoteIdent(db)); err != nil {
			t.Fatal(err)
		}
	}
	dsns := map[string]string{"PRIMARY_DSN": sh.primary.DSN(""), "EAST_DSN": sh.east.DSN(""), "WEST_DSN": sh.west.DSN("")}
	apply := func() (int, string) {
		t.Helper()
		e := h.env()
		e.Getenv = func(k string) (string, bool) { v, ok := dsns[k]; return v, ok }
		e.Now = clock.Now // the simulators' clock: backups are stamped with it
		code := e.Apply(context.Background(), h.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
		return code, h.stdout.String() + h.stderr.String()
	}
	fullRestores := func(s *sqlsim.Server) map[string]int {
		n := map[string]int{}
		for _, r := range s.RestoreHistory() {
			if r.Type == "D" {
				n[r.Database]++
			}
		}
		return n
	}

	var inserted []int
	nextID := 1
	insert := func() {
		t.Helper()
		if err := sh.exec(sh.primary, fmt.Sprintf("INSERT INTO [Sales].dbo.drs_probe (id, note) VALUES (%d, N'row %d')", nextID, nextID)); err != nil {
			t.Fatal(err)
		}
		inserted = append(inserted, nextID)
		nextID++
	}
	// writes[i]: rows inserted before apply i+1. Two idle stretches of 22
	// and 24 s, each more than three log intervals: empty log backups.
	writes := []int{1, 1, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 1, 1, 0}
	const applies = 36

	var seeded map[string]map[string]int // server → database → full restores after the first apply
	var reseeds, failures []string       // "apply N (hh:mm:ss)"
	for i := 1; i <= applies+1; i++ {
		final := i == applies+1
		if final {
			// One more log backup is due: the last rows must arrive with it.
			insert()
			clock.advance(8 * time.Second)
		} else {
			for n := 0; n < writes[i-1]; n++ {
				insert()
			}
			clock.advance(2 * time.Second)
		}
		code, out := apply()
		at := clock.Now().Format("15:04:05")
		if code != 0 {
			failures = append(failures, fmt.Sprintf("apply %d (%s)", i, at))
			if len(failures) <= 3 {
				t.Errorf("apply %d at %s exited %d:\n%s", i, at, code, out)
			}
		}
		if i == 1 {
			seeded = map[string]map[string]int{"east": fullRestores(sh.east), "west": fullRestores(sh.west)}
			for _, srv := range []string{"east", "west"} {
				for _, db := range databases {
					if seeded[srv][db] != 1 {
						t.Fatalf("the first apply must seed %s on %s once, restored %d fulls:\n%s", db, srv, seeded[srv][db], out)
					}
				}
			}
			continue
		}
		now := map[string]map[string]int{"east": fullRestores(sh.east), "west": fullRestores(sh.west)}
		printed := strings.Contains(out, "seed again") || strings.Contains(out, "REPLACE")
		if printed || !mapsEqual(now, seeded) {
			reseeds = append(reseeds, fmt.Sprintf("apply %d (%s)", i, at))
			if len(reseeds) == 1 {
				t.Errorf("apply %d at %s reseeded (full restores since the first apply: east %v, west %v; printed \"seed again\"/\"REPLACE\": %v):\n%s",
					i, at, diffCounts(now["east"], seeded["east"]), diffCounts(now["west"], seeded["west"]), printed, out)
			}
			seeded = now
		}
	}
	if len(reseeds) > 0 {
		t.Errorf("%d of %d applies after the first reseeded a standby (want none): %s", len(reseeds), applies, strings.Join(reseeds, ", "))
	}
	if len(failures) > 0 {
		t.Errorf("%d of %d applies failed (want none): %s", len(failures), applies+1, strings.Join(failures, ", "))
	}

	// Every row written on the primary is on east (STANDBY: readable).
	if got := sh.rows(sh.east, "Sales"); !slices.Equal(got, inserted) {
		t.Errorf("east Sales rows = %v\nwant %v", got, inserted)
	}

	// The primary's backups, as its msdb has them.
	type chain struct {
		fulls, logs []sqlsim.BackupRecord // drsctl's, oldest first
		lastLog     sqlsim.BackupRecord
	}
	byDB := map[string]*chain{}
	share := filepath.Join(h.dir, "share") + string(filepath.Separator)
	empties := 0
	for _, b := range sh.primary.BackupHistory() {
		if !strings.HasPrefix(b.Path, share) {
			t.Errorf("a backup drsctl did not take: %+v", b)
			continue
		}
		c := byDB[b.Database]
		if c == nil {
			c = &chain{}
			byDB[b.Database] = c
		}
		switch b.Type {
		case "D":
			c.fulls = append(c.fulls, b)
		case "L":
			c.logs = append(c.logs, b)
			c.lastLog = b
			if b.Empty() {
				empties++
			}
		}
	}
	if empties == 0 {
		t.Error("no empty log backup was taken: the test lost its idle stretches")
	}
	for _, db := range databases {
		c := byDB[db]
		if c == nil || len(c.fulls) < 3 || len(c.logs) == 0 {
			t.Fatalf("%s: drsctl took %d fulls and %d logs in %d applies; want at least 3 fulls (every 20 s) and logs", db, len(c.fulls), len(c.logs), applies+1)
		}
		t.Logf("%s: %d full and %d log backups (%d empty overall)", db, len(c.fulls), len(c.logs), empties)

		// west stands where the primary's last log backup ends.
		var westLast string
		for _, r := range sh.west.RestoreHistory() {
			if r.Database == db {
				westLast = r.LastLSN
			}
		}
		if westLast != c.lastLog.LastLSN {
			t.Errorf("west %s restored through LSN %s; the primary's last log backup ends at %s", db, westLast, c.lastLog.LastLSN)
		}

		// The vault holds every full from the first one it got on, and
		// every non-empty log after that full.
		inVault := func(b sqlsim.BackupRecord) bool {
			_, err := os.Stat(filepath.Join(h.dir, "vault", strings.TrimPrefix(b.Path, share)))
			return err == nil
		}
		first := -1
		for i, f := range c.fulls {
			if inVault(f) {
				first = i
				break
			}
		}
		if first < 0 {
			t.Errorf("the vault holds no full backup of %s", db)
			continue
		}
		for _, f := range c.fulls[first:] {
			if !inVault(f) {
				t.Errorf("the vault lacks the full backup %s (LSN %s..%s)", filepath.Base(f.Path), f.FirstLSN, f.LastLSN)
			}
		}
		for _, l := range c.logs {
			if !l.Empty() && lsnAfter(l.LastLSN, c.fulls[first].LastLSN) && !inVault(l) {
				t.Errorf("the vault lacks the log backup %s (LSN %s..%s)", filepath.Base(l.Path), l.FirstLSN, l.LastLSN)
			}
		}
	}
}

// lsnAfter compares decimal LSNs (numeric(25,0): never int64).
func lsnAfter(a, b string) bool {
	x, okx := new(big.Int).SetString(a, 10)
	y, oky := new(big.Int).SetString(b, 10)
	return okx && oky && x.Cmp(y) > 0
}

func mapsEqual(a, b map[string]map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, av := range a {
		bv := b[k]
		if len(av) != len(bv) {
			return false
		}
		for kk, n := range av {
			if bv[kk] != n {
				return false
			}
		}
	}
	return true
}

// diffCounts is how many more full restores each database had than before.
func diffCounts(now, before map[string]int) map[string]int {
	out := map[string]int{}
	for db, n := range now {
		if d := n - before[db]; d != 0 {
			out[db] = d
		}
	}
	return out
}
