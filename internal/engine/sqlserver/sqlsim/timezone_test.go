package sqlsim

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestTimeZone: a server in Europe/Berlin keeps local dates with the
// offset in force when they were written, records that offset in
// backupset.time_zone (15-minute units), and only a 2022 server has
// HEADERONLY's TimeZone column, which need not be the offset.
func TestTimeZone(t *testing.T) {
	// 00:30 UTC is 01:30 CET; 02:00 UTC, after the change at 01:00 UTC,
	// is 04:00 CEST.
	winter := time.Date(2026, 3, 29, 0, 30, 0, 0, time.UTC)
	summer := time.Date(2026, 3, 29, 2, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: winter}
	srv := startSim(t, Options{Name: "P", Now: clock.Now, TimeZone: "Europe/Berlin"})
	c := conn(t, openDB(t, srv, ""))
	ctx := context.Background()
	dir := t.TempDir()

	var local, utc, sysLocal, sysUTC time.Time
	if err := c.QueryRowContext(ctx, "SELECT GETDATE(), GETUTCDATE(), SYSDATETIME(), SYSUTCDATETIME()").Scan(&local, &utc, &sysLocal, &sysUTC); err != nil {
		t.Fatal(err)
	}
	sameInstant(t, "GETDATE()", local, winter.Add(time.Hour))
	sameInstant(t, "SYSDATETIME()", sysLocal, winter.Add(time.Hour))
	sameInstant(t, "GETUTCDATE()", utc, winter)
	sameInstant(t, "SYSUTCDATETIME()", sysUTC, winter)

	mustExec(t, c, "CREATE DATABASE [Sales]")
	mustExec(t, c, "BACKUP DATABASE [Sales] TO DISK = @p1", bakPath(dir, "f.bak"))
	clock.set(summer)
	mustExec(t, c, "BACKUP LOG [Sales] TO DISK = @p1", bakPath(dir, "l.trn"))

	rows, err := c.QueryContext(ctx, "SELECT backup_finish_date, time_zone FROM msdb.dbo.backupset ORDER BY backup_set_id")
	if err != nil {
		t.Fatal(err)
	}
	var finishes []time.Time
	var zones []int64
	for rows.Next() {
		var f time.Time
		var z int64
		if err := rows.Scan(&f, &z); err != nil {
			t.Fatal(err)
		}
		finishes, zones = append(finishes, f), append(zones, z)
	}
	rows.Close()
	if !slices.Equal(zones, []int64{4, 8}) || len(finishes) != 2 {
		t.Fatalf("time_zone %v, want [4 8]", zones)
	}
	sameInstant(t, "full's backup_finish_date", finishes[0], winter.Add(time.Hour))
	sameInstant(t, "log's backup_finish_date", finishes[1], summer.Add(2*time.Hour))

	// The 2022 header's TimeZone: the offset when the server started.
	h := headerRow(t, c, bakPath(dir, "l.trn"))
	if h["TimeZone"] != "+01:00" {
		t.Errorf("HEADERONLY TimeZone %v, want +01:00 (the offset at start, not the backup's)", h["TimeZone"])
	}
	sameInstant(t, "HEADERONLY BackupFinishDate", h["BackupFinishDate"].(time.Time), summer.Add(2*time.Hour))

	// A restore elsewhere records the backup's offset, not its own.
	// (A 2022 server: a 2019 one cannot restore a 2022 backup, 3169.)
	other := startSim(t, Options{Name: "S", Now: clock.Now, UnknownTimeZone: true})
	s := conn(t, openDB(t, other, ""))
	mustExec(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY, MOVE N'Sales' TO @p2, MOVE N'Sales_log' TO @p3",
		bakPath(dir, "f.bak"), filepath.Join(t.TempDir(), "s.mdf"), filepath.Join(t.TempDir(), "s.ldf"))
	if z := queryInt(t, s, "SELECT time_zone FROM msdb.dbo.backupset"); z != 4 {
		t.Errorf("restored backup set's time_zone %d, want 4", z)
	}
	if fork := queryString(t, s, "SELECT recovery_fork_guid FROM sys.database_recovery_status WHERE database_id = DB_ID(N'Sales')"); fork.Valid {
		t.Errorf("recovery_fork_guid of a RESTORING database: %q, want NULL", fork.String)
	}
	// 2019: no TimeZone column; its own backups' time_zone unknown (127).
	s = conn(t, openDB(t, startSim(t, Options{Name: "S19", Now: clock.Now, MajorVersion: 15, UnknownTimeZone: true}), ""))
	mustExec(t, s, "CREATE DATABASE [Other]")
	mustExec(t, s, "BACKUP DATABASE [Other] TO DISK = @p1", bakPath(dir, "o.bak"))
	if _, ok := headerRow(t, s, bakPath(dir, "o.bak"))["TimeZone"]; ok {
		t.Error("a 2019 server's HEADERONLY has a TimeZone column")
	}
	if z := queryInt(t, s, "SELECT time_zone FROM msdb.dbo.backupset WHERE database_name = N'Other'"); z != 127 {
		t.Errorf("time_zone %d, want 127 (unknown)", z)
	}
}

// headerRow is RESTORE HEADERONLY's first row by column name.
func headerRow(t *testing.T, e execer, path string) map[string]any {
	t.Helper()
	rows, err := e.QueryContext(context.Background(), "RESTORE HEADERONLY FROM DISK = @p1", path)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatal("no header row")
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for i, c := range cols {
		out[c] = vals[i]
	}
	return out
}
