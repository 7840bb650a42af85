package sqlsim

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	mssql "github.com/microsoft/go-mssqldb"
)

// bigLSN is above 2^64: LSNs must never pass through int64/uint64.
const bigLSN = "98765432109876543210001"

func startSim(t *testing.T, o Options) *Server {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	srv, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func openDB(t *testing.T, srv *Server, database string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", srv.DSN(database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// conn is one dedicated session, so tests control which session does what.
func conn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func mustExec(t *testing.T, e execer, q string, args ...any) {
	t.Helper()
	if _, err := e.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// sqlErr runs q and returns the server's error (failing if there is none).
func sqlErr(t *testing.T, e execer, q string, args ...any) mssql.Error {
	t.Helper()
	_, err := e.ExecContext(context.Background(), q, args...)
	if err == nil {
		t.Fatalf("%s: succeeded, want an error", q)
	}
	var me mssql.Error
	if !errors.As(err, &me) {
		t.Fatalf("%s: error %T %v is not an mssql.Error", q, err, err)
	}
	return me
}

// wantErr checks the numbers of every message in the error, cause first.
func wantErr(t *testing.T, me mssql.Error, numbers ...int32) {
	t.Helper()
	all := me.All
	if len(all) == 0 {
		all = []mssql.Error{me}
	}
	var got []int32
	for _, e := range all {
		got = append(got, e.Number)
	}
	if len(got) != len(numbers) {
		t.Fatalf("error numbers %v, want %v (%v)", got, numbers, me)
	}
	for i := range got {
		if got[i] != numbers[i] {
			t.Fatalf("error numbers %v, want %v (%v)", got, numbers, me)
		}
	}
	if me.Number != numbers[len(numbers)-1] {
		t.Fatalf("last error %d, want %d", me.Number, numbers[len(numbers)-1])
	}
}

func errText(me mssql.Error, i int) string {
	if len(me.All) == 0 {
		return me.Message
	}
	return me.All[i].Message
}

func wantText(t *testing.T, got, want string) {
	t.Helper()
	if got != want {
		t.Fatalf("message\n got: %s\nwant: %s", got, want)
	}
}

func wantContains(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Fatalf("message %q does not contain %q", got, want)
	}
}

func queryString(t *testing.T, e execer, q string, args ...any) sql.NullString {
	t.Helper()
	var s sql.NullString
	if err := e.QueryRowContext(context.Background(), q, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

func queryInt(t *testing.T, e execer, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := e.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// header is the part of RESTORE HEADERONLY the tests look at.
type header struct {
	BackupType                                       int
	DatabaseName, ServerName, RecoveryModel          string
	FirstLSN, LastLSN, CheckpointLSN, DatabaseBackup string
	Start, Finish                                    time.Time
	Checksums, CopyOnly                              bool
	BackupSetGUID, FamilyGUID                        mssql.UniqueIdentifier
}

func headerOf(t *testing.T, e execer, path string) header {
	t.Helper()
	rows, err := e.QueryContext(context.Background(), "RESTORE HEADERONLY FROM DISK = @p1", path)
	if err != nil {
		t.Fatalf("HEADERONLY %s: %v", path, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatalf("HEADERONLY %s: no row", path)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	var h header
	for i, c := range cols {
		v := vals[i]
		switch c {
		case "BackupType":
			h.BackupType = int(v.(int64))
		case "DatabaseName":
			h.DatabaseName = v.(string)
		case "ServerName":
			h.ServerName = v.(string)
		case "RecoveryModel":
			h.RecoveryModel = v.(string)
		case "FirstLSN":
			h.FirstLSN = string(v.([]byte))
		case "LastLSN":
			h.LastLSN = string(v.([]byte))
		case "CheckpointLSN":
			h.CheckpointLSN = string(v.([]byte))
		case "DatabaseBackupLSN":
			h.DatabaseBackup = string(v.([]byte))
		case "BackupStartDate":
			h.Start = v.(time.Time)
		case "BackupFinishDate":
			h.Finish = v.(time.Time)
		case "HasBackupChecksums":
			h.Checksums = v.(bool)
		case "IsCopyOnly":
			h.CopyOnly = v.(bool)
		case "BackupSetGUID":
			if err := h.BackupSetGUID.Scan(v); err != nil {
				t.Fatal(err)
			}
		case "FamilyGUID":
			if err := h.FamilyGUID.Scan(v); err != nil {
				t.Fatal(err)
			}
		}
	}
	return h
}

// quoteIdent and quoteString are how the engine is meant to quote.
func quoteIdent(s string) string  { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }
func quoteString(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }

func bakPath(dir, name string) string { return filepath.Join(dir, name) }
