package sqlsim

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"

	mssql "github.com/microsoft/go-mssqldb"
)

func loginDB(t *testing.T, srv *Server, login, password string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlserver", srv.LoginDSN(login, password, ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Each statement drsctl sends checks what SQL Server checks, and refuses
// with the real number and words.
func TestPermissions_EachStatementChecksWhatTheServerChecks(t *testing.T) {
	srv := startSim(t, Options{Logins: []Login{
		{Name: "nobody", Password: "pw"},
		{Name: "backup_op", Password: "pw", DatabaseRoles: map[string][]string{"Sales": {"db_backupoperator"}}},
		{Name: "creator", Password: "pw", Permissions: []string{"CREATE ANY DATABASE"}},
		{Name: "dbc", Password: "pw", ServerRoles: []string{"dbcreator"}},
		{Name: "reader", Password: "pw", DatabaseRoles: map[string][]string{"msdb": {"db_datareader"}}},
		{Name: "proc", Password: "pw", ServerRoles: []string{"processadmin"}},
	}})
	sa := openDB(t, srv, "")
	dir := t.TempDir()
	full := bakPath(dir, "full.bak")
	mustExec(t, sa, "CREATE DATABASE [Sales]")
	mustExec(t, sa, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(full)+" WITH CHECKSUM, FORMAT, INIT")

	nobody, backupOp, creator, dbc, reader, proc := loginDB(t, srv, "nobody", "pw"), loginDB(t, srv, "backup_op", "pw"),
		loginDB(t, srv, "creator", "pw"), loginDB(t, srv, "dbc", "pw"), loginDB(t, srv, "reader", "pw"), loginDB(t, srv, "proc", "pw")

	cases := []struct {
		name  string
		db    *sql.DB
		q     string
		nums  []int32
		first string
	}{
		{"BACKUP DATABASE without db_backupoperator", nobody, "BACKUP DATABASE [Sales] TO DISK = " + quoteString(bakPath(dir, "x.bak")),
			[]int32{262, 3013}, "BACKUP DATABASE permission denied in database 'Sales'."},
		{"BACKUP LOG without db_backupoperator", nobody, "BACKUP LOG [Sales] TO DISK = " + quoteString(bakPath(dir, "x.trn")),
			[]int32{262, 3013}, "BACKUP LOG permission denied in database 'Sales'."},
		{"HEADERONLY without CREATE DATABASE", backupOp, "RESTORE HEADERONLY FROM DISK = " + quoteString(full),
			[]int32{262, 3013}, "CREATE DATABASE permission denied in database 'master'."},
		{"FILELISTONLY without CREATE DATABASE", nobody, "RESTORE FILELISTONLY FROM DISK = " + quoteString(full),
			[]int32{262, 3013}, "CREATE DATABASE permission denied in database 'master'."},
		{"VERIFYONLY without CREATE DATABASE", nobody, "RESTORE VERIFYONLY FROM DISK = " + quoteString(full),
			[]int32{262, 3013}, "CREATE DATABASE permission denied in database 'master'."},
		{"RESTORE of a new database without CREATE DATABASE", nobody, "RESTORE DATABASE [Copy] FROM DISK = " + quoteString(full) + " WITH NORECOVERY",
			[]int32{262, 3013}, "CREATE DATABASE permission denied in database 'master'."},
		{"RESTORE over an existing database with CREATE ANY DATABASE only", creator, "RESTORE DATABASE [Sales] FROM DISK = " + quoteString(full) + " WITH REPLACE, NORECOVERY",
			[]int32{3110, 3013}, "User does not have permission to RESTORE database 'Sales'."},
		{"RECOVERY of an existing database with CREATE ANY DATABASE only", creator, "RESTORE DATABASE [Sales] WITH RECOVERY",
			[]int32{3110, 3013}, "User does not have permission to RESTORE database 'Sales'."},
		{"msdb history without db_datareader", dbc, "SELECT COUNT(*) FROM msdb.dbo.backupset",
			[]int32{229}, "The SELECT permission was denied on the object 'backupset', database 'msdb', schema 'dbo'."},
		{"msdb restorehistory without db_datareader", backupOp, "SELECT COUNT(*) FROM msdb.dbo.restorehistory",
			[]int32{229}, "The SELECT permission was denied on the object 'restorehistory', database 'msdb', schema 'dbo'."},
		{"KILL without ALTER ANY CONNECTION", dbc, "KILL 999",
			[]int32{6102}, "User does not have permission to use the KILL statement."},
		{"CREATE DATABASE without the permission", proc, "CREATE DATABASE [New]",
			[]int32{262}, "CREATE DATABASE permission denied in database 'master'."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			me := sqlErr(t, c.db, c.q)
			wantErr(t, me, c.nums...)
			wantText(t, errText(me, 0), c.first)
			if me.Class != 14 && len(c.nums) == 1 {
				t.Errorf("severity %d, want 14", me.Class)
			}
		})
	}

	// And each grant is enough for what it is documented for.
	mustExec(t, backupOp, "BACKUP LOG [Sales] TO DISK = "+quoteString(bakPath(dir, "1.trn")))
	mustExec(t, creator, "RESTORE HEADERONLY FROM DISK = "+quoteString(full))
	mustExec(t, creator, "RESTORE DATABASE [Copy] FROM DISK = "+quoteString(full)+" WITH NORECOVERY, MOVE N'Sales' TO "+
		quoteString(bakPath(dir, "c.mdf"))+", MOVE N'Sales_log' TO "+quoteString(bakPath(dir, "c.ldf")))
	// Its owner (the login whose RESTORE created it) may restore over it.
	mustExec(t, creator, "RESTORE DATABASE [Copy] FROM DISK = "+quoteString(full)+" WITH REPLACE, NORECOVERY, MOVE N'Sales' TO "+
		quoteString(bakPath(dir, "c.mdf"))+", MOVE N'Sales_log' TO "+quoteString(bakPath(dir, "c.ldf")))
	mustExec(t, dbc, "RESTORE DATABASE [Copy] FROM DISK = "+quoteString(full)+" WITH REPLACE, NORECOVERY, MOVE N'Sales' TO "+
		quoteString(bakPath(dir, "c.mdf"))+", MOVE N'Sales_log' TO "+quoteString(bakPath(dir, "c.ldf")))
	if n := queryInt(t, reader, "SELECT COUNT(*) FROM msdb.dbo.backupset"); n < 2 {
		t.Errorf("backupset rows seen with db_datareader: %d, want the two backups and more", n)
	}
	sme := sqlErr(t, proc, "KILL 999") // allowed: the session just does not exist
	wantErr(t, sme, 6106)

	// sys.master_files shows rows only with CREATE DATABASE, ALTER ANY
	// DATABASE or VIEW ANY DEFINITION: no error, no rows.
	if n := queryInt(t, nobody, "SELECT COUNT(*) FROM sys.master_files"); n != 0 {
		t.Errorf("sys.master_files rows seen without permission: %d, want 0", n)
	}
	if n := queryInt(t, creator, "SELECT COUNT(*) FROM sys.master_files"); n == 0 {
		t.Errorf("sys.master_files: no rows seen with CREATE ANY DATABASE")
	}
}

func TestPermissions_Logins(t *testing.T) {
	srv := startSim(t, Options{Password: "sapw", Logins: []Login{{Name: "drs", Password: "right"}}})
	for _, c := range []struct{ user, pw string }{{"drs", "wrong"}, {"ghost", "right"}, {"sa", "right"}} {
		db := loginDB(t, srv, c.user, c.pw)
		err := db.PingContext(context.Background())
		var me mssql.Error
		if !errors.As(err, &me) || me.Number != 18456 || !strings.Contains(me.Message, "Login failed for user '"+c.user+"'.") {
			t.Errorf("login %s/%s: %v, want 18456", c.user, c.pw, err)
		}
	}
	if err := loginDB(t, srv, "DRS", "right").PingContext(context.Background()); err != nil {
		t.Errorf("login names are case-insensitive: %v", err)
	}
	for _, bad := range []Login{
		{Name: "x", ServerRoles: []string{"securityadmin"}},
		{Name: "x", Permissions: []string{"VIEW SERVER STAT"}},
		{Name: "x", DatabaseRoles: map[string][]string{"msdb": {"db_datawriter"}}},
		{Name: "sa"},
	} {
		if _, err := Start(Options{DataDir: t.TempDir(), Logins: []Login{bad}}); err == nil {
			t.Errorf("Start accepted login %+v", bad)
		}
	}
}

// HAS_PERMS_BY_NAME and IS_SRVROLEMEMBER answer what the statements would
// do, so a login can be checked before anything is attempted.
func TestPermissions_AskedAhead(t *testing.T) {
	srv := startSim(t, Options{Logins: []Login{
		{Name: "nobody", Password: "pw"},
		{Name: "standby", Password: "pw", ServerRoles: []string{"dbcreator", "processadmin"}, Permissions: []string{"VIEW SERVER STATE"},
			DatabaseRoles: map[string][]string{"msdb": {"db_datareader"}}},
		{Name: "primary", Password: "pw", Permissions: []string{"CREATE ANY DATABASE"},
			DatabaseRoles: map[string][]string{"Sales": {"db_backupoperator"}, "msdb": {"db_datareader"}}},
	}})
	mustExec(t, openDB(t, srv, ""), "CREATE DATABASE [Sales]")
	const q = "SELECT HAS_PERMS_BY_NAME(N'master', N'DATABASE', N'CREATE DATABASE'), HAS_PERMS_BY_NAME(N'Sales', N'DATABASE', N'BACKUP DATABASE'), " +
		"HAS_PERMS_BY_NAME(N'Sales', N'DATABASE', N'BACKUP LOG'), HAS_PERMS_BY_NAME(N'msdb.dbo.backupset', N'OBJECT', N'SELECT'), " +
		"HAS_PERMS_BY_NAME(NULL, NULL, N'VIEW SERVER STATE'), HAS_PERMS_BY_NAME(NULL, NULL, N'ALTER ANY CONNECTION'), " +
		"IS_SRVROLEMEMBER(N'dbcreator'), IS_SRVROLEMEMBER(N'sysadmin'), HAS_PERMS_BY_NAME(N'NoSuchDb', N'DATABASE', N'BACKUP DATABASE')"
	for _, c := range []struct {
		login string
		want  string
	}{
		{"sa", "1 1 1 1 1 1 0 1 NULL"},
		{"nobody", "0 0 0 0 0 0 0 0 NULL"},
		{"standby", "1 0 0 1 1 1 1 0 NULL"},
		{"primary", "1 1 1 1 0 0 0 0 NULL"},
	} {
		dsn := srv.DSN("")
		if c.login != "sa" {
			dsn = srv.LoginDSN(c.login, "pw", "")
		}
		db, err := sql.Open("sqlserver", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		got := make([]sql.NullInt64, 9)
		ptrs := make([]any, len(got))
		for i := range got {
			ptrs[i] = &got[i]
		}
		if err := db.QueryRowContext(context.Background(), q).Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", c.login, err)
		}
		var words []string
		for _, g := range got {
			if !g.Valid {
				words = append(words, "NULL")
			} else {
				words = append(words, strconv.FormatInt(g.Int64, 10))
			}
		}
		if s := strings.Join(words, " "); s != c.want {
			t.Errorf("%s: %s, want %s", c.login, s, c.want)
		}
	}
}
