package sqlsim

import (
	"testing"
)

// TestLogSpaceUsage: sys.dm_db_log_space_usage reports the current
// database (USE), its log files' size and the log since the last log
// backup, which a log backup empties; without VIEW SERVER STATE it is
// 300 then 297 (doc.go, "Log space").
func TestLogSpaceUsage(t *testing.T) {
	srv := startSim(t, Options{Logins: []Login{
		{Name: "op", Password: "pw", DatabaseRoles: map[string][]string{"Sales": {"db_backupoperator"}}},
		{Name: "watcher", Password: "pw", Permissions: []string{"VIEW SERVER STATE"}, DatabaseRoles: map[string][]string{"Sales": {"db_backupoperator"}}},
	}})
	sa := conn(t, openDB(t, srv, ""))
	dir := t.TempDir()
	mustExec(t, sa, "CREATE DATABASE [Sales]")
	mustExec(t, sa, "ALTER DATABASE [Sales] ADD LOG FILE (NAME = N'big', FILENAME = N'"+dir+"/big.ldf', SIZE = 100MB)")
	mustExec(t, sa, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(bakPath(dir, "full.bak"))+" WITH FORMAT, INIT")
	for i := 1; i <= 100; i++ {
		mustExec(t, sa, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (@p1)", i)
	}
	mustExec(t, sa, "USE [Sales]")
	q := "SELECT total_log_size_in_bytes, log_space_in_bytes_since_last_backup, database_id FROM sys.dm_db_log_space_usage"
	var total, since, id int64
	if err := sa.QueryRowContext(t.Context(), q).Scan(&total, &since, &id); err != nil {
		t.Fatal(err)
	}
	if total < 100<<20 || since <= 8192 || since > 1<<20 || id != queryInt(t, sa, "SELECT DB_ID()") {
		t.Errorf("after 100 inserts: total %d, since the last log backup %d, database %d", total, since, id)
	}
	mustExec(t, sa, "BACKUP LOG [Sales] TO DISK = "+quoteString(bakPath(dir, "log.trn"))+" WITH FORMAT, INIT")
	var after int64
	if err := sa.QueryRowContext(t.Context(), q).Scan(&total, &after, &id); err != nil || after >= since {
		t.Errorf("after a log backup: since the last log backup %d (%v), want less than %d", after, err, since)
	}
	mustExec(t, sa, "USE [master]")
	if err := sa.QueryRowContext(t.Context(), q).Scan(&total, &after, &id); err == nil {
		t.Errorf("in master: a row (%d), want none: the simulator models no log for system databases", id)
	}

	op := conn(t, loginDB(t, srv, "op", "pw"))
	mustExec(t, op, "USE [Sales]")
	wantErr(t, sqlErr(t, op, q), 300, 297)
	w := conn(t, loginDB(t, srv, "watcher", "pw"))
	mustExec(t, w, "USE [Sales]")
	if err := w.QueryRowContext(t.Context(), q).Scan(&total, &after, &id); err != nil {
		t.Errorf("with VIEW SERVER STATE: %v", err)
	}
}
