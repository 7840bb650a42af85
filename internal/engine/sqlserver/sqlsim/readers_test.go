package sqlsim

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readersSetup makes [Sales] with a full and two log backups, and [Copy], a
// STANDBY copy of the full on the same server; it returns an
// administration connection (in master) and the log paths.
func readersSetup(t *testing.T, srv *Server) (admin *sql.Conn, logs []string) {
	t.Helper()
	dir := t.TempDir()
	admin = conn(t, openDB(t, srv, ""))
	mustExec(t, admin, "CREATE DATABASE [Sales]")
	full := bakPath(dir, "full.bak")
	mustExec(t, admin, "BACKUP DATABASE [Sales] TO DISK = "+quoteString(full)+" WITH INIT")
	for i := 1; i <= 2; i++ {
		mustExec(t, admin, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (@p1)", i)
		p := bakPath(dir, "log"+string(rune('0'+i))+".trn")
		mustExec(t, admin, "BACKUP LOG [Sales] TO DISK = "+quoteString(p)+" WITH INIT")
		logs = append(logs, p)
	}
	mustExec(t, admin, "RESTORE DATABASE [Copy] FROM DISK = "+quoteString(full)+" WITH MOVE N'Sales' TO "+quoteString(bakPath(dir, "c.mdf"))+
		", MOVE N'Sales_log' TO "+quoteString(bakPath(dir, "c.ldf"))+", STANDBY = "+quoteString(bakPath(dir, "c.tuf")))
	return admin, logs
}

func restoreLog(path string) string {
	return "RESTORE LOG [Copy] FROM DISK = " + quoteString(path) + " WITH STANDBY = " + quoteString(path+".tuf")
}

// reader is a session parked in database (or master, "").
func reader(t *testing.T, srv *Server, database string) *sql.Conn {
	t.Helper()
	c := conn(t, openDB(t, srv, database))
	mustExec(t, c, "SELECT 1")
	return c
}

func spidOf(t *testing.T, c *sql.Conn) int64 { return queryInt(t, c, "SELECT @@SPID") }

func userAccess(t *testing.T, e execer, db string) string {
	t.Helper()
	return queryString(t, e, "SELECT user_access_desc FROM sys.databases WHERE name = @p1", db).String
}

// gone waits until session spid has left sys.dm_exec_sessions.
func gone(t *testing.T, admin execer, spid int64) {
	t.Helper()
	for queryInt(t, admin, "SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE session_id = @p1", spid) != 0 {
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAlterAccess_RefusedStates(t *testing.T) {
	srv := startSim(t, Options{})
	admin, _ := readersSetup(t, srv)
	mustExec(t, admin, "RESTORE DATABASE [Copy] WITH RECOVERY")
	mustExec(t, admin, "BACKUP LOG [Copy] TO DISK = "+quoteString(bakPath(t.TempDir(), "tail.trn"))+" WITH NORECOVERY")
	for _, c := range []struct {
		stmt string
		want []int32
		text string
	}{
		{"ALTER DATABASE [Copy] SET SINGLE_USER WITH ROLLBACK IMMEDIATE", []int32{5052, 5069}, "ALTER DATABASE is not permitted while a database is in the Restoring state."},
		{"ALTER DATABASE [Copy] SET MULTI_USER", []int32{5052, 5069}, "ALTER DATABASE is not permitted while a database is in the Restoring state."},
		{"ALTER DATABASE [Nope] SET SINGLE_USER", []int32{5011, 5069}, "User does not have permission to alter database 'Nope', the database does not exist, or the database is not in a state that allows access checks."},
		{"ALTER DATABASE [master] SET SINGLE_USER", []int32{5058, 5069}, "Option 'SINGLE_USER' cannot be set in database 'master'."},
	} {
		me := sqlErr(t, admin, c.stmt)
		wantErr(t, me, c.want...)
		wantText(t, errText(me, 0), c.text)
		wantText(t, errText(me, 1), "ALTER DATABASE statement failed.")
	}
}

func TestAlterAccess_SingleUser(t *testing.T) {
	srv := startSim(t, Options{})
	srv.SetKillDelay(100 * time.Millisecond)
	admin, logs := readersSetup(t, srv)
	r := reader(t, srv, "Copy")

	// A STANDBY database takes it (read-only as it is).
	me := sqlErr(t, admin, "ALTER DATABASE [Copy] SET SINGLE_USER WITH NO_WAIT")
	wantErr(t, me, 5070, 5069)
	wantText(t, errText(me, 0), "Database state cannot be changed while other users are using the database 'Copy'")
	mustExec(t, admin, "ALTER DATABASE [Copy] SET SINGLE_USER WITH ROLLBACK IMMEDIATE")
	// ROLLBACK IMMEDIATE returns once the sessions are gone, unlike KILL.
	if n := queryInt(t, admin, "SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE database_id = DB_ID(N'Copy')"); n != 0 {
		t.Fatalf("%d sessions still in the database after ROLLBACK IMMEDIATE", n)
	}
	if _, err := r.ExecContext(context.Background(), "SELECT COUNT(*) FROM dbo.drs_probe"); err == nil {
		t.Fatal("the reader survived ROLLBACK IMMEDIATE")
	}
	if got := userAccess(t, admin, "Copy"); got != "SINGLE_USER" {
		t.Fatalf("user_access_desc %q", got)
	}

	// One user at a time.
	first := reader(t, srv, "")
	mustExec(t, first, "USE [Copy]")
	second := reader(t, srv, "")
	me = sqlErr(t, second, "USE [Copy]")
	wantErr(t, me, 924)
	wantText(t, errText(me, 0), "Database 'Copy' is already open and can only have one user at a time.")
	me = sqlErr(t, second, "SELECT COUNT(*) FROM [Copy].dbo.drs_probe")
	wantErr(t, me, 924)
	if c, err := openDB(t, srv, "Copy").Conn(context.Background()); err == nil {
		c.Close()
		t.Fatal("a login into the occupied single-user database succeeded")
	} else if !strings.Contains(err.Error(), "can only have one user at a time") {
		t.Fatalf("login: %v", err)
	}

	// Back to MULTI_USER: refused while someone holds the single slot.
	me = sqlErr(t, admin, "ALTER DATABASE [Copy] SET MULTI_USER")
	wantErr(t, me, 5064, 5069)
	mustExec(t, first, "USE [master]")
	mustExec(t, admin, "ALTER DATABASE [Copy] SET MULTI_USER")
	if got := userAccess(t, admin, "Copy"); got != "MULTI_USER" {
		t.Fatalf("user_access_desc %q", got)
	}

	// A restore brings the database's own user access (MULTI_USER); a
	// RECOVERY without a restore keeps what was set.
	mustExec(t, admin, "ALTER DATABASE [Copy] SET SINGLE_USER")
	mustExec(t, admin, restoreLog(logs[0]))
	if got := userAccess(t, admin, "Copy"); got != "MULTI_USER" {
		t.Errorf("after RESTORE LOG … WITH STANDBY: %q, want MULTI_USER", got)
	}
	mustExec(t, admin, "ALTER DATABASE [Copy] SET SINGLE_USER")
	mustExec(t, admin, "RESTORE DATABASE [Copy] WITH RECOVERY")
	if got := userAccess(t, admin, "Copy"); got != "SINGLE_USER" {
		t.Errorf("after RECOVERY: %q, want SINGLE_USER", got)
	}
}

func TestKill_TakesTime(t *testing.T) {
	srv := startSim(t, Options{})
	srv.SetKillDelay(300 * time.Millisecond)
	admin, logs := readersSetup(t, srv)
	r := reader(t, srv, "Copy")
	id := spidOf(t, r)
	mustExec(t, admin, "KILL "+strconv.FormatInt(id, 10))
	// Still there, still holding the database, while it rolls back.
	me := sqlErr(t, admin, restoreLog(logs[0]))
	wantErr(t, me, 3101, 3013)
	if _, err := r.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Error("a session being killed ran a statement")
	}
	gone(t, admin, id)
	mustExec(t, admin, restoreLog(logs[0]))
}

func TestThreePartName_OpenTransactionHolds(t *testing.T) {
	srv := startSim(t, Options{})
	admin, logs := readersSetup(t, srv)
	r := reader(t, srv, "") // in master
	mustExec(t, r, "SELECT COUNT(*) FROM [Copy].dbo.drs_probe")
	// A finished statement outside a transaction holds nothing.
	mustExec(t, admin, restoreLog(logs[0]))

	mustExec(t, r, "BEGIN TRAN; SELECT COUNT(*) FROM [Copy].dbo.drs_probe")
	me := sqlErr(t, admin, restoreLog(logs[1]))
	wantErr(t, me, 3101, 3013)
	// Seen from sys.dm_exec_sessions it is in master, with a transaction.
	var dbid, trans int64
	if err := admin.QueryRowContext(context.Background(), "SELECT database_id, open_transaction_count FROM sys.dm_exec_sessions WHERE session_id = @p1", spidOf(t, r)).Scan(&dbid, &trans); err != nil {
		t.Fatal(err)
	}
	if dbid != 1 || trans != 1 {
		t.Errorf("reader: database_id %d open_transaction_count %d, want 1 and 1", dbid, trans)
	}
	mustExec(t, r, "COMMIT")
	mustExec(t, admin, restoreLog(logs[1]))
	me = sqlErr(t, r, "COMMIT")
	wantErr(t, me, 3902)
}

func TestViewServerState_OwnSessionOnly(t *testing.T) {
	srv := startSim(t, Options{})
	admin, _ := readersSetup(t, srv)
	reader(t, srv, "Copy")
	if n := queryInt(t, admin, "SELECT COUNT(*) FROM sys.dm_exec_sessions"); n < 2 {
		t.Fatalf("with VIEW SERVER STATE: %d sessions", n)
	}
	srv.DenyViewServerState(true)
	if n := queryInt(t, admin, "SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE database_id = DB_ID(N'Copy')"); n != 0 {
		t.Errorf("without VIEW SERVER STATE the reader is visible: %d", n)
	}
	if id := queryInt(t, admin, "SELECT session_id FROM sys.dm_exec_sessions"); id != spidOf(t, admin) {
		t.Errorf("own row: %d", id)
	}
}

// RESTORE DATABASE x WITH NORECOVERY without a backup takes a STANDBY
// database back to RESTORING (nobody can enter it), and WITH STANDBY makes
// it readable again.
func TestRestore_StandbyBackToRestoring(t *testing.T) {
	srv := startSim(t, Options{})
	admin, logs := readersSetup(t, srv)
	r := reader(t, srv, "Copy")
	wantErr(t, sqlErr(t, admin, "RESTORE DATABASE [Copy] WITH NORECOVERY"), 3101, 3013)
	mustExec(t, admin, "KILL "+strconv.FormatInt(spidOf(t, r), 10))
	mustExec(t, admin, "RESTORE DATABASE [Copy] WITH NORECOVERY")
	if got := queryString(t, admin, "SELECT state_desc FROM sys.databases WHERE name = N'Copy'").String; got != "RESTORING" {
		t.Fatalf("state %s, want RESTORING", got)
	}
	wantErr(t, sqlErr(t, admin, "SELECT COUNT(*) FROM [Copy].dbo.drs_probe"), 927)
	mustExec(t, admin, "RESTORE DATABASE [Copy] WITH STANDBY = "+quoteString(logs[0]+".tuf"))
	mustExec(t, admin, restoreLog(logs[0]))
	if n := queryInt(t, admin, "SELECT COUNT(*) FROM [Copy].dbo.drs_probe"); n != 1 {
		t.Errorf("rows %d, want 1", n)
	}
}

// Without a termination clause the ALTER waits for the other sessions to
// leave (an attention stops it, changing nothing); ROLLBACK AFTER n ends
// them once n seconds have passed.
func TestAlterAccess_WaitsWithoutTermination(t *testing.T) {
	srv := startSim(t, Options{})
	admin, _ := readersSetup(t, srv)
	r := reader(t, srv, "Copy")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "ALTER DATABASE [Copy] SET SINGLE_USER"); err == nil {
		t.Fatal("ALTER … SET SINGLE_USER returned while a reader was in the database")
	}
	if got := userAccess(t, openDB(t, srv, ""), "Copy"); got != "MULTI_USER" {
		t.Fatalf("user_access_desc %q after a cancelled ALTER, want MULTI_USER", got)
	}
	mustExec(t, openDB(t, srv, ""), "ALTER DATABASE [Copy] SET RESTRICTED_USER WITH ROLLBACK AFTER 0 SECONDS")
	if _, err := r.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Error("the reader survived ROLLBACK AFTER 0 SECONDS")
	}
	if got := userAccess(t, openDB(t, srv, ""), "Copy"); got != "RESTRICTED_USER" {
		t.Errorf("user_access_desc %q, want RESTRICTED_USER", got)
	}
}
