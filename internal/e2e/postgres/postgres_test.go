// Package postgres_test runs drsctl end to end against real PostgreSQL:
// the real binary, as cron would run it, a real primary and the hot
// standbys drsctl builds and runs itself, shipped to through a local folder
// and through S3. A package of its own so that its minutes of real
// clusters run beside the other packages' tests, not after them.
package postgres_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/drsctl/drsctl/internal/engine/postgres"
	"github.com/drsctl/drsctl/internal/testenv"
	"github.com/drsctl/drsctl/internal/testenv/pgtest"
)

// PostgreSQL end to end: the real drsctl binary, run as cron would, against
// a real PostgreSQL 15 primary; two hot standbys it builds and runs itself,
// one shipped to through a local folder and one through S3.

const pgConfig = `
backup_folder "local" {
  url       = "file://{{ROOT}}/backups"
  retention = "1d"
}

primary "pg" {
  engine        = "postgres"
  connection    = env("PG_PRIMARY")
  backup_folder = backup_folder.local
  full_backup { every = "{{FULL}}" }
  log_backup { every = "1s" }
  rpo = "1m"
}

target "dr" {
  primary    = primary.pg
  connection = env("PG_DR")
  data_dir   = "{{ROOT}}/dr"
  destination { url = "file://{{ROOT}}/dr-ship" }
}

target "reporting" {
  primary    = primary.pg
  connection = env("PG_REPORTING")
  data_dir   = "{{ROOT}}/reporting"
  destination { url = "{{S3}}" }
}
`

// pgBinary is drsctl built once for every PostgreSQL test (with -race),
// where the postgres user can run it: a standby's restore_command runs
// drsctl wal-fetch as postgres.
var pgBinary struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if pgBinary.path != "" {
		os.RemoveAll(filepath.Dir(pgBinary.path))
	}
	os.Exit(code)
}

func pgDrsctl(t *testing.T) string {
	t.Helper()
	pgBinary.once.Do(func() {
		dir, err := os.MkdirTemp("", "drsctl-pg-bin-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			pgBinary.err = err
			return
		}
		pgBinary.path = filepath.Join(dir, "drsctl")
		start := time.Now()
		if out, err := exec.Command("go", "build", "-race", "-o", pgBinary.path, "github.com/drsctl/drsctl/cmd/drsctl").CombinedOutput(); err != nil {
			pgBinary.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		t.Logf("built drsctl in %s", time.Since(start).Round(time.Millisecond))
	})
	if pgBinary.err != nil {
		t.Fatal(pgBinary.err)
	}
	return pgBinary.path
}

type pgWorld struct {
	t       *testing.T
	root    string
	bin     string
	cfgDir  string
	primary *pgtest.Cluster
	dsn     map[string]string // by target name, and "pg"
	env     []string
}

func newPGWorld(t *testing.T) *pgWorld {
	t.Helper()
	return newPGWorldFulls(t, "24h")
}

// newPGWorldFulls is newPGWorld with full backups every fullEvery.
func newPGWorldFulls(t *testing.T, fullEvery string) *pgWorld {
	t.Helper()
	t.Parallel()
	primary := pgtest.NewPrimary(t)
	senv := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY")
	unique := fmt.Sprintf("drsctl-pg-%d", time.Now().UnixNano())
	s3q := url.Values{"endpoint": {senv["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	s3URL := "s3://" + unique + "/reporting?" + s3q.Encode()
	createBucket(t, senv, unique)

	w := &pgWorld{t: t, root: pgtest.Dir(t), primary: primary, dsn: map[string]string{"pg": primary.DSN}}
	for _, name := range []string{"dr", "reporting"} {
		w.dsn[name] = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", pgtest.FreePort(t))
		dataDir := filepath.Join(w.root, name)
		t.Cleanup(func() { pgtest.StopAt(t, dataDir) })
	}
	w.bin = pgDrsctl(t)
	w.cfgDir = filepath.Join(w.root, "cfg")
	if err := os.Mkdir(w.cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("{{ROOT}}", w.root, "{{S3}}", s3URL, "{{FULL}}", fullEvery).Replace(pgConfig)
	if err := os.WriteFile(filepath.Join(w.cfgDir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The storage credentials go to drsctl's environment only: the tests
	// run in parallel, and the test process's environment is shared.
	w.env = append(os.Environ(), "PG_PRIMARY="+w.dsn["pg"], "PG_DR="+w.dsn["dr"], "PG_REPORTING="+w.dsn["reporting"],
		"AWS_ACCESS_KEY_ID="+senv["DRSCTL_TEST_S3_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY="+senv["DRSCTL_TEST_S3_SECRET_KEY"],
		"AWS_REGION=us-east-1", "AWS_CONFIG_FILE="+os.DevNull, "AWS_SHARED_CREDENTIALS_FILE="+os.DevNull,
		"AWS_SESSION_TOKEN=", "AWS_PROFILE=", "AWS_ENDPOINT_URL=", "AWS_ENDPOINT_URL_S3=")
	return w
}

// drsctl runs the binary in the configuration's directory and returns its
// exit code and combined output.
func (w *pgWorld) drsctl(args ...string) (int, string) {
	w.t.Helper()
	cmd := exec.Command(w.bin, append([]string{"-chdir", w.cfgDir, "-no-color"}, args...)...)
	cmd.Env = w.env
	cmd.Stdin = strings.NewReader("")
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return code, string(out)
}

// apply runs apply and fails the test unless it succeeds.
func (w *pgWorld) apply(why string) string {
	w.t.Helper()
	code, out := w.drsctl("apply", "-auto-approve")
	if code != 0 {
		w.t.Fatalf("%s: apply exited %d:\n%s%s", why, code, out, w.serverLogs())
	}
	w.t.Logf("%s: apply:\n%s", why, out)
	return out
}

func (w *pgWorld) serverLogs() string {
	var b strings.Builder
	for _, name := range []string{"dr", "reporting"} {
		if data, err := os.ReadFile(filepath.Join(w.root, name+".drsctl", "postgres.log")); err == nil {
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) > 30 {
				lines = lines[len(lines)-30:]
			}
			fmt.Fprintf(&b, "\n--- %s's postgres.log (last lines):\n%s\n", name, strings.Join(lines, "\n"))
		}
	}
	return b.String()
}

func (w *pgWorld) conn(name string) *pgx.Conn {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, w.dsn[name])
	if err != nil {
		w.t.Fatalf("connect to %s: %v%s", name, err, w.serverLogs())
	}
	w.t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (w *pgWorld) exec(name, sql string) error {
	c := w.conn(name)
	_, err := c.Exec(context.Background(), sql)
	return err
}

func (w *pgWorld) count(name string) int {
	w.t.Helper()
	var n int
	if err := w.conn(name).QueryRow(context.Background(), `SELECT count(*) FROM orders`).Scan(&n); err != nil {
		w.t.Fatalf("count rows on %s: %v", name, err)
	}
	return n
}

// due waits until a log backup is due again (log_backup.every = 1s).
func due() { time.Sleep(1100 * time.Millisecond) }

func TestPostgres_SeedShipReadOnly(t *testing.T) {
	w := newPGWorld(t)
	if err := w.exec("pg", `CREATE TABLE orders (id serial PRIMARY KEY, what text); INSERT INTO orders (what) SELECT 'seed ' || g FROM generate_series(1, 100) g`); err != nil {
		t.Fatal(err)
	}
	w.apply("first apply: base backup, seed both standbys")
	due()
	w.apply("second apply: the first log backup makes both standbys consistent")
	for _, name := range []string{"dr", "reporting"} {
		if n := w.count(name); n != 100 {
			t.Errorf("%s has %d rows after the first log backup, want 100", name, n)
		}
	}

	if err := w.exec("pg", `INSERT INTO orders (what) SELECT 'later ' || g FROM generate_series(1, 25) g`); err != nil {
		t.Fatal(err)
	}
	due()
	w.apply("a due log backup")
	for _, name := range []string{"dr", "reporting"} {
		if n := w.count(name); n != 125 {
			t.Errorf("%s has %d rows after the next log backup, want 125", name, n)
		}
		err := w.exec(name, `INSERT INTO orders (what) VALUES ('on a standby')`)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
			t.Errorf("a write on %s: %v, want SQLSTATE 25006 (read-only transaction)", name, err)
		}
	}
	// A copy deleted at a destination (someone's cleanup job) after it
	// was shipped and before it was restored: the next apply sees it gone
	// before the standby needs it, ships it again and restores it.
	if err := w.exec("pg", `INSERT INTO orders (what) SELECT 'deleted copy ' || g FROM generate_series(1, 10) g`); err != nil {
		t.Fatal(err)
	}
	due()
	if err := w.start("DRSCTL_FAILPOINT=verify-before-record").Wait(); err == nil {
		t.Fatal("apply with a failpoint did not stop")
	}
	deleted := newestFile(t, filepath.Join(w.root, "dr-ship"), ".trn")
	if err := os.Remove(deleted); err != nil {
		t.Fatal(err)
	}
	out := w.apply("after a shipped copy was deleted")
	if !strings.Contains(out, filepath.Base(deleted)) || !strings.Contains(out, "missing") {
		t.Errorf("the apply after %s was deleted at dr's destination does not say it was missing and shipped again:\n%s", filepath.Base(deleted), out)
	}
	for _, name := range []string{"dr", "reporting"} {
		if n := w.count(name); n != 135 {
			t.Errorf("%s has %d rows after the deleted copy was shipped again, want 135", name, n)
		}
	}

	// Someone moves drsctl's replication slot on by hand (a script that
	// "cleans up" slots): the WAL since the last log backup is released.
	// The log backup that finds it gone fails and says so; the next apply
	// starts a new chain with a full backup and seeds both standbys again.
	if err := w.exec("pg", `INSERT INTO orders (what) SELECT 'lost ' || g FROM generate_series(1, 7) g;
		SELECT pg_switch_wal(); SELECT pg_replication_slot_advance(slot_name, pg_current_wal_lsn()) FROM pg_replication_slots WHERE slot_name LIKE 'drsctl%'; CHECKPOINT`); err != nil {
		t.Fatal(err)
	}
	due()
	if code, out := w.drsctl("apply", "-auto-approve"); code != 1 || !strings.Contains(out, "next apply starts a new chain with a full backup") {
		t.Fatalf("the apply after the slot was moved on: exit %d, want 1 saying a new chain starts:\n%s", code, out)
	}
	out = w.apply("a new chain after the slot was moved on")
	if !strings.Contains(out, "+ base backup") || !strings.Contains(out, "can no longer continue the log chain") {
		t.Errorf("the apply after a lost chain does not take a full backup and say why:\n%s", out)
	}
	w.converge(1, "the new chain's first log backup")
	for _, name := range []string{"dr", "reporting"} {
		if n := w.count(name); n != 142 {
			t.Errorf("%s has %d rows on the new chain, want 142", name, n)
		}
	}

	code, out := w.drsctl("status")
	if code != 0 {
		t.Errorf("status exited %d:\n%s", code, out)
	}
	t.Logf("status:\n%s", out)
}

// start runs drsctl apply in the background.
func (w *pgWorld) start(extraEnv ...string) *exec.Cmd {
	w.t.Helper()
	cmd := exec.Command(w.bin, "-chdir", w.cfgDir, "-no-color", "apply", "-auto-approve")
	cmd.Env = append(append([]string{}, w.env...), extraEnv...)
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	return cmd
}

// killWhenWriting SIGKILLs cmd as soon as a file is being written under
// dir (fileblob's temporary *.tmp), and reports whether it caught one.
func killWhenWriting(t *testing.T, cmd *exec.Cmd, dir string) bool {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Logf("apply ended before a write was seen under %s: %v", dir, err)
			return false
		default:
		}
		caught := false
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".tmp") {
				if fi, err := d.Info(); err == nil && fi.Size() > 0 {
					caught = true
				}
			}
			return nil
		})
		if caught {
			_ = cmd.Process.Kill()
			<-done
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-done
	t.Fatalf("no write under %s within 2 minutes", dir)
	return false
}

// converge applies until nothing is due but the next log backup, at most n
// times, and returns the last output.
func (w *pgWorld) converge(n int, why string) {
	w.t.Helper()
	for i := 0; i < n; i++ {
		due()
		w.apply(fmt.Sprintf("%s (%d)", why, i+1))
	}
}

// TestPostgres_KilledMidShip kills drsctl (SIGKILL, as the OOM killer or a
// node drain would) while a base backup streams into the backup folder,
// while a WAL backup ships, and between a ship and its record, then applies
// again: the standbys converge with every row, and no WAL segment appears
// twice with different content anywhere drsctl stored it.
func TestPostgres_KilledMidShip(t *testing.T) {
	w := newPGWorld(t)
	// Big enough that the base backup takes a while to stream.
	if err := w.exec("pg", `CREATE TABLE orders (id serial PRIMARY KEY, what text);
		INSERT INTO orders (what) SELECT repeat(md5(g::text), 20) FROM generate_series(1, 80000) g`); err != nil {
		t.Fatal(err)
	}
	if !killWhenWriting(t, w.start(), filepath.Join(w.root, "backups")) {
		t.Fatal("the base backup finished before it could be killed")
	}
	w.converge(3, "after a kill during the base backup")
	want := w.count("pg")
	for _, name := range []string{"dr", "reporting"} {
		if n := w.count(name); n != want {
			t.Errorf("%s has %d rows, want %d", name, n, want)
		}
	}

	// SIGKILL while a WAL backup of several segments streams into the
	// backup folder, then while it ships to dr's destination.
	for _, where := range []string{"backups", "dr-ship"} {
		if err := w.exec("pg", `INSERT INTO orders (what) SELECT repeat(md5(g::text), 20) FROM generate_series(1, 30000) g`); err != nil {
			t.Fatal(err)
		}
		due()
		if !killWhenWriting(t, w.start(), filepath.Join(w.root, where)) {
			t.Fatalf("the WAL backup finished before it could be killed while writing under %s", where)
		}
		w.converge(2, "after a kill while writing WAL under "+where)
		want := w.count("pg")
		for _, name := range []string{"dr", "reporting"} {
			if n := w.count(name); n != want {
				t.Errorf("after a kill while writing WAL under %s: %s has %d rows, want %d", where, name, n, want)
			}
		}
	}

	// A WAL backup killed at each step between the server and the ledger.
	for i, fp := range []string{"backup-before-record", "ship-before-record", "restore-log-before-record"} {
		if err := w.exec("pg", fmt.Sprintf(`INSERT INTO orders (what) SELECT 'round %d ' || g FROM generate_series(1, 1000) g`, i)); err != nil {
			t.Fatal(err)
		}
		due()
		cmd := w.start("DRSCTL_FAILPOINT=" + fp)
		if err := cmd.Wait(); err == nil {
			t.Fatalf("apply with failpoint %s did not stop", fp)
		}
		w.converge(2, "after failpoint "+fp)
		want := w.count("pg")
		for _, name := range []string{"dr", "reporting"} {
			if n := w.count(name); n != want {
				t.Errorf("after failpoint %s: %s has %d rows, want %d", fp, name, n, want)
			}
		}
	}
	checkSegmentsAgree(t, filepath.Join(w.root, "backups"), filepath.Join(w.root, "dr-ship"))
}

// checkSegmentsAgree reads every PostgreSQL log backup under dirs and fails
// when one WAL segment was stored twice with different content.
func checkSegmentsAgree(t *testing.T, dirs ...string) {
	t.Helper()
	seen := map[string][32]byte{}
	where := map[string]string{}
	logs, segments := 0, 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".trn") {
				return err
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			logs++
			return postgres.ReadLog(f, func(name string, seg io.Reader) error {
				h := sha256.New()
				if _, err := io.Copy(h, seg); err != nil {
					return err
				}
				var sum [32]byte
				copy(sum[:], h.Sum(nil))
				segments++
				if prev, ok := seen[name]; ok && prev != sum {
					t.Errorf("WAL segment %s differs between %s and %s", name, where[name], p)
				}
				seen[name], where[name] = sum, p
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if logs == 0 {
		t.Fatalf("no log backups under %v", dirs)
	}
	t.Logf("%d log backups, %d segments (%d distinct), no two different", logs, segments, len(seen))
}

// newestFile is the most recently modified file under dir with the suffix.
func newestFile(t *testing.T, dir, suffix string) string {
	t.Helper()
	var newest string
	var at time.Time
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, suffix) {
			return err
		}
		fi, err := d.Info()
		if err == nil && fi.ModTime().After(at) {
			newest, at = p, fi.ModTime()
		}
		return err
	})
	if err != nil || newest == "" {
		t.Fatalf("no %s file under %s (%v)", suffix, dir, err)
	}
	return newest
}

// TestPostgres_SwitchoverAndFailover: a planned switchover stops writes on
// the primary, ships the last WAL and promotes, losing no row; an unplanned
// promote of the other standby makes it writable with what was shipped.
func TestPostgres_SwitchoverAndFailover(t *testing.T) {
	w := newPGWorld(t)
	if err := w.exec("pg", `CREATE TABLE orders (id serial PRIMARY KEY, what text); INSERT INTO orders (what) SELECT 'seed ' || g FROM generate_series(1, 100) g`); err != nil {
		t.Fatal(err)
	}
	w.converge(2, "seed")
	// Written after the last log backup: only the switchover's last WAL
	// carries these.
	if err := w.exec("pg", `INSERT INTO orders (what) SELECT 'just before ' || g FROM generate_series(1, 42) g`); err != nil {
		t.Fatal(err)
	}
	want := w.count("pg")
	// The first switchover is killed once its final WAL backup is stored
	// (the primary already read-only): promote -planned again finishes it.
	cmd := exec.Command(w.bin, "-chdir", w.cfgDir, "-no-color", "promote", "reporting", "-planned", "-disconnect-users", "-auto-approve")
	cmd.Env = append(append([]string{}, w.env...), "DRSCTL_FAILPOINT=backup-before-record")
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("a switchover with a failpoint did not stop:\n%s", out)
	}
	code, out := w.drsctl("promote", "reporting", "-planned", "-disconnect-users", "-auto-approve")
	if code != 0 {
		t.Fatalf("promote -planned exited %d:\n%s%s", code, out, w.serverLogs())
	}
	t.Logf("promote -planned:\n%s", out)
	// PostgreSQL's words, LSNs as the server writes them (0/5000000).
	for _, w := range []string{"backup WAL (final), primary made read-only", "replay WAL", "promote (switchover) pg_promote()", "The primary is left read-only (default_transaction_read_only)"} {
		if !strings.Contains(out, w) {
			t.Errorf("promote -planned does not say %q", w)
		}
	}
	for _, w := range []string{"NORECOVERY", "WITH STANDBY", "WITH RECOVERY", "RESTORING", "tail-log", "readers of"} {
		if strings.Contains(out, w) {
			t.Errorf("promote -planned speaks SQL Server to a PostgreSQL operator: %q", w)
		}
	}
	if _, rest, _ := strings.Cut(out, "promoted (switchover) at LSN "); !strings.Contains(strings.SplitN(rest, " ", 2)[0], "/") {
		t.Errorf("promote -planned does not give the LSN as PostgreSQL writes it (X/Y)")
	}
	if n := w.count("reporting"); n != want {
		t.Errorf("after the switchover reporting has %d rows, want %d: the switchover lost writes", n, want)
	}
	if err := w.exec("reporting", `INSERT INTO orders (what) VALUES ('on the new primary')`); err != nil {
		t.Errorf("a write on the promoted reporting: %v", err)
	}
	err := w.exec("pg", `INSERT INTO orders (what) VALUES ('on the old primary')`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Errorf("a write on the old primary after the switchover: %v, want SQLSTATE 25006 (read-only)", err)
	}

	code, out = w.drsctl("promote", "dr", "-auto-approve")
	if code != 0 {
		t.Fatalf("promote (failover) exited %d:\n%s%s", code, out, w.serverLogs())
	}
	t.Logf("promote:\n%s", out)
	if _, rest, _ := strings.Cut(out, ") at LSN "); !strings.Contains(out, "promote (failover) pg_promote()") || !strings.Contains(strings.SplitN(rest, " ", 2)[0], "/") || strings.Contains(out, "WITH RECOVERY") {
		t.Errorf("promote (failover) does not speak PostgreSQL (pg_promote(), an X/Y LSN)")
	}
	if err := w.exec("dr", `INSERT INTO orders (what) VALUES ('on dr after failover')`); err != nil {
		t.Errorf("a write on dr after failover: %v", err)
	}
	if n := w.count("dr"); n < 100 {
		t.Errorf("dr has %d rows after failover, want at least the 100 shipped before", n)
	}
}

// createBucket creates the test's own bucket on the test S3 server.
func createBucket(t *testing.T, env map[string]string, name string) {
	t.Helper()
	c := s3.New(s3.Options{Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String(env["DRSCTL_TEST_S3_ENDPOINT"]),
		Credentials: credentials.NewStaticCredentialsProvider(env["DRSCTL_TEST_S3_ACCESS_KEY"], env["DRSCTL_TEST_S3_SECRET_KEY"], "")})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
}
