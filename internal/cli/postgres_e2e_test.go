package cli_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
  full_backup { every = "24h" }
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
	primary := pgtest.NewPrimary(t)
	senv := testenv.Lookup(t, "DRSCTL_TEST_S3_ENDPOINT", "DRSCTL_TEST_S3_ACCESS_KEY", "DRSCTL_TEST_S3_SECRET_KEY",
		"DRSCTL_TEST_AZURE_DOMAIN", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	useTestStorageCredentials(t, senv)
	unique := fmt.Sprintf("drsctl-pg-%d", time.Now().UnixNano())
	s3q := url.Values{"endpoint": {senv["DRSCTL_TEST_S3_ENDPOINT"]}, "use_path_style": {"true"}, "region": {"us-east-1"}, "disable_https": {"true"}}
	s3URL := "s3://" + unique + "/reporting?" + s3q.Encode()
	azURL := "azblob://" + unique + "/unused?" + url.Values{"protocol": {"http"}, "domain": {senv["DRSCTL_TEST_AZURE_DOMAIN"]}}.Encode()
	createBucketAndContainer(t, s3URL, azURL)

	w := &pgWorld{t: t, root: pgtest.Dir(t), primary: primary, dsn: map[string]string{"pg": primary.DSN}}
	for _, name := range []string{"dr", "reporting"} {
		w.dsn[name] = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", pgtest.FreePort(t))
		dataDir := filepath.Join(w.root, name)
		t.Cleanup(func() { pgtest.StopAt(t, dataDir) })
	}
	// The standby's restore_command runs drsctl as postgres: the binary
	// must be where postgres can run it.
	built := buildDrsctl(t)
	w.bin = filepath.Join(w.root, "drsctl")
	copyExecutable(t, built, w.bin)
	w.cfgDir = filepath.Join(w.root, "cfg")
	if err := os.Mkdir(w.cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("{{ROOT}}", w.root, "{{S3}}", s3URL).Replace(pgConfig)
	if err := os.WriteFile(filepath.Join(w.cfgDir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	w.env = append(os.Environ(), "PG_PRIMARY="+w.dsn["pg"], "PG_DR="+w.dsn["dr"], "PG_REPORTING="+w.dsn["reporting"])
	return w
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
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
	code, out := w.drsctl("status")
	if code != 0 {
		t.Errorf("status exited %d:\n%s", code, out)
	}
	t.Logf("status:\n%s", out)
}
