package sqlsim

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// resultRows reads every row of q as column name → value.
func resultRows(t *testing.T, e execer, q string, args ...any) []map[string]any {
	t.Helper()
	rows, err := e.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		m := map[string]any{}
		for i, c := range cols {
			m[c] = vals[i]
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func lsnOf(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return ""
}

// byLogical finds a FILELISTONLY or sys.master_files row by logical name.
func byLogical(rows []map[string]any, col, name string) map[string]any {
	for _, r := range rows {
		if r[col] == name {
			return r
		}
	}
	return nil
}

func TestAlterDatabase_AddFileTravelsWithTheLog(t *testing.T) {
	p, s := startSim(t, Options{Name: "P"}), startSim(t, Options{Name: "S"})
	pdb, sdb := conn(t, openDB(t, p, "")), conn(t, openDB(t, s, ""))
	dir := t.TempDir()
	primaryDir := filepath.Join(t.TempDir(), "fg") // exists on the primary's host only while it adds the file
	if err := os.Mkdir(primaryDir, 0o755); err != nil {
		t.Fatal(err)
	}
	full, log1, log2 := bakPath(dir, "f.bak"), bakPath(dir, "1.trn"), bakPath(dir, "2.trn")
	extra := filepath.Join(primaryDir, "Sales_extra.ndf")

	mustExec(t, pdb, "CREATE DATABASE [Sales]")
	mustExec(t, pdb, "BACKUP DATABASE [Sales] TO DISK = @p1", full)
	mustExec(t, pdb, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (1)")

	// ADD FILE refuses what SQL Server refuses.
	wantErr(t, sqlErr(t, pdb, "ALTER DATABASE [Sales] ADD FILE (NAME = x, FILENAME = '"+filepath.Join(dir, "nodir", "x.ndf")+"')"), 5133, 5009)
	wantErr(t, sqlErr(t, pdb, "ALTER DATABASE [Sales] ADD FILE (NAME = Sales, FILENAME = '"+filepath.Join(dir, "x.ndf")+"')"), 1828)
	wantErr(t, sqlErr(t, pdb, "ALTER DATABASE [Sales] ADD FILE (NAME = x, FILENAME = '"+p.dataPath("Sales.mdf")+"')"), 5170, 5009)
	wantErr(t, sqlErr(t, pdb, "ALTER DATABASE [Sales] ADD FILE (NAME = x, FILENAME = '"+filepath.Join(dir, "x.ndf")+"') TO FILEGROUP [Archive]"), 5014)
	wantErr(t, sqlErr(t, pdb, "ALTER DATABASE [Sales] REMOVE FILE [Sales]"), 5020)
	wantErr(t, sqlErr(t, pdb, "ALTER DATABASE [Sales] REMOVE FILE nothing"), 5041)

	mustExec(t, pdb, "ALTER DATABASE [Sales] ADD FILE (NAME = Sales_extra, FILENAME = N'"+extra+"', SIZE = 8MB, FILEGROWTH = 64MB) TO FILEGROUP [PRIMARY]")
	mustExec(t, pdb, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (2)")
	mustExec(t, pdb, "BACKUP LOG [Sales] TO DISK = @p1", log1)

	// FILELISTONLY: the full has the two original files (CreateLSN 0), the
	// log also the added one, with the LSN that created it.
	if got := resultRows(t, pdb, "RESTORE FILELISTONLY FROM DISK = @p1", full); len(got) != 2 || lsnOf(got[0]["CreateLSN"]) != "0" {
		t.Fatalf("full's file list %v, want 2 files created with the database", got)
	}
	fl := resultRows(t, pdb, "RESTORE FILELISTONLY FROM DISK = @p1", log1)
	added := byLogical(fl, "LogicalName", "Sales_extra")
	if len(fl) != 3 || added == nil || added["PhysicalName"] != extra || lsnOf(added["CreateLSN"]) == "0" || added["DropLSN"] != nil {
		t.Fatalf("log's file list %v, want Sales_extra at %s with its CreateLSN", fl, extra)
	}
	createLSN := lsnOf(added["CreateLSN"])

	mustExec(t, sdb, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY, MOVE N'Sales' TO @p2, MOVE N'Sales_log' TO @p3",
		full, s.dataPath("Sales.mdf"), s.dataPath("Sales_log.ldf"))
	mustExec(t, sdb, "CREATE DATABASE [Other]")

	// The primary's directory does not exist on the standby's host.
	if err := os.RemoveAll(primaryDir); err != nil {
		t.Fatal(err)
	}
	me := sqlErr(t, sdb, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY", log1)
	wantErr(t, me, 5133, 3156, 3119, 3013)
	wantContains(t, errText(me, 0), `Directory lookup for the file "`+extra+`" failed with the operating system error 2`)
	wantText(t, errText(me, 1), "File 'Sales_extra' cannot be restored to '"+extra+"'. Use WITH MOVE to identify a valid location for the file.")
	// A MOVE onto another database's file; of a name not in the backup; of
	// a file the database already has.
	wantErr(t, sqlErr(t, sdb, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY, MOVE N'Sales_extra' TO @p2", log1, s.dataPath("Other.mdf")), 1834, 3156, 3119, 3013)
	wantErr(t, sqlErr(t, sdb, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY, MOVE N'nope' TO @p2", log1, s.dataPath("x.ndf")), 3234, 3119, 3013)
	wantErr(t, sqlErr(t, sdb, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY, MOVE N'Sales' TO @p2", log1, s.dataPath("x.mdf")), 50000, 3013)
	if n := queryInt(t, sdb, "SELECT COUNT(*) FROM sys.master_files WHERE database_id = DB_ID(N'Sales')"); n != 2 {
		t.Fatalf("after refused restores the standby has %d files, want 2", n)
	}

	moved := s.dataPath("Sales_Sales_extra.ndf")
	mustExec(t, sdb, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2, MOVE N'Sales_extra' TO @p3", log1, filepath.Join(dir, "u.tuf"), moved)
	mf := resultRows(t, sdb, "SELECT name, physical_name, create_lsn, drop_lsn FROM sys.master_files WHERE database_id = DB_ID(N'Sales')")
	if r := byLogical(mf, "name", "Sales_extra"); len(mf) != 3 || r == nil || r["physical_name"] != moved || lsnOf(r["create_lsn"]) != createLSN {
		t.Fatalf("sys.master_files %v, want Sales_extra at %s created at %s", mf, moved, createLSN)
	}
	if n := queryInt(t, sdb, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe"); n != 2 {
		t.Fatalf("standby has %d rows, want 2", n)
	}

	// REMOVE FILE: the next log lists the file with its DropLSN and drops it.
	mustExec(t, pdb, "ALTER DATABASE [Sales] REMOVE FILE Sales_extra")
	mustExec(t, pdb, "BACKUP LOG [Sales] TO DISK = @p1", log2)
	fl = resultRows(t, pdb, "RESTORE FILELISTONLY FROM DISK = @p1", log2)
	if r := byLogical(fl, "LogicalName", "Sales_extra"); r == nil || lsnOf(r["DropLSN"]) == "" {
		t.Fatalf("second log's file list %v, want Sales_extra with a DropLSN", fl)
	}
	mustExec(t, sdb, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY", log2)
	if n := queryInt(t, sdb, "SELECT COUNT(*) FROM sys.master_files WHERE database_id = DB_ID(N'Sales')"); n != 2 {
		t.Fatalf("after the log that removes it the standby has %d files, want 2", n)
	}
}

func TestRestore_Versions(t *testing.T) {
	p15, s16 := startSim(t, Options{Name: "P15", MajorVersion: 15}), startSim(t, Options{Name: "S16"})
	p16, s15 := startSim(t, Options{Name: "P16"}), startSim(t, Options{Name: "S15", MajorVersion: 15})
	dir := t.TempDir()
	undo := filepath.Join(dir, "u.tuf")
	full15, log15, full16 := bakPath(dir, "15.bak"), bakPath(dir, "15.trn"), bakPath(dir, "16.bak")
	a, b := conn(t, openDB(t, p15, "")), conn(t, openDB(t, p16, ""))
	mustExec(t, a, "CREATE DATABASE [Sales]; BACKUP DATABASE [Sales] TO DISK = @p1", full15)
	mustExec(t, a, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (1); BACKUP LOG [Sales] TO DISK = @p1", log15)
	mustExec(t, b, "CREATE DATABASE [Sales]; BACKUP DATABASE [Sales] TO DISK = @p1", full16)

	t.Run("older backup, newer server: STANDBY is refused (3180), NORECOVERY works", func(t *testing.T) {
		s := conn(t, openDB(t, s16, ""))
		h := resultRows(t, s, "RESTORE HEADERONLY FROM DISK = @p1", full15)[0]
		if h["SoftwareVersionMajor"] != int64(15) || h["DatabaseVersion"] != int64(904) {
			t.Fatalf("HEADERONLY of a 2019 backup: SoftwareVersionMajor %v DatabaseVersion %v, want 15 and 904", h["SoftwareVersionMajor"], h["DatabaseVersion"])
		}
		me := sqlErr(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH STANDBY = @p2", full15, undo)
		wantErr(t, me, 3180, 3013)
		wantText(t, errText(me, 0), "This backup cannot be restored using WITH STANDBY because a database upgrade is needed. Reissue the RESTORE without WITH STANDBY.")
		mustExec(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY", full15)
		wantErr(t, sqlErr(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH STANDBY = @p2", log15, undo), 3180, 3013)
		mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY", log15)
		wantErr(t, sqlErr(t, s, "RESTORE DATABASE [Sales] WITH STANDBY = @p1", undo), 3180, 3013)
		mustExec(t, s, "RESTORE DATABASE [Sales] WITH RECOVERY")
		if n := queryInt(t, s, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe"); n != 1 {
			t.Fatalf("recovered database has %d rows, want 1", n)
		}
	})
	t.Run("newer backup, older server: refused (3169)", func(t *testing.T) {
		s := conn(t, openDB(t, s15, ""))
		for _, q := range []string{"RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY", "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH STANDBY = @p2"} {
			me := sqlErr(t, s, q, full16, undo)
			wantErr(t, me, 3169, 3013)
			wantText(t, errText(me, 0), "The database was backed up on a server running version 16.00.4135. That version is incompatible with this server, which is running version 15.00.4355. Either restore the database on a server that supports the backup, or use a backup that is compatible with this server.")
		}
		if n := queryInt(t, s, "SELECT COUNT(*) FROM sys.databases WHERE name = N'Sales'"); n != 0 {
			t.Fatalf("a refused restore left %d databases", n)
		}
	})
}
