package sqlsim

import (
	"testing"
)

// TestRedoStartLSN: sys.master_files.redo_start_lsn is NULL unless the
// database is RESTORING (by default a STANDBY database shows NULL; with
// RedoStartLSNInStandby it shows where the next log begins), and msdb's
// restore history carries the position either way.
func TestRedoStartLSN(t *testing.T) {
	for _, inStandby := range []bool{false, true} {
		name := "standby NULL"
		if inStandby {
			name = "standby filled"
		}
		t.Run(name, func(t *testing.T) {
			psrv := startSim(t, Options{LSNBase: bigLSN, Name: "P"})
			ssrv := startSim(t, Options{Name: "S", RedoStartLSNInStandby: inStandby})
			p := conn(t, openDB(t, psrv, ""))
			s := conn(t, openDB(t, ssrv, ""))
			dir, tdata := t.TempDir(), t.TempDir()
			fp, l1p := bakPath(dir, "f.bak"), bakPath(dir, "l1.trn")
			mustExec(t, p, "CREATE DATABASE [Sales]")
			mustExec(t, p, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH INIT", fp)
			mustExec(t, p, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (1)")
			mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1", l1p)
			f, l1 := headerOf(t, s, fp), headerOf(t, s, l1p)

			mustExec(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY, MOVE N'Sales' TO @p2, MOVE N'Sales_log' TO @p3",
				fp, bakPath(tdata, "s.mdf"), bakPath(tdata, "s.ldf"))
			if r := redoLSN(t, s, "Sales"); r.String != f.LastLSN {
				t.Fatalf("RESTORING: redo_start_lsn %v, want %s", r, f.LastLSN)
			}
			mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", l1p, bakPath(tdata, "s.tuf"))
			r := redoLSN(t, s, "Sales")
			switch {
			case inStandby && r.String != l1.LastLSN:
				t.Fatalf("STANDBY (filled): redo_start_lsn %v, want %s", r, l1.LastLSN)
			case !inStandby && r.Valid:
				t.Fatalf("STANDBY: redo_start_lsn %v, want NULL (documented NULL unless RESTORING)", r)
			}
			// The documented record: the last restore's backup set ends there.
			got := queryString(t, s, "SELECT TOP 1 bs.last_lsn FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id "+
				"WHERE rh.destination_database_name = @p1 ORDER BY rh.restore_history_id DESC", "Sales")
			if got.String != l1.LastLSN {
				t.Fatalf("restorehistory's last restore ends at %v, want %s", got, l1.LastLSN)
			}
		})
	}
}

// TestRestoreHistoryKeptAfterDrop: DROP DATABASE leaves msdb's history;
// VERIFYONLY WITH LOADHISTORY adds a V row (no restore), without it nothing.
func TestRestoreHistoryKeptAfterDrop(t *testing.T) {
	psrv := startSim(t, Options{LSNBase: bigLSN, Name: "P"})
	ssrv := startSim(t, Options{Name: "S"})
	p := conn(t, openDB(t, psrv, ""))
	s := conn(t, openDB(t, ssrv, ""))
	dir, tdata := t.TempDir(), t.TempDir()
	fp := bakPath(dir, "f.bak")
	mustExec(t, p, "CREATE DATABASE [Sales]")
	mustExec(t, p, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH INIT", fp)
	mustExec(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY, MOVE N'Sales' TO @p2, MOVE N'Sales_log' TO @p3",
		fp, bakPath(tdata, "s.mdf"), bakPath(tdata, "s.ldf"))
	mustExec(t, s, "DROP DATABASE [Sales]")
	if h := ssrv.RestoreHistory(); len(h) != 1 || h[0].Database != "Sales" || h[0].Type != "D" {
		t.Fatalf("restore history after DROP DATABASE %+v, want the restore of Sales kept", h)
	}
	mustExec(t, s, "RESTORE VERIFYONLY FROM DISK = @p1", fp)
	if h := ssrv.RestoreHistory(); len(h) != 1 {
		t.Fatalf("VERIFYONLY without LOADHISTORY wrote history: %+v", h)
	}
	mustExec(t, s, "RESTORE VERIFYONLY FROM DISK = @p1 WITH LOADHISTORY", fp)
	h := ssrv.RestoreHistory()
	if len(h) != 2 || h[1].Type != "V" || h[1].LastLSN == "" {
		t.Fatalf("VERIFYONLY WITH LOADHISTORY: history %+v, want a V row joined to its backup set", h)
	}
}
