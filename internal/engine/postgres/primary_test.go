package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/postgres/basebackup"
	"github.com/drsctl/drsctl/internal/engine/postgres/wal"
	"github.com/drsctl/drsctl/internal/testenv/pgtest"
)

// fileSink is a Sink into a directory as the core's is: bytes go to a
// temporary file, which appears under its name only on Commit; Abort
// removes it.
type fileSink struct {
	path string
	f    *os.File
	// onWrite, when set, runs before each write (to fail or cancel midway).
	onWrite func(n int64) error

	mu                  sync.Mutex
	n                   int64
	committed, aborted  bool
	abortCause          error
	commits, abortCalls int
}

func newFileSink(t *testing.T, dir, name string) *fileSink {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p + ".partial")
	if err != nil {
		t.Fatal(err)
	}
	return &fileSink{path: p, f: f}
}

func (s *fileSink) Write(p []byte) (int, error) {
	if s.onWrite != nil {
		if err := s.onWrite(s.n); err != nil {
			return 0, err
		}
	}
	n, err := s.f.Write(p)
	s.n += int64(n)
	return n, err
}

func (s *fileSink) Commit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	if err := s.f.Close(); err != nil {
		return err
	}
	if err := os.Rename(s.path+".partial", s.path); err != nil {
		return err
	}
	s.committed = true
	return nil
}

func (s *fileSink) Abort(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.abortCalls++
	s.aborted, s.abortCause = true, cause
	_ = s.f.Close()
	_ = os.Remove(s.path + ".partial")
}

// nothingStored checks an aborted sink left no file at all.
func (s *fileSink) nothingStored(t *testing.T) {
	t.Helper()
	if s.committed || s.commits != 0 || !s.aborted || s.abortCalls != 1 {
		t.Fatalf("sink: committed %v (%d commits), aborted %v (%d calls); want aborted once, never committed", s.committed, s.commits, s.aborted, s.abortCalls)
	}
	for _, p := range []string{s.path, s.path + ".partial"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s exists after Abort (%v)", p, err)
		}
	}
}

func openPrimary(t *testing.T, ctx context.Context, dsn string) *session {
	t.Helper()
	s, err := New().Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*session)
}

func observe(t *testing.T, ctx context.Context, s *session) engine.PrimaryDatabase {
	t.Helper()
	ds, err := s.ObservePrimary(ctx, []string{"cluster"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Name != "cluster" || !ds[0].Exists || ds[0].RecoveryModel != "FULL" || ds[0].Backups != nil || !ds[0].ChainLSN.IsZero() {
		t.Fatalf("ObservePrimary(cluster) = %+v; want one existing database named cluster, recovery model WAL, no backups, no ChainLSN", ds)
	}
	return ds[0]
}

func backup(t *testing.T, ctx context.Context, s *session, dir, name string, req engine.BackupRequest) (artifact.Header, *fileSink) {
	t.Helper()
	sink := newFileSink(t, dir, name)
	req.Sink, req.Database = sink, "cluster"
	h, err := s.Backup(ctx, req, engine.NoProgress)
	if err != nil {
		t.Fatalf("Backup %s (%s): %v", req.Kind, name, err)
	}
	if !sink.committed || sink.aborted || h.Kind != req.Kind || h.Database != "cluster" || h.Start.IsZero() || h.Finish.Before(h.Start) {
		t.Fatalf("Backup %s: header %+v, sink committed %v aborted %v; want committed, kind %s, database cluster, start ≤ finish", req.Kind, h, sink.committed, sink.aborted, req.Kind)
	}
	return h, sink
}

// segments reads a log artifact: names in order and contents.
func segments(t *testing.T, path string) ([]string, map[string][]byte) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var names []string
	m := map[string][]byte{}
	err = ReadLog(f, func(name string, seg io.Reader) error {
		b, err := io.ReadAll(seg)
		names = append(names, name)
		m[name] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names, m
}

const segSize = 16 << 20

func num(t *testing.T, l artifact.LSN) pglogrepl.LSN {
	t.Helper()
	n, err := pgLSN(l)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// checkLog checks a log artifact's segments are the WAL range its header
// says, contiguous, each 16 MiB, and byte-identical to what the server's
// own archive_command archived under the same name.
func checkLog(t *testing.T, h artifact.Header, path, archive string) []string {
	t.Helper()
	names, segs := segments(t, path)
	first, last := num(t, h.FirstLSN), num(t, h.LastLSN)
	if first%segSize != 0 || last%segSize != 0 || uint64(last-first)/segSize != uint64(len(names)) {
		t.Fatalf("log %s–%s (%s–%s) holds %d segments %v; want whole segments covering exactly the range", h.FirstLSN, h.LastLSN, first, last, len(names), names)
	}
	for i, n := range names {
		want := fmt.Sprintf("%08X%08X%08X", 1, 0, uint64(first)/segSize+uint64(i))
		if n != want || len(segs[n]) != segSize {
			t.Fatalf("segment %d is %s (%d bytes); want %s, %d bytes", i, n, len(segs[n]), want, segSize)
		}
		var archived []byte
		deadline := time.Now().Add(20 * time.Second)
		for {
			b, err := os.ReadFile(filepath.Join(archive, n))
			if err == nil && len(b) == segSize {
				archived = b
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server never archived %s: %v", n, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !bytes.Equal(archived, segs[n]) {
			t.Fatalf("segment %s differs from the server's archived copy", n)
		}
	}
	return names
}

// unpackLog writes a log artifact's segments into dir for a standby.
func unpackLog(t *testing.T, path, dir string) {
	t.Helper()
	_, segs := segments(t, path)
	for n, b := range segs {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func slotRestart(t *testing.T, ctx context.Context, c *pgx.Conn) pglogrepl.LSN {
	t.Helper()
	var v string
	if err := c.QueryRow(ctx, `SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = $1`, SlotName).Scan(&v); err != nil {
		t.Fatal(err)
	}
	l, err := pglogrepl.ParseLSN(v)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func rowsOn(t *testing.T, ctx context.Context, dsn string, want int) {
	t.Helper()
	var n int
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := pgx.Connect(ctx, dsn)
		if err == nil {
			err = c.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n)
			_ = c.Close(ctx)
		}
		if err == nil && n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("standby: %d rows (%v); want %d", n, err, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFullThenLogsRoundTrip: a primary without the slot has no chain; a full
// creates the slot; logs continue the full and each other by the chain
// rule, hold exactly the server's own archived segments, and a standby
// built from the full and fed the logs' segments sees every row.
func TestFullThenLogsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := openPrimary(t, ctx, p.DSN)
	dir := t.TempDir()

	d := observe(t, ctx, s)
	if d.State != StateOnline || d.LogChain || d.Retained != nil || !strings.Contains(d.NoChainWhy, `replication slot "drsctl" is missing`) || !strings.Contains(d.NoChainWhy, "new base backup") {
		t.Fatalf("before any backup: %+v; want ONLINE, no chain because the slot is missing", d)
	}
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t (id int)`)
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(1, 100)`)

	var steps []int
	var mu sync.Mutex
	sink := newFileSink(t, dir, "full")
	full, err := s.Backup(ctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Full, Sink: sink}, engine.ProgressFunc(func(pc int, _ string) {
		mu.Lock()
		steps = append(steps, pc)
		mu.Unlock()
	}))
	if err != nil || !sink.committed {
		t.Fatalf("full: %v (committed %v)", err, sink.committed)
	}
	if len(steps) < 2 || steps[len(steps)-1] != 100 {
		t.Errorf("progress %v; want several steps ending at 100", steps)
	}
	if full.Kind != artifact.Full || full.Database != "cluster" || full.FirstLSN.IsZero() || full.CheckpointLSN != full.FirstLSN || full.FirstLSN.Cmp(full.LastLSN) >= 0 {
		t.Fatalf("full header %+v", full)
	}
	d = observe(t, ctx, s)
	if !d.LogChain || d.NoChainWhy != "" || d.Identity != full.FamilyGUID || !strings.HasSuffix(d.Identity, "/1") {
		t.Fatalf("after the full: %+v; want a chain, identity %s", d, full.FamilyGUID)
	}
	if r := d.Retained; r == nil || r.Bytes <= 0 || r.SafeBytes != -1 || r.Status != "reserved" {
		t.Fatalf("after the full: retained %+v; want the slot's WAL held, unbounded (max_slot_wal_keep_size -1), reserved", r)
	}
	if held := slotRestart(t, ctx, sc); held > num(t, full.FirstLSN) {
		t.Fatalf("slot holds WAL from %s, after the full's start %s", held, num(t, full.FirstLSN))
	}

	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(101, 200)`)
	log1, sink1 := backup(t, ctx, s, dir, "log1", engine.BackupRequest{Kind: artifact.Log, From: full.FirstLSN})
	if ok, why := artifact.Continues(full, log1); !ok {
		t.Fatalf("log1 %+v does not continue the full %+v: %s", log1, full, why)
	}
	if log1.FamilyGUID != full.FamilyGUID {
		t.Fatalf("log1 family %s, full %s", log1.FamilyGUID, full.FamilyGUID)
	}
	checkLog(t, log1, sink1.path, p.ArchiveDir)

	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(201, 300)`)
	log2, sink2 := backup(t, ctx, s, dir, "log2", engine.BackupRequest{Kind: artifact.Log, From: log1.LastLSN})
	if ok, why := artifact.Continues(log1, log2); !ok {
		t.Fatalf("log2 %+v does not continue log1 %+v: %s", log2, log1, why)
	}
	checkLog(t, log2, sink2.path, p.ArchiveDir)
	// log2 began at log1's end: the slot was moved there, no further.
	if held := slotRestart(t, ctx, sc); held != num(t, log1.LastLSN) {
		t.Fatalf("slot restart_lsn %s after log2; want log1's end %s (advanced to From, nothing confirmed while streaming)", held, num(t, log1.LastLSN))
	}

	walDir := pgtest.Dir(t)
	unpackLog(t, sink1.path, walDir)
	unpackLog(t, sink2.path, walDir)
	sb := pgtest.NewStandbyFrom(t, sink.path, walDir)
	rowsOn(t, ctx, sb.DSN, 300)

	// The standby as a primary: in recovery, no chain.
	d = observe(t, ctx, openPrimary(t, ctx, sb.DSN))
	if d.State != StateInRecovery || d.LogChain || !strings.Contains(d.NoChainWhy, "in recovery") {
		t.Fatalf("a standby observed as a primary: %+v; want IN RECOVERY, no chain", d)
	}
	// Promoted, it writes on timeline 2 at once (before its checkpoint):
	// a new identity, and no slot of its own yet.
	pgtest.Exec(t, ctx, pgtest.SQLConn(t, ctx, sb.DSN), `SELECT pg_promote(true)`)
	d = observe(t, ctx, openPrimary(t, ctx, sb.DSN))
	if d.State != StateOnline || d.Identity != strings.TrimSuffix(full.FamilyGUID, "/1")+"/2" || d.LogChain {
		t.Fatalf("the promoted standby: %+v; want ONLINE on timeline 2 of the same system, no chain", d)
	}
}

// TestLogTakenAgainWhenItsRecordWasLost: a log backup whose record never
// reached the ledger (the core asks again from the same From) is taken
// again whole, with the same bytes, because nothing was confirmed to the
// server; a From before what the slot holds needs a new full.
func TestLogTakenAgainWhenItsRecordWasLost(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := openPrimary(t, ctx, p.DSN)
	dir := t.TempDir()
	full, _ := backup(t, ctx, s, dir, "full", engine.BackupRequest{Kind: artifact.Full})
	// The slot moves to where the chain continues (the segment of the
	// full's start), never further while the ledger has not recorded more.
	held := max(slotRestart(t, ctx, sc), num(t, full.FirstLSN)/segSize*segSize)
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t AS SELECT generate_series(1, 1000) id`)

	a, sa := backup(t, ctx, s, dir, "a", engine.BackupRequest{Kind: artifact.Log, From: full.FirstLSN})
	if now := slotRestart(t, ctx, sc); now != held {
		t.Fatalf("slot at %s after a log backup from %s; want %s: the server was told WAL was stored before the ledger recorded it", now, full.FirstLSN, held)
	}
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(1001, 2000)`)
	b, sb := backup(t, ctx, s, dir, "b", engine.BackupRequest{Kind: artifact.Log, From: full.FirstLSN})
	if b.FirstLSN != a.FirstLSN || b.LastLSN.Cmp(a.LastLSN) <= 0 {
		t.Fatalf("retaken log %s–%s; want it to start where the lost one did (%s) and go further than %s", b.FirstLSN, b.LastLSN, a.FirstLSN, a.LastLSN)
	}
	an, as := segments(t, sa.path)
	bn, bs := segments(t, sb.path)
	if len(bn) <= len(an) {
		t.Fatalf("retaken log has %d segments, the lost one %d", len(bn), len(an))
	}
	for i, n := range an {
		if bn[i] != n || !bytes.Equal(as[n], bs[n]) {
			t.Fatalf("segment %d: lost log has %s, retaken %s (same bytes: %v)", i, n, bn[i], bytes.Equal(as[n], bs[n]))
		}
	}
	checkLog(t, b, sb.path, p.ArchiveDir)

	// The ledger recorded b: the next log moves the slot past it, and asking
	// again from the full's start is refused (the WAL is no longer held).
	c, _ := backup(t, ctx, s, dir, "c", engine.BackupRequest{Kind: artifact.Log, From: b.LastLSN})
	if ok, why := artifact.Continues(b, c); !ok {
		t.Fatal(why)
	}
	sink := newFileSink(t, dir, "late")
	_, err := s.Backup(ctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Log, From: full.FirstLSN, Sink: sink}, nil)
	if !errors.Is(err, engine.ErrChain) || !strings.Contains(err.Error(), "a new full (base) backup is needed") {
		t.Fatalf("log from before the slot's position: %v; want a refusal asking for a new full", err)
	}
	sink.nothingStored(t)

	// A From beyond the server's WAL (another cluster's ledger) never moves
	// the slot.
	before := slotRestart(t, ctx, sc)
	sink = newFileSink(t, dir, "alien")
	_, err = s.Backup(ctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Log, From: lsnOf(pglogrepl.LSN(1 << 40)), Sink: sink}, nil)
	if !errors.Is(err, engine.ErrChain) || !strings.Contains(err.Error(), "not this server's") {
		t.Fatalf("log from beyond the server's WAL: %v; want a refusal", err)
	}
	sink.nothingStored(t)
	if after := slotRestart(t, ctx, sc); after != before {
		t.Fatalf("slot moved from %s to %s by a refused log backup", before, after)
	}
}

// TestEmptyLog: with nothing committed since the last log's end, a log
// backup is an empty artifact (no segment, FirstLSN = LastLSN), committed,
// even when the server wrote background records (a checkpoint and its
// running-transactions snapshot) into the open segment: it is left open.
// A commit (asynchronous too) or a transaction ID taken closes it again.
func TestEmptyLog(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := openPrimary(t, ctx, p.DSN)
	dir := t.TempDir()
	full, _ := backup(t, ctx, s, dir, "full", engine.BackupRequest{Kind: artifact.Full})
	prev, _ := backup(t, ctx, s, dir, "log0", engine.BackupRequest{Kind: artifact.Log, From: full.FirstLSN})
	var pos string
	for i, step := range []struct {
		sql   string
		empty bool
	}{
		{"", true},
		{"CHECKPOINT", true},
		{"CHECKPOINT", true},
		{"CREATE TABLE t (id int)", false},
		{"CHECKPOINT", true},
		{"SELECT txid_current()", false},
		{"INSERT INTO t VALUES (1)", false},
		{"CHECKPOINT", true},
		// An asynchronous commit, acknowledged before its WAL is flushed.
		{"ASYNC INSERT INTO t VALUES (2)", false},
	} {
		switch {
		case strings.HasPrefix(step.sql, "ASYNC "):
			pgtest.Exec(t, ctx, sc, `SET synchronous_commit = off`)
			pgtest.Exec(t, ctx, sc, strings.TrimPrefix(step.sql, "ASYNC "))
			pgtest.Exec(t, ctx, sc, `SET synchronous_commit = on`)
		case step.sql != "":
			pgtest.Exec(t, ctx, sc, step.sql)
		}
		if err := sc.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&pos); err != nil {
			t.Fatal(err)
		}
		h, sink := backup(t, ctx, s, dir, fmt.Sprintf("log%d", i+1), engine.BackupRequest{Kind: artifact.Log, From: prev.LastLSN})
		names, _ := segments(t, sink.path)
		if h.FirstLSN != prev.LastLSN || h.FamilyGUID != full.FamilyGUID {
			t.Fatalf("after %q: log begins at %s (family %s); want %s (%s)", step.sql, h.FirstLSN, h.FamilyGUID, prev.LastLSN, full.FamilyGUID)
		}
		if empty := len(names) == 0; empty != step.empty || (empty && h.LastLSN != h.FirstLSN) || (!empty && h.LastLSN.Cmp(h.FirstLSN) <= 0) {
			t.Fatalf("after %q (WAL at %s): log %s–%s with segments %v; want empty %v", step.sql, pos, h.FirstLSN, h.LastLSN, names, step.empty)
		}
		if !step.empty {
			checkLog(t, h, sink.path, p.ArchiveDir)
		}
		prev = h
	}
}

// TestNoChainWhenTheSlotIsLostOrDropped: a slot that lost its WAL
// (max_slot_wal_keep_size) or was dropped means no chain, said in an
// operator's words; a log backup is refused leaving nothing stored; a new
// full creates the slot again and the chain is back.
func TestNoChainWhenTheSlotIsLostOrDropped(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := openPrimary(t, ctx, p.DSN)
	dir := t.TempDir()
	full, _ := backup(t, ctx, s, dir, "full", engine.BackupRequest{Kind: artifact.Full})

	pgtest.Exec(t, ctx, sc, `ALTER SYSTEM SET max_slot_wal_keep_size = '32MB'`)
	pgtest.Exec(t, ctx, sc, `SELECT pg_reload_conf()`)
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t (id int)`)
	for i := range 6 {
		pgtest.Exec(t, ctx, sc, fmt.Sprintf(`INSERT INTO t VALUES (%d)`, i))
		pgtest.Exec(t, ctx, sc, `SELECT pg_switch_wal()`)
	}
	pgtest.Exec(t, ctx, sc, `CHECKPOINT`)
	d := observe(t, ctx, s)
	if d.LogChain || !strings.Contains(d.NoChainWhy, "lost the WAL") || !strings.Contains(d.NoChainWhy, "max_slot_wal_keep_size") || d.Retained == nil || d.Retained.Status != "lost" {
		t.Fatalf("lost slot: %+v; want no chain, naming max_slot_wal_keep_size", d)
	}
	sink := newFileSink(t, dir, "log")
	if _, err := s.Backup(ctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Log, From: full.FirstLSN, Sink: sink}, nil); !errors.Is(err, engine.ErrChain) || !strings.Contains(err.Error(), "new full") {
		t.Fatalf("log from a lost slot: %v; want a refusal asking for a new full", err)
	}
	sink.nothingStored(t)

	full2, _ := backup(t, ctx, s, dir, "full2", engine.BackupRequest{Kind: artifact.Full})
	if d := observe(t, ctx, s); !d.LogChain {
		t.Fatalf("after a new full over a lost slot: %+v; want a chain", d)
	}
	log, _ := backup(t, ctx, s, dir, "log2", engine.BackupRequest{Kind: artifact.Log, From: full2.FirstLSN})
	if ok, why := artifact.Continues(full2, log); !ok {
		t.Fatal(why)
	}

	pgtest.Exec(t, ctx, sc, `SELECT pg_drop_replication_slot('drsctl')`)
	d = observe(t, ctx, s)
	if d.LogChain || !strings.Contains(d.NoChainWhy, "missing") {
		t.Fatalf("dropped slot: %+v; want no chain, slot missing", d)
	}
	sink = newFileSink(t, dir, "log3")
	if _, err := s.Backup(ctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Log, From: log.LastLSN, Sink: sink}, nil); !errors.Is(err, engine.ErrChain) || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("log without the slot: %v; want a refusal", err)
	}
	sink.nothingStored(t)
	if _, err := s.Slot(ctx); !errors.Is(err, wal.ErrNoSlot) {
		t.Fatalf("Slot after a refused log backup without the slot: %v; want ErrNoSlot (the refusal must not create it)", err)
	}
}

// TestBackupCancelledMidwayStoresNothing: a run killed mid-backup (here its
// context cancelled while the sink receives bytes) aborts the sink, never
// commits, and leaves the slot as it was for the next run.
func TestBackupCancelledMidwayStoresNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := openPrimary(t, ctx, p.DSN)
	dir := t.TempDir()
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t AS SELECT generate_series(1, 200000) id`)

	cctx, ccancel := context.WithCancel(ctx)
	sink := newFileSink(t, dir, "full")
	sink.onWrite = func(n int64) error {
		if n > 1<<20 {
			ccancel()
		}
		return nil
	}
	if _, err := s.Backup(cctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Full, Sink: sink}, nil); err == nil {
		t.Fatal("full backup cancelled midway succeeded")
	}
	ccancel()
	sink.nothingStored(t)

	full, _ := backup(t, ctx, s, dir, "full", engine.BackupRequest{Kind: artifact.Full})
	held := max(slotRestart(t, ctx, sc), num(t, full.FirstLSN)/segSize*segSize)
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(1, 600000)`)
	cctx, ccancel = context.WithCancel(ctx)
	defer ccancel()
	sink = newFileSink(t, dir, "log")
	sink.onWrite = func(n int64) error {
		ccancel()
		return nil
	}
	if _, err := s.Backup(cctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Log, From: full.FirstLSN, Sink: sink}, nil); err == nil {
		t.Fatal("log backup cancelled midway succeeded")
	}
	sink.nothingStored(t)
	if now := slotRestart(t, ctx, sc); now != held {
		t.Fatalf("slot moved from %s to %s by a cancelled log backup", held, now)
	}
	// The slot is released once the server notices the connection is gone:
	// the next run takes the WAL.
	log, _ := backup(t, ctx, s, dir, "log", engine.BackupRequest{Kind: artifact.Log, From: full.FirstLSN})
	if ok, why := artifact.Continues(full, log); !ok {
		t.Fatal(why)
	}
}

// TestFullDoesNotWaitForTheArchiver: drsctl takes WAL from its slot, so a
// broken archive_command (another tool's) must not hold a base backup up
// (BASE_BACKUP WAIT false); with the default WAIT the server would wait and
// Take would give up after basebackup.IdleTimeout.
func TestFullDoesNotWaitForTheArchiver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	pgtest.Exec(t, ctx, sc, `ALTER SYSTEM SET archive_command = 'false'`)
	pgtest.Exec(t, ctx, sc, `SELECT pg_reload_conf()`)
	old := basebackup.IdleTimeout
	basebackup.IdleTimeout = 5 * time.Second
	t.Cleanup(func() { basebackup.IdleTimeout = old })
	s := openPrimary(t, ctx, p.DSN)
	t0 := time.Now()
	backup(t, ctx, s, t.TempDir(), "full", engine.BackupRequest{Kind: artifact.Full})
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("full backup with a failing archive_command took %v", d)
	}
}

// TestPlannedSwitchover: a switchover's last log backup makes the primary
// read-only first. A session holding a write transaction makes it fail
// with ErrInUse and leaves the primary writable; with DisconnectUsers it
// ends that session, every row committed before is in the log (a standby
// fed it sees them all), writes fail afterwards, and the primary reports
// READ ONLY with its chain intact.
func TestPlannedSwitchover(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := openPrimary(t, ctx, p.DSN)
	dir := t.TempDir()
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t (id int)`)
	full, fullSink := backup(t, ctx, s, dir, "full", engine.BackupRequest{Kind: artifact.Full})
	log1, sink1 := backup(t, ctx, s, dir, "log1", engine.BackupRequest{Kind: artifact.Log, From: full.FirstLSN})
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(1, 500)`)

	writer := pgtest.SQLConn(t, ctx, p.DSN)
	pgtest.Exec(t, ctx, writer, `BEGIN`)
	pgtest.Exec(t, ctx, writer, `INSERT INTO t VALUES (-1)`)

	sink := newFileSink(t, dir, "tail-refused")
	_, err := s.Backup(ctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Log, From: log1.LastLSN, NoRecovery: true, Sink: sink}, nil)
	if !errors.Is(err, engine.ErrInUse) || !strings.Contains(err.Error(), "writable again") {
		t.Fatalf("switchover with a write transaction open: %v; want ErrInUse", err)
	}
	sink.nothingStored(t)
	if d := observe(t, ctx, s); d.State != StateOnline {
		t.Fatalf("after a refused switchover: state %s; want ONLINE", d.State)
	}
	other := pgtest.SQLConn(t, ctx, p.DSN)
	pgtest.Exec(t, ctx, other, `INSERT INTO t VALUES (501)`) // writable again

	tail, _ := backup(t, ctx, s, dir, "tail", engine.BackupRequest{Kind: artifact.Log, From: log1.LastLSN, NoRecovery: true, DisconnectUsers: true})
	if ok, why := artifact.Continues(log1, tail); !ok {
		t.Fatal(why)
	}
	if _, err := writer.Exec(ctx, `COMMIT`); err == nil {
		t.Fatal("the session holding a write transaction survived a switchover with DisconnectUsers")
	}
	_, err = pgtest.SQLConn(t, ctx, p.DSN).Exec(ctx, `INSERT INTO t VALUES (502)`)
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" {
		t.Fatalf("write after the switchover: %v; want read_only_sql_transaction (25006)", err)
	}
	d := observe(t, ctx, s)
	if d.State != StateReadOnly || !d.LogChain {
		t.Fatalf("after the switchover: %+v; want READ ONLY with a chain", d)
	}

	// The switchover retried (its record lost): a reader's transaction,
	// read-only since it began after, does not hold it up, and the primary
	// stays read-only.
	reader := pgtest.SQLConn(t, ctx, p.DSN)
	pgtest.Exec(t, ctx, reader, `BEGIN`)
	pgtest.Exec(t, ctx, reader, `SELECT count(*) FROM t`)
	again, againSink := backup(t, ctx, s, dir, "tail-again", engine.BackupRequest{Kind: artifact.Log, From: log1.LastLSN, NoRecovery: true})
	if again.FirstLSN != tail.FirstLSN || again.LastLSN.Cmp(tail.LastLSN) < 0 {
		t.Fatalf("retried switchover log %s–%s; want from %s to at least %s", again.FirstLSN, again.LastLSN, tail.FirstLSN, tail.LastLSN)
	}
	if d := observe(t, ctx, s); d.State != StateReadOnly {
		t.Fatalf("after a retried switchover: %s; want READ ONLY", d.State)
	}

	walDir := pgtest.Dir(t)
	unpackLog(t, sink1.path, walDir)
	unpackLog(t, againSink.path, walDir)
	sb := pgtest.NewStandbyFrom(t, fullSink.path, walDir)
	rowsOn(t, ctx, sb.DSN, 501)
}

// TestAdvisePrimary: a superuser on a default server is told only that
// nothing bounds the slot's retention; a bare login is told each privilege
// it lacks with the statement that grants it; a role pg_hba.conf refuses
// replication to is told so.
func TestAdvisePrimary(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	summaries := func(as []engine.Advice) string {
		var b strings.Builder
		for _, a := range as {
			fmt.Fprintf(&b, "%s | %s\n", a.Summary, a.Detail)
		}
		return b.String()
	}
	var adv engine.Advisor = openPrimary(t, ctx, p.DSN)
	as := adv.Advise(ctx, engine.AdviceRequest{Primary: true, Databases: []string{"cluster"}})
	// The unbounded slot retention of the default settings is the plan's
	// to say (from ObservePrimary's Retained, with what the slot holds).
	if len(as) != 0 {
		t.Fatalf("superuser, default settings:\n%s; want no advice", summaries(as))
	}
	pgtest.Exec(t, ctx, sc, `CREATE ROLE drs LOGIN`)
	drs := strings.Replace(p.DSN, "postgres@", "drs@", 1)
	got := summaries(openPrimary(t, ctx, drs).advisePrimary(ctx))
	for _, want := range []string{`ALTER ROLE "drs" REPLICATION`, `GRANT EXECUTE ON FUNCTION pg_switch_wal() TO "drs"`, `GRANT ALTER SYSTEM ON PARAMETER default_transaction_read_only`, `GRANT pg_signal_backend TO "drs"`} {
		if !strings.Contains(got, want) {
			t.Errorf("bare login: advice\n%s lacks %q", got, want)
		}
	}
	// A login without privileges still observes the primary (the control
	// data and slot views are readable by anyone).
	if d := observe(t, ctx, openPrimary(t, ctx, drs)); d.State != StateOnline || d.Identity == "" || d.LogChain {
		t.Errorf("ObservePrimary as a bare login: %+v", d)
	}
	// drsctl's replication connections name a database (replication=database):
	// pg_hba.conf matches them by database lines, never by "replication"
	// lines — a reject there changes nothing.
	pgtest.Exec(t, ctx, sc, `ALTER ROLE drs REPLICATION`)
	hba := filepath.Join(p.DataDir, "pg_hba.conf")
	b, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hba, append([]byte("host replication drs 127.0.0.1/32 reject\n"), b...), 0o600); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, ctx, sc, `SELECT pg_reload_conf()`)
	got = summaries(openPrimary(t, ctx, drs).advisePrimary(ctx))
	if strings.Contains(got, "REPLICATION") || strings.Contains(got, "refuses a replication connection") {
		t.Fatalf("role with REPLICATION:\n%s; want no advice about replication", got)
	}
}

// TestLogWaitsForTheSlotToBeReleased: another connection streaming from
// the slot (a killed run the server has not noticed yet) makes a log
// backup wait for it, up to wal.BusyWait, both to move the slot on and to
// stream; past BusyWait it is refused saying why.
func TestLogWaitsForTheSlotToBeReleased(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := openPrimary(t, ctx, p.DSN)
	dir := t.TempDir()
	full, _ := backup(t, ctx, s, dir, "full", engine.BackupRequest{Kind: artifact.Full})
	log1, _ := backup(t, ctx, s, dir, "log1", engine.BackupRequest{Kind: artifact.Log, From: full.FirstLSN})
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t AS SELECT 1 id`)

	hold := func() *pgconn.PgConn {
		rc, err := pgconn.Connect(ctx, p.DSN+"&replication=database")
		if err != nil {
			t.Fatal(err)
		}
		if err := pglogrepl.StartReplication(ctx, rc, SlotName, slotRestart(t, ctx, sc), pglogrepl.StartReplicationOptions{Mode: pglogrepl.PhysicalReplication}); err != nil {
			t.Fatal(err)
		}
		return rc
	}
	other := hold()
	t0 := time.Now()
	go func() {
		time.Sleep(time.Second)
		_ = other.Close(context.Background())
	}()
	log2, _ := backup(t, ctx, s, dir, "log2", engine.BackupRequest{Kind: artifact.Log, From: log1.LastLSN})
	if ok, why := artifact.Continues(log1, log2); !ok || time.Since(t0) < time.Second {
		t.Fatalf("log2 after %v: continues %v (%s); want it to wait for the slot and continue log1", time.Since(t0), ok, why)
	}

	old := wal.BusyWait
	wal.BusyWait = time.Second
	t.Cleanup(func() { wal.BusyWait = old })
	other = hold()
	defer func() { _ = other.Close(context.Background()) }()
	sink := newFileSink(t, dir, "log3")
	_, err := s.Backup(ctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Log, From: log2.LastLSN, Sink: sink}, nil)
	if err == nil || !strings.Contains(err.Error(), "in use by another connection") {
		t.Fatalf("log backup while another connection holds the slot: %v; want a refusal saying so", err)
	}
	sink.nothingStored(t)
}

// TestStoppedPrimary: a primary that is down (stopped, rebooting) is
// unreachable, said as such (engine.ErrUnreachable) without the
// connection string, and a backup attempted then stores nothing.
func TestStoppedPrimary(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	p := pgtest.NewPrimary(t)
	s := openPrimary(t, ctx, p.DSN)
	dir := t.TempDir()
	full, _ := backup(t, ctx, s, dir, "full", engine.BackupRequest{Kind: artifact.Full})
	cmd := exec.Command("runuser", "-u", pgtest.OSUser, "--", filepath.Join(pgtest.Bin(t), "pg_ctl"), "-D", p.DataDir, "-m", "immediate", "-w", "stop")
	cmd.Dir = "/"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, engine.ErrUnreachable) || strings.Contains(err.Error(), p.DSN) || strings.Contains(err.Error(), "postgres://") {
			t.Fatalf("%s on a stopped primary: %v; want ErrUnreachable without the connection string", what, err)
		}
	}
	_, err := s.ObservePrimary(ctx, []string{"cluster"}, time.Time{})
	check("ObservePrimary", err)
	for _, req := range []engine.BackupRequest{{Kind: artifact.Full}, {Kind: artifact.Log, From: full.FirstLSN}, {Kind: artifact.Log, From: full.FirstLSN, NoRecovery: true}} {
		sink := newFileSink(t, dir, "b")
		req.Database, req.Sink = "cluster", sink
		_, err := s.Backup(ctx, req, nil)
		check(fmt.Sprintf("Backup %s (NoRecovery %v)", req.Kind, req.NoRecovery), err)
		sink.nothingStored(t)
	}
	_, err = s.Slot(ctx)
	check("Slot", err)
}

// TestPrimaryRefusals: what the core must never ask is refused before any
// connection: no sink, several database names, a copy-only or unknown kind
// (the sink then aborted).
func TestPrimaryRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPrimary(t, ctx, "postgres://drs:secret@127.0.0.1:1/postgres")
	if _, err := s.Backup(ctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Full}, nil); err == nil || !strings.Contains(err.Error(), "sink") {
		t.Errorf("Backup without a sink: %v", err)
	}
	if _, err := s.ObservePrimary(ctx, []string{"a", "b"}, time.Time{}); err == nil || !strings.Contains(err.Error(), "one cluster") {
		t.Errorf("ObservePrimary of two names: %v", err)
	}
	for _, req := range []engine.BackupRequest{{Kind: artifact.Full, CopyOnly: true}, {Kind: artifact.Kind("diff")}} {
		sink := newFileSink(t, t.TempDir(), "x")
		req.Sink = sink
		if _, err := s.Backup(ctx, req, nil); err == nil {
			t.Errorf("Backup %+v succeeded", req)
		}
		sink.nothingStored(t)
	}
	_, err := s.ObservePrimary(ctx, []string{"cluster"}, time.Time{})
	if !errors.Is(err, engine.ErrUnreachable) || strings.Contains(err.Error(), "secret") {
		t.Errorf("ObservePrimary of nothing listening: %v; want ErrUnreachable without the password", err)
	}
}
