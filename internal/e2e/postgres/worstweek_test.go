package postgres_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/testenv/pgtest"
)

// pgctl runs pg_ctl as postgres on the cluster in a target's data_dir.
func (w *pgWorld) pgctl(target string, args ...string) string {
	w.t.Helper()
	dir := filepath.Join(w.root, target)
	cmd := exec.Command("runuser", append([]string{"-u", pgtest.OSUser, "--", filepath.Join(pgtest.Bin(w.t), "pg_ctl"), "-D", dir}, args...)...)
	cmd.Dir = "/"
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// TestPostgres_PromotedByHandThenRebooted: during an outage the operator
// promotes dr by hand (pg_ctl promote, no drsctl), and dr's host then
// reboots: the cluster is down. The applies that follow leave it alone —
// not started, not fed WAL, never replaced — and say it was recovered
// outside drsctl, while reporting goes on; `drsctl promote` records the
// failover; `drsctl reprotect` then lets the next apply replace it with a
// new seed that catches up with the primary. The primary's password in its
// connection URL appears in no output, log, or file drsctl writes.
func TestPostgres_PromotedByHandThenRebooted(t *testing.T) {
	w := newPGWorld(t)
	// pgtest's clusters trust local connections: the password is carried,
	// never checked, and must never be shown.
	const secret = "Sw0rdfish-3am"
	for i, kv := range w.env {
		for _, name := range []string{"PG_PRIMARY", "PG_DR", "PG_REPORTING"} {
			if strings.HasPrefix(kv, name+"=postgres://postgres@") {
				w.env[i] = strings.Replace(kv, "postgres://postgres@", "postgres://postgres:"+secret+"@", 1)
			}
		}
	}
	var outputs strings.Builder
	if err := w.exec("pg", `CREATE TABLE orders (id serial PRIMARY KEY, what text); INSERT INTO orders (what) SELECT 'seed ' || g FROM generate_series(1, 100) g`); err != nil {
		t.Fatal(err)
	}
	w.converge(2, "seed")
	if n := w.count("dr"); n != 100 {
		t.Fatalf("dr has %d rows after seeding, want 100", n)
	}

	if out := w.pgctl("dr", "promote", "-w"); !strings.Contains(out, "promoted") {
		t.Fatalf("pg_ctl promote dr: %s", out)
	}
	if err := w.exec("dr", `INSERT INTO orders (what) VALUES ('written on dr after the failover by hand')`); err != nil {
		t.Fatalf("a write on dr promoted by hand: %v", err)
	}
	if out := w.pgctl("dr", "stop", "-m", "fast", "-w"); !strings.Contains(out, "stopped") {
		t.Fatalf("pg_ctl stop dr: %s", out)
	}
	drWAL := filepath.Join(w.root, "dr.drsctl", "wal")
	before, _ := os.ReadDir(drWAL)

	if err := w.exec("pg", `INSERT INTO orders (what) SELECT 'after ' || g FROM generate_series(1, 20) g`); err != nil {
		t.Fatal(err)
	}
	due()
	code, out := w.drsctl("apply", "-auto-approve")
	outputs.WriteString(out)
	t.Logf("apply with dr promoted by hand and stopped: exit %d\n%s", code, out)
	if !strings.Contains(out, "recovered outside drsctl") {
		t.Errorf("the apply does not say dr was recovered outside drsctl:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(w.root, "dr", "postmaster.pid")); err == nil {
		t.Errorf("the apply started dr, a cluster promoted by hand")
	}
	if after, _ := os.ReadDir(drWAL); len(after) != len(before) {
		t.Errorf("the apply shipped WAL into dr's inbox (%d entries, was %d) though dr is promoted", len(after), len(before))
	}
	if n := w.count("reporting"); n != 120 {
		t.Errorf("reporting has %d rows, want 120: it goes on while dr is left alone", n)
	}

	code, out = w.drsctl("promote", "dr", "-auto-approve")
	outputs.WriteString(out)
	if code != 0 {
		t.Fatalf("promote dr (recording the failover by hand) exited %d:\n%s%s", code, out, w.serverLogs())
	}
	t.Logf("promote dr:\n%s", out)
	code, out = w.drsctl("reprotect", "dr", "-auto-approve")
	outputs.WriteString(out)
	if code != 0 {
		t.Fatalf("reprotect dr exited %d:\n%s", code, out)
	}
	outputs.WriteString(w.apply("dr replaced by a new seed"))
	due()
	outputs.WriteString(w.apply("dr catches up"))
	if n := w.count("dr"); n != 120 {
		t.Errorf("dr has %d rows after reprotect, want the primary's 120", n)
	}
	code, out = w.drsctl("status")
	outputs.WriteString(out)
	if code != 0 {
		t.Errorf("status exited %d:\n%s", code, out)
	}

	if strings.Contains(outputs.String(), secret) {
		t.Errorf("drsctl's output shows the password from a connection URL:\n%s", outputs.String())
	}
	_ = filepath.WalkDir(w.root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.Contains(p, string(filepath.Separator)+"backups"+string(filepath.Separator)) || strings.HasSuffix(p, ".tar") || strings.HasSuffix(p, ".gz") {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), secret) {
			t.Errorf("%s holds the password from a connection URL", p)
		}
		return nil
	})
}

// TestPostgres_PrimaryRecreated: the primary is rebuilt from scratch
// (initdb again; here a new cluster that the primary's connection now
// reaches): a new system identifier, WAL positions starting over, no slot.
// The next apply must not continue the old chain from it: it starts a new
// chain with a full backup and seeds both standbys again over drsctl's own
// clusters, which then hold the new primary's rows, not the old one's.
func TestPostgres_PrimaryRecreated(t *testing.T) {
	w := newPGWorld(t)
	if err := w.exec("pg", `CREATE TABLE orders (id serial PRIMARY KEY, what text); INSERT INTO orders (what) SELECT 'old ' || g FROM generate_series(1, 100) g`); err != nil {
		t.Fatal(err)
	}
	w.converge(2, "seed from the first primary")
	if n := w.count("dr"); n != 100 {
		t.Fatalf("dr has %d rows, want 100", n)
	}

	fresh := pgtest.NewPrimary(t)
	w.dsn["pg"] = fresh.DSN
	for i, kv := range w.env {
		if strings.HasPrefix(kv, "PG_PRIMARY=") {
			w.env[i] = "PG_PRIMARY=" + fresh.DSN
		}
	}
	if err := w.exec("pg", `CREATE TABLE orders (id serial PRIMARY KEY, what text); INSERT INTO orders (what) SELECT 'new ' || g FROM generate_series(1, 7) g`); err != nil {
		t.Fatal(err)
	}
	due()
	code, out := w.drsctl("apply", "-auto-approve")
	t.Logf("the first apply against the recreated primary: exit %d\n%s", code, out)
	if !strings.Contains(out, "+ base backup") || !strings.Contains(out, "recreated") || !strings.Contains(out, "replacing drsctl's standby") {
		t.Errorf("the first apply against a recreated primary takes no full backup, or does not say why, or does not seed the standbys again:\n%s", out)
	}
	w.converge(3, "the new chain")
	for _, name := range []string{"dr", "reporting"} {
		if n := w.count(name); n != 7 {
			t.Errorf("%s has %d rows after the primary was recreated, want the new primary's 7%s", name, n, w.serverLogs())
		}
	}
}

// TestPostgres_FullsBetweenLogs: the daily full between log backups (here
// every 4 s) never makes a standby start over. The next log backup begins
// where the last one ended, so it covers the new full and continues every
// standby's chain: no base backup is restored after the seed, and every
// row arrives.
func TestPostgres_FullsBetweenLogs(t *testing.T) {
	w := newPGWorldFulls(t, "4s")
	if err := w.exec("pg", `CREATE TABLE orders (id serial PRIMARY KEY, what text)`); err != nil {
		t.Fatal(err)
	}
	w.converge(2, "seed")
	fulls := 0
	for i := 0; i < 8; i++ {
		if err := w.exec("pg", fmt.Sprintf(`INSERT INTO orders (what) SELECT 'round %d ' || g FROM generate_series(1, 10) g`, i)); err != nil {
			t.Fatal(err)
		}
		due()
		out := w.apply(fmt.Sprintf("round %d", i))
		if strings.Contains(out, "+ base backup") {
			fulls++
		}
		if strings.Contains(out, "restore base backup") {
			t.Fatalf("round %d: a standby is seeded again after a routine full backup:\n%s", i, out)
		}
	}
	if fulls == 0 {
		t.Fatal("no full backup was taken between the log backups: the test proves nothing")
	}
	want := w.count("pg")
	for _, name := range []string{"dr", "reporting"} {
		if n := w.count(name); n != want {
			t.Errorf("%s has %d rows, want %d", name, n, want)
		}
	}
	t.Logf("%d full backups between log backups, no reseed, %d rows on every standby", fulls, want)
}
