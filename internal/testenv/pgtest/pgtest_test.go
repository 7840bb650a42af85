package pgtest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func connect(t *testing.T, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// copyFile copies src to dst (readable by postgres).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPrimaryToStandbyThroughShippedSegments proves the environment end to
// end, the way log shipping will use it: a base backup without WAL, a hot
// standby that only sees segments copied into its WAL directory, a row
// committed on the primary visible on the standby once the segment holding
// it is shipped — and not before — and a standby that refuses writes.
func TestPrimaryToStandbyThroughShippedSegments(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := NewPrimary(t)
	pc := connect(t, ctx, p.DSN)
	if _, err := pc.Exec(ctx, `CREATE TABLE t (id int primary key, note text)`); err != nil {
		t.Fatal(err)
	}
	base := p.BaseBackup(t)

	walDir := Dir(t)
	// Ship what the base backup needs: every segment archived so far (the
	// backup's own end is archived by pg_basebackup's final switch).
	ship := func() int {
		entries, err := os.ReadDir(p.ArchiveDir)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range entries {
			dst := filepath.Join(walDir, e.Name())
			if _, err := os.Stat(dst); err == nil {
				continue
			}
			copyFile(t, filepath.Join(p.ArchiveDir, e.Name()), dst)
			n++
		}
		return n
	}
	waitArchived(t, ctx, pc, p.ArchiveDir)
	ship()
	s := NewStandbyFrom(t, base, walDir)
	sc := connect(t, ctx, s.DSN)

	var inRecovery bool
	if err := sc.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("standby: pg_is_in_recovery() = %v, %v; want true", inRecovery, err)
	}

	if _, err := pc.Exec(ctx, `INSERT INTO t VALUES (1, 'shipped')`); err != nil {
		t.Fatal(err)
	}
	// Not shipped yet: the standby must not have it (it only reads walDir).
	time.Sleep(500 * time.Millisecond)
	if n := count(t, ctx, sc); n != 0 {
		t.Fatalf("standby sees %d rows before the segment holding them was shipped", n)
	}

	waitArchived(t, ctx, pc, p.ArchiveDir)
	if n := ship(); n == 0 {
		t.Fatal("pg_switch_wal archived no new segment")
	}
	t0 := time.Now()
	for count(t, ctx, sc) != 1 {
		if time.Since(t0) > 10*time.Second {
			t.Fatalf("row committed on the primary not visible on the standby 10s after its segment was shipped")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("row visible on the standby %v after shipping", time.Since(t0).Round(time.Millisecond))

	_, err := sc.Exec(ctx, `INSERT INTO t VALUES (2, 'on the standby')`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
		t.Fatalf("write on the standby: %v; want SQLSTATE 25006 (read-only transaction)", err)
	}
}

func count(t *testing.T, ctx context.Context, c *pgx.Conn) int {
	t.Helper()
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
		if strings.Contains(err.Error(), `relation "t" does not exist`) {
			return 0
		}
		t.Fatal(err)
	}
	return n
}

// waitArchived closes the current segment and waits until the archiver has
// copied it into dir.
func waitArchived(t *testing.T, ctx context.Context, c *pgx.Conn, dir string) {
	t.Helper()
	var name string
	if err := c.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&name); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived into %s within 20s", name, dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
