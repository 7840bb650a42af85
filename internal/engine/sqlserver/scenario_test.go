package sqlserver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// standbyScenario is log shipping end to end, the same on simulators and on
// real servers: full and logs on the primary, a STANDBY target fed in
// order, refusals out of order, then promotion.
func standbyScenario(t *testing.T, f *fixture, db string) {
	ctx := context.Background()
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	start := time.Now().Add(-time.Hour) // the database is new: nothing older to leave out

	f.createDatabase(t, db)
	insert(t, f.primary, db, 1)
	full := f.backup(t, primary, db, artifact.Full, db+"_full.bak")
	insert(t, f.primary, db, 2)
	log1 := f.backup(t, primary, db, artifact.Log, db+"_1.trn")
	insert(t, f.primary, db, 3)
	log2 := f.backup(t, primary, db, artifact.Log, db+"_2.trn")
	mustContinue(t, full, log1)
	mustContinue(t, log1, log2)
	if !strings.EqualFold(full.Database, db) || full.Kind != artifact.Full || log1.Kind != artifact.Log {
		t.Fatalf("headers: %+v %+v", full, log1)
	}

	p := primaryOf(t, primary, db, start)
	if !p.Exists || p.State != "ONLINE" || p.RecoveryModel != "FULL" || !p.LogChain {
		t.Errorf("primary: %+v", p)
	}
	if len(p.Backups) != 3 || p.Backups[0].LastLSN != full.LastLSN || p.Backups[2].LastLSN != log2.LastLSN {
		t.Errorf("primary backups: %+v", p.Backups)
	}

	if got := standbyOf(t, target, db); got.State != engine.Absent {
		t.Fatalf("target before seeding: %+v", got)
	}
	f.restore(t, target, f.restoreRequest(db, artifact.Full, db+"_full.bak", engine.StandbyMode))
	sb := standbyOf(t, target, db)
	if sb.State != engine.Standby || sb.RedoLSN != full.LastLSN || sb.LastRestore == nil || sb.LastRestore.Kind != artifact.Full {
		t.Fatalf("target after the full: %+v (want redo %s)", sb, full.LastLSN)
	}
	if n := countRows(t, f.target, db); n != 1 {
		t.Errorf("rows on the standby after the full: %d, want 1", n)
	}
	_, err := f.target.ExecContext(ctx, "INSERT INTO "+quoteIdent(db)+".dbo.drs_probe (id, note) VALUES (@p1, NULL)", 99)
	if sqlNumber(err) != 3906 {
		t.Errorf("a write on the standby: %v, want error 3906", err)
	}

	// The second log first: a gap.
	err = target.Restore(ctx, f.restoreRequest(db, artifact.Log, db+"_2.trn", engine.StandbyMode), engine.NoProgress)
	if !errors.Is(err, engine.ErrChain) {
		t.Fatalf("restoring log 2 before log 1: %v, want ErrChain", err)
	}
	wantContains(t, err, "4305", "restore log "+quoteIdent(db), f.path(db+"_2.trn"))

	f.restore(t, target, f.restoreRequest(db, artifact.Log, db+"_1.trn", engine.StandbyMode))
	if n := countRows(t, f.target, db); n != 2 {
		t.Errorf("rows after log 1: %d, want 2", n)
	}
	// The first log again: already applied.
	err = target.Restore(ctx, f.restoreRequest(db, artifact.Log, db+"_1.trn", engine.StandbyMode), engine.NoProgress)
	if !errors.Is(err, engine.ErrChain) {
		t.Fatalf("restoring log 1 twice: %v, want ErrChain", err)
	}
	wantContains(t, err, "4326")

	f.restore(t, target, f.restoreRequest(db, artifact.Log, db+"_2.trn", engine.StandbyMode))
	sb = standbyOf(t, target, db)
	if sb.State != engine.Standby || sb.RedoLSN != log2.LastLSN || sb.LastRestore == nil ||
		sb.LastRestore.Kind != artifact.Log || sb.LastRestore.LastLSN != log2.LastLSN || sb.LastRestore.Path != f.path(db+"_2.trn") {
		t.Fatalf("target after log 2: %+v %+v (want redo %s)", sb, sb.LastRestore, log2.LastLSN)
	}
	if n := countRows(t, f.target, db); n != 3 {
		t.Errorf("rows after log 2: %d, want 3", n)
	}

	if err := target.Recover(ctx, engine.RecoverRequest{Database: db}); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if sb = standbyOf(t, target, db); sb.State != engine.Online || sb.RedoLSN != "" {
		t.Fatalf("target after recovery: %+v", sb)
	}
	insert(t, f.target, db, 4)
	if n := countRows(t, f.target, db); n != 4 {
		t.Errorf("rows after recovery and a write: %d, want 4", n)
	}
}
