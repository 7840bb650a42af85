package sqlserver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// TestSession_EmptyLogBackup: a log backup of an idle database is empty
// (FirstLSN = LastLSN = the previous log's LastLSN). Backup, Describe,
// ObservePrimary and ObserveStandby report it as the server wrote it,
// without error; restoring it is refused as already applied (ErrChain,
// 4326) and leaves the standby where it was; the next log with writes in
// it follows the previous non-empty one.
func TestSession_EmptyLogBackup(t *testing.T) {
	f := simFixture(t, simOptions{})
	ctx := context.Background()
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	start := time.Now().Add(-time.Hour)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	full := f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	log1 := f.backup(t, primary, "Sales", artifact.Log, "1.trn") // the full's own records: not empty
	mustContinue(t, full, log1)

	empty := f.backup(t, primary, "Sales", artifact.Log, "2.trn")
	if empty.Kind != artifact.Log || empty.FirstLSN != log1.LastLSN || empty.LastLSN != log1.LastLSN {
		t.Fatalf("idle log backup %s..%s, want empty at %s", empty.FirstLSN, empty.LastLSN, log1.LastLSN)
	}
	if empty.DatabaseBackupLSN != full.CheckpointLSN || empty.FamilyGUID != full.FamilyGUID || empty.CopyOnly || empty.Finish.Before(empty.Start) {
		t.Errorf("empty log header %+v", empty)
	}
	if d, err := primary.Describe(ctx, f.path("2.trn")); err != nil || d != empty {
		t.Errorf("describe the empty log: %+v, %v; want %+v", d, err, empty)
	}
	empty2 := f.backup(t, primary, "Sales", artifact.Log, "3.trn")
	if empty2.FirstLSN != empty.LastLSN || empty2.LastLSN != empty.LastLSN {
		t.Fatalf("second idle log backup %s..%s", empty2.FirstLSN, empty2.LastLSN)
	}

	p := primaryOf(t, primary, "Sales", start)
	if !p.LogChain || len(p.Backups) != 4 {
		t.Fatalf("primary: chain %v, backups %+v", p.LogChain, p.Backups)
	}
	for i, want := range []artifact.Header{full, log1, empty, empty2} {
		got := p.Backups[i].Header
		if got.Kind != want.Kind || got.FirstLSN != want.FirstLSN || got.LastLSN != want.LastLSN || got.DatabaseBackupLSN != want.DatabaseBackupLSN {
			t.Errorf("msdb backup %d: %+v, want %+v", i, got, want)
		}
	}
	if p.Backups[2].Path != f.path("2.trn") {
		t.Errorf("the empty log's device: %q", p.Backups[2].Path)
	}

	f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))
	f.restore(t, target, f.restoreRequest("Sales", artifact.Log, "1.trn", engine.StandbyMode))
	err := target.Restore(ctx, f.restoreRequest("Sales", artifact.Log, "2.trn", engine.StandbyMode), engine.NoProgress)
	if !errors.Is(err, engine.ErrChain) {
		t.Fatalf("restoring an empty log: %v, want ErrChain", err)
	}
	wantContains(t, err, "4326", "terminates at LSN "+string(empty.LastLSN))
	sb := standbyOf(t, target, "Sales")
	if sb.State != engine.Standby || sb.RedoLSN != log1.LastLSN || sb.LastRestore == nil || sb.LastRestore.Kind != artifact.Log ||
		sb.LastRestore.LastLSN != log1.LastLSN || sb.LastRestore.Path != f.path("1.trn") {
		t.Fatalf("standby after a refused empty log: %+v %+v", sb, sb.LastRestore)
	}

	insert(t, f.primary, "Sales", 2)
	log4 := f.backup(t, primary, "Sales", artifact.Log, "4.trn")
	mustContinue(t, empty2, log4)
	mustContinue(t, log1, log4) // FirstLSN equal: the empty ones add nothing
	f.restore(t, target, f.restoreRequest("Sales", artifact.Log, "4.trn", engine.StandbyMode))
	if sb := standbyOf(t, target, "Sales"); sb.RedoLSN != log4.LastLSN || sb.LastRestore.LastLSN != log4.LastLSN {
		t.Fatalf("standby after the next log: %+v %+v", sb, sb.LastRestore)
	}
	if n := countRows(t, f.target, "Sales"); n != 2 {
		t.Errorf("rows on the standby: %d, want 2", n)
	}
}

// TestSession_InjectedClock: with the simulators on a clock of the test's,
// backup headers, msdb history and the server offset follow it.
func TestSession_InjectedClock(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	f := simFixture(t, simOptions{now: clock})
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)

	f.createDatabase(t, "Sales")
	t0 := clock()
	full := f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	advance(7 * time.Second)
	log1 := f.backup(t, primary, "Sales", artifact.Log, "1.trn")
	if !full.Start.Equal(t0) || !full.Finish.Equal(t0) || !log1.Finish.Equal(t0.Add(7*time.Second)) {
		t.Errorf("backup times: full %s..%s, log %s; want %s and %s", full.Start, full.Finish, log1.Finish, t0, t0.Add(7*time.Second))
	}
	if p := primaryOf(t, primary, "Sales", t0.Add(time.Second)); len(p.Backups) != 1 || p.Backups[0].LastLSN != log1.LastLSN ||
		!p.Backups[0].Finish.Equal(log1.Finish) || p.CreatedAt.After(t0) {
		t.Errorf("backups since %s: %+v (created %s)", t0.Add(time.Second), p.Backups, p.CreatedAt)
	}
	advance(time.Minute)
	f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery))
	sb := standbyOf(t, target, "Sales")
	if sb.LastRestore == nil || !sb.LastRestore.At.Equal(clock()) {
		t.Errorf("restore time %+v, want %s", sb.LastRestore, clock())
	}
}
