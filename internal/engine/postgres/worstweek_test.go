package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/testenv/pgtest"
)

// TestStandbyStalePIDFileAfterAReboot: the standby's host went down hard
// (the cluster stopped with -m immediate stands in for the power cut) and
// came back with postmaster.pid still there, naming a PID that now belongs
// to some other process of the cluster's OS user — PIDs are reused after a
// reboot. That process is not the standby's postmaster: the standby is
// reported stopped, and the next log restore removes the stale
// postmaster.pid, starts the standby and replays, instead of waiting for a
// server that is not there; the other process is left alone.
func TestStandbyStalePIDFileAfterAReboot(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	full := p.full(ctx)
	tg := newTarget(t, ctx)
	tg.mustRestore(ctx, artifact.Full, full)
	p.insert(ctx, 1)
	log1, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log1)

	pidFile := filepath.Join(tg.dataDir, "postmaster.pid")
	saved, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if out := tg.pgctl("stop", "-m", "immediate", "-w"); !strings.Contains(out, "stopped") {
		t.Fatalf("pg_ctl stop -m immediate: %s", out)
	}
	// Another process now has a PID; the crash left postmaster.pid naming
	// it. It runs as the cluster's OS user, as the primary's server on the
	// same host would: PostgreSQL itself then refuses to start ("lock file
	// already exists"), and pg_ctl stop would signal that process.
	u, err := user.Lookup(pgtest.OSUser)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	other := exec.Command("sleep", "600")
	other.Dir = "/"
	other.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	_, rest, _ := strings.Cut(string(saved), "\n")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n%s", other.Process.Pid, rest)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tg.sess.(*session).chownFile(pidFile); err != nil {
		t.Fatal(err)
	}

	d := tg.observe(ctx)
	if d.State != engine.Restoring || !strings.Contains(d.RawState, "stopped") {
		t.Fatalf("standby whose postmaster.pid names another process: %s (%s); want restoring (stopped)", d.State, d.RawState)
	}
	p.insert(ctx, 2)
	log2, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log2)
	tg.wantRows(ctx, 1, 2)
	if err := syscall.Kill(other.Process.Pid, 0); err != nil {
		t.Fatalf("the unrelated process named by the stale postmaster.pid was harmed: %v", err)
	}
}

// TestStandbyPromotedByHandThenStopped: the operator promoted the standby
// by hand (pg_ctl promote, as in a failover without drsctl), then its host
// rebooted and the cluster is down. It is a primary now, not a standby
// waiting for WAL: it is reported ONLINE (recovered outside drsctl: the
// plan leaves it alone until `drsctl promote` or `reprotect`), and a log
// restore refuses it without shipping WAL or starting it. The same holds
// once drsctl promoted it and it stopped.
func TestStandbyPromotedByHandThenStopped(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	full := p.full(ctx)
	tg := newTarget(t, ctx)
	tg.mustRestore(ctx, artifact.Full, full)
	p.insert(ctx, 1)
	log1, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log1)

	if out := tg.pgctl("promote", "-w"); !strings.Contains(out, "promoted") {
		t.Fatalf("pg_ctl promote: %s", out)
	}
	if d := tg.observe(ctx); d.State != engine.Online {
		t.Fatalf("promoted by hand, running: %s (%s); want online", d.State, d.RawState)
	}
	if out := tg.pgctl("stop", "-m", "fast", "-w"); !strings.Contains(out, "stopped") {
		t.Fatalf("pg_ctl stop: %s", out)
	}
	d := tg.observe(ctx)
	if d.State != engine.Online || !d.RedoLSN.IsZero() || !strings.Contains(d.RawState, "promoted") || !strings.Contains(d.RawState, "stopped") {
		t.Fatalf("promoted by hand, then stopped: %s (%s, redo %q); want online (promoted, stopped) without a redo position", d.State, d.RawState, d.RedoLSN)
	}
	inbox := filepath.Join(tg.dataDir+".drsctl", "wal")
	before, _ := os.ReadDir(inbox)
	p.insert(ctx, 2)
	log2, _ := p.log(ctx)
	err := tg.restore(ctx, artifact.Log, log2, false)
	if !errors.Is(err, engine.ErrChain) || !strings.Contains(err.Error(), "promoted") {
		t.Fatalf("log restore onto a standby promoted by hand: %v; want a chain error saying it was promoted", err)
	}
	if tg.sess.(*session).running() {
		t.Fatal("the log restore started the promoted cluster")
	}
	if after, _ := os.ReadDir(inbox); len(after) != len(before) {
		t.Fatalf("the log restore shipped WAL for a promoted cluster: inbox %d entries, was %d", len(after), len(before))
	}

	// drsctl's own promotion, then a stop: online too.
	if err := tg.sess.Recover(ctx, engine.RecoverRequest{Database: "cluster"}); err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if tg.marker().Promoted == nil {
		t.Fatal("Recover did not record the promotion")
	}
	if out := tg.pgctl("stop", "-m", "fast", "-w"); !strings.Contains(out, "stopped") {
		t.Fatalf("pg_ctl stop: %s", out)
	}
	if d := tg.observe(ctx); d.State != engine.Online || !strings.Contains(d.RawState, "stopped") {
		t.Fatalf("promoted by drsctl, then stopped: %s (%s); want online (stopped)", d.State, d.RawState)
	}
}

// TestTwoConfigurationsOnePrimary: two drsctl configurations (two ledgers)
// protect the same primary. Each keeps its own slot (engine.Site.Owner),
// so each one's log backups continue its own chain exactly, whatever the
// other does; with one shared slot each moved it past the other's chain
// and forced the other into a full backup and reseeds every time. A
// session without an owner (one slot, "drsctl") is still refused with a
// chain error naming the cause, never taken with a gap.
func TestTwoConfigurationsOnePrimary(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	open := func(owner string) *session {
		s, err := New().OpenSite(ctx, p.DSN, engine.Site{Owner: owner})
		if err != nil {
			t.Fatal(err)
		}
		return s.(*session)
	}
	a, b := open("6f1c0a4e-ledger-a"), open("0b9d7e21-ledger-b")
	if a.slot == b.slot || !strings.HasPrefix(a.slot, SlotName+"_") {
		t.Fatalf("slots %q and %q: want one per ledger", a.slot, b.slot)
	}
	dir := t.TempDir()
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t AS SELECT generate_series(1, 1000) id`)
	fullA, _ := backup(t, ctx, a, dir, "fullA", engine.BackupRequest{Kind: artifact.Full})
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(1001, 2000)`)
	fullB, _ := backup(t, ctx, b, dir, "fullB", engine.BackupRequest{Kind: artifact.Full})
	prevA, prevB := fullA, fullB
	for i := 0; i < 3; i++ {
		pgtest.Exec(t, ctx, sc, fmt.Sprintf(`INSERT INTO t SELECT generate_series(%d, %d)`, 2001+i*1000, 3000+i*1000))
		la, _ := backup(t, ctx, a, dir, fmt.Sprintf("a%d", i), engine.BackupRequest{Kind: artifact.Log, From: from(prevA)})
		pgtest.Exec(t, ctx, sc, `SELECT txid_current()`)
		lb, _ := backup(t, ctx, b, dir, fmt.Sprintf("b%d", i), engine.BackupRequest{Kind: artifact.Log, From: from(prevB)})
		for _, c := range []struct{ prev, next artifact.Header }{{prevA, la}, {prevB, lb}} {
			if ok, why := artifact.Continues(c.prev, c.next); !ok {
				t.Fatalf("round %d: a log backup does not continue its own chain: %s", i, why)
			}
		}
		prevA, prevB = la, lb
	}

	// Without owners the two share one slot: the second is refused.
	c, d := openPrimary(t, ctx, p.DSN), openPrimary(t, ctx, p.DSN)
	fullC, _ := backup(t, ctx, c, dir, "fullC", engine.BackupRequest{Kind: artifact.Full})
	fullD, _ := backup(t, ctx, d, dir, "fullD", engine.BackupRequest{Kind: artifact.Full})
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(9001, 9100)`)
	backup(t, ctx, d, dir, "d1", engine.BackupRequest{Kind: artifact.Log, From: fullD.FirstLSN})
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(9101, 9200)`)
	sink := newFileSink(t, dir, "c1")
	_, err := c.Backup(ctx, engine.BackupRequest{Database: "cluster", Kind: artifact.Log, From: fullC.FirstLSN, Sink: sink}, nil)
	if !errors.Is(err, engine.ErrChain) || !strings.Contains(err.Error(), "another drsctl configuration") {
		t.Fatalf("log backup through a slot another configuration moved on: %v; want a chain error naming another configuration as a cause", err)
	}
	sink.nothingStored(t)
}

// from is where a chain continues after h (the core's chainFrom).
func from(h artifact.Header) artifact.LSN {
	if h.Kind == artifact.Full {
		return h.FirstLSN
	}
	return h.LastLSN
}

// TestStandbyPostmasterKilled: the standby's postmaster is killed (-9: the
// OOM killer) right before a log restore; its children are left to notice.
// The restore starts the standby again and replays.
func TestStandbyPostmasterKilled(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	full := p.full(ctx)
	tg := newTarget(t, ctx)
	tg.mustRestore(ctx, artifact.Full, full)
	p.insert(ctx, 1)
	log1, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log1)
	p.insert(ctx, 2)
	log2, _ := p.log(ctx)
	c := pgtest.SQLConn(t, ctx, tg.dsn) // a reader the killed postmaster leaves behind
	defer func() { _ = c.Close(ctx) }()

	pid, ok := postmasterPID(tg.dataDir)
	if !ok {
		t.Fatal("no running standby")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for tg.sess.(*session).running() {
		time.Sleep(10 * time.Millisecond)
	}
	if d := tg.observe(ctx); d.State != engine.Restoring || !strings.Contains(d.RawState, "stopped") {
		t.Fatalf("standby whose postmaster was killed: %s (%s); want restoring (stopped)", d.State, d.RawState)
	}
	tg.mustRestore(ctx, artifact.Log, log2)
	tg.wantRows(ctx, 1, 2)
}

// TestConnectToAHungServer: a server that accepts the TCP connection and
// never answers (a stopped postmaster, a host stuck on its storage) fails
// the observation within ConnectTimeout instead of holding drsctl — and
// its state lock — forever. A connect_timeout in the connection string
// takes precedence. Not parallel: it sets ConnectTimeout.
func TestConnectToAHungServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	saved := ConnectTimeout
	ConnectTimeout = 2 * time.Second
	defer func() { ConnectTimeout = saved }()
	port := ln.Addr().(*net.TCPAddr).Port

	for _, tc := range []struct{ dsn, want string }{
		{fmt.Sprintf("postgres://postgres:s3cret@127.0.0.1:%d/postgres?sslmode=disable", port), "within 2s"},
		{fmt.Sprintf("postgres://postgres:s3cret@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=1", port), "timeout"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		s := openPrimary(t, ctx, tc.dsn)
		began := time.Now()
		_, err := s.ObservePrimary(ctx, []string{"cluster"}, time.Time{})
		took := time.Since(began)
		cancel()
		if !errors.Is(err, engine.ErrUnreachable) || !strings.Contains(err.Error(), tc.want) || took > 10*time.Second {
			t.Fatalf("observing a hung server: %v after %s; want unreachable (%q) within seconds", err, took, tc.want)
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("the error shows the password: %v", err)
		}
	}
}

// TestStandbyRecordDamagedOrDeleted: a crash mid-write (or a cleanup job)
// leaves drsctl's record truncated, then deletes drsctl's whole area. A
// damaged record is an observation that failed — an error, never an
// answer — and without a record the cluster is not provably drsctl's:
// reported as another's, and never replaced, even when asked to.
func TestStandbyRecordDamagedOrDeleted(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	full := p.full(ctx)
	tg := newTarget(t, ctx)
	tg.mustRestore(ctx, artifact.Full, full)
	p.insert(ctx, 1)
	log1, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log1)

	rec := filepath.Join(tg.dataDir+".drsctl", MarkerFile)
	b, err := os.ReadFile(rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rec, b[:len(b)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if ds, err := tg.sess.ObserveStandby(ctx, []string{"cluster"}); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("observing with a truncated record: %+v, %v; want an error saying the record is damaged", ds, err)
	}
	if err := tg.restore(ctx, artifact.Full, full, true); err == nil {
		t.Fatal("a full restore with replace went ahead over a cluster whose record is damaged")
	}
	tg.wantRows(ctx, 1)

	if err := os.RemoveAll(tg.dataDir + ".drsctl"); err != nil {
		t.Fatal(err)
	}
	if d := tg.observe(ctx); d.State != engine.Other {
		t.Fatalf("observing without drsctl's area: %s (%s); want other", d.State, d.RawState)
	}
	if err := tg.restore(ctx, artifact.Full, full, true); err == nil || !strings.Contains(err.Error(), "did not create") {
		t.Fatalf("full restore with replace over a cluster without drsctl's record: %v; want a refusal", err)
	}
	tg.wantRows(ctx, 1)
	if err := tg.restore(ctx, artifact.Log, log1, false); !errors.Is(err, engine.ErrChain) {
		t.Fatalf("log restore onto a cluster without drsctl's record: %v; want a chain error", err)
	}
}

// TestPrimaryCrashBetweenLogs: the primary crashes (immediate shutdown: no
// checkpoint, so the slot's last move is not on disk) and restarts between
// two log backups. Its identity is the same, the chain goes on: the next
// log backup continues exactly where the last one ended.
func TestPrimaryCrashBetweenLogs(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	p := pgtest.NewPrimary(t)
	sc := pgtest.SQLConn(t, ctx, p.DSN)
	s := openPrimary(t, ctx, p.DSN)
	dir := t.TempDir()
	pgtest.Exec(t, ctx, sc, `CREATE TABLE t AS SELECT generate_series(1, 1000) id`)
	full, _ := backup(t, ctx, s, dir, "full", engine.BackupRequest{Kind: artifact.Full})
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(1001, 2000)`)
	a1, _ := backup(t, ctx, s, dir, "a1", engine.BackupRequest{Kind: artifact.Log, From: full.FirstLSN})
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(2001, 3000)`)
	a2, _ := backup(t, ctx, s, dir, "a2", engine.BackupRequest{Kind: artifact.Log, From: a1.LastLSN})
	before := observe(t, ctx, s)
	_ = sc.Close(ctx)

	pgctl := func(args ...string) {
		cmd := exec.Command("runuser", append([]string{"-u", pgtest.OSUser, "--", filepath.Join(pgtest.Bin(t), "pg_ctl"), "-D", p.DataDir}, args...)...)
		cmd.Dir = "/"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pg_ctl %v: %v\n%s", args, err, out)
		}
	}
	pgctl("stop", "-m", "immediate", "-w")
	pgctl("start", "-w", "-l", p.LogFile)

	after := observe(t, ctx, s)
	if after.Identity != before.Identity || !after.LogChain {
		t.Fatalf("after a crash and restart: identity %s (was %s), log chain %v (%s); want the same identity and the chain going on", after.Identity, before.Identity, after.LogChain, after.NoChainWhy)
	}
	sc = pgtest.SQLConn(t, ctx, p.DSN)
	pgtest.Exec(t, ctx, sc, `INSERT INTO t SELECT generate_series(3001, 4000)`)
	a3, s3 := backup(t, ctx, s, dir, "a3", engine.BackupRequest{Kind: artifact.Log, From: a2.LastLSN})
	if ok, why := artifact.Continues(a2, a3); !ok {
		t.Fatalf("the log after the crash does not continue the chain: %s", why)
	}
	checkLog(t, a3, s3.path, p.ArchiveDir)
}

// TestAdviseAnotherLedgersSlot: a ledger started over (or a configuration
// removed) leaves its slot behind, holding WAL for ever; the next plan of
// any configuration on that primary names it and how to drop it.
func TestAdviseAnotherLedgersSlot(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	p := pgtest.NewPrimary(t)
	old, err := New().OpenSite(ctx, p.DSN, engine.Site{Owner: "0ld-ledger"})
	if err != nil {
		t.Fatal(err)
	}
	backup(t, ctx, old.(*session), t.TempDir(), "full", engine.BackupRequest{Kind: artifact.Full})
	cur, err := New().OpenSite(ctx, p.DSN, engine.Site{Owner: "new-ledger"})
	if err != nil {
		t.Fatal(err)
	}
	var found *engine.Advice
	for _, a := range cur.(engine.Advisor).Advise(ctx, engine.AdviceRequest{Primary: true, Databases: []string{"cluster"}}) {
		if strings.Contains(a.Summary, `"drsctl_0ldledger"`) {
			found = &a
		}
	}
	if found == nil || !strings.Contains(found.Detail, "pg_drop_replication_slot('drsctl_0ldledger')") {
		t.Fatalf("advice about the old ledger's slot: %+v", found)
	}
	// The old ledger's own plan does not call its own slot another's.
	for _, a := range old.(engine.Advisor).Advise(ctx, engine.AdviceRequest{Primary: true, Databases: []string{"cluster"}}) {
		if strings.Contains(a.Summary, "replication slot") {
			t.Errorf("advice to the slot's own ledger: %s", a.Summary)
		}
	}
}
