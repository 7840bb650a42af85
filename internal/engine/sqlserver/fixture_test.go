package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// bigLSNBase starts LSNs above 2^63 (and 2^64): they must never pass
// through an int64.
const bigLSNBase = "98765432109876543210000"

// fixture is a primary, a standby target and the places both use: two
// simulators here, or real servers (realserver_test.go).
type fixture struct {
	primaryDSN, targetDSN string
	primary, target       *sql.DB // administration and checks, beside the engine
	backupDir             string  // where backups go, as both servers see it
	undoDir               string  // where STANDBY undo files go (on the target)
	dataDir, logDir       string  // MOVE targets on the target; "" for no MOVE
	// createProbe makes dbo.drs_probe(id int, note nvarchar(200)) in a new
	// database (the simulator has it built in).
	createProbe func(t *testing.T, db string)
	sims        []*sqlsim.Server
}

type simOptions struct {
	stepDelay time.Duration
	password  string
	now       func() time.Time // both simulators' clock; nil: time.Now
	// The primary's time zone (IANA), major version, HEADERONLY TimeZone
	// and msdb time_zone 127 (sqlsim.Options).
	primaryZone, primaryHeaderZone string
	primaryVersion                 int
	unknownZone                    bool
	targetVersion                  int // the standby's major version (sqlsim.Options.MajorVersion)
}

func simFixture(t *testing.T, o simOptions) *fixture {
	t.Helper()
	start := func(name string) *sqlsim.Server {
		opts := sqlsim.Options{Addr: "127.0.0.1:0", DataDir: t.TempDir(), LSNBase: bigLSNBase,
			Name: name, StepDelay: o.stepDelay, Password: o.password, Now: o.now, Logf: t.Logf}
		if name == "PRIMARY" {
			opts.TimeZone, opts.HeaderTimeZone, opts.MajorVersion, opts.UnknownTimeZone = o.primaryZone, o.primaryHeaderZone, o.primaryVersion, o.unknownZone
		} else {
			opts.MajorVersion = o.targetVersion
		}
		srv, err := sqlsim.Start(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	p, s := start("PRIMARY"), start("STANDBY")
	f := &fixture{
		primaryDSN: p.DSN(""), targetDSN: s.DSN(""),
		backupDir: t.TempDir(), undoDir: t.TempDir(), dataDir: t.TempDir(), logDir: t.TempDir(),
		createProbe: func(*testing.T, string) {},
		sims:        []*sqlsim.Server{p, s},
	}
	f.primary, f.target = openDB(t, f.primaryDSN), openDB(t, f.targetDSN)
	return f
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func open(t *testing.T, dsn string) engine.Session {
	t.Helper()
	s, err := New().Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func exec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// createDatabase makes a FULL-recovery database with the probe table on the
// primary.
func (f *fixture) createDatabase(t *testing.T, name string) {
	t.Helper()
	exec(t, f.primary, "CREATE DATABASE "+quoteIdent(name))
	exec(t, f.primary, "ALTER DATABASE "+quoteIdent(name)+" SET RECOVERY FULL")
	f.createProbe(t, name)
}

func insert(t *testing.T, db *sql.DB, database string, id int) {
	t.Helper()
	exec(t, db, "INSERT INTO "+quoteIdent(database)+".dbo.drs_probe (id, note) VALUES (@p1, @p2)", id, fmt.Sprintf("row %d", id))
}

func countRows(t *testing.T, db *sql.DB, database string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+quoteIdent(database)+".dbo.drs_probe").Scan(&n); err != nil {
		t.Fatalf("count rows of %s: %v", database, err)
	}
	return n
}

func (f *fixture) path(name string) string { return joinServerPath(f.backupDir, name) }

func (f *fixture) backup(t *testing.T, s engine.Session, db string, kind artifact.Kind, file string) artifact.Header {
	t.Helper()
	h, err := s.Backup(context.Background(), engine.BackupRequest{Database: db, Kind: kind, ServerPath: f.path(file), Compression: true}, engine.NoProgress)
	if err != nil {
		t.Fatalf("backup %s of %s: %v", kind, db, err)
	}
	return h
}

func (f *fixture) restoreRequest(db string, kind artifact.Kind, file string, mode engine.RestoreMode) engine.RestoreRequest {
	req := engine.RestoreRequest{Database: db, Kind: kind, ServerPath: f.path(file), Mode: mode}
	if mode == engine.StandbyMode {
		req.UndoFile = joinServerPath(f.undoDir, sanitizeFileName(db)+".tuf")
	}
	if kind == artifact.Full {
		req.DataDir, req.LogDir = f.dataDir, f.logDir
	}
	return req
}

func (f *fixture) restore(t *testing.T, s engine.Session, req engine.RestoreRequest) {
	t.Helper()
	if err := s.Restore(context.Background(), req, engine.NoProgress); err != nil {
		t.Fatalf("restore %s of %s: %v", req.Kind, req.Database, err)
	}
}

func standbyOf(t *testing.T, s engine.Session, db string) engine.StandbyDatabase {
	t.Helper()
	got, err := s.ObserveStandby(context.Background(), []string{db})
	if err != nil {
		t.Fatalf("observe standby %s: %v", db, err)
	}
	if len(got) != 1 || got[0].Name != db {
		t.Fatalf("observe standby %s: %+v", db, got)
	}
	return got[0]
}

func primaryOf(t *testing.T, s engine.Session, db string, since time.Time) engine.PrimaryDatabase {
	t.Helper()
	got, err := s.ObservePrimary(context.Background(), []string{db}, since)
	if err != nil {
		t.Fatalf("observe primary %s: %v", db, err)
	}
	if len(got) != 1 || got[0].Name != db {
		t.Fatalf("observe primary %s: %+v", db, got)
	}
	return got[0]
}

// sqlNumber is the SQL Server error number err carries (0 if none).
func sqlNumber(err error) int32 {
	var me mssql.Error
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func mustContinue(t *testing.T, prev, next artifact.Header) {
	t.Helper()
	if ok, why := artifact.Continues(prev, next); !ok {
		t.Fatalf("log %s..%s does not continue %s %s..%s: %s", next.FirstLSN, next.LastLSN, prev.Kind, prev.FirstLSN, prev.LastLSN, why)
	}
}

func wantContains(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
}

func aboveInt64(l artifact.LSN) bool {
	n, ok := new(big.Int).SetString(string(l), 10)
	return ok && n.Cmp(new(big.Int).SetUint64(1<<63)) > 0
}

// steps records progress.
type steps struct {
	mu       sync.Mutex
	percents []int
	texts    []string
	notify   chan struct{}
}

func (p *steps) Step(percent int, text string) {
	p.mu.Lock()
	p.percents = append(p.percents, percent)
	p.texts = append(p.texts, text)
	p.mu.Unlock()
	if p.notify != nil {
		select {
		case p.notify <- struct{}{}:
		default:
		}
	}
}

func (p *steps) got() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.percents...)
}
