package sqlsim

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestEmptyLogBackup: a log backup of a database where nothing was logged
// since the previous log backup is empty (FirstLSN = LastLSN = the previous
// LastLSN), consistently in HEADERONLY, msdb and the Go history; it keeps
// the chain; restoring it where the database already is fails with 4326;
// a full backup writes log records, so the log after it is never empty.
func TestEmptyLogBackup(t *testing.T) {
	psrv := startSim(t, Options{Name: "P", LSNBase: bigLSN})
	ssrv := startSim(t, Options{Name: "S"})
	p := conn(t, openDB(t, psrv, ""))
	s := conn(t, openDB(t, ssrv, ""))
	dir := t.TempDir()
	path := func(n string) string { return bakPath(dir, n) }
	undo := filepath.Join(t.TempDir(), "s.tuf")
	ctx := context.Background()

	mustExec(t, p, "CREATE DATABASE [Sales]; INSERT INTO [Sales].dbo.drs_probe (id) VALUES (1)")
	mustExec(t, p, "BACKUP DATABASE [Sales] TO DISK = @p1", path("f1.bak"))
	f1 := headerOf(t, p, path("f1.bak"))

	// The first log after a full is not empty, even with nothing written
	// in between: the full's own records come after its LastLSN.
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1", path("l1.trn"))
	l1 := headerOf(t, p, path("l1.trn"))
	if !lsnLess(t, f1.LastLSN, l1.LastLSN) || lsnLess(t, f1.LastLSN, l1.FirstLSN) {
		t.Fatalf("first log %s..%s after full %s..%s: want FirstLSN <= F.LastLSN < LastLSN", l1.FirstLSN, l1.LastLSN, f1.FirstLSN, f1.LastLSN)
	}

	// Idle: two empty log backups in a row.
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1 WITH CHECKSUM, COMPRESSION, STATS = 10", path("l2.trn"))
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1", path("l3.trn"))
	l2, l3 := headerOf(t, p, path("l2.trn")), headerOf(t, p, path("l3.trn"))
	for name, h := range map[string]header{"l2": l2, "l3": l3} {
		if h.BackupType != 2 || h.FirstLSN != l1.LastLSN || h.LastLSN != l1.LastLSN {
			t.Fatalf("idle log backup %s: %s..%s, want empty at %s", name, h.FirstLSN, h.LastLSN, l1.LastLSN)
		}
		if h.DatabaseBackup != f1.CheckpointLSN || h.FamilyGUID != f1.FamilyGUID {
			t.Fatalf("idle log backup %s: DatabaseBackupLSN %s, family %s", name, h.DatabaseBackup, h.FamilyGUID)
		}
	}
	if c := chainLSN(t, p, "Sales"); c.String != l1.LastLSN {
		t.Fatalf("last_log_backup_lsn after empty log backups %v, want %s", c, l1.LastLSN)
	}
	hist := backups(t, p, "Sales", time.Time{})
	if len(hist) != 4 || hist[2].first != l2.FirstLSN || hist[2].last != l2.LastLSN || hist[3].first != hist[3].last || hist[2].device != path("l2.trn") {
		t.Fatalf("msdb after empty log backups: %+v", hist)
	}
	var empties []string
	for _, b := range psrv.BackupHistory() {
		if b.Empty() {
			empties = append(empties, filepath.Base(b.Path))
		}
	}
	if len(empties) != 2 || empties[0] != "l2.trn" || empties[1] != "l3.trn" {
		t.Fatalf("BackupHistory's empty log backups %v, want l2.trn l3.trn", empties)
	}

	// Writes resume: the next log starts where the empty ones stand.
	mustExec(t, p, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (2)")
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1", path("l4.trn"))
	l4 := headerOf(t, p, path("l4.trn"))
	if l4.FirstLSN != l3.LastLSN || !lsnLess(t, l4.FirstLSN, l4.LastLSN) {
		t.Fatalf("log after idle %s..%s, want to begin at %s", l4.FirstLSN, l4.LastLSN, l3.LastLSN)
	}

	// The standby: the full and l1 restore; an empty log never does, since
	// the database already stands at its LastLSN.
	mustExec(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH STANDBY = @p2, MOVE N'Sales' TO @p3, MOVE N'Sales_log' TO @p4",
		path("f1.bak"), undo, bakPath(t.TempDir(), "s.mdf"), bakPath(t.TempDir(), "s.ldf"))
	mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", path("l1.trn"), undo)
	before := len(ssrv.RestoreHistory())
	for _, n := range []string{"l2.trn", "l3.trn"} {
		me := sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", path(n), undo)
		wantErr(t, me, 4326, 3013)
		wantText(t, errText(me, 0), "The log in this backup set terminates at LSN "+l1.LastLSN+", which is too early to apply to the database. A more recent log backup that includes LSN "+l1.LastLSN+" can be restored.")
		wantText(t, errText(me, 1), "RESTORE LOG is terminating abnormally.")
	}
	if got := ssrv.RestoreHistory(); len(got) != before {
		t.Fatalf("a refused restore left history: %+v", got[before:])
	}
	if h := ssrv.RestoreHistory(); h[len(h)-1].LastLSN != l1.LastLSN {
		t.Fatalf("last restore after refused empty logs ends at %s, want %s", h[len(h)-1].LastLSN, l1.LastLSN)
	}
	// l4 follows l1 directly: the empty ones are not needed.
	mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", path("l4.trn"), undo)
	if n := queryInt(t, s, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe"); n != 2 {
		t.Fatalf("standby rows %d, want 2", n)
	}
	rh := ssrv.RestoreHistory()
	if len(rh) != 3 || rh[0].Type != "D" || rh[1].Type != "L" || rh[2].Type != "L" || rh[2].FirstLSN != l4.FirstLSN || rh[2].LastLSN != l4.LastLSN ||
		rh[2].Path != path("l4.trn") || rh[0].Database != "Sales" || rh[0].Replace || rh[2].Recovery {
		t.Fatalf("RestoreHistory %+v", rh)
	}
	// An empty log applies nowhere: not onto a copy that stopped before it
	// either (it begins where l1 ends, so it is too early as well there).
	me := sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", path("l3.trn"), undo)
	wantErr(t, me, 4326, 3013)

	// A second full on the idle database: the log after it is not empty,
	// and continues the chain from the empty ones.
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1", path("l5.trn")) // empty again
	l5 := headerOf(t, p, path("l5.trn"))
	mustExec(t, p, "BACKUP DATABASE [Sales] TO DISK = @p1", path("f2.bak"))
	f2 := headerOf(t, p, path("f2.bak"))
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1", path("l6.trn"))
	l6 := headerOf(t, p, path("l6.trn"))
	if l5.FirstLSN != l5.LastLSN || l6.FirstLSN != l5.LastLSN || !lsnLess(t, f2.LastLSN, l6.LastLSN) {
		t.Fatalf("l5 %s..%s, f2 %s..%s, l6 %s..%s", l5.FirstLSN, l5.LastLSN, f2.FirstLSN, f2.LastLSN, l6.FirstLSN, l6.LastLSN)
	}
	// On the standby (at l4's end = l5's), l6 continues without the full.
	mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", path("l6.trn"), undo)

	// COPY_ONLY full: its checkpoint is logged, but it commits no new
	// differential base, so the next log holds just that record and ends
	// where the copy ends.
	mustExec(t, p, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH COPY_ONLY", path("c.bak"))
	c := headerOf(t, p, path("c.bak"))
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1", path("l7.trn"))
	l7 := headerOf(t, p, path("l7.trn"))
	if l7.FirstLSN != l6.LastLSN || l7.LastLSN != c.LastLSN {
		t.Fatalf("log after a copy-only full %s..%s (copy %s..%s), want %s..%s", l7.FirstLSN, l7.LastLSN, c.FirstLSN, c.LastLSN, l6.LastLSN, c.LastLSN)
	}

	// An idle tail-log backup is empty too: the standby, which already has
	// everything, refuses it and recovers without it.
	mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", path("l7.trn"), undo)
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1 WITH NORECOVERY", path("tail.trn"))
	tail := headerOf(t, p, path("tail.trn"))
	if tail.FirstLSN != l7.LastLSN || tail.LastLSN != l7.LastLSN {
		t.Fatalf("idle tail-log backup %s..%s, want empty at %s", tail.FirstLSN, tail.LastLSN, l7.LastLSN)
	}
	wantErr(t, sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH RECOVERY", path("tail.trn")), 4326, 3013)
	mustExec(t, s, "RESTORE DATABASE [Sales] WITH RECOVERY")
	if _, err := s.ExecContext(ctx, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (3)"); err != nil {
		t.Fatalf("write on the recovered standby: %v", err)
	}
}
