package sqlsim

import (
	"context"
	"database/sql"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func lsn(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("LSN %q is not a decimal", s)
	}
	return n
}

func lsnLess(t *testing.T, a, b string) bool { return lsn(t, a).Cmp(lsn(t, b)) < 0 }

const msdbBackups = `SELECT bs.backup_set_id, bs.database_name, bs.type, bs.first_lsn, bs.last_lsn, bs.checkpoint_lsn, bs.database_backup_lsn, bs.backup_start_date, bs.backup_finish_date, bs.is_copy_only, bmf.physical_device_name
FROM msdb.dbo.backupset AS bs
JOIN msdb.dbo.backupmediafamily AS bmf ON bmf.media_set_id = bs.media_set_id
WHERE bs.database_name = @p1 AND bs.backup_finish_date >= @p2
ORDER BY bs.backup_set_id`

const msdbRestores = `SELECT rh.restore_date, rh.destination_database_name, rh.restore_type, bs.first_lsn, bs.last_lsn, bmf.physical_device_name FROM msdb.dbo.restorehistory AS rh JOIN msdb.dbo.backupset AS bs ON bs.backup_set_id = rh.backup_set_id JOIN msdb.dbo.backupmediafamily AS bmf ON bmf.media_set_id = bs.media_set_id WHERE rh.destination_database_name = @p1 ORDER BY rh.restore_history_id`

type backupRow struct {
	id                                   int64
	db, typ, first, last, ckpt, dbBackup string
	start, finish                        time.Time
	copyOnly                             bool
	device                               string
}

func backups(t *testing.T, e execer, db string, since time.Time) []backupRow {
	t.Helper()
	rows, err := e.QueryContext(context.Background(), msdbBackups, db, since)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []backupRow
	for rows.Next() {
		var r backupRow
		if err := rows.Scan(&r.id, &r.db, &r.typ, &r.first, &r.last, &r.ckpt, &r.dbBackup, &r.start, &r.finish, &r.copyOnly, &r.device); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type dbRow struct {
	name, state, model string
	id                 int64
	standby, readOnly  bool
	created            time.Time
}

const sysDatabasesOne = "SELECT name, database_id, state_desc, recovery_model_desc, is_in_standby, is_read_only, create_date FROM sys.databases WHERE name = @p1"

func dbInfo(t *testing.T, e execer, name string) (dbRow, bool) {
	t.Helper()
	var r dbRow
	err := e.QueryRowContext(context.Background(), sysDatabasesOne, name).Scan(&r.name, &r.id, &r.state, &r.model, &r.standby, &r.readOnly, &r.created)
	if err == sql.ErrNoRows {
		return r, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return r, true
}

func redoLSN(t *testing.T, e execer, name string) sql.NullString {
	return queryString(t, e, "SELECT MAX(redo_start_lsn) FROM sys.master_files WHERE database_id = DB_ID(@p1)", name)
}

func chainLSN(t *testing.T, e execer, name string) sql.NullString {
	t.Helper()
	var s sql.NullString
	err := e.QueryRowContext(context.Background(), "SELECT last_log_backup_lsn FROM sys.database_recovery_status WHERE database_id = DB_ID(@p1)", name).Scan(&s)
	if err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	return s
}

func TestBackupChain(t *testing.T) {
	srv := startSim(t, Options{LSNBase: bigLSN, Name: "PRIMARY1"})
	db := conn(t, openDB(t, srv, ""))
	dir := t.TempDir()
	before := time.Now().Add(-time.Second)
	mustExec(t, db, "CREATE DATABASE [Sales]")
	if r, ok := dbInfo(t, db, "Sales"); !ok || r.state != "ONLINE" || r.model != "FULL" || r.standby || r.readOnly || r.id < 5 {
		t.Fatalf("new database: %+v %v", r, ok)
	}
	if c := chainLSN(t, db, "Sales"); c.Valid {
		t.Fatalf("log chain before any full backup: %v", c)
	}
	me := sqlErr(t, db, "BACKUP LOG [Sales] TO DISK = @p1", bakPath(dir, "early.trn"))
	wantErr(t, me, 4214, 3013)
	wantText(t, errText(me, 0), "BACKUP LOG cannot be performed because there is no current database backup.")
	wantText(t, errText(me, 1), "BACKUP LOG is terminating abnormally.")

	mustExec(t, db, "INSERT INTO [Sales].dbo.drs_probe (id, note) VALUES (1, N'a')")
	f1p := bakPath(dir, "f1.bak")
	mustExec(t, db, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(f1p)+" WITH CHECKSUM, COMPRESSION, FORMAT, INIT, STATS = 10")
	f1 := headerOf(t, db, f1p)
	if f1.BackupType != 1 || f1.DatabaseName != "Sales" || f1.ServerName != "PRIMARY1" || f1.RecoveryModel != "FULL" || !f1.Checksums || f1.CopyOnly {
		t.Fatalf("full header %+v", f1)
	}
	if !lsnLess(t, bigLSN, f1.FirstLSN) && f1.FirstLSN != bigLSN {
		t.Fatalf("FirstLSN %s below the LSN base %s", f1.FirstLSN, bigLSN)
	}
	if f1.FirstLSN != f1.CheckpointLSN || !lsnLess(t, f1.CheckpointLSN, f1.LastLSN) || f1.DatabaseBackup != "0" {
		t.Fatalf("full LSNs %+v", f1)
	}
	if c := chainLSN(t, db, "Sales"); !c.Valid {
		t.Fatal("a full backup did not start the log chain")
	}

	mustExec(t, db, "INSERT INTO [Sales].dbo.drs_probe (id, note) VALUES (2, N'b')")
	l1p := bakPath(dir, "l1.trn")
	mustExec(t, db, "BACKUP LOG [Sales] TO DISK = @p1 WITH CHECKSUM, COMPRESSION, STATS = 10", l1p)
	l1 := headerOf(t, db, l1p)
	// First log after a full: FirstLSN <= F.LastLSN < LastLSN.
	if l1.BackupType != 2 || lsnLess(t, f1.LastLSN, l1.FirstLSN) || !lsnLess(t, f1.LastLSN, l1.LastLSN) {
		t.Fatalf("first log %+v after full %+v", l1, f1)
	}
	if l1.DatabaseBackup != f1.CheckpointLSN || l1.FamilyGUID != f1.FamilyGUID {
		t.Fatalf("log's DatabaseBackupLSN %s / family, want %s", l1.DatabaseBackup, f1.CheckpointLSN)
	}
	if c := chainLSN(t, db, "Sales"); c.String != l1.LastLSN {
		t.Fatalf("last_log_backup_lsn %v, want %s", c, l1.LastLSN)
	}

	// A second full does not break the chain; its DatabaseBackupLSN is the
	// previous full's CheckpointLSN.
	f2p := bakPath(dir, "f2.bak")
	mustExec(t, db, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH INIT", f2p)
	f2 := headerOf(t, db, f2p)
	if f2.DatabaseBackup != f1.CheckpointLSN {
		t.Fatalf("F2.DatabaseBackupLSN %s, want %s", f2.DatabaseBackup, f1.CheckpointLSN)
	}
	l2p := bakPath(dir, "l2.trn")
	mustExec(t, db, "BACKUP LOG [Sales] TO DISK = @p1", l2p)
	l2 := headerOf(t, db, l2p)
	if l2.FirstLSN != l1.LastLSN {
		t.Fatalf("L2.FirstLSN %s, want L1.LastLSN %s", l2.FirstLSN, l1.LastLSN)
	}

	// COPY_ONLY: neither the full nor the log moves anything.
	c1p := bakPath(dir, "c1.bak")
	mustExec(t, db, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH COPY_ONLY, NAME = N'copy', DESCRIPTION = N'd'", c1p)
	c1 := headerOf(t, db, c1p)
	if !c1.CopyOnly || c1.DatabaseBackup != f2.CheckpointLSN {
		t.Fatalf("copy-only full %+v", c1)
	}
	c2p := bakPath(dir, "c2.trn")
	mustExec(t, db, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (3)")
	mustExec(t, db, "BACKUP LOG [Sales] TO DISK = @p1 WITH COPY_ONLY", c2p)
	c2 := headerOf(t, db, c2p)
	l3p := bakPath(dir, "l3.trn")
	mustExec(t, db, "BACKUP LOG [Sales] TO DISK = @p1", l3p)
	l3 := headerOf(t, db, l3p)
	if c2.FirstLSN != l2.LastLSN || l3.FirstLSN != l2.LastLSN || !c2.CopyOnly {
		t.Fatalf("copy-only log moved the chain: c2 %+v l3 %+v", c2, l3)
	}
	f3p := bakPath(dir, "f3.bak")
	mustExec(t, db, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH FORMAT", f3p)
	if f3 := headerOf(t, db, f3p); f3.DatabaseBackup != f2.CheckpointLSN {
		t.Fatalf("a copy-only full became the base: %s", f3.DatabaseBackup)
	}

	// msdb history, exactly as the engine queries it.
	hist := backups(t, db, "Sales", before)
	if len(hist) != 8 {
		t.Fatalf("%d backups in msdb, want 8", len(hist))
	}
	types := ""
	for i, h := range hist {
		types += h.typ
		if i > 0 && h.id <= hist[i-1].id {
			t.Fatal("backup_set_id not ascending")
		}
		if h.finish.Before(h.start) || h.db != "Sales" {
			t.Fatalf("history row %+v", h)
		}
	}
	if types != "DLDLDLLD" {
		t.Fatalf("backup types %q", types)
	}
	if hist[1].first != l1.FirstLSN || hist[1].last != l1.LastLSN || hist[1].device != l1p || hist[1].dbBackup != f1.CheckpointLSN || hist[1].ckpt != l1.CheckpointLSN {
		t.Fatalf("msdb row for L1 %+v, header %+v", hist[1], l1)
	}
	if !hist[4].copyOnly || !hist[5].copyOnly || hist[0].copyOnly || hist[6].copyOnly {
		t.Fatal("is_copy_only wrong")
	}
	if got := backups(t, db, "Sales", time.Now().Add(time.Hour)); len(got) != 0 {
		t.Fatalf("backup_finish_date >= future: %d rows", len(got))
	}

	// SIMPLE breaks the chain: 4208 while SIMPLE, 4214 until a new full.
	mustExec(t, db, "ALTER DATABASE [Sales] SET RECOVERY SIMPLE")
	if r, _ := dbInfo(t, db, "Sales"); r.model != "SIMPLE" {
		t.Fatalf("recovery model %s", r.model)
	}
	me = sqlErr(t, db, "BACKUP LOG [Sales] TO DISK = @p1", bakPath(dir, "s.trn"))
	wantErr(t, me, 4208, 3013)
	wantText(t, errText(me, 0), "The statement BACKUP LOG is not allowed while the recovery model is SIMPLE. Use BACKUP DATABASE or change the recovery model using ALTER DATABASE.")
	mustExec(t, db, "ALTER DATABASE [Sales] SET RECOVERY FULL")
	if c := chainLSN(t, db, "Sales"); c.Valid {
		t.Fatalf("chain survived SIMPLE: %v", c)
	}
	wantErr(t, sqlErr(t, db, "BACKUP LOG [Sales] TO DISK = @p1", bakPath(dir, "s.trn")), 4214, 3013)
	mustExec(t, db, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH INIT", bakPath(dir, "f4.bak"))
	mustExec(t, db, "BACKUP LOG [Sales] TO DISK = @p1 WITH INIT", bakPath(dir, "s.trn"))
	mustExec(t, db, "ALTER DATABASE [Sales] SET RECOVERY BULK_LOGGED")
	mustExec(t, db, "BACKUP LOG [Sales] TO DISK = @p1 WITH INIT", bakPath(dir, "s.trn"))

	// Device and database errors.
	me = sqlErr(t, db, "BACKUP DATABASE [Sales] TO DISK = @p1", filepath.Join(dir, "missing", "x.bak"))
	wantErr(t, me, 3201, 3013)
	wantText(t, errText(me, 0), "Cannot open backup device '"+filepath.Join(dir, "missing", "x.bak")+"'. Operating system error 3(The system cannot find the path specified.).")
	wantText(t, errText(me, 1), "BACKUP DATABASE is terminating abnormally.")
	wantErr(t, sqlErr(t, db, "BACKUP DATABASE [Sales] TO DISK = @p1", f1p), 50000, 3013) // exists, no INIT
	me = sqlErr(t, db, "BACKUP DATABASE [Sales] TO URL = N'https://acct.blob.core.windows.net/c/x.bak' WITH CREDENTIAL = N'https://acct.blob.core.windows.net/c'")
	wantErr(t, me, 3201, 3013)
	wantContains(t, errText(me, 0), "Operating system error 50(The request is not supported.)") // no such credential (url_test.go)
	wantErr(t, sqlErr(t, db, "BACKUP LOG [Sales] TO URL = N's3://s3.example:9000/b/x.trn'"), 3201, 3013)
	me = sqlErr(t, db, "BACKUP DATABASE [Nope] TO DISK = @p1", bakPath(dir, "n.bak"))
	wantErr(t, me, 911, 3013)
	wantText(t, errText(me, 0), "Database 'Nope' does not exist. Make sure that the name is entered correctly.")
	wantErr(t, sqlErr(t, db, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH DIFFERENTIAL", bakPath(dir, "d.bak")), 50000)

	// The file is written under its final name only when complete.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if e.Name()[0] == '.' {
			t.Fatalf("temporary file left behind: %s", e.Name())
		}
	}
}

// TestRestoreStandby ships a chain from a primary to a standby server.
func TestRestoreStandby(t *testing.T) {
	psrv := startSim(t, Options{LSNBase: bigLSN, Name: "P"})
	ssrv := startSim(t, Options{Name: "S"})
	p := conn(t, openDB(t, psrv, ""))
	s := conn(t, openDB(t, ssrv, ""))
	dir := t.TempDir()
	tdata := t.TempDir()

	mustExec(t, p, "CREATE DATABASE [Sales]; INSERT INTO [Sales].dbo.drs_probe (id, note) VALUES (1, N'one')")
	fp, l1p, l2p := bakPath(dir, "f.bak"), bakPath(dir, "l1.trn"), bakPath(dir, "l2.trn")
	mustExec(t, p, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH CHECKSUM, INIT", fp)
	mustExec(t, p, "INSERT INTO [Sales].dbo.drs_probe (id, note) VALUES (2, N'two')")
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1 WITH CHECKSUM", l1p)
	mustExec(t, p, "INSERT INTO [Sales].dbo.drs_probe (id, note) VALUES (3, N'three')")
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1 WITH CHECKSUM", l2p)
	f, l1, l2 := headerOf(t, s, fp), headerOf(t, s, l1p), headerOf(t, s, l2p)

	// FILELISTONLY and VERIFYONLY on the standby.
	rows, err := s.QueryContext(context.Background(), "RESTORE FILELISTONLY FROM DISK = @p1", fp)
	if err != nil {
		t.Fatal(err)
	}
	var logical []string
	for rows.Next() {
		var ln, pn, typ string
		var fg sql.NullString
		var size string
		var id int64
		cols, _ := rows.Columns()
		dest := []any{&ln, &pn, &typ, &fg, &size, new(any), &id}
		for len(dest) < len(cols) {
			dest = append(dest, new(any))
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		logical = append(logical, ln+":"+typ)
	}
	rows.Close()
	if len(logical) != 2 || logical[0] != "Sales:D" || logical[1] != "Sales_log:L" {
		t.Fatalf("FILELISTONLY %v", logical)
	}
	mustExec(t, s, "RESTORE VERIFYONLY FROM DISK = @p1 WITH CHECKSUM", fp)

	if r := redoLSN(t, s, "Sales"); r.Valid {
		t.Fatalf("redo LSN of an absent database: %v", r)
	}
	mustExec(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY, MOVE N'Sales' TO @p2, MOVE N'Sales_log' TO @p3, REPLACE, STATS = 10",
		fp, filepath.Join(tdata, "Sales.mdf"), filepath.Join(tdata, "Sales_log.ldf"))
	if r, _ := dbInfo(t, s, "Sales"); r.state != "RESTORING" || r.standby {
		t.Fatalf("after NORECOVERY: %+v", r)
	}
	if r := redoLSN(t, s, "Sales"); r.String != f.LastLSN {
		t.Fatalf("redo_start_lsn %v, want %s", r, f.LastLSN)
	}
	me := sqlErr(t, s, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe")
	wantErr(t, me, 927)
	wantText(t, me.Message, "Database 'Sales' cannot be opened. It is in the middle of a restore.")
	wantErr(t, sqlErr(t, s, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (9)"), 927)
	wantErr(t, sqlErr(t, s, "USE [Sales]"), 927)

	// Out of order: a gap.
	me = sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY", l2p)
	wantErr(t, me, 4305, 3013)
	wantText(t, errText(me, 0), "The log in this backup set begins at LSN "+l2.FirstLSN+", which is too recent to apply to the database. An earlier log backup that includes LSN "+f.LastLSN+" can be restored.")
	wantText(t, errText(me, 1), "RESTORE LOG is terminating abnormally.")

	undo := filepath.Join(tdata, "Sales.tuf")
	mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2, STATS = 10", l1p, undo)
	if r, _ := dbInfo(t, s, "Sales"); r.state != "ONLINE" || !r.standby || !r.readOnly {
		t.Fatalf("after STANDBY: %+v", r)
	}
	if _, err := os.Stat(undo); err != nil {
		t.Fatalf("undo file: %v", err)
	}
	if r := redoLSN(t, s, "Sales"); r.Valid {
		// Documented NULL unless RESTORING (redo_test.go covers the rest).
		t.Fatalf("redo_start_lsn in STANDBY %v, want NULL", r)
	}
	if n := queryInt(t, s, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe"); n != 2 {
		t.Fatalf("rows on standby: %d", n)
	}
	if got := queryString(t, s, "SELECT note FROM [Sales].dbo.drs_probe WHERE id = 2").String; got != "two" {
		t.Fatalf("row 2 on standby: %q", got)
	}
	me = sqlErr(t, s, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (9)")
	wantErr(t, me, 3906)
	wantText(t, me.Message, `Failed to update database "Sales" because the database is read-only.`)

	// Already applied.
	me = sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", l1p, undo)
	wantErr(t, me, 4326, 3013)
	wantText(t, errText(me, 0), "The log in this backup set terminates at LSN "+l1.LastLSN+", which is too early to apply to the database. A more recent log backup that includes LSN "+l1.LastLSN+" can be restored.")

	// A reader on the standby blocks the restore until it is killed.
	reader := conn(t, openDB(t, ssrv, "Sales"))
	readerSPID := queryInt(t, reader, "SELECT @@SPID")
	me = sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", l2p, undo)
	wantErr(t, me, 3101, 3013)
	wantText(t, errText(me, 0), "Exclusive access could not be obtained because the database is in use.")
	ids := queryInt(t, s, "SELECT session_id FROM sys.dm_exec_sessions WHERE database_id = DB_ID(@p1) AND session_id <> @@SPID", "Sales")
	if ids != readerSPID {
		t.Fatalf("session in Sales %d, want %d", ids, readerSPID)
	}
	mustExec(t, s, "KILL "+itoa(readerSPID))
	mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", l2p, undo)
	if got := queryString(t, s, "SELECT note FROM [Sales].dbo.drs_probe WHERE id = 3").String; got != "three" {
		t.Fatalf("row 3 on standby: %q", got)
	}

	// restorehistory, as the engine queries it.
	rows, err = s.QueryContext(context.Background(), msdbRestores, "Sales")
	if err != nil {
		t.Fatal(err)
	}
	var hist []string
	for rows.Next() {
		var at time.Time
		var dest, typ, first, last, dev string
		if err := rows.Scan(&at, &dest, &typ, &first, &last, &dev); err != nil {
			t.Fatal(err)
		}
		hist = append(hist, typ+" "+first+" "+last+" "+filepath.Base(dev))
	}
	rows.Close()
	want := []string{"D " + f.FirstLSN + " " + f.LastLSN + " f.bak", "L " + l1.FirstLSN + " " + l1.LastLSN + " l1.trn", "L " + l2.FirstLSN + " " + l2.LastLSN + " l2.trn"}
	if len(hist) != 3 || hist[0] != want[0] || hist[1] != want[1] || hist[2] != want[2] {
		t.Fatalf("restore history\n%q\nwant\n%q", hist, want)
	}

	// Promotion.
	mustExec(t, s, "RESTORE DATABASE [Sales] WITH RECOVERY")
	if r, _ := dbInfo(t, s, "Sales"); r.state != "ONLINE" || r.standby || r.readOnly {
		t.Fatalf("after RECOVERY: %+v", r)
	}
	if r := redoLSN(t, s, "Sales"); r.Valid {
		t.Fatalf("redo LSN of an online database: %v", r)
	}
	mustExec(t, s, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (4)")
	me = sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY", l2p)
	wantErr(t, me, 3117, 3013)
	wantText(t, errText(me, 0), "The log or differential backup cannot be restored because no files are ready to rollforward.")
	wantErr(t, sqlErr(t, s, "RESTORE DATABASE [Sales] WITH RECOVERY"), 3153, 3013)
	// The promoted copy continues the chain: a log backup works at once.
	mustExec(t, s, "BACKUP LOG [Sales] TO DISK = @p1", bakPath(dir, "s1.trn"))
	if h := headerOf(t, s, bakPath(dir, "s1.trn")); h.FirstLSN != l2.LastLSN || h.FamilyGUID != f.FamilyGUID {
		t.Fatalf("first log of the promoted copy %+v", h)
	}
}

func TestRestoreErrors(t *testing.T) {
	srv := startSim(t, Options{})
	db := conn(t, openDB(t, srv, ""))
	dir := t.TempDir()
	tdata := t.TempDir()
	mustExec(t, db, "CREATE DATABASE [A]; CREATE DATABASE [B]; INSERT INTO [A].dbo.drs_probe (id) VALUES (1)")
	ap, alp, bp := bakPath(dir, "a.bak"), bakPath(dir, "a.trn"), bakPath(dir, "b.bak")
	mustExec(t, db, "BACKUP DATABASE [A] TO DISK = @p1", ap)
	mustExec(t, db, "BACKUP LOG [A] TO DISK = @p1", alp)
	mustExec(t, db, "BACKUP DATABASE [B] TO DISK = @p1 WITH CHECKSUM", bp)
	moveA := func(name string) []any {
		return []any{filepath.Join(tdata, name+".mdf"), filepath.Join(tdata, name+"_log.ldf")}
	}

	// 3201: missing file, for every kind of RESTORE.
	missing := bakPath(dir, "missing.bak")
	for q, op := range map[string]string{
		"RESTORE HEADERONLY FROM DISK = @p1":                   "RESTORE HEADERONLY",
		"RESTORE FILELISTONLY FROM DISK = @p1":                 "RESTORE FILELIST",
		"RESTORE VERIFYONLY FROM DISK = @p1":                   "VERIFY DATABASE",
		"RESTORE DATABASE [X] FROM DISK = @p1 WITH NORECOVERY": "RESTORE DATABASE",
		"RESTORE LOG [A] FROM DISK = @p1 WITH NORECOVERY":      "RESTORE LOG",
	} {
		me := sqlErr(t, db, q, missing)
		wantErr(t, me, 3201, 3013)
		wantText(t, errText(me, 0), "Cannot open backup device '"+missing+"'. Operating system error 2(The system cannot find the file specified.).")
		wantText(t, errText(me, 1), op+" is terminating abnormally.")
	}

	// 3241: damaged or truncated files.
	good, _ := os.ReadFile(ap)
	damaged := bakPath(dir, "damaged.bak")
	bad := append([]byte(nil), good...)
	bad[len(bad)-40] ^= 0xFF
	os.WriteFile(damaged, bad, 0o644)
	headerOf(t, db, damaged) // the header itself is intact
	me := sqlErr(t, db, "RESTORE VERIFYONLY FROM DISK = @p1 WITH CHECKSUM", damaged)
	wantErr(t, me, 3241, 3013)
	wantText(t, errText(me, 0), "The media family on device '"+damaged+"' is incorrectly formed. SQL Server cannot process this media family.")
	wantText(t, errText(me, 1), "VERIFY DATABASE is terminating abnormally.")
	wantErr(t, sqlErr(t, db, "RESTORE DATABASE [X] FROM DISK = @p1 WITH NORECOVERY", damaged), 3241, 3013)
	truncated := bakPath(dir, "truncated.bak")
	os.WriteFile(truncated, good[:30], 0o644)
	wantErr(t, sqlErr(t, db, "RESTORE HEADERONLY FROM DISK = @p1", truncated), 3241, 3013)
	os.WriteFile(truncated, good[:len(good)-1], 0o644)
	wantErr(t, sqlErr(t, db, "RESTORE VERIFYONLY FROM DISK = @p1", truncated), 3241, 3013)

	// 3187: CHECKSUM on a backup taken without checksums.
	wantErr(t, sqlErr(t, db, "RESTORE VERIFYONLY FROM DISK = @p1 WITH CHECKSUM", ap), 3187, 3013)
	mustExec(t, db, "RESTORE VERIFYONLY FROM DISK = @p1 WITH CHECKSUM", bp)

	// 3154: a backup of another database over an existing one.
	me = sqlErr(t, db, "RESTORE DATABASE [B] FROM DISK = @p1 WITH NORECOVERY", ap)
	wantErr(t, me, 3154, 3013)
	wantText(t, errText(me, 0), "The backup set holds a backup of a database other than the existing 'B' database.")

	// 3159: the tail of an online FULL database's log not backed up.
	me = sqlErr(t, db, "RESTORE DATABASE [A] FROM DISK = @p1 WITH NORECOVERY", ap)
	wantErr(t, me, 3159, 3013)
	wantText(t, errText(me, 0), `The tail of the log for the database "A" has not been backed up. Use BACKUP LOG WITH NORECOVERY to backup the log if it contains work you do not want to lose. Use the WITH REPLACE or WITH STOPAT clause of the RESTORE statement to just overwrite the contents of the log.`)

	// 3135: the wrong kind of backup.
	me = sqlErr(t, db, "RESTORE DATABASE [X] FROM DISK = @p1", alp)
	wantErr(t, me, 3135, 3013)
	wantText(t, errText(me, 0), "The backup set in file '"+alp+"' was created by BACKUP LOG and cannot be used for this restore operation.")

	// 3117 and 3118: log restores onto an online or missing database.
	wantErr(t, sqlErr(t, db, "RESTORE LOG [A] FROM DISK = @p1", alp), 3117, 3013)
	wantErr(t, sqlErr(t, db, "RESTORE LOG [Nope] FROM DISK = @p1", alp), 3118, 3013)

	// 1834/3156: restoring as a new name without MOVE collides with A's files.
	me = sqlErr(t, db, "RESTORE DATABASE [A2] FROM DISK = @p1 WITH NORECOVERY", ap)
	wantErr(t, me, 1834, 3156, 1834, 3156, 3119, 3013)
	// 3234: MOVE of a logical file the backup does not have.
	me = sqlErr(t, db, "RESTORE DATABASE [A2] FROM DISK = @p1 WITH NORECOVERY, MOVE N'nosuch' TO @p2", ap, filepath.Join(tdata, "x.mdf"))
	wantErr(t, me, 3234, 3119, 3013)
	wantText(t, errText(me, 0), "Logical file 'nosuch' is not part of database 'A'. Use RESTORE FILELISTONLY to list the logical file names.")
	// 5133/3156: MOVE into a directory that does not exist.
	nodir := filepath.Join(tdata, "nodir", "A2.mdf")
	me = sqlErr(t, db, "RESTORE DATABASE [A2] FROM DISK = @p1 WITH NORECOVERY, MOVE N'A' TO @p2, MOVE N'A_log' TO @p3", ap, nodir, moveA("A2")[1])
	wantErr(t, me, 5133, 3156, 3119, 3013)
	wantText(t, errText(me, 0), `Directory lookup for the file "`+nodir+`" failed with the operating system error 2(The system cannot find the file specified.).`)
	wantText(t, errText(me, 1), "File 'A' cannot be restored to '"+nodir+"'. Use WITH MOVE to identify a valid location for the file.")
	// 3441: the STANDBY undo file's directory does not exist.
	args := append([]any{ap}, moveA("A2")...)
	args = append(args, filepath.Join(tdata, "nodir", "u.tuf"))
	wantErr(t, sqlErr(t, db, "RESTORE DATABASE [A2] FROM DISK = @p1 WITH MOVE N'A' TO @p2, MOVE N'A_log' TO @p3, STANDBY = @p4", args...), 3441, 3013)
	if _, ok := dbInfo(t, db, "A2"); ok {
		t.Fatal("a failed restore created the database")
	}

	// A database restored under another name, then recovered by default.
	mustExec(t, db, "RESTORE DATABASE [A2] FROM DISK = @p1 WITH MOVE N'A' TO @p2, MOVE N'A_log' TO @p3, STATS", append([]any{ap}, moveA("A2")...)...)
	if r, _ := dbInfo(t, db, "A2"); r.state != "ONLINE" || r.standby {
		t.Fatalf("A2 %+v", r)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM [A2].dbo.drs_probe"); n != 1 {
		t.Fatalf("rows in A2: %d", n)
	}
	// REPLACE overrides 3154 and 3159.
	mustExec(t, db, "RESTORE DATABASE [B] FROM DISK = @p1 WITH REPLACE, NORECOVERY, MOVE N'A' TO @p2, MOVE N'A_log' TO @p3", append([]any{ap}, moveA("B")...)...)
	mustExec(t, db, "RESTORE DATABASE [A] FROM DISK = @p1 WITH REPLACE, NORECOVERY", ap)

	// 3102: a RESTORE from inside the database itself.
	mustExec(t, db, "USE [A2]")
	me = sqlErr(t, db, "RESTORE DATABASE [A2] FROM DISK = @p1 WITH REPLACE", ap)
	wantErr(t, me, 3102, 3013)
	wantText(t, errText(me, 0), "RESTORE cannot process database 'A2' because it is in use by this session. It is recommended that the master database be used when performing this operation.")
	mustExec(t, db, "USE master")

	// Unsupported options are refused, not ignored.
	wantErr(t, sqlErr(t, db, "RESTORE DATABASE [A] FROM DISK = @p1 WITH STOPAT = '2024-01-01'", ap), 50000)
	wantErr(t, sqlErr(t, db, "RESTORE DATABASE [A] FROM DISK = @p1 WITH RECOVERY, NORECOVERY", ap), 3032, 3013)
	wantErr(t, sqlErr(t, db, "RESTORE DATABASE [A] FROM URL = N'https://a.blob.core.windows.net/c/a.bak'"), 3201, 3013)
}

// TestRecoveryPaths covers 4330 and the fork a recovery starts.
func TestRecoveryPaths(t *testing.T) {
	psrv := startSim(t, Options{Name: "P"})
	ssrv := startSim(t, Options{Name: "S"})
	p := conn(t, openDB(t, psrv, ""))
	s := conn(t, openDB(t, ssrv, ""))
	dir := t.TempDir()
	path := func(n string) string { return bakPath(dir, n) }

	mustExec(t, p, "CREATE DATABASE [Sales]; CREATE DATABASE [Other]; INSERT INTO [Sales].dbo.drs_probe (id) VALUES (1)")
	mustExec(t, p, "BACKUP DATABASE [Sales] TO DISK = @p1", path("f.bak"))
	mustExec(t, p, "BACKUP DATABASE [Other] TO DISK = @p1", path("of.bak"))
	mustExec(t, p, "INSERT INTO [Other].dbo.drs_probe (id) VALUES (1); BACKUP LOG [Other] TO DISK = @p1", path("ol.trn"))
	mustExec(t, p, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (2); BACKUP LOG [Sales] TO DISK = @p1", path("l1.trn"))

	// A log of another database (another family).
	mustExec(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY", path("f.bak"))
	me := sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY", path("ol.trn"))
	wantErr(t, me, 4330, 3013)
	wantContains(t, errText(me, 0), "This backup set cannot be applied because it is on a recovery path that is inconsistent with the database.")
	cdir := t.TempDir()
	mustExec(t, s, "RESTORE DATABASE [Copy2] FROM DISK = @p1 WITH NORECOVERY, MOVE N'Sales' TO @p2, MOVE N'Sales_log' TO @p3",
		path("f.bak"), filepath.Join(cdir, "c2.mdf"), filepath.Join(cdir, "c2.ldf"))
	mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY", path("l1.trn"))

	// The primary is restored from its full and recovered: a new fork begins
	// at F.LastLSN. Its next log is on that fork.
	mustExec(t, p, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH REPLACE", path("f.bak"))
	mustExec(t, p, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (20); BACKUP LOG [Sales] TO DISK = @p1", path("l2fork.trn"))
	// The standby went past the fork point on the old path: 4330.
	wantErr(t, sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY", path("l2fork.trn")), 4330, 3013)
	// A copy that stopped exactly at the fork point follows the new fork.
	mustExec(t, s, "RESTORE LOG [Copy2] FROM DISK = @p1 WITH STANDBY = @p2", path("l2fork.trn"), filepath.Join(t.TempDir(), "c2.tuf"))
	if n := queryInt(t, s, "SELECT COUNT(*) FROM [Copy2].dbo.drs_probe WHERE id = 20"); n != 1 {
		t.Fatal("row from the new fork missing")
	}
	wantErr(t, sqlErr(t, s, "RESTORE LOG [Copy2] FROM DISK = @p1 WITH NORECOVERY", path("l1.trn")), 4330, 3013)
}

// TestPlannedSwitchover: tail-log backup with NORECOVERY, the standby takes
// over, and the old primary follows the new one's logs.
func TestPlannedSwitchover(t *testing.T) {
	psrv := startSim(t, Options{Name: "P", LSNBase: bigLSN})
	ssrv := startSim(t, Options{Name: "S"})
	p := conn(t, openDB(t, psrv, ""))
	s := conn(t, openDB(t, ssrv, ""))
	dir := t.TempDir()
	path := func(n string) string { return bakPath(dir, n) }
	mustExec(t, p, "CREATE DATABASE [Sales]; INSERT INTO [Sales].dbo.drs_probe (id) VALUES (1)")
	mustExec(t, p, "BACKUP DATABASE [Sales] TO DISK = @p1", path("f.bak"))
	mustExec(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY", path("f.bak"))
	mustExec(t, p, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (2)")

	// Another session in the primary database blocks the tail-log backup.
	user := conn(t, openDB(t, psrv, "Sales"))
	wantErr(t, sqlErr(t, p, "BACKUP LOG [Sales] TO DISK = @p1 WITH NORECOVERY", path("tail.trn")), 3101, 3013)
	mustExec(t, p, "KILL "+itoa(queryInt(t, user, "SELECT @@SPID")))

	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1 WITH NORECOVERY", path("tail.trn"))
	if r, _ := dbInfo(t, p, "Sales"); r.state != "RESTORING" {
		t.Fatalf("primary after tail-log backup: %+v", r)
	}
	tail := headerOf(t, p, path("tail.trn"))
	if r := redoLSN(t, p, "Sales"); r.String != tail.LastLSN {
		t.Fatalf("primary redo %v, want %s", r, tail.LastLSN)
	}
	mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH RECOVERY", path("tail.trn"))
	mustExec(t, s, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (3); BACKUP LOG [Sales] TO DISK = @p1", path("s1.trn"))
	s1 := headerOf(t, s, path("s1.trn"))
	if s1.FirstLSN != tail.LastLSN {
		t.Fatalf("new primary's first log starts at %s, want %s", s1.FirstLSN, tail.LastLSN)
	}
	mustExec(t, p, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", path("s1.trn"), filepath.Join(t.TempDir(), "p.tuf"))
	if n := queryInt(t, p, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe"); n != 3 {
		t.Fatalf("old primary has %d rows, want 3", n)
	}
}

// TestAwkwardNames: names with ] and ' work quoted and fail spliced.
func TestAwkwardNames(t *testing.T) {
	srv := startSim(t, Options{})
	db := conn(t, openDB(t, srv, ""))
	dir := filepath.Join(t.TempDir(), "it's here")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mustExec(t, db, "CREATE DATABASE [victim]")
	for _, name := range []string{"Sales]; DROP DATABASE victim; --", "O'Brien"} {
		q := quoteIdent(name)
		mustExec(t, db, "CREATE DATABASE "+q)
		mustExec(t, db, "INSERT INTO "+q+".dbo.drs_probe (id, note) VALUES (1, "+quoteString(name)+")")
		bak := filepath.Join(dir, name+".bak")
		mustExec(t, db, "BACKUP DATABASE "+q+" TO DISK = "+quoteString(bak)+" WITH INIT")
		if h := headerOf(t, db, bak); h.DatabaseName != name {
			t.Fatalf("DatabaseName %q, want %q", h.DatabaseName, name)
		}
		if r, ok := dbInfo(t, db, name); !ok || r.name != name {
			t.Fatalf("sys.databases for %q: %+v", name, r)
		}
		// The login database may be named so too.
		in := openDB(t, srv, name)
		if got := queryString(t, in, "SELECT note FROM dbo.drs_probe").String; got != name {
			t.Fatalf("note %q", got)
		}
		in.Close()
		// Spliced without quoting: a syntax error, and nothing runs.
		me := sqlErr(t, db, "DROP DATABASE "+name)
		if me.Number != 102 && me.Number != 105 {
			t.Fatalf("unquoted %q: error %d %s", name, me.Number, me.Message)
		}
		me = sqlErr(t, db, "BACKUP DATABASE "+q+" TO DISK = N'"+bak+"' WITH INIT")
		if me.Number != 102 && me.Number != 105 && me.Number != 3013 {
			t.Fatalf("unquoted path: error %d %s", me.Number, me.Message)
		}
	}
	if _, ok := dbInfo(t, db, "victim"); !ok {
		t.Fatal("the victim database was dropped")
	}
	if _, ok := dbInfo(t, db, "Sales]; DROP DATABASE victim; --"); !ok {
		t.Fatal("database with ] in its name dropped")
	}
	// Plain regular identifiers work unquoted; reserved words do not.
	mustExec(t, db, "CREATE DATABASE plain_db1")
	wantErr(t, sqlErr(t, db, "CREATE DATABASE select"), 102)
	mustExec(t, db, "CREATE DATABASE [select]; DROP DATABASE [select]")
}

func TestDatabaseStatements(t *testing.T) {
	srv := startSim(t, Options{})
	db := conn(t, openDB(t, srv, ""))
	mustExec(t, db, "CREATE DATABASE [d]")
	me := sqlErr(t, db, "CREATE DATABASE [D]")
	wantErr(t, me, 1801)
	wantText(t, me.Message, "Database 'D' already exists. Choose a different database name.")
	wantErr(t, sqlErr(t, db, "USE [nope]"), 911)
	wantErr(t, sqlErr(t, db, "DROP DATABASE [nope]"), 3701)
	mustExec(t, db, "DROP DATABASE IF EXISTS [nope]")
	user := conn(t, openDB(t, srv, "d"))
	_ = user
	wantErr(t, sqlErr(t, db, "DROP DATABASE [d]"), 3702)
	wantErr(t, sqlErr(t, db, "SELECT id FROM [d].dbo.missing"), 208)
	wantErr(t, sqlErr(t, db, "SELECT nosuch FROM [d].dbo.drs_probe"), 207)
	wantErr(t, sqlErr(t, db, "INSERT INTO [d].dbo.drs_probe (id, note) VALUES (1, @p1)", string(make([]rune, 201))), 2628)

	// Every database appears in the unfiltered catalog query, system ones too.
	rows, err := db.QueryContext(context.Background(), "SELECT name, database_id, state_desc, recovery_model_desc, is_in_standby, is_read_only, create_date FROM sys.databases")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var r dbRow
		if err := rows.Scan(&r.name, &r.id, &r.state, &r.model, &r.standby, &r.readOnly, &r.created); err != nil {
			t.Fatal(err)
		}
		names = append(names, r.name)
	}
	rows.Close()
	if len(names) != 5 || names[0] != "master" || names[4] != "d" {
		t.Fatalf("databases %v", names)
	}
	if r := redoLSN(t, db, "d"); r.Valid {
		t.Fatal("online database has a redo LSN")
	}
	if r := redoLSN(t, db, "absent"); r.Valid {
		t.Fatal("absent database has a redo LSN")
	}
}
