package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/wiring"
)

// applyBench is an estate for the apply benchmarks: a primary with dbs
// databases, a standby and a copy-only target, SQL Server simulators on
// loopback, file destinations, a local journaled ledger; seeded once.
type applyBench struct {
	b    *testing.B
	dir  string
	dsns map[string]string
}

func newApplyBench(b *testing.B, dbs int, logEvery string) *applyBench {
	ab := &applyBench{b: b, dir: b.TempDir(), dsns: map[string]string{}}
	for _, name := range []string{"primary", "east"} {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(ab.dir, name+"-sim"), Name: strings.ToUpper(name), LSNBase: "98765432109876543210000"})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		ab.dsns[strings.ToUpper(name)+"_DSN"] = s.DSN("")
	}
	var names []string
	db, err := sql.Open("sqlserver", ab.dsns["PRIMARY_DSN"])
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for i := 0; i < dbs; i++ {
		n := fmt.Sprintf("db%03d", i)
		names = append(names, strconv.Quote(n))
		if _, err := db.Exec("CREATE DATABASE " + n); err != nil {
			b.Fatal(err)
		}
	}
	for _, d := range []string{"share", "east", "vault", "east-data"} {
		os.MkdirAll(filepath.Join(ab.dir, d), 0o755)
	}
	cfg := fmt.Sprintf(`
backup_folder "share" { url = "file://%[1]s/share" }
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = [%[2]s]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = %[3]q }
  rpo = "1h"
}
target "east" {
  primary      = primary.sales
  connection   = env("EAST_DSN")
  restore_mode = "norecovery"
  data_dir     = "%[1]s/east-data"
  destination { url = "file://%[1]s/east" }
}
target "vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = "file://%[1]s/vault" }
}
`, ab.dir, strings.Join(names, ", "), logEvery)
	if err := os.WriteFile(filepath.Join(ab.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	if code, out := ab.apply(); code != 0 {
		b.Fatalf("seeding apply: %d\n%s", code, out)
	}
	return ab
}

func (ab *applyBench) apply() (int, string) {
	var out bytes.Buffer
	e := &cli.Env{Stdout: &out, Stderr: &out, Stdin: strings.NewReader(""), Engines: wiring.Engines(), Version: "bench",
		Getenv: func(k string) (string, bool) { v, ok := ab.dsns[k]; return v, ok }}
	g := cli.Globals{Chdir: ab.dir, NoColor: true, LogLevel: "debug"}
	if err := e.Configure(g); err != nil {
		ab.b.Fatal(err)
	}
	code := e.Apply(context.Background(), g, cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
	return code, out.String()
}

var stateLine = regexp.MustCompile(`State: (\d+) changes recorded in (\d+) writes, (\S+) in all\.`)

// BenchmarkApply_nothingDue_100: a cron run when nothing is due (observe
// every server, plan, write nothing). Target ≤ 2 s.
func BenchmarkApply_nothingDue_100(b *testing.B) {
	ab := newApplyBench(b, 100, "1h")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		code, out := ab.apply()
		if code != 0 || !strings.Contains(out, "0 done") && !strings.Contains(out, "No changes") {
			b.Fatalf("apply with nothing due: %d\n%s", code, out)
		}
	}
}

// BenchmarkApply_logDue_100: a cron run with a log backup due on every
// database (back up, ship to two destinations, verify, restore). Reports
// the share of the run spent writing the ledger. Target ≤ 10%.
func BenchmarkApply_logDue_100(b *testing.B) {
	ab := newApplyBench(b, 100, "1s")
	var wall, writing time.Duration
	var changes, writes int
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		time.Sleep(1100 * time.Millisecond) // a log backup falls due
		b.StartTimer()
		t0 := time.Now()
		code, out := ab.apply()
		wall += time.Since(t0)
		m := stateLine.FindStringSubmatch(out)
		if code != 0 || m == nil {
			b.Fatalf("apply: %d\n%s", code, out)
		}
		d, err := time.ParseDuration(m[3])
		if err != nil {
			b.Fatal(err)
		}
		c, _ := strconv.Atoi(m[1])
		w, _ := strconv.Atoi(m[2])
		changes, writes, writing = changes+c, writes+w, writing+d
	}
	b.ReportMetric(100*writing.Seconds()/wall.Seconds(), "%state-writing")
	b.ReportMetric(float64(changes)/float64(b.N), "changes/op")
	b.ReportMetric(float64(writes)/float64(b.N), "writes/op")
}
