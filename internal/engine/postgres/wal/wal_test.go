package wal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/drsctl/drsctl/internal/testenv/pgtest"
)

const seg16 = 16 << 20

func TestFileName(t *testing.T) {
	for _, c := range []struct {
		tli  uint32
		lsn  string
		size uint64
		want string
	}{
		{1, "0/0", seg16, "000000010000000000000000"},
		{1, "0/1FFFFFF", seg16, "000000010000000000000001"},
		{1, "0/2000000", seg16, "000000010000000000000002"},
		{2, "1/FF000000", seg16, "0000000200000001000000FF"},
		{1, "3/5000000", 64 << 20, "000000010000000300000001"}, // segment 193 of 64 per id,
	} {
		lsn, err := pglogrepl.ParseLSN(c.lsn)
		if err != nil {
			t.Fatal(err)
		}
		if got := FileName(c.tli, lsn, c.size); got != c.want {
			t.Errorf("FileName(%d, %s, %d) = %s; want %s", c.tli, c.lsn, c.size, got, c.want)
		}
	}
}

// dirSink stores segments in a directory the way a destination must: a
// segment appears under its name only once whole (temporary file, then
// rename), and a segment stored again must have the same bytes.
type dirSink struct {
	dir string
	mu  sync.Mutex
	got []string // names closed, in order
}

type dirWriter struct {
	s    *dirSink
	name string
	f    *os.File
}

func (s *dirSink) open(name string) (io.WriteCloser, error) {
	f, err := os.CreateTemp(s.dir, ".tmp-"+name+"-")
	if err != nil {
		return nil, err
	}
	return &dirWriter{s: s, name: name, f: f}, nil
}

func (w *dirWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

func (w *dirWriter) Close() error {
	tmp := w.f.Name()
	defer func() { _ = os.Remove(tmp) }()
	if err := w.f.Close(); err != nil {
		return err
	}
	dst := filepath.Join(w.s.dir, w.name)
	if old, err := os.ReadFile(dst); err == nil {
		now, err := os.ReadFile(tmp)
		if err != nil {
			return err
		}
		if !bytes.Equal(old, now) {
			return fmt.Errorf("segment %s stored again with different content", w.name)
		}
	} else if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	if err := os.Chmod(dst, 0o644); err != nil {
		return err
	}
	w.s.mu.Lock()
	w.s.got = append(w.s.got, w.name)
	w.s.mu.Unlock()
	return nil
}

func slotLSN(t *testing.T, ctx context.Context, c *pgx.Conn, slot string) LSN {
	t.Helper()
	var s string
	if err := c.QueryRow(ctx, `SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&s); err != nil {
		t.Fatal(err)
	}
	lsn, err := pglogrepl.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return lsn
}

// files lists the segment names in dir, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if e.Name() == pgtest.OwnerFile {
			continue
		}
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("leftover temporary file %s", e.Name())
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// contiguous checks that names are consecutive segments of timeline 1 (16
// MiB) ending just before end.
func contiguous(t *testing.T, names []string, end LSN) {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("no segments")
	}
	for i, n := range names {
		want := FileName(1, end-LSN((len(names)-i)*seg16), seg16)
		if n != want {
			t.Fatalf("segments %v: #%d is %s, want %s (a gap or a stray)", names, i, n, want)
		}
	}
}

// sameAsArchive checks every segment in dir is byte-identical to the
// server's own archived copy.
func sameAsArchive(t *testing.T, dir, archive string, names []string) {
	t.Helper()
	for _, n := range names {
		var want []byte
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, err := os.ReadFile(filepath.Join(archive, n))
			if err == nil && len(b) == seg16 {
				want = b
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("segment %s not archived by the server within 20s", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
		got, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			i := 0
			for i < len(got) && i < len(want) && got[i] == want[i] {
				i++
			}
			t.Fatalf("segment %s pulled (%d bytes) differs from the archived copy (%d bytes) at byte %d", n, len(got), len(want), i)
		}
	}
}

// TestPullSegmentsAreTheArchivedOnes: the segments Pull writes are exactly
// the files the server archives under the same names, consecutive up to the
// segment closed by Pull's own switch; the slot then stands at the end
// returned, and a second Pull with nothing new returns at once writing
// nothing.
func TestPullSegmentsAreTheArchivedOnes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)

	first := &dirSink{dir: t.TempDir()}
	end0, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, first.open)
	if err != nil {
		t.Fatalf("first Pull (creates the slot): %v", err)
	}
	t.Logf("first Pull: slot created, %d segments, end %s", len(first.got), end0)

	// About three segments of real WAL.
	pgtest.Exec(t, ctx, sc, `CREATE TABLE big (id int, pad text)`)
	pgtest.Exec(t, ctx, sc, `INSERT INTO big SELECT g, repeat(md5(g::text), 30) FROM generate_series(1, 40000) g`)

	s := &dirSink{dir: t.TempDir()}
	t0 := time.Now()
	end, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	if end <= end0 || uint64(end)%seg16 != 0 {
		t.Fatalf("Pull returned end %s after %s; want a later segment boundary", end, end0)
	}
	names := files(t, s.dir)
	if len(names) < 2 {
		t.Fatalf("Pull wrote %v; want at least 2 segments for ~45 MB of WAL", names)
	}
	contiguous(t, names, end)
	if names[0] != FileName(1, end0, seg16) {
		t.Fatalf("second Pull started at %s; want %s, the first segment the first Pull did not take", names[0], FileName(1, end0, seg16))
	}
	t.Logf("Pull: %d segments in %v (%v per 16 MiB segment)", len(names), took.Round(time.Millisecond), (took / time.Duration(len(names))).Round(time.Millisecond))
	sameAsArchive(t, s.dir, p.ArchiveDir, names)
	if got := slotLSN(t, ctx, sc, "drsctl"); got != end {
		t.Fatalf("slot restart_lsn = %s after Pull; want %s (confirmed up to the end written)", got, end)
	}

	// Nothing new: no segment, at once, same end.
	again := &dirSink{dir: t.TempDir()}
	t0 = time.Now()
	end2, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, again.open)
	if err != nil {
		t.Fatal(err)
	}
	if end2 != end || len(again.got) != 0 || time.Since(t0) > 2*time.Second {
		t.Fatalf("Pull with nothing new: end %s, wrote %v in %v; want end %s, nothing, at once", end2, again.got, time.Since(t0), end)
	}

	// A position ahead of the server's WAL is another cluster's (or an older
	// restore's): refused, and nothing written.
	_, err = Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", end+10*seg16, again.open)
	if err == nil || !strings.Contains(err.Error(), "not this server's") || len(again.got) != 0 {
		t.Fatalf("Pull from ahead of the server: %v, wrote %v; want a refusal naming the mismatch", err, again.got)
	}
}

// TestPullWhileAnotherHoldsTheSlot: two overlapping runs (cron started the
// next before the last finished) never share the slot: the second waits a
// bounded time, then fails saying the slot is in use, writing nothing; the
// first finishes undisturbed.
func TestPullWhileAnotherHoldsTheSlot(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	if _, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, (&dirSink{dir: t.TempDir()}).open); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t (id int)`)

	first := &dirSink{dir: t.TempDir()}
	entered, release := make(chan struct{}), make(chan struct{})
	blocking := func(name string) (io.WriteCloser, error) {
		select {
		case <-entered:
		default:
			close(entered)
			<-release
		}
		return first.open(name)
	}
	type result struct {
		end LSN
		err error
	}
	done := make(chan result, 1)
	rc := pgtest.ReplicationConn(t, ctx, p.DSN)
	go func() {
		end, err := Pull(ctx, rc, "drsctl", 0, blocking)
		done <- result{end, err}
	}()
	<-entered

	old := BusyWait
	BusyWait = time.Second
	defer func() { BusyWait = old }()
	second := &dirSink{dir: t.TempDir()}
	t0 := time.Now()
	_, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, second.open)
	if err == nil || !strings.Contains(err.Error(), "in use by another connection") || len(second.got) != 0 {
		t.Fatalf("overlapping Pull: %v, wrote %v; want a refusal saying the slot is in use", err, second.got)
	}
	if waited := time.Since(t0); waited > 10*time.Second {
		t.Fatalf("overlapping Pull waited %v; BusyWait is 1s", waited)
	}
	close(release)
	r := <-done
	if r.err != nil || len(first.got) == 0 {
		t.Fatalf("first Pull after the overlap: %v, wrote %v", r.err, first.got)
	}
	if got := slotLSN(t, ctx, sc, "drsctl"); got != r.end {
		t.Fatalf("slot at %s; want %s", got, r.end)
	}
}

// TestPulledSegmentsReplayOnStandby: a hot standby built from a base
// backup, fed only with the segments Pull wrote, shows a row committed on the
// primary and stays read-only.
func TestPulledSegmentsReplayOnStandby(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	walDir := pgtest.Dir(t)
	s := &dirSink{dir: walDir}
	// The slot exists before the base backup, so it holds the backup's WAL.
	if _, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open); err != nil {
		t.Fatal(err)
	}
	base := p.BaseBackup(t)
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t (id int primary key, note text)`)
	pgtest.Exec(t, ctx, sc, `INSERT INTO t VALUES (1, 'pulled')`)
	end, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("segments in the standby's WAL directory: %v (end %s)", files(t, walDir), end)

	st := pgtest.NewStandbyFrom(t, base, walDir)
	stc := pgtest.SQLConn(t, ctx, st.DSN)
	t0 := time.Now()
	for {
		var note string
		err := stc.QueryRow(ctx, `SELECT note FROM t WHERE id = 1`).Scan(&note)
		if err == nil && note == "pulled" {
			break
		}
		if time.Since(t0) > 15*time.Second {
			t.Fatalf("row not visible on the standby 15s after start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("row visible on the standby %v after it started", time.Since(t0).Round(time.Millisecond))
	_, err = stc.Exec(ctx, `INSERT INTO t VALUES (2, 'on the standby')`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Fatalf("write on the standby: %v; want SQLSTATE 25006 (read-only)", err)
	}
}

// TestPullKilledMidwayResumesWithoutGap: a run killed while storing its
// third segment (the context cancelled, the segment half written) leaves the
// slot no further than the segments stored; the next run stores the rest —
// and again any segment it cannot know was stored — with no gap and nothing
// different from the server's archive.
func TestPullKilledMidwayResumesWithoutGap(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	dir := t.TempDir()
	s := &dirSink{dir: dir}
	end0, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open)
	if err != nil {
		t.Fatal(err)
	}
	// Five more segments: a row, then a switch, five times.
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t (id int)`)
	for i := range 5 {
		pgtest.Exec(t, ctx, sc, fmt.Sprintf(`INSERT INTO t VALUES (%d)`, i))
		pgtest.Exec(t, ctx, sc, `SELECT pg_switch_wal()`)
	}

	kctx, kill := context.WithCancel(ctx)
	n := 0
	killing := func(name string) (io.WriteCloser, error) {
		n++
		w, err := s.open(name)
		if n < 3 || err != nil {
			return w, err
		}
		kill() // killed while the third segment is being written
		return &failingWriter{w: w.(*dirWriter)}, nil
	}
	rc := pgtest.ReplicationConn(t, ctx, p.DSN)
	_, err = Pull(kctx, rc, "drsctl", 0, killing)
	if err == nil {
		t.Fatal("Pull killed during its third segment returned no error")
	}
	t.Logf("killed Pull: %v", err)
	// The killed process's connection goes with it.
	_ = rc.Close(ctx)
	stored := end0 + 2*seg16
	got := slotLSN(t, ctx, sc, "drsctl")
	if got > stored {
		t.Fatalf("slot at %s after a killed Pull; it must not pass %s, the end of what was stored", got, stored)
	}
	t.Logf("slot at %s after the kill (stored up to %s)", got, stored)
	if got := files(t, dir); len(got) != len(s.got) {
		t.Fatalf("after the kill the directory holds %v; only whole segments %v may be there", got, s.got)
	}

	end, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open)
	if err != nil {
		t.Fatalf("Pull after a killed one: %v", err)
	}
	names := files(t, dir)
	contiguous(t, names, end)
	if end-end0 < 5*seg16 {
		t.Fatalf("after the resumed Pull: end %s; want at least 5 segments after %s", end, end0)
	}
	sameAsArchive(t, dir, p.ArchiveDir, names)
	if got := slotLSN(t, ctx, sc, "drsctl"); got != end {
		t.Fatalf("slot at %s after the resumed Pull; want %s", got, end)
	}
}

// failingWriter is a segment write cut short by the kill: the bytes reach
// a temporary file that is never renamed.
type failingWriter struct{ w *dirWriter }

func (f *failingWriter) Write(p []byte) (int, error) {
	_, _ = f.w.f.Write(p[:len(p)/2])
	return len(p) / 2, context.Canceled
}

func (f *failingWriter) Close() error {
	name := f.w.f.Name()
	_ = f.w.f.Close()
	return os.Remove(name)
}

// TestPullAfterTheSlotLostItsWAL: cron stopped for too long and the
// primary's max_slot_wal_keep_size let the slot go (rather than fill its
// disk). Slot shows it, with the lag that led there, and Pull refuses with
// what to do — it must not silently resume after a gap.
func TestPullAfterTheSlotLostItsWAL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := &dirSink{dir: t.TempDir()}
	if _, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, ctx, sc, `ALTER SYSTEM SET max_slot_wal_keep_size = '32MB'`)
	pgtest.Exec(t, ctx, sc, `SELECT pg_reload_conf()`)
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t (id int)`)
	pgtest.Exec(t, ctx, sc, `SELECT pg_switch_wal()`)
	st, err := Slot(ctx, sc.PgConn(), "drsctl")
	if err != nil {
		t.Fatal(err)
	}
	if st.WALStatus != "reserved" || st.LagBytes <= 0 || st.SafeBytes <= 0 || st.Active {
		t.Fatalf("slot with one segment not taken: %+v; want reserved, lag > 0, safe > 0, inactive", st)
	}
	t.Logf("one segment behind: %+v", st)
	for i := range 6 {
		pgtest.Exec(t, ctx, sc, fmt.Sprintf(`INSERT INTO t VALUES (%d)`, i))
		pgtest.Exec(t, ctx, sc, `SELECT pg_switch_wal()`)
	}
	pgtest.Exec(t, ctx, sc, `CHECKPOINT`) // where the server drops what the slot held
	st, err = Slot(ctx, sc.PgConn(), "drsctl")
	if err != nil {
		t.Fatal(err)
	}
	if st.WALStatus != "lost" || st.RestartLSN != 0 {
		t.Fatalf("slot 6 segments behind with max_slot_wal_keep_size 32MB after a checkpoint: %+v; want lost", st)
	}
	before := len(s.got)
	_, err = Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open)
	if err == nil || !strings.Contains(err.Error(), "take a new base backup") || len(s.got) != before {
		t.Fatalf("Pull from a lost slot: %v, wrote %v; want a refusal saying to take a new base backup", err, s.got[before:])
	}
	if _, err := Slot(ctx, sc.PgConn(), "nosuch"); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("Slot(nosuch): %v; want ErrNoSlot", err)
	}
}

// TestPullGivesUpOnAStuckServer: the walsender stops sending mid-stream
// (here: SIGSTOP; in life a hung primary or a network black hole, where
// the TCP connection stays open). Pull returns an error after IdleTimeout
// instead of hanging cron forever, and the slot holds what was not stored.
func TestPullGivesUpOnAStuckServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := &dirSink{dir: t.TempDir()}
	end0, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open)
	if err != nil {
		t.Fatal(err)
	}
	// Eight segments, more than the loopback socket buffers hold.
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t (id int)`)
	for i := range 8 {
		pgtest.Exec(t, ctx, sc, fmt.Sprintf(`INSERT INTO t VALUES (%d)`, i))
		pgtest.Exec(t, ctx, sc, `SELECT pg_switch_wal()`)
	}

	old := IdleTimeout
	IdleTimeout = 2 * time.Second
	defer func() { IdleTimeout = old }()
	entered, release := make(chan struct{}), make(chan struct{})
	blocking := func(name string) (io.WriteCloser, error) {
		select {
		case <-entered:
		default:
			close(entered)
			<-release
		}
		return s.open(name)
	}
	type result struct {
		end LSN
		err error
	}
	done := make(chan result, 1)
	go func() {
		end, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, blocking)
		done <- result{end, err}
	}()
	<-entered
	var pid int
	if err := sc.QueryRow(ctx, `SELECT active_pid FROM pg_replication_slots WHERE slot_name = 'drsctl'`).Scan(&pid); err != nil {
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
	close(release)
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Pull still waiting 30s after the walsender stopped (IdleTimeout 2s)")
	}
	if r.err == nil || !strings.Contains(r.err.Error(), "no WAL from the server") {
		t.Fatalf("Pull from a stuck walsender: end %s, %v; want the stuck-server error", r.end, r.err)
	}
	t.Logf("gave up after %v: %v", time.Since(t0).Round(time.Millisecond), r.err)
	if r.end < end0+seg16 || r.end >= end0+8*seg16 {
		t.Fatalf("Pull stored up to %s; want at least the segment received before the stop, not all 8", r.end)
	}
	_ = walsender.Signal(syscall.SIGCONT)
	// The slot is released when the walsender notices the connection is gone;
	// it never passes what was stored.
	if got := slotLSN(t, ctx, sc, "drsctl"); got > r.end {
		t.Fatalf("slot at %s; Pull stored only up to %s", got, r.end)
	}
}

// TestPullReStoresASegmentWhoseConfirmationWasLost: the run dies after the
// destination stored a segment but before the server heard about it (the
// connection drops between the two). The slot still holds that segment; the
// next run stores it again — the same bytes under the same name, which the
// destination accepts — and goes on without a gap.
func TestPullReStoresASegmentWhoseConfirmationWasLost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	dir := t.TempDir()
	s := &dirSink{dir: dir}
	end0, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open)
	if err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t (id int)`)
	for i := range 3 {
		pgtest.Exec(t, ctx, sc, fmt.Sprintf(`INSERT INTO t VALUES (%d)`, i))
		pgtest.Exec(t, ctx, sc, `SELECT pg_switch_wal()`)
	}
	rc := pgtest.ReplicationConn(t, ctx, p.DSN)
	var lost string
	dropAfterStore := func(name string) (io.WriteCloser, error) {
		w, err := s.open(name)
		if err != nil {
			return nil, err
		}
		return closeThen{w, func() { lost = name; _ = rc.Close(ctx) }}, nil
	}
	if _, err := Pull(ctx, rc, "drsctl", 0, dropAfterStore); err == nil {
		t.Fatal("Pull whose connection dropped after the first segment was stored returned no error")
	}
	if got := slotLSN(t, ctx, sc, "drsctl"); got != end0 {
		t.Fatalf("slot at %s; want %s: the confirmation of %s never reached the server", got, end0, lost)
	}
	before := len(s.got)
	end, err := Pull(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, s.open)
	if err != nil {
		t.Fatalf("Pull after the lost confirmation: %v", err)
	}
	if s.got[before] != lost {
		t.Fatalf("the next Pull stored %v first; want %s again (the server never heard it was stored)", s.got[before:], lost)
	}
	names := files(t, dir)
	contiguous(t, names, end)
	sameAsArchive(t, dir, p.ArchiveDir, names)
}

// closeThen runs then after a successful Close.
type closeThen struct {
	io.WriteCloser
	then func()
}

func (c closeThen) Close() error {
	if err := c.WriteCloser.Close(); err != nil {
		return err
	}
	c.then()
	return nil
}

// TestPullHoldConfirmsNothing: in hold mode the slot stays where it was
// however much WAL is taken (keepalive replies and per-segment status
// updates carry position 0), so the same WAL can be taken again with the
// same bytes; a missing slot is an error, not created.
func TestPullHoldConfirmsNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	if _, err := PullWith(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, PullOptions{Hold: true}, (&dirSink{dir: t.TempDir()}).open); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("hold-mode Pull without the slot: %v; want ErrNoSlot", err)
	}
	var n int
	if err := sc.QueryRow(ctx, `SELECT count(*) FROM pg_replication_slots`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d slots (%v) after a refused hold-mode Pull; want none", n, err)
	}
	pgtest.Exec(t, ctx, sc, `SELECT pg_create_physical_replication_slot('drsctl', true)`)
	held := slotLSN(t, ctx, sc, "drsctl")
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t AS SELECT generate_series(1, 300000) id`)
	a := &dirSink{dir: t.TempDir()}
	endA, err := PullWith(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, PullOptions{Hold: true}, a.open)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.got) < 2 {
		t.Fatalf("took %v; want several segments", a.got)
	}
	if now := slotLSN(t, ctx, sc, "drsctl"); now != held {
		t.Fatalf("slot moved from %s to %s in hold mode (WAL taken up to %s)", held, now, endA)
	}
	b := &dirSink{dir: a.dir} // same directory: a segment stored again must have the same bytes
	if _, err := PullWith(ctx, pgtest.ReplicationConn(t, ctx, p.DSN), "drsctl", 0, PullOptions{Hold: true}, b.open); err != nil {
		t.Fatal(err)
	}
	if len(b.got) < len(a.got) || b.got[0] != a.got[0] {
		t.Fatalf("second hold-mode Pull took %v; want again from %s", b.got, a.got[0])
	}
}
