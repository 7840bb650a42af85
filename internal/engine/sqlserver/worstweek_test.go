package sqlserver

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// wantReadableStandby: the standby is STANDBY, MULTI_USER, with rows rows,
// and a reader can enter it.
func wantReadableStandby(t *testing.T, f *fixture, s engine.Session, rows int64) {
	t.Helper()
	if got := standbyOf(t, s, "Sales"); got.State != engine.Standby {
		t.Fatalf("state %s (%s), want standby", got.State, got.RawState)
	}
	if got := userAccessOf(t, f.target, "Sales"); got != "MULTI_USER" {
		t.Fatalf("user_access_desc %q, want MULTI_USER", got)
	}
	if n := countRows(t, f.target, "Sales"); n != rows {
		t.Fatalf("rows %d, want %d", n, rows)
	}
	parkedReader(t, withDatabase(f.targetDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")
}

// A runner stopped (its context cancelled) while the RESTORE LOG of a
// disconnecting restore runs and the server has not yet answered the
// attention: after SET SINGLE_USER and the RESTORE …
// WITH NORECOVERY that parks the standby. The database is left RESTORING;
// the observation must still place it where it was (the full), and the
// next restore must leave it readable and MULTI_USER at the log.
func TestWorstWeek_KilledDuringTheRestoreOfADisconnectingBatch(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	full := standbyOf(t, target, "Sales").RedoLSN
	parkedReader(t, withDatabase(f.targetDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")

	f.sims[1].SetStall(sqlsim.StallLongOps)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- target.Restore(ctx, restoreDisconnecting(f, "1.trn"), engine.NoProgress) }()
	for f.sims[1].Stalled() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	// The server, busy in the RESTORE, does not acknowledge the attention
	// yet: the runner must stop all the same, not send more on the
	// connection and wait for the server forever.
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled restore reported success")
		}
	case <-time.After(time.Minute):
		t.Fatal("the cancelled restore has not returned after a minute")
	}
	f.sims[1].SetStall(sqlsim.StallNone)

	got := standbyOf(t, target, "Sales")
	if got.State == engine.Standby {
		// The engine made it a standby again on its way out: fine too.
		t.Logf("left %s", got.RawState)
	}
	if got.RedoLSN.Cmp(full) != 0 {
		t.Fatalf("after the kill the standby is placed at %s (%s), want the full's %s", got.RedoLSN, got.RawState, full)
	}
	f.restore(t, target, restoreDisconnecting(f, "1.trn"))
	wantReadableStandby(t, f, target, 1)
}

// The same, killed by hand at each point of the batch: after SET
// SINGLE_USER and the parking RESTORE … WITH NORECOVERY; after the STANDBY
// restore, before SET MULTI_USER. The next restore repairs both.
func TestWorstWeek_KilledBetweenTheStatementsOfTheBatch(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	full := standbyOf(t, target, "Sales").RedoLSN
	c := parkedReader(t, f.targetDSN, "ALTER DATABASE [Sales] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; RESTORE DATABASE [Sales] WITH NORECOVERY")
	c.Close()
	if got := standbyOf(t, target, "Sales"); got.State != engine.Restoring || got.RedoLSN.Cmp(full) != 0 {
		t.Fatalf("parked: %s at %s, want RESTORING at the full's %s", got.RawState, got.RedoLSN, full)
	}
	f.restore(t, target, restoreDisconnecting(f, "1.trn"))
	wantReadableStandby(t, f, target, 1)

	c = parkedReader(t, f.targetDSN, "ALTER DATABASE [Sales] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; RESTORE DATABASE [Sales] WITH NORECOVERY; "+
		"RESTORE LOG [Sales] FROM DISK = N'"+f.path("2.trn")+"' WITH STANDBY = N'"+restoreDisconnecting(f, "2.trn").UndoFile+"'")
	c.Close()
	if got := userAccessOf(t, f.target, "Sales"); got != "SINGLE_USER" {
		t.Logf("killed before MULTI_USER: %s", got)
	}
	// Nothing more to restore; a promote is the next thing to come.
	if err := target.Recover(context.Background(), engine.RecoverRequest{Database: "Sales", DisconnectUsers: true}); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if got := userAccessOf(t, f.target, "Sales"); got != "MULTI_USER" {
		t.Fatalf("after RECOVERY user_access_desc %q, want MULTI_USER", got)
	}
	if n := countRows(t, f.target, "Sales"); n != 2 {
		t.Fatalf("rows %d, want 2", n)
	}
}

// Someone set the standby SINGLE_USER by hand and stays connected to it.
// Without disconnect_users the restore is refused as in use (3101), the
// database untouched; with it, the restore goes through and leaves it
// MULTI_USER.
func TestWorstWeek_SingleUserByHandAndConnected(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	dba := parkedReader(t, withDatabase(f.targetDSN, "Sales"), "ALTER DATABASE [Sales] SET SINGLE_USER")
	err := target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Log, "1.trn", engine.StandbyMode), nil)
	if !errors.Is(err, engine.ErrInUse) {
		t.Fatalf("without DisconnectUsers: %v, want ErrInUse", err)
	}
	if got := standbyOf(t, target, "Sales"); got.State != engine.Standby {
		t.Fatalf("state %s after the refused restore", got.RawState)
	}
	f.restore(t, target, restoreDisconnecting(f, "1.trn"))
	if _, err := dba.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Error("the session holding the SINGLE_USER database survived")
	}
	wantReadableStandby(t, f, target, 1)
}

// A promote with DisconnectUsers of a database that is RESTORING (not a
// standby): ALTER DATABASE is refused there (5052), so the engine must not
// send it; the database comes ONLINE and MULTI_USER.
func TestWorstWeek_PromoteARestoringDatabase(t *testing.T) {
	f := simFixture(t, simOptions{})
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, primary, "Sales", artifact.Log, "1.trn")
	f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery))
	f.restore(t, target, f.restoreRequest("Sales", artifact.Log, "1.trn", engine.NoRecovery))
	if err := target.Recover(context.Background(), engine.RecoverRequest{Database: "Sales", DisconnectUsers: true}); err != nil {
		t.Fatalf("recover a RESTORING database with DisconnectUsers: %v", err)
	}
	if got := standbyOf(t, target, "Sales"); got.State != engine.Online {
		t.Fatalf("state %s, want online", got.RawState)
	}
	if got := userAccessOf(t, f.target, "Sales"); got != "MULTI_USER" {
		t.Fatalf("user_access_desc %q, want MULTI_USER", got)
	}
	insert(t, f.target, "Sales", 10)
}

// Restores that fail with disconnect_users (the standby is parked in
// RESTORING first): a damaged log, a missing file, the same log twice
// (its reply lost: 4326, ErrAlreadyRestored). Each leaves a readable
// STANDBY, MULTI_USER, where it was, and the next log follows.
func TestWorstWeek_FailedRestoresWithDisconnectUsers(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	f.restore(t, target, restoreDisconnecting(f, "1.trn"))
	at := standbyOf(t, target, "Sales").RedoLSN

	b, err := os.ReadFile(f.path("2.trn"))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(f.path("2-damaged.trn"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		want error
	}{
		{"2-damaged.trn", engine.ErrDamaged},
		{"no-such.trn", engine.ErrDamaged},
		{"1.trn", engine.ErrAlreadyRestored},
	} {
		parkedReader(t, withDatabase(f.targetDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")
		err := target.Restore(context.Background(), restoreDisconnecting(f, c.file), engine.NoProgress)
		if !errors.Is(err, c.want) {
			t.Fatalf("restore %s: %v, want %v", c.file, err, c.want)
		}
		wantReadableStandby(t, f, target, 1)
		if got := standbyOf(t, target, "Sales").RedoLSN; got.Cmp(at) != 0 {
			t.Fatalf("after the failed restore of %s the standby stands at %s, want %s", c.file, got, at)
		}
	}
	f.restore(t, target, restoreDisconnecting(f, "2.trn"))
	wantReadableStandby(t, f, target, 2)
}

// A planned switchover's tail-log backup with DisconnectUsers, stopped
// (Ctrl-C: the context cancelled) after SET SINGLE_USER, while the BACKUP
// runs and the server has not yet answered the attention. Nothing else
// repairs a primary (it is not drsctl's to keep: its backups never touch
// its user access), so the production database would stay SINGLE_USER,
// one session at a time, until someone noticed. It must be MULTI_USER
// when Backup returns.
func TestWorstWeek_StoppedTailLogBackupLeavesThePrimaryMultiUser(t *testing.T) {
	f, primary, _ := standbyWithLogs(t)
	parkedReader(t, withDatabase(f.primaryDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")
	f.sims[0].SetStall(sqlsim.StallLongOps)
	defer f.sims[0].SetStall(sqlsim.StallNone)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := primary.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Log,
			ServerPath: f.path("tail.trn"), NoRecovery: true, DisconnectUsers: true}, engine.NoProgress)
		done <- err
	}()
	for f.sims[0].Stalled() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a cancelled tail-log backup reported success")
		}
		t.Logf("cancelled: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the cancelled tail-log backup has not returned after a minute")
	}
	if got := userAccessOf(t, f.primary, "Sales"); got != "MULTI_USER" {
		t.Fatalf("the primary is left %s after a stopped tail-log backup", got)
	}
}
