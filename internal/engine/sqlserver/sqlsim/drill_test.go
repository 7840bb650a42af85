package sqlsim

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDrillStatements: what a restore drill sends, and what the simulator
// refuses of it (DBCC CHECKDB, STOPAT, the default file paths).
func TestDrillStatements(t *testing.T) {
	var mu sync.Mutex
	clock := time.Date(2026, 12, 3, 3, 0, 0, 0, time.UTC)
	tick := func() time.Time { mu.Lock(); defer mu.Unlock(); clock = clock.Add(time.Minute); return clock }
	srv := startSim(t, Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	db := openDB(t, srv, "")
	dir := t.TempDir()
	full, logf := bakPath(dir, "a.bak"), bakPath(dir, "a.trn")

	if got := queryString(t, db, "SELECT SERVERPROPERTY('InstanceDefaultDataPath')").String; got != filepath.Join(srv.opts.DataDir, "data")+string(filepath.Separator) {
		t.Errorf("InstanceDefaultDataPath = %q", got)
	}
	if got := queryString(t, db, "SELECT SERVERPROPERTY('InstanceDefaultLogPath')").String; !strings.HasSuffix(got, string(filepath.Separator)) {
		t.Errorf("InstanceDefaultLogPath = %q", got)
	}

	mustExec(t, db, "CREATE DATABASE [A]")
	mustExec(t, db, "INSERT INTO [A].dbo.drs_probe (id) VALUES (1)")
	mustExec(t, db, "BACKUP DATABASE [A] TO DISK = @p1", full)
	tick()
	mustExec(t, db, "INSERT INTO [A].dbo.drs_probe (id) VALUES (2)")
	stop := tick()
	tick()
	mustExec(t, db, "INSERT INTO [A].dbo.drs_probe (id) VALUES (3)")
	logEnd := tick()
	mustExec(t, db, "BACKUP LOG [A] TO DISK = @p1", logf)

	// DBCC CHECKDB: a database that opens passes, silently with NO_INFOMSGS.
	mustExec(t, db, "DBCC CHECKDB ([A]) WITH NO_INFOMSGS")
	wantErr(t, sqlErr(t, db, "DBCC CHECKDB ([Nope]) WITH NO_INFOMSGS"), 2520)
	wantErr(t, sqlErr(t, db, "DBCC CHECKDB ([A], REPAIR_ALLOW_DATA_LOSS)"), 50000)
	wantErr(t, sqlErr(t, db, "DBCC CHECKDB ([A]) WITH PHYSICAL_ONLY"), 50000)
	wantErr(t, sqlErr(t, db, "DBCC CHECKALLOC ([A])"), 50000)

	move := func(name string) string {
		return "MOVE N'A' TO " + quoteString(filepath.Join(dir, name+".mdf")) + ", MOVE N'A_log' TO " + quoteString(filepath.Join(dir, name+".ldf"))
	}
	// Without MOVE, under a new name on the same server: the files are A's.
	me := sqlErr(t, db, "RESTORE DATABASE [B] FROM DISK = @p1 WITH NORECOVERY", full)
	wantErr(t, me, 1834, 3156, 1834, 3156, 3119, 3013)

	// STOPAT stops before the first record written after the point.
	mustExec(t, db, "RESTORE DATABASE [B] FROM DISK = @p1 WITH NORECOVERY, "+move("B"), full)
	wantErr(t, sqlErr(t, db, "DBCC CHECKDB ([B]) WITH NO_INFOMSGS"), 927)
	mustExec(t, db, "RESTORE LOG [B] FROM DISK = @p1 WITH STOPAT = @p2, RECOVERY", logf, stop.Format("2006-01-02T15:04:05"))
	if n := queryInt(t, db, "SELECT COUNT(*) FROM [B].dbo.drs_probe"); n != 2 {
		t.Errorf("STOPAT between rows 2 and 3: %d rows, want 2", n)
	}
	mustExec(t, db, "DBCC CHECKDB ([B]) WITH NO_INFOMSGS")
	mustExec(t, db, "DROP DATABASE [B]")
	if d := srv.Dropped(); len(d) != 1 || d[0].Name != "B" || len(d[0].Rows) != 2 {
		t.Errorf("Dropped() = %+v", d)
	}

	// A point before what the database holds is too early (4335); one
	// after the log's end leaves it restoring (4339 is informational).
	mustExec(t, db, "RESTORE DATABASE [C] FROM DISK = @p1 WITH NORECOVERY, "+move("C"), full)
	wantErr(t, sqlErr(t, db, "RESTORE LOG [C] FROM DISK = @p1 WITH STOPAT = '2020-01-01T00:00:00', RECOVERY", logf), 4335, 3013)
	mustExec(t, db, "RESTORE LOG [C] FROM DISK = @p1 WITH STOPAT = @p2, RECOVERY", logf, logEnd.Add(time.Hour).Format("2006-01-02T15:04:05"))
	if st := queryString(t, db, "SELECT state_desc FROM sys.databases WHERE name = N'C'").String; st != "RESTORING" {
		t.Errorf("after a STOPAT past the log: %s, want RESTORING", st)
	}
	// STOPAT on RESTORE DATABASE is refused, not ignored.
	wantErr(t, sqlErr(t, db, "RESTORE DATABASE [D] FROM DISK = @p1 WITH STOPAT = '2026-12-03', "+move("D"), full), 50000)
}
