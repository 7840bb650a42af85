package sqlserver

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// manualClock is both simulators' clock, moved by the test.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock() *manualClock {
	return &manualClock{t: time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)}
}

func (c *manualClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *manualClock) advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// TestObserveStandby_PositionFromRestoreHistory: a database in STANDBY,
// whose redo_start_lsn is NULL as documented (or filled, as some servers
// do), stands where msdb's restore history says: the LastLSN of the last
// backup restored into it. The next log restore then continues from there.
func TestObserveStandby_PositionFromRestoreHistory(t *testing.T) {
	for _, filled := range []bool{false, true} {
		name := "redo_start_lsn NULL in STANDBY"
		if filled {
			name = "redo_start_lsn filled in STANDBY"
		}
		t.Run(name, func(t *testing.T) {
			f := simFixture(t, simOptions{targetRedoInStandby: filled})
			p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
			f.createDatabase(t, "Sales")
			insert(t, f.primary, "Sales", 1)
			full := f.backup(t, p, "Sales", artifact.Full, "full.bak")
			insert(t, f.primary, "Sales", 2)
			l1 := f.backup(t, p, "Sales", artifact.Log, "l1.trn")
			insert(t, f.primary, "Sales", 3)
			l2 := f.backup(t, p, "Sales", artifact.Log, "l2.trn")

			f.restore(t, s, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))
			got := standbyOf(t, s, "Sales")
			if got.State != engine.Standby || got.RedoLSN != full.LastLSN || got.LastRestore == nil || got.LastRestore.Kind != artifact.Full {
				t.Fatalf("after the full: %+v, want STANDBY at %s", got, full.LastLSN)
			}
			f.restore(t, s, f.restoreRequest("Sales", artifact.Log, "l1.trn", engine.StandbyMode))
			got = standbyOf(t, s, "Sales")
			if got.RedoLSN != l1.LastLSN {
				t.Fatalf("after l1: stands at %q, want %s (%+v)", got.RedoLSN, l1.LastLSN, got)
			}
			wantServer := artifact.LSN("")
			if filled {
				wantServer = l1.LastLSN
			}
			if got.ServerRedoLSN != wantServer || got.Disagrees() {
				t.Fatalf("after l1: redo_start_lsn reported as %q, want %q, no disagreement", got.ServerRedoLSN, wantServer)
			}
			// The next log continues from the position reported.
			mustContinue(t, artifact.Header{Kind: artifact.Log, FirstLSN: l1.FirstLSN, LastLSN: got.RedoLSN}, l2)
			f.restore(t, s, f.restoreRequest("Sales", artifact.Log, "l2.trn", engine.StandbyMode))
			if got := standbyOf(t, s, "Sales"); got.RedoLSN != l2.LastLSN {
				t.Fatalf("after l2: stands at %q, want %s", got.RedoLSN, l2.LastLSN)
			}
			if n := countRows(t, f.target, "Sales"); n != 3 {
				t.Fatalf("standby rows %d, want 3", n)
			}
		})
	}
}

// TestRestore_AlreadyRestoredLogIsNotAGap: the server decides where a
// standby stands when asked to restore a log. A log it already has (4326)
// is ErrAlreadyRestored (behind it, the next one is due), a log after a gap
// (4305) is ErrChain and not ErrAlreadyRestored.
func TestRestore_AlreadyRestoredLogIsNotAGap(t *testing.T) {
	f := simFixture(t, simOptions{})
	p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, p, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 2)
	f.backup(t, p, "Sales", artifact.Log, "l1.trn")
	insert(t, f.primary, "Sales", 3)
	f.backup(t, p, "Sales", artifact.Log, "l2.trn")
	insert(t, f.primary, "Sales", 4)
	f.backup(t, p, "Sales", artifact.Log, "l3.trn")

	f.restore(t, s, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))
	err := s.Restore(context.Background(), f.restoreRequest("Sales", artifact.Log, "l2.trn", engine.StandbyMode), engine.NoProgress)
	if !errors.Is(err, engine.ErrChain) || errors.Is(err, engine.ErrAlreadyRestored) || sqlNumber(err) == 0 {
		t.Fatalf("log after a gap: %v, want ErrChain (4305), not ErrAlreadyRestored", err)
	}
	wantContains(t, err, "4305", "too recent")
	f.restore(t, s, f.restoreRequest("Sales", artifact.Log, "l1.trn", engine.StandbyMode))
	f.restore(t, s, f.restoreRequest("Sales", artifact.Log, "l2.trn", engine.StandbyMode))
	err = s.Restore(context.Background(), f.restoreRequest("Sales", artifact.Log, "l1.trn", engine.StandbyMode), engine.NoProgress)
	if !errors.Is(err, engine.ErrAlreadyRestored) || !errors.Is(err, engine.ErrChain) {
		t.Fatalf("a log already restored: %v, want ErrAlreadyRestored (4326)", err)
	}
	wantContains(t, err, "4326", "too early")
	f.restore(t, s, f.restoreRequest("Sales", artifact.Log, "l3.trn", engine.StandbyMode))
	if n := countRows(t, f.target, "Sales"); n != 4 {
		t.Fatalf("standby rows %d, want 4", n)
	}
}

// TestObserveStandby_DroppedDatabaseHistoryDoesNotCount: DROP DATABASE
// leaves msdb's restore history; a database created under the same name
// since has restored nothing, whatever the old rows say: one created by
// CREATE DATABASE (another backup family), and one whose restore of the
// same backup was interrupted hours later (same family, RESTORING, no row
// of its own yet).
func TestObserveStandby_DroppedDatabaseHistoryDoesNotCount(t *testing.T) {
	seed := func(t *testing.T, o simOptions) (*fixture, engine.Session) {
		f := simFixture(t, o)
		p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
		f.createDatabase(t, "Sales")
		insert(t, f.primary, "Sales", 1)
		f.backup(t, p, "Sales", artifact.Full, "full.bak")
		f.restore(t, s, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery))
		if got := standbyOf(t, s, "Sales"); got.LastRestore == nil || got.RedoLSN.IsZero() {
			t.Fatalf("after the seed: %+v, want its restore", got)
		}
		return f, s
	}
	t.Run("created", func(t *testing.T) {
		clock := newManualClock()
		f, s := seed(t, simOptions{now: clock.now})
		clock.advance(time.Minute)
		exec(t, f.target, "DROP DATABASE [Sales]")
		exec(t, f.target, "CREATE DATABASE [Sales]")
		got := standbyOf(t, s, "Sales")
		if got.State != engine.Online || got.LastRestore != nil || !got.RedoLSN.IsZero() {
			t.Fatalf("a database created where a restored one was dropped: %+v (last restore %+v), want ONLINE with no restore", got, got.LastRestore)
		}
	})
	t.Run("restore interrupted", func(t *testing.T) {
		clock := newManualClock()
		f, s := seed(t, simOptions{now: clock.now, stepDelay: 100 * time.Millisecond})
		clock.advance(3 * time.Hour)
		exec(t, f.target, "DROP DATABASE [Sales]")
		ctx, cancel := context.WithCancel(context.Background())
		p := &steps{notify: make(chan struct{}, 1)}
		done := make(chan error, 1)
		go func() {
			done <- s.Restore(ctx, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery), p)
		}()
		<-p.notify
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled restore: %v", err)
		}
		got := standbyOf(t, s, "Sales")
		if got.State != engine.Restoring || got.LastRestore != nil || !got.RedoLSN.IsZero() {
			t.Fatalf("an interrupted restore where a restored database was dropped: %+v (last restore %+v), want RESTORING with no position", got, got.LastRestore)
		}
	})
}

// TestObservePrimary_RecreatedDatabaseHistory: msdb keeps a dropped
// database's backups under its name; the database created again under that
// name has only its own.
func TestObservePrimary_RecreatedDatabaseHistory(t *testing.T) {
	f := simFixture(t, simOptions{})
	p := open(t, f.primaryDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, p, "Sales", artifact.Full, "old_full.bak")
	insert(t, f.primary, "Sales", 2)
	f.backup(t, p, "Sales", artifact.Log, "old_log.trn")
	exec(t, f.primary, "DROP DATABASE [Sales]")
	f.createDatabase(t, "Sales")
	if got := primaryOf(t, p, "Sales", time.Time{}); len(got.Backups) != 0 {
		t.Fatalf("a new database lists %d backups of the one dropped before it: %+v", len(got.Backups), got.Backups)
	}
	full := f.backup(t, p, "Sales", artifact.Full, "new_full.bak")
	got := primaryOf(t, p, "Sales", time.Time{})
	if len(got.Backups) != 1 || got.Backups[0].LastLSN != full.LastLSN || got.Backups[0].Path != f.path("new_full.bak") {
		t.Fatalf("backups of the new database: %+v, want only %s", got.Backups, f.path("new_full.bak"))
	}
}

// TestObserveStandby_RestoreInTheRepeatedHour: restorehistory.restore_date
// and create_date are local wall clock without an offset. A standby seeded
// at 02:50 summer time whose next log is restored at 02:10 winter time,
// twenty minutes later, still stands after that log: the hour the clock
// repeats does not make its own restore look like an older database's.
func TestObserveStandby_RestoreInTheRepeatedHour(t *testing.T) {
	clock := &manualClock{t: time.Date(2026, 10, 25, 0, 50, 0, 0, time.UTC)} // 02:50 CEST
	f := simFixture(t, simOptions{now: clock.now, targetZone: "Europe/Berlin"})
	p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, p, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 2)
	l1 := f.backup(t, p, "Sales", artifact.Log, "l1.trn")
	f.restore(t, s, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))
	clock.advance(20 * time.Minute) // 02:10 CET
	f.restore(t, s, f.restoreRequest("Sales", artifact.Log, "l1.trn", engine.StandbyMode))
	if got := standbyOf(t, s, "Sales"); got.RedoLSN != l1.LastLSN || got.LastRestore == nil || got.LastRestore.Kind != artifact.Log {
		t.Fatalf("after a log restored in the repeated hour: %+v (last restore %+v), want standing at %s", got, got.LastRestore, l1.LastLSN)
	}
}

// TestObserveStandby_SeedRestore: the standby reports the full backup it
// was seeded from (msdb's newest full restore of this incarnation), with
// its LSNs, file and family, however many logs were restored after it; a
// seed again reports the new full; a database created where a restored
// one was dropped reports none (state rebuild adopts only a standby whose
// seed is one of drsctl's fulls).
func TestObserveStandby_SeedRestore(t *testing.T) {
	clock := newManualClock()
	f := simFixture(t, simOptions{now: clock.now})
	p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	full := f.backup(t, p, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 2)
	f.backup(t, p, "Sales", artifact.Log, "l1.trn")
	insert(t, f.primary, "Sales", 3)
	l2 := f.backup(t, p, "Sales", artifact.Log, "l2.trn")
	insert(t, f.primary, "Sales", 4)
	full2 := f.backup(t, p, "Sales", artifact.Full, "full2.bak")

	f.restore(t, s, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))
	f.restore(t, s, f.restoreRequest("Sales", artifact.Log, "l1.trn", engine.StandbyMode))
	f.restore(t, s, f.restoreRequest("Sales", artifact.Log, "l2.trn", engine.StandbyMode))
	got := standbyOf(t, s, "Sales")
	seed := got.SeedRestore
	if seed == nil || seed.Kind != artifact.Full || seed.FirstLSN != full.FirstLSN || seed.LastLSN != full.LastLSN ||
		!strings.HasSuffix(seed.Path, "full.bak") || seed.FamilyGUID == "" || !strings.EqualFold(seed.FamilyGUID, full.FamilyGUID) {
		t.Fatalf("mid-chain: seed restore %+v, want full.bak (LSN %s–%s, family %s)", seed, full.FirstLSN, full.LastLSN, full.FamilyGUID)
	}
	if got.LastRestore == nil || got.LastRestore.LastLSN != l2.LastLSN || !strings.EqualFold(got.LastRestore.FamilyGUID, full.FamilyGUID) {
		t.Fatalf("mid-chain: last restore %+v, want l2 with its family", got.LastRestore)
	}

	clock.advance(time.Minute)
	req := f.restoreRequest("Sales", artifact.Full, "full2.bak", engine.NoRecovery)
	req.Replace = true
	f.restore(t, s, req)
	if got := standbyOf(t, s, "Sales"); got.SeedRestore == nil || got.SeedRestore.LastLSN != full2.LastLSN || !strings.HasSuffix(got.SeedRestore.Path, "full2.bak") {
		t.Fatalf("seeded again: seed restore %+v, want full2.bak", got.SeedRestore)
	}

	clock.advance(time.Minute)
	exec(t, f.target, "DROP DATABASE [Sales]")
	exec(t, f.target, "CREATE DATABASE [Sales]")
	if got := standbyOf(t, s, "Sales"); got.SeedRestore != nil {
		t.Fatalf("a database created where a restored one was dropped: seed restore %+v, want none", got.SeedRestore)
	}
}
