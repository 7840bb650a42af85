package sqlsim

import "testing"

// TestNamesCompareAsSQLServerDoes: SQL Server compares identifiers by the
// server's collation (case-insensitive here) and ignores trailing spaces, so
// [Sales ] is the database Sales; "…" identifiers double their quote as
// […] double their closing bracket; empty identifiers are refused.
func TestNamesCompareAsSQLServerDoes(t *testing.T) {
	srv := startSim(t, Options{})
	db := conn(t, openDB(t, srv, ""))
	mustExec(t, db, "CREATE DATABASE [Sales]")
	wantErr(t, sqlErr(t, db, "CREATE DATABASE [SALES  ]"), 1801)
	mustExec(t, db, "INSERT INTO [sales ].dbo.drs_probe (id) VALUES (1)")
	if n := queryInt(t, db, "SELECT COUNT(*) FROM [Sales].dbo.drs_probe"); n != 1 {
		t.Errorf("rows through [sales ]: %d, want 1", n)
	}
	if n := queryInt(t, db, "SELECT COUNT(*) FROM sys.databases WHERE name = @p1", "sales   "); n != 1 {
		t.Errorf("sys.databases by %q: %d rows", "sales   ", n)
	}
	// Leading spaces are part of the name.
	mustExec(t, db, "CREATE DATABASE [ Sales]")
	mustExec(t, db, `CREATE DATABASE "a""b"`)
	if _, ok := dbInfo(t, db, `a"b`); !ok {
		t.Error(`"a""b" did not create a"b`)
	}
	wantErr(t, sqlErr(t, db, "CREATE DATABASE []"), 1038)
	wantErr(t, sqlErr(t, db, "CREATE DATABASE [a"), 105, 102)
	wantErr(t, sqlErr(t, db, "SELECT N'a"), 105, 102)
}
