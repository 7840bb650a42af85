package postgres

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/postgres/basebackup"
	"github.com/drsctl/drsctl/internal/engine/postgres/wal"
	"github.com/drsctl/drsctl/internal/testenv/pgtest"
)

// The standby's restore_command in these tests is this test binary,
// started as `<test binary> wal-fetch -dir DIR %f %p`: init answers like
// `drsctl wal-fetch` (exit 0 found, 1 not there yet, 2 error) before the
// testing package looks at the arguments. Re-executing the test binary,
// rather than building a helper with `go build`, needs no toolchain or
// compile step at test time and runs exactly the Fetch under test. It is
// an init, not a TestMain, so that no other test file of the package has
// to share one.
func init() {
	if len(os.Args) < 2 || os.Args[1] != "wal-fetch" {
		return
	}
	fs := flag.NewFlagSet("wal-fetch", flag.ContinueOnError)
	dir := fs.String("dir", "", "")
	if err := fs.Parse(os.Args[2:]); err != nil || fs.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: wal-fetch -dir DIR NAME DEST")
		os.Exit(2)
	}
	found, err := Fetch(*dir, fs.Arg(0), fs.Arg(1))
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	case !found:
		os.Exit(1)
	}
	os.Exit(0)
}

// fetchCommand copies the test binary where the postgres user can run it
// (go test's build directory is root's only).
func fetchCommand(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(pgtest.Dir(t), "drsctl-wal-fetch")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// primary is a pgtest primary with a table t and helpers to take drsctl
// artifacts of it.
type primary struct {
	*pgtest.Cluster
	t    *testing.T
	conn *pgx.Conn
	next string // first segment the next log artifact holds
}

func newPrimary(t *testing.T, ctx context.Context) *primary {
	t.Helper()
	c := pgtest.NewPrimary(t)
	p := &primary{Cluster: c, t: t, conn: pgtest.SQLConn(t, ctx, c.DSN)}
	pgtest.Exec(t, ctx, p.conn, `CREATE TABLE t (id int primary key)`)
	return p
}

func (p *primary) insert(ctx context.Context, id int) {
	p.t.Helper()
	pgtest.Exec(p.t, ctx, p.conn, fmt.Sprintf(`INSERT INTO t VALUES (%d)`, id))
}

// full takes a base backup with basebackup.Take into a file and returns
// the file; the next log artifact begins at the segment of its start.
func (p *primary) full(ctx context.Context) string {
	p.t.Helper()
	path := filepath.Join(p.t.TempDir(), "full.tar")
	rc := pgtest.ReplicationConn(p.t, ctx, p.DSN)
	res, err := basebackup.Take(ctx, rc, "drsctl test", func() (io.WriteCloser, error) { return os.Create(path) })
	if err != nil {
		p.t.Fatal(err)
	}
	p.next = wal.FileName(res.Timeline, res.StartLSN, 16<<20)
	recorded.Store(path, [2]artifact.LSN{lsnOf(res.StartLSN), lsnOf(res.EndLSN)})
	return path
}

// recorded holds each artifact's FirstLSN and LastLSN as the ledger would
// (what the primary's Backup puts in the header), by path.
var recorded sync.Map

// log closes the current segment, waits until it is archived, and packs
// every archived segment from p.next on into a log artifact.
func (p *primary) log(ctx context.Context) (path string, segs []string) {
	p.t.Helper()
	var closed string
	if err := p.conn.QueryRow(ctx, `SELECT pg_walfile_name(pg_switch_wal())`).Scan(&closed); err != nil {
		p.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(p.ArchiveDir, closed)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("segment %s not archived within 30s", closed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	es, err := os.ReadDir(p.ArchiveDir)
	if err != nil {
		p.t.Fatal(err)
	}
	for _, e := range es {
		if segmentName.MatchString(e.Name()) && e.Name() >= p.next && e.Name() <= closed {
			segs = append(segs, e.Name())
		}
	}
	sort.Strings(segs)
	path = filepath.Join(p.t.TempDir(), "log-"+closed+".tar.gz")
	f, err := os.Create(path)
	if err != nil {
		p.t.Fatal(err)
	}
	w := NewLogWriter(f)
	for _, n := range segs {
		b, err := os.ReadFile(filepath.Join(p.ArchiveDir, n))
		if err != nil {
			p.t.Fatal(err)
		}
		if err := w.Add(n, b); err != nil {
			p.t.Fatal(err)
		}
	}
	if err := errors.Join(w.Close(), f.Close()); err != nil {
		p.t.Fatal(err)
	}
	seg, err := parseSegment(closed, 16<<20)
	if err != nil {
		p.t.Fatal(err)
	}
	recorded.Store(path, [2]artifact.LSN{lsnOf(wal.LSN(mustSeg(p.t, segs[0]).segNo * (16 << 20))), lsnOf(wal.LSN((seg.segNo + 1) * (16 << 20)))})
	p.next = wal.FileName(seg.tli, wal.LSN((seg.segNo+1)*(16<<20)), 16<<20)
	return path, segs
}

func mustSeg(t *testing.T, name string) segment {
	t.Helper()
	s, err := parseSegment(name, 16<<20)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fileSource(path string) func(context.Context) (io.ReadCloser, error) {
	return func(context.Context) (io.ReadCloser, error) { return os.Open(path) }
}

// target is a standby site: a data directory on this host and the URL its
// cluster will answer on.
type target struct {
	t       *testing.T
	dataDir string
	dsn     string
	port    int
	sess    engine.Session
}

func newTarget(t *testing.T, ctx context.Context) *target {
	t.Helper()
	pgtest.Bin(t)
	root := pgtest.Dir(t)
	port := pgtest.FreePort(t)
	tg := &target{t: t, port: port, dataDir: filepath.Join(root, "data"), dsn: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	d := &Driver{FetchCommand: fetchCommand(t)}
	s, err := d.OpenSite(ctx, tg.dsn, engine.Site{DataDir: tg.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	tg.sess = s
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(tg.dataDir + ".drsctl/postgres.log"); err == nil {
				t.Logf("standby log:\n%s", lastLines(string(b), 40))
			}
		}
		pgtest.StopAt(t, tg.dataDir)
	})
	return tg
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// pgctl runs pg_ctl on the standby as postgres and returns its output.
func (tg *target) pgctl(args ...string) string {
	cmd := exec.Command("runuser", append([]string{"-u", pgtest.OSUser, "--", filepath.Join(pgtest.Bin(tg.t), "pg_ctl"), "-D", tg.dataDir}, args...)...)
	cmd.Dir = "/"
	out, _ := cmd.CombinedOutput()
	return string(out)
}

func (tg *target) observe(ctx context.Context) engine.StandbyDatabase {
	tg.t.Helper()
	ds, err := tg.sess.ObserveStandby(ctx, []string{"cluster"})
	if err != nil {
		tg.t.Fatalf("ObserveStandby: %v", err)
	}
	if len(ds) != 1 || ds[0].Name != "cluster" {
		tg.t.Fatalf("ObserveStandby = %+v; want one entry named cluster", ds)
	}
	return ds[0]
}

func (tg *target) restore(ctx context.Context, kind artifact.Kind, path string, replace bool) error {
	req := engine.RestoreRequest{Database: "cluster", Kind: kind, ServerPath: path, Mode: engine.StandbyMode, Replace: replace, Source: fileSource(path)}
	if v, ok := recorded.Load(path); ok {
		req.FirstLSN, req.LastLSN = v.([2]artifact.LSN)[0], v.([2]artifact.LSN)[1]
	}
	return tg.sess.Restore(ctx, req, engine.NoProgress)
}

func (tg *target) mustRestore(ctx context.Context, kind artifact.Kind, path string) {
	tg.t.Helper()
	if err := tg.restore(ctx, kind, path, false); err != nil {
		tg.t.Fatalf("restore %s %s: %v", kind, filepath.Base(path), err)
	}
}

// rows reads the ids in t on the standby, right after the restore returned:
// a log restore returns once the standby replayed the log.
func (tg *target) rows(ctx context.Context) []int {
	tg.t.Helper()
	c := pgtest.SQLConn(tg.t, ctx, tg.dsn)
	defer func() { _ = c.Close(ctx) }()
	rs, err := c.Query(ctx, `SELECT id FROM t ORDER BY id`)
	if err != nil {
		tg.t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rs, pgx.RowTo[int])
	if err != nil {
		tg.t.Fatal(err)
	}
	return ids
}

func (tg *target) wantRows(ctx context.Context, want ...int) {
	tg.t.Helper()
	if got := tg.rows(ctx); fmt.Sprint(got) != fmt.Sprint(want) {
		tg.t.Fatalf("standby has rows %v; want %v", got, want)
	}
}

func (tg *target) marker() *marker {
	tg.t.Helper()
	s := &session{site: engine.Site{DataDir: tg.dataDir}}
	m, err := s.readMarker()
	if err != nil || m == nil {
		tg.t.Fatalf("marker: %v, %v", m, err)
	}
	return m
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestStandbySeedShipAndPromote is the whole life of a standby: seeded from
// a base backup (not readable until the WAL up to the backup's end
// arrives), each log restore returning only once the rows it carries are
// readable, read-only until promoted, refusing a log already replayed and
// one that leaves a gap, pruning the inbox, and read-write once promoted.
func TestStandbySeedShipAndPromote(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	p.insert(ctx, 1)
	full := p.full(ctx)
	tg := newTarget(t, ctx)

	if d := tg.observe(ctx); d.State != engine.Absent {
		t.Fatalf("before seeding: %s (%s); want absent", d.State, d.RawState)
	}
	tg.mustRestore(ctx, artifact.Full, full)
	d := tg.observe(ctx)
	if d.State != engine.Restoring || d.SeedRestore == nil || d.SeedRestore.Kind != artifact.Full || d.SeedRestore.Path != full {
		t.Fatalf("after seeding: %+v; want restoring, seeded from %s", d, full)
	}
	if d.RedoLSN.IsZero() || d.RedoLSN != d.SeedRestore.LastLSN {
		t.Fatalf("after seeding: RedoLSN %q; want the full's end %q", d.RedoLSN, d.SeedRestore.LastLSN)
	}
	if fi, err := os.Stat(tg.dataDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, %v; want mode 0700", fi, err)
	}

	p.insert(ctx, 2)
	log1, segs1 := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log1)
	tg.wantRows(ctx, 1, 2)
	d = tg.observe(ctx)
	if d.State != engine.Standby {
		t.Fatalf("after the first log: %s (%s); want standby", d.State, d.RawState)
	}
	if d.LastRestore == nil || d.LastRestore.Kind != artifact.Log || d.RedoLSN != d.LastRestore.LastLSN || d.RedoLSN.Cmp(d.SeedRestore.LastLSN) <= 0 {
		t.Fatalf("after the first log: %+v; want RedoLSN = the log's end, past the full's", d)
	}
	// The log ends with pg_switch_wal's record: replay ends in its last
	// segment, or at its end (a switch record spans the segment's rest).
	lastStart := lsnOf(wal.LSN(mustSeg(t, segs1[len(segs1)-1]).segNo * (16 << 20)))
	if m := tg.marker(); m.ReplayLSN.Cmp(lastStart) < 0 || m.ReplayLSN.Cmp(d.RedoLSN) > 0 {
		t.Fatalf("replay LSN recorded %q; want one in the log's last segment [%s, %s]", m.ReplayLSN, lastStart, d.RedoLSN)
	}

	c := pgtest.SQLConn(t, ctx, tg.dsn)
	_, err := c.Exec(ctx, `INSERT INTO t VALUES (100)`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Fatalf("write on the standby: %v; want SQLSTATE 25006", err)
	}
	_ = c.Close(ctx)

	// The same log again (a reply lost after the work was done).
	if err := tg.restore(ctx, artifact.Log, log1, false); !errors.Is(err, engine.ErrAlreadyRestored) {
		t.Fatalf("the same log again: %v; want ErrAlreadyRestored", err)
	}

	p.insert(ctx, 3)
	log2, _ := p.log(ctx)
	p.insert(ctx, 4)
	log3, _ := p.log(ctx)
	err = tg.restore(ctx, artifact.Log, log3, false)
	if !errors.Is(err, engine.ErrChain) || errors.Is(err, engine.ErrAlreadyRestored) {
		t.Fatalf("a log after a gap: %v; want ErrChain (not already restored)", err)
	}
	tg.mustRestore(ctx, artifact.Log, log2)
	tg.wantRows(ctx, 1, 2, 3)
	tg.mustRestore(ctx, artifact.Log, log3)
	tg.wantRows(ctx, 1, 2, 3, 4)
	for _, n := range segs1 {
		if _, err := os.Stat(filepath.Join(tg.dataDir+".drsctl", "wal", n)); !os.IsNotExist(err) {
			t.Errorf("inbox still holds %s, replayed two logs ago (%v)", n, err)
		}
	}

	if err := tg.sess.Recover(ctx, engine.RecoverRequest{Database: "cluster"}); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if d := tg.observe(ctx); d.State != engine.Online {
		t.Fatalf("after promotion: %s (%s); want online", d.State, d.RawState)
	}
	c = pgtest.SQLConn(t, ctx, tg.dsn)
	pgtest.Exec(t, ctx, c, `INSERT INTO t VALUES (100)`)
	// Promoting again (a reply lost) is not an error.
	if err := tg.sess.Recover(ctx, engine.RecoverRequest{Database: "cluster"}); err != nil {
		t.Fatalf("Recover again: %v", err)
	}
	p.insert(ctx, 5)
	log4, _ := p.log(ctx)
	if err := tg.restore(ctx, artifact.Log, log4, false); !errors.Is(err, engine.ErrChain) {
		t.Fatalf("a log after promotion: %v; want ErrChain", err)
	}
}

// TestStandbyStoppedIsStartedByTheNextLog: a host reboot leaves the standby
// stopped; ObserveStandby says so (restoring, not an error) and the next log
// restore starts it and confirms replay.
//
// The primary's configuration, carried in the backup, names a socket
// directory this host does not have: the standby puts its socket in
// drsctl's area instead (else it would not start). And a cleanup job
// removed the WAL inbox while it was stopped: the next log makes it again.
func TestStandbyStoppedIsStartedByTheNextLog(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	pgtest.Exec(t, ctx, p.conn, `ALTER SYSTEM SET unix_socket_directories = '/nonexistent/drsctl-test'`)
	full := p.full(ctx)
	tg := newTarget(t, ctx)
	tg.mustRestore(ctx, artifact.Full, full)
	p.insert(ctx, 1)
	log1, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log1)
	if _, err := os.Stat(filepath.Join(tg.dataDir+".drsctl", fmt.Sprintf(".s.PGSQL.%d", tg.port))); err != nil {
		t.Fatalf("the standby's unix socket is not in drsctl's area: %v", err)
	}

	if out := tg.pgctl("stop", "-m", "fast", "-w"); !strings.Contains(out, "stopped") {
		t.Fatalf("pg_ctl stop: %s", out)
	}
	d := tg.observe(ctx)
	if d.State != engine.Restoring || !strings.Contains(d.RawState, "stopped") || d.RedoLSN.IsZero() {
		t.Fatalf("stopped standby: %+v; want restoring (stopped) with its RedoLSN", d)
	}
	if err := os.RemoveAll(filepath.Join(tg.dataDir+".drsctl", "wal")); err != nil {
		t.Fatal(err)
	}
	p.insert(ctx, 2)
	log2, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log2)
	tg.wantRows(ctx, 1, 2)
	if d := tg.observe(ctx); d.State != engine.Standby {
		t.Fatalf("after the log restore: %s (%s); want standby", d.State, d.RawState)
	}
}

// TestStandbyNeverReplacesAForeignCluster: a directory drsctl did not fill
// is reported as other and never emptied, even when Replace is asked; a
// missing directory is absent; no data_dir is an error that says so.
func TestStandbyNeverReplacesAForeignCluster(t *testing.T) {
	ctx := testCtx(t)
	tg := newTarget(t, ctx)
	if d := tg.observe(ctx); d.State != engine.Absent {
		t.Fatalf("missing data directory: %s; want absent", d.State)
	}
	if err := os.MkdirAll(tg.dataDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if d := tg.observe(ctx); d.State != engine.Absent {
		t.Fatalf("empty data directory: %s; want absent", d.State)
	}
	if err := os.WriteFile(filepath.Join(tg.dataDir, "PG_VERSION"), []byte("15\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := tg.observe(ctx)
	if d.State != engine.Other || !strings.Contains(d.RawState, "did not create") {
		t.Fatalf("foreign data directory: %s (%s); want other", d.State, d.RawState)
	}
	opened := false
	for _, replace := range []bool{false, true} {
		err := tg.sess.Restore(ctx, engine.RestoreRequest{Kind: artifact.Full, ServerPath: "full", Replace: replace,
			Source: func(context.Context) (io.ReadCloser, error) { opened = true; return nil, errors.New("not reached") }}, engine.NoProgress)
		if err == nil || !strings.Contains(err.Error(), "never replaces") {
			t.Fatalf("full over a foreign cluster (replace %v): %v; want a refusal", replace, err)
		}
	}
	if opened {
		t.Fatal("the backup was opened before the refusal")
	}
	if _, err := os.Stat(filepath.Join(tg.dataDir, "PG_VERSION")); err != nil {
		t.Fatalf("the foreign cluster's file is gone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tg.dataDir+".drsctl", MarkerFile)); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left a marker (%v)", err)
	}
	if err := tg.restore(ctx, artifact.Log, "log", false); !errors.Is(err, engine.ErrChain) {
		t.Fatalf("a log onto a foreign cluster: %v; want ErrChain", err)
	}

	s, err := New().OpenSite(ctx, tg.dsn, engine.Site{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ObserveStandby(ctx, []string{"cluster"}); err == nil || !strings.Contains(err.Error(), "needs data_dir") {
		t.Fatalf("no data_dir: %v", err)
	}
	if err := s.Restore(ctx, engine.RestoreRequest{Kind: artifact.Full, Source: fileSource("x")}, nil); err == nil || !strings.Contains(err.Error(), "needs data_dir") {
		t.Fatalf("no data_dir: %v", err)
	}
}

// failingReader ends with an error after n bytes: a runner killed, or a
// destination lost, in the middle of a seed.
type failingReader struct {
	r io.Reader
	n int
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection to the destination lost")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

// TestStandbyInterruptedSeedIsReplaced: a seed that died half-way is
// drsctl's (restoring, "interrupted"), refused without Replace, replaced
// with it; and a running standby of drsctl's is replaced by a newer full.
func TestStandbyInterruptedSeedIsReplaced(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	p.insert(ctx, 1)
	full := p.full(ctx)
	tg := newTarget(t, ctx)

	err := tg.sess.Restore(ctx, engine.RestoreRequest{Kind: artifact.Full, ServerPath: full, Source: func(context.Context) (io.ReadCloser, error) {
		f, err := os.Open(full)
		if err != nil {
			return nil, err
		}
		return struct {
			io.Reader
			io.Closer
		}{&failingReader{r: f, n: 1 << 20}, f}, nil
	}}, engine.NoProgress)
	if err == nil {
		t.Fatal("a seed whose backup broke off succeeded")
	}
	d := tg.observe(ctx)
	if d.State != engine.Restoring || !strings.Contains(d.RawState, "interrupted") || !d.RedoLSN.IsZero() {
		t.Fatalf("interrupted seed: %+v; want restoring (interrupted), no RedoLSN", d)
	}
	if err := tg.restore(ctx, artifact.Full, full, false); err == nil || !strings.Contains(err.Error(), "already") {
		t.Fatalf("seeding again without replace: %v; want a refusal", err)
	}
	if err := tg.restore(ctx, artifact.Full, full, true); err != nil {
		t.Fatalf("replace over the interrupted seed: %v", err)
	}
	p.insert(ctx, 2)
	log1, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log1)
	tg.wantRows(ctx, 1, 2)

	// A newer full over drsctl's running standby.
	p.insert(ctx, 3)
	full2 := p.full(ctx)
	if err := tg.restore(ctx, artifact.Full, full2, true); err != nil {
		t.Fatalf("replace over a running standby: %v", err)
	}
	if d := tg.observe(ctx); d.SeedRestore == nil || d.SeedRestore.Path != full2 || d.RedoLSN != d.SeedRestore.LastLSN {
		t.Fatalf("after replacing: %+v; want seeded from %s", d, full2)
	}
	p.insert(ctx, 4)
	log2, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log2)
	tg.wantRows(ctx, 1, 2, 3, 4)
}

// TestStandbyRefusesAConflictingSegment: the inbox holding a segment under
// the log's name with other bytes (another primary's WAL) is never
// overwritten, and the restore fails saying so.
func TestStandbyRefusesAConflictingSegment(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	full := p.full(ctx)
	tg := newTarget(t, ctx)
	tg.mustRestore(ctx, artifact.Full, full)
	p.insert(ctx, 1)
	log1, segs := p.log(ctx)
	// A log whose record does not match its content is refused.
	rec, _ := recorded.Load(log1)
	bad := engine.RestoreRequest{Kind: artifact.Log, ServerPath: log1, Source: fileSource(log1), FirstLSN: rec.([2]artifact.LSN)[0], LastLSN: "1"}
	if err := tg.sess.Restore(ctx, bad, nil); err == nil || !strings.Contains(err.Error(), "not the log backup recorded") {
		t.Fatalf("a log whose record says another end: %v; want a refusal", err)
	}
	other := bytes.Repeat([]byte{0xAB}, 16<<20)
	conflict := filepath.Join(tg.dataDir+".drsctl", "wal", segs[0])
	if err := os.WriteFile(conflict, other, 0o644); err != nil {
		t.Fatal(err)
	}
	err := tg.restore(ctx, artifact.Log, log1, false)
	if err == nil || !strings.Contains(err.Error(), "other content") {
		t.Fatalf("log over a conflicting segment: %v; want a refusal", err)
	}
	if b, err := os.ReadFile(conflict); err != nil || !bytes.Equal(b, other) {
		t.Fatalf("the conflicting segment was changed (%v)", err)
	}
	if d := tg.observe(ctx); d.LastRestore == nil || d.LastRestore.Kind != artifact.Full {
		t.Fatalf("a refused log was recorded: %+v", d.LastRestore)
	}
}

// TestStandbyLogRetriedAfterTheRunnerDied: a runner killed after it shipped
// a log's segments into the inbox but before it recorded the restore (the
// standby replayed them meanwhile). The same log restored again is not
// "already restored" — the record does not have it — but succeeds: the
// segments already there are the same bytes, and replay is confirmed.
func TestStandbyLogRetriedAfterTheRunnerDied(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	full := p.full(ctx)
	tg := newTarget(t, ctx)
	tg.mustRestore(ctx, artifact.Full, full)
	before := tg.marker()
	p.insert(ctx, 1)
	log1, _ := p.log(ctx)

	f, err := os.Open(log1)
	if err != nil {
		t.Fatal(err)
	}
	inbox := filepath.Join(tg.dataDir+".drsctl", "wal")
	err = ReadLog(f, func(name string, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(inbox, name), b, 0o644); err != nil {
			return err
		}
		return nil
	})
	_ = f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The dead runner's segments are replayed without it.
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := pgx.Connect(ctx, tg.dsn)
		if err == nil {
			var n int
			qerr := c.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n)
			_ = c.Close(ctx)
			if qerr == nil && n == 1 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the standby did not replay the segments put in its inbox")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if m := tg.marker(); m.Last.LastLSN != before.Last.LastLSN {
		t.Fatalf("the record moved without a restore: %+v", m.Last)
	}

	tg.mustRestore(ctx, artifact.Log, log1)
	d := tg.observe(ctx)
	if d.State != engine.Standby || d.LastRestore.Path != log1 || d.RedoLSN.Cmp(before.Last.LastLSN) <= 0 {
		t.Fatalf("after the retried log: %+v; want standby with the log recorded", d)
	}
	p.insert(ctx, 2)
	log2, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log2)
	tg.wantRows(ctx, 1, 2)
}

// TestStandbyRefusesAFetchCommandPostgresCannotRun: drsctl in a directory
// only root can enter would make every restore_command exit 126, which
// ends the standby's recovery; seeding says so before it starts it.
func TestStandbyRefusesAFetchCommandPostgresCannotRun(t *testing.T) {
	pgtest.Bin(t)
	ctx := testCtx(t)
	hidden := filepath.Join(t.TempDir(), "drsctl") // t.TempDir is root's, 0700
	if err := os.WriteFile(hidden, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := &session{d: &Driver{}}
	if err := s.canRun(ctx, hidden); err == nil || !strings.Contains(err.Error(), "cannot execute it") {
		t.Fatalf("canRun(%s) = %v; want a refusal", hidden, err)
	}
	if err := s.canRun(ctx, fetchCommand(t)); err != nil {
		t.Fatalf("canRun(a copy postgres can run) = %v", err)
	}
	if err := s.canRun(ctx, "drsctl"); err == nil {
		t.Fatal("canRun(a relative path) succeeded")
	}
}
