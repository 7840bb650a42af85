package basebackup

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"

	"github.com/drsctl/drsctl/internal/testenv/pgtest"
)

// fileSink writes the artifact to path.
func fileSink(path string) func() (io.WriteCloser, error) {
	return func() (io.WriteCloser, error) { return os.Create(path) }
}

func fileSHA(t *testing.T, p string) (string, int64) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

func unpackFile(t *testing.T, artifact, dir string) error {
	t.Helper()
	f, err := os.Open(artifact)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	return Unpack(f, dir)
}

// A base backup taken while rows are being inserted, unpacked into a fresh
// directory and verified, starts as a hot standby that replays the
// primary's archived WAL: every row committed before the last switch is
// there. Its LSNs and timeline are the manifest's WAL range, and its size
// and checksum are the artifact's.
func TestTakeWhileInsertingStartsAStandby(t *testing.T) {
	p := pgtest.NewPrimary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := pgtest.SQLConn(t, ctx, p.DSN)
	pgtest.Exec(t, ctx, db, `CREATE TABLE t (id int PRIMARY KEY, pad text)`)
	pgtest.Exec(t, ctx, db, `INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`)

	// Insert concurrently with the backup.
	var inserted atomic.Int64
	inserted.Store(20000)
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		w, err := pgx.Connect(ctx, p.DSN)
		if err != nil {
			writerDone <- err
			return
		}
		defer func() { _ = w.Close(context.Background()) }()
		for {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			n := inserted.Load() + 1
			if _, err := w.Exec(ctx, `INSERT INTO t VALUES ($1, 'during')`, n); err != nil {
				writerDone <- err
				return
			}
			inserted.Store(n)
		}
	}()

	artifact := filepath.Join(t.TempDir(), "base.tar")
	before := inserted.Load()
	res, err := Take(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl test", fileSink(artifact))
	during := inserted.Load() - before
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	if during == 0 {
		t.Fatal("no row was inserted during the backup: the test does not test what it says")
	}
	t.Logf("result %+v, %d rows inserted during the backup", res, during)

	sum, size := fileSHA(t, artifact)
	if sum != res.SHA256 || size != res.Size {
		t.Fatalf("artifact is %d bytes %s; Take said %d bytes %s", size, sum, res.Size, res.SHA256)
	}

	dir := filepath.Join(pgtest.Dir(t), "restore")
	if err := unpackFile(t, artifact, dir); err != nil {
		t.Fatal(err)
	}
	if err := Verify(dir); err != nil {
		t.Fatal(err)
	}
	// pg_verifybackup agrees (no WAL: -n).
	if out, err := exec.Command(filepath.Join(pgtest.Bin(t), "pg_verifybackup"), "-n", dir).CombinedOutput(); err != nil {
		t.Fatalf("pg_verifybackup -n: %v\n%s", err, out)
	}

	mb, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256(mb)); got != res.ManifestSHA256 {
		t.Fatalf("manifest checksum %s, Take said %s", got, res.ManifestSHA256)
	}
	m, err := ParseManifest(mb)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.WALRanges) != 1 {
		t.Fatalf("manifest WAL-Ranges: %+v", m.WALRanges)
	}
	wr := m.WALRanges[0]
	if wr.StartLSN != res.StartLSN.String() || wr.EndLSN != res.EndLSN.String() || wr.Timeline != res.Timeline {
		t.Fatalf("manifest says timeline %d %s..%s; Take said %d %s..%s", wr.Timeline, wr.StartLSN, wr.EndLSN, res.Timeline, res.StartLSN, res.EndLSN)
	}
	if res.Timeline != 1 || res.StartLSN == 0 || res.EndLSN <= res.StartLSN {
		t.Fatalf("implausible result %+v", res)
	}
	// The server's own record of the backup: the label file in the artifact.
	lb, err := os.ReadFile(filepath.Join(dir, "backup_label"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lb), "START WAL LOCATION: "+res.StartLSN.String()+" ") || !strings.Contains(string(lb), "LABEL: drsctl test") {
		t.Fatalf("backup_label does not match %s:\n%s", res.StartLSN, lb)
	}

	// Everything up to now reaches the archive; the standby replays it.
	var want int64
	if err := db.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&want); err != nil {
		t.Fatal(err)
	}
	var sw pglogrepl.LSN
	if err := db.QueryRow(ctx, `SELECT pg_switch_wal()`).Scan(&sw); err != nil {
		t.Fatal(err)
	}
	if sw < res.EndLSN {
		t.Fatalf("switch at %s before the backup's end %s", sw, res.EndLSN)
	}
	s := pgtest.NewStandbyFrom(t, dir, p.ArchiveDir)
	sdb := pgtest.SQLConn(t, ctx, s.DSN)
	var got int64
	for {
		if err := sdb.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&got); err == nil && got == want {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("standby has %d rows, primary %d", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A byte damaged in the artifact is caught by Verify, which names the file;
// so are a missing file, a stray one and a damaged manifest.
func TestVerifyNamesADamagedFile(t *testing.T) {
	p := pgtest.NewPrimary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	artifact := filepath.Join(t.TempDir(), "base.tar")
	if _, err := Take(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "damage", fileSink(artifact)); err != nil {
		t.Fatal(err)
	}
	// On the intact artifact: a missing file, a stray file and a damaged
	// manifest are each caught and named.
	for _, tc := range []struct {
		name   string
		damage func(dir string) error
		want   string
	}{
		{"missing", func(dir string) error { return os.Remove(filepath.Join(dir, "global", "pg_control")) }, "global/pg_control: missing"},
		{"stray", func(dir string) error { return os.WriteFile(filepath.Join(dir, "base", "stray"), []byte("x"), 0o600) }, "base/stray is not in backup_manifest"},
		{"manifest", func(dir string) error {
			mp := filepath.Join(dir, ManifestName)
			b, err := os.ReadFile(mp)
			if err != nil {
				return err
			}
			return os.WriteFile(mp, []byte(strings.Replace(string(b), `"Size": 3,`, `"Size": 4,`, 1)), 0o600)
		}, "backup_manifest is damaged"},
	} {
		dir := filepath.Join(t.TempDir(), tc.name)
		if err := unpackFile(t, artifact, dir); err != nil {
			t.Fatal(err)
		}
		if err := Verify(dir); err != nil {
			t.Fatalf("%s: intact backup: %v", tc.name, err)
		}
		if err := tc.damage(dir); err != nil {
			t.Fatal(err)
		}
		if err := Verify(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: Verify: %v, want %q", tc.name, err, tc.want)
		}
	}

	// Find where the data of the first non-empty file under base/ lies.
	f, err := os.Open(artifact)
	if err != nil {
		t.Fatal(err)
	}
	cr := &countReader{r: f}
	tr := tar.NewReader(cr)
	var victim string
	var off int64
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no file to damage: %v", err)
		}
		if h.Typeflag == tar.TypeReg && strings.HasPrefix(h.Name, "base/") && h.Size > 100 {
			victim, off = h.Name, cr.n+50
			break
		}
	}
	_ = f.Close()
	rw, err := os.OpenFile(artifact, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if _, err := rw.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0xff
	if _, err := rw.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	_ = rw.Close()

	dir := filepath.Join(t.TempDir(), "restore")
	if err := unpackFile(t, artifact, dir); err != nil {
		t.Fatal(err)
	}
	err = Verify(dir)
	if err == nil || !strings.Contains(err.Error(), victim) || !strings.Contains(err.Error(), "SHA-256") {
		t.Fatalf("Verify after damaging %s: %v", victim, err)
	}
	t.Log(err)
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type failingWriter struct {
	n, limit int64
	closed   bool
}

var errDiskFull = errors.New("disk full (test)")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+int64(len(p)) > w.limit {
		return 0, errDiskFull
	}
	w.n += int64(len(p))
	return len(p), nil
}

func (w *failingWriter) Close() error { w.closed = true; return nil }

// A sink that fails midway: Take returns its error promptly, closes the
// sink and the connection, and the server is left able to take the next
// backup (no walsender left behind holding anything).
func TestSinkFailingMidway(t *testing.T) {
	p := pgtest.NewPrimary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := pgtest.ReplicationConn(t, ctx, p.DSN)
	fw := &failingWriter{limit: 1 << 20}
	tctx, tcancel := context.WithTimeout(ctx, 30*time.Second)
	_, err := Take(tctx, conn, "fails", func() (io.WriteCloser, error) { return fw, nil })
	tcancel()
	if !errors.Is(err, errDiskFull) {
		t.Fatalf("Take with a failing sink: %v", err)
	}
	if !fw.closed || !conn.IsClosed() {
		t.Fatalf("sink closed %v, connection closed %v", fw.closed, conn.IsClosed())
	}
	db := pgtest.SQLConn(t, ctx, p.DSN)
	for {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d walsender(s) still there after the failed backup", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	artifact := filepath.Join(t.TempDir(), "base.tar")
	if _, err := Take(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "again", fileSink(artifact)); err != nil {
		t.Fatalf("the next backup: %v", err)
	}
}

// A cluster with a tablespace outside the data directory is refused with a
// message that says what to do, and the connection is closed.
func TestTakeRefusesATablespace(t *testing.T) {
	p := pgtest.NewPrimary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	loc := pgtest.Dir(t)
	if out, err := exec.Command("chown", pgtest.OSUser+":", loc).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v\n%s", err, out)
	}
	db := pgtest.SQLConn(t, ctx, p.DSN)
	pgtest.Exec(t, ctx, db, fmt.Sprintf(`CREATE TABLESPACE elsewhere LOCATION '%s'`, loc))
	opened := false
	conn := pgtest.ReplicationConn(t, ctx, p.DSN)
	_, err := Take(ctx, conn, "ts", func() (io.WriteCloser, error) { opened = true; return &failingWriter{limit: 1 << 40}, nil })
	if err == nil || !strings.Contains(err.Error(), "tablespace") || !strings.Contains(err.Error(), loc) {
		t.Fatalf("Take with a tablespace: %v", err)
	}
	if opened || !conn.IsClosed() {
		t.Fatalf("sink opened %v, connection closed %v", opened, conn.IsClosed())
	}
}

type blockingWriter struct {
	entered, release chan struct{}
	once             atomic.Bool
}

func (w *blockingWriter) Write(p []byte) (int, error) {
	if w.once.CompareAndSwap(false, true) {
		close(w.entered)
		<-w.release
	}
	return len(p), nil
}

func (w *blockingWriter) Close() error { return nil }

// A walsender that stops sending mid-backup (a stuck server, a half-dead
// connection) makes Take give up after IdleTimeout with an error that says
// so, instead of hanging a cron run forever.
func TestTakeGivesUpOnAStuckServer(t *testing.T) {
	p := pgtest.NewPrimary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := pgtest.SQLConn(t, ctx, p.DSN)
	// More than the loopback socket buffers hold.
	pgtest.Exec(t, ctx, db, `CREATE TABLE big AS SELECT g, repeat('y', 200) AS pad FROM generate_series(1, 100000) g`)

	old := IdleTimeout
	IdleTimeout = 2 * time.Second
	defer func() { IdleTimeout = old }()
	bw := &blockingWriter{entered: make(chan struct{}), release: make(chan struct{})}
	conn := pgtest.ReplicationConn(t, ctx, p.DSN)
	done := make(chan error, 1)
	go func() {
		_, err := Take(ctx, conn, "stuck", func() (io.WriteCloser, error) { return bw, nil })
		done <- err
	}()
	select {
	case <-bw.entered:
	case err := <-done:
		t.Fatalf("Take ended before writing: %v", err)
	}
	var pid int
	if err := db.QueryRow(ctx, `SELECT pid FROM pg_stat_replication WHERE state = 'backup'`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	walsender, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := walsender.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = walsender.Signal(syscall.SIGCONT) }()
	t0 := time.Now()
	close(bw.release)
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Take still waiting 30s after the walsender stopped (IdleTimeout 2s)")
	}
	if err == nil || !strings.Contains(err.Error(), "nothing received from the server") {
		t.Fatalf("Take from a stuck walsender: %v", err)
	}
	t.Logf("gave up after %v: %v", time.Since(t0).Round(time.Millisecond), err)
	if !conn.IsClosed() {
		t.Fatal("connection left open after giving up")
	}
}

// With archive_command failing on the primary, the server never finishes
// the backup (it waits for the last segment to be archived): Take gives up
// after IdleTimeout saying where to look, rather than hanging.
func TestTakeWithArchivingBroken(t *testing.T) {
	p := pgtest.NewPrimary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := os.Chmod(p.ArchiveDir, 0o555); err != nil {
		t.Fatal(err)
	}
	old := IdleTimeout
	IdleTimeout = 3 * time.Second
	defer func() { IdleTimeout = old }()
	conn := pgtest.ReplicationConn(t, ctx, p.DSN)
	_, err := Take(ctx, conn, "no archive", fileSink(filepath.Join(t.TempDir(), "a.tar")))
	if err == nil || !strings.Contains(err.Error(), "archive_command") {
		t.Fatalf("Take with archiving broken: %v", err)
	}
	t.Log(err)
	if !conn.IsClosed() {
		t.Fatal("connection left open")
	}
}
