package sqlsim

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/golang-sql/civil"
	"github.com/golang-sql/sqlexp"
	mssql "github.com/microsoft/go-mssqldb"
)

func TestLogin(t *testing.T) {
	srv := startSim(t, Options{Password: "s3cret!", Name: "SIMA"})
	db := openDB(t, srv, "")
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, db, "SELECT @@SERVERNAME").String; got != "SIMA" {
		t.Fatalf("@@SERVERNAME = %q", got)
	}
	if got := queryString(t, db, "SELECT SERVERPROPERTY('ProductVersion')").String; got != "16.0.4135.4" {
		t.Fatalf("ProductVersion = %q", got)
	}
	if got := queryString(t, db, "SELECT @@VERSION").String; !strings.HasPrefix(got, "Microsoft SQL Server 2022") {
		t.Fatalf("@@VERSION = %q", got)
	}
	if spid := queryInt(t, db, "SELECT @@SPID"); spid < 51 {
		t.Fatalf("@@SPID = %d", spid)
	}
	if n := queryInt(t, db, "SELECT 1"); n != 1 {
		t.Fatalf("SELECT 1 = %d", n)
	}

	bad, err := sql.Open("sqlserver", strings.Replace(srv.DSN(""), "s3cret%21", "wrong", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	err = bad.Ping()
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 18456 {
		t.Fatalf("wrong password: %v, want error 18456", err)
	}
	wantContains(t, me.Message, "Login failed for user 'sa'.")

	nodb := openDB(t, srv, "nosuchdb")
	err = nodb.Ping()
	if !errors.As(err, &me) || me.Number != 18456 || len(me.All) != 2 || me.All[0].Number != 4060 {
		t.Fatalf("login to a missing database: %v, want 4060 then 18456", err)
	}
}

func TestAnyPassword(t *testing.T) {
	srv := startSim(t, Options{})
	db, err := sql.Open("sqlserver", strings.Replace(srv.DSN(""), "sqlsim@", "whatever@", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
}

func TestBatchAndResultSets(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	c := conn(t, db)
	ctx := context.Background()
	rows, err := c.QueryContext(ctx, "SELECT 1 AS a;\nSELECT N'x' AS b\n SELECT @@SERVERNAME")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		for rows.Next() {
			var v any
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmtAny(v))
		}
		if !rows.NextResultSet() {
			break
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "1,x,SQLSIM" {
		t.Fatalf("results %q", got)
	}

	// USE changes the session's database; later batches see it.
	mustExec(t, c, "CREATE DATABASE [d1]; USE [d1]; INSERT INTO dbo.drs_probe (id, note) VALUES (1, N'one'), (2, N'two')")
	if n := queryInt(t, c, "SELECT COUNT(*) FROM dbo.drs_probe"); n != 2 {
		t.Fatalf("count %d", n)
	}
	if got := queryString(t, c, "SELECT DB_NAME()").String; got != "d1" {
		t.Fatalf("DB_NAME() = %q", got)
	}
	res, err := c.ExecContext(ctx, "INSERT INTO [d1].dbo.drs_probe(id, note) VALUES (3, NULL)")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("rows affected %d", n)
	}

	// An error ends the batch: nothing after it runs.
	me := sqlErr(t, c, "INSERT INTO dbo.drs_probe(id) VALUES (4); SELECT * FROM dbo.nope; INSERT INTO dbo.drs_probe(id) VALUES (5)")
	wantErr(t, me, 208)
	wantText(t, me.Message, "Invalid object name 'dbo.nope'.")
	if n := queryInt(t, c, "SELECT COUNT(*) FROM dbo.drs_probe WHERE id = 5"); n != 0 {
		t.Fatal("statement after an error ran")
	}
	if n := queryInt(t, c, "SELECT COUNT(*) FROM dbo.drs_probe WHERE id = 4"); n != 1 {
		t.Fatal("statement before an error did not run")
	}

	// A syntax error anywhere: nothing runs at all.
	me = sqlErr(t, c, "INSERT INTO dbo.drs_probe(id) VALUES (6); UPDATE dbo.drs_probe SET note = N'x'")
	wantErr(t, me, 102)
	wantContains(t, me.Message, "UPDATE dbo.drs_probe SET note = N'x'")
	if n := queryInt(t, c, "SELECT COUNT(*) FROM dbo.drs_probe WHERE id = 6"); n != 0 {
		t.Fatal("a batch with a syntax error ran")
	}
	me = sqlErr(t, c, "EXEC sp_who")
	wantErr(t, me, 2812)

	// Rows come back ordered, filtered, with NULLs.
	rows, err = c.QueryContext(ctx, "SELECT id, note FROM [d1].[dbo].[drs_probe] WHERE id <> @p1 ORDER BY id DESC", 2)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	var notes []string
	for rows.Next() {
		var id int64
		var note sql.NullString
		if err := rows.Scan(&id, &note); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		notes = append(notes, note.String)
	}
	if fmtAny(ids) != "[4 3 1]" || strings.Join(notes, ",") != ",,one" {
		t.Fatalf("rows %v %q", ids, notes)
	}
}

func fmtAny(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// TestParams sends every parameter type go-mssqldb produces for the Go types
// the engine uses and reads each back unchanged.
func TestParams(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	ctx := context.Background()
	when := time.Date(2024, 2, 29, 23, 59, 58, 123456700, time.FixedZone("", 2*3600))
	guid := mssql.UniqueIdentifier{0x6F, 0x96, 0x19, 0xFF, 0x8B, 0x86, 0xD0, 0x11, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF}
	cases := []struct {
		name string
		arg  any
		want func(v any) bool
	}{
		{"nvarchar", "Sales]; DROP DATABASE x; --", func(v any) bool { return v == "Sales]; DROP DATABASE x; --" }},
		{"nvarchar-empty", "", func(v any) bool { return v == "" }},
		{"nvarchar-long", strings.Repeat("é", 5000), func(v any) bool { return v == strings.Repeat("é", 5000) }},
		{"varchar", mssql.VarChar("O'Brien"), func(v any) bool { return v == "O'Brien" }},
		{"int64", int64(-9007199254740993), func(v any) bool { return v == int64(-9007199254740993) }},
		{"int32", int32(42), func(v any) bool { return v == int64(42) }},
		{"bool", true, func(v any) bool { return v == true }},
		{"float64", 3.25, func(v any) bool { return v == 3.25 }},
		{"datetimeoffset", when, func(v any) bool { return v.(time.Time).Equal(when) }},
		{"datetime", mssql.DateTime1(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)), func(v any) bool {
			return v.(time.Time).Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC))
		}},
		{"datetime2", civil.DateTime{Date: civil.Date{Year: 2030, Month: 12, Day: 31}, Time: civil.Time{Hour: 1, Minute: 2, Second: 3, Nanosecond: 400}}, func(v any) bool {
			return v.(time.Time).Equal(time.Date(2030, 12, 31, 1, 2, 3, 400, time.UTC))
		}},
		{"varbinary", []byte{0, 1, 2, 0xFF}, func(v any) bool { return bytes.Equal(v.([]byte), []byte{0, 1, 2, 0xFF}) }},
		{"uniqueidentifier", guid, func(v any) bool {
			var g mssql.UniqueIdentifier
			return g.Scan(v) == nil && g == guid
		}},
		{"null", nil, func(v any) bool { return v == nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v any
			if err := db.QueryRowContext(ctx, "SELECT @p1", c.arg).Scan(&v); err != nil {
				t.Fatal(err)
			}
			if !c.want(v) {
				t.Fatalf("got %#v for %#v", v, c.arg)
			}
		})
	}
	// Named parameters and a parameter used in a WHERE clause.
	var n int64
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sys.databases WHERE name = @name", sql.Named("name", "MSDB")).Scan(&n); err != nil || n != 1 {
		t.Fatalf("named parameter: %d %v", n, err)
	}
	// Parameters are values, never text: a quote inside is just a character.
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sys.databases WHERE name = @p1", "master' OR 1=1 --").Scan(&n); err != nil || n != 0 {
		t.Fatalf("injected parameter matched: %d %v", n, err)
	}
	// A parameter that is not passed.
	_, err := db.ExecContext(ctx, "SELECT @p2", 1)
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 137 {
		t.Fatalf("undeclared parameter: %v", err)
	}
}

func TestInfoMessages(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	mustExec(t, db, "CREATE DATABASE [m]")
	path := bakPath(t.TempDir(), "m.bak")
	ctx := context.Background()
	retmsg := &sqlexp.ReturnMessage{}
	rows, err := db.QueryContext(ctx, "BACKUP DATABASE [m] TO DISK = @p1 WITH CHECKSUM, COMPRESSION, FORMAT, INIT, STATS = 10", path, retmsg)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var numbers []int32
	var texts []string
	active := true
	for active {
		switch m := retmsg.Message(ctx).(type) {
		case sqlexp.MsgNotice:
			e := m.Message.(mssql.Error)
			numbers = append(numbers, e.Number)
			texts = append(texts, e.Message)
		case sqlexp.MsgNext:
			for rows.Next() {
			}
		case sqlexp.MsgNextResultSet:
			active = rows.NextResultSet()
		case sqlexp.MsgError:
			t.Fatal(m.Error)
		}
	}
	var percents []string
	for i, n := range numbers {
		if n == 3211 {
			percents = append(percents, texts[i])
		}
	}
	if len(percents) != 10 || percents[0] != "10 percent processed." || percents[9] != "100 percent processed." {
		t.Fatalf("3211 messages %q", percents)
	}
	last := texts[len(texts)-1]
	if numbers[len(numbers)-1] != 3014 || !strings.HasPrefix(last, "BACKUP DATABASE successfully processed ") || !strings.HasSuffix(last, " MB/sec).") {
		t.Fatalf("last message %d %q", numbers[len(numbers)-1], last)
	}
}

func TestCancel(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	c := conn(t, db)
	spid := queryInt(t, c, "SELECT @@SPID")
	// context.Canceled, not a deadline: go-mssqldb discards a connection
	// whose request hit a deadline (DeadlineExceeded is a net.Error to it).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(150*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.ExecContext(ctx, "WAITFOR DELAY '00:00:30'")
	if err == nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled WAITFOR: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancellation took %v", d)
	}
	// The same session is still usable: the attention was acknowledged.
	if got := queryInt(t, c, "SELECT @@SPID"); got != spid {
		t.Fatalf("session changed after cancel: %d != %d", got, spid)
	}
	if n := queryInt(t, c, "SELECT 1"); n != 1 {
		t.Fatal(n)
	}

	// Cancelling a slow BACKUP (StepDelay) leaves no file and no history.
	slow := startSim(t, Options{StepDelay: 100 * time.Millisecond})
	sdb := openDB(t, slow, "")
	sc := conn(t, sdb)
	mustExec(t, sc, "CREATE DATABASE [c]")
	path := bakPath(t.TempDir(), "c.bak")
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	time.AfterFunc(250*time.Millisecond, cancel2)
	_, err = sc.ExecContext(ctx2, "BACKUP DATABASE [c] TO DISK = @p1 WITH STATS = 10", path)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled BACKUP: %v", err)
	}
	if n := queryInt(t, sc, "SELECT COUNT(*) FROM msdb.dbo.backupset"); n != 0 {
		t.Fatalf("cancelled backup recorded: %d", n)
	}
	if _, _, e := readBackupFile(path, false); e == nil {
		t.Fatal("cancelled backup left a file")
	}
}

func TestKillAndSessions(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	admin := conn(t, db)
	mustExec(t, admin, "CREATE DATABASE [k]")
	reader := openDB(t, srv, "k")
	rc := conn(t, reader)
	readerSPID := queryInt(t, rc, "SELECT @@SPID")

	rows, err := admin.QueryContext(context.Background(), "SELECT session_id FROM sys.dm_exec_sessions WHERE database_id = DB_ID(@p1) AND session_id <> @@SPID", "k")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if len(ids) != 1 || ids[0] != readerSPID {
		t.Fatalf("sessions in k: %v, want [%d]", ids, readerSPID)
	}
	mustExec(t, admin, "KILL "+itoa(readerSPID))
	if _, err := rc.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Fatal("killed session still works")
	}
	if n := queryInt(t, admin, "SELECT COUNT(*) FROM sys.dm_exec_sessions WHERE database_id = DB_ID(@p1)", "k"); n != 0 {
		t.Fatalf("%d sessions left in k", n)
	}
	wantErr(t, sqlErr(t, admin, "KILL "+itoa(queryInt(t, admin, "SELECT @@SPID"))), 6104)
	wantErr(t, sqlErr(t, admin, "KILL 999"), 6106)
}

func itoa(n int64) string { return big.NewInt(n).String() }

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(Options{DataDir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	db, _ := sql.Open("sqlserver", srv.DSN(""))
	mustExec(t, db, "CREATE DATABASE [p]; INSERT INTO [p].dbo.drs_probe(id, note) VALUES (7, N'seven')")
	mustExec(t, db, "BACKUP DATABASE [p] TO DISK = @p1", bakPath(t.TempDir(), "p.bak"))
	db.Close()
	srv.Close()

	srv2 := startSim(t, Options{DataDir: dir})
	db2 := openDB(t, srv2, "p")
	if got := queryString(t, db2, "SELECT note FROM dbo.drs_probe WHERE id = 7").String; got != "seven" {
		t.Fatalf("row after restart: %q", got)
	}
	if n := queryInt(t, db2, "SELECT COUNT(*) FROM msdb.dbo.backupset WHERE database_name = @p1", "p"); n != 1 {
		t.Fatalf("backup history after restart: %d", n)
	}
	if lsn := queryString(t, db2, "SELECT last_log_backup_lsn FROM sys.database_recovery_status WHERE database_id = DB_ID(@p1)", "p"); !lsn.Valid {
		t.Fatal("log chain lost across restart")
	}
}

func TestSeveralServers(t *testing.T) {
	a := startSim(t, Options{Name: "A"})
	b := startSim(t, Options{Name: "B"})
	if a.Addr() == b.Addr() {
		t.Fatal("same address")
	}
	for _, s := range []*Server{a, b} {
		db := openDB(t, s, "")
		if got := queryString(t, db, "SELECT @@SERVERNAME").String; got != s.opts.Name {
			t.Fatalf("%s answered as %s", s.opts.Name, got)
		}
	}
}

func TestResetConnectionRestoresDatabase(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	db.SetMaxOpenConns(1)
	mustExec(t, db, "CREATE DATABASE [r]")
	mustExec(t, db, "USE [r]")
	// database/sql resets the session before reusing the pooled connection:
	// the server puts it back in its login database, as SQL Server does.
	if got := queryString(t, db, "SELECT DB_NAME()").String; got != "master" {
		t.Fatalf("after reset the session is in %q", got)
	}
}

func TestCloseWithIdleConnection(t *testing.T) {
	srv, err := Start(Options{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on a connection that never logged in")
	}
}

func TestDSN(t *testing.T) {
	srv := startSim(t, Options{Password: "p@ss word"})
	want := "sqlserver://sa:p%40ss%20word@" + srv.Addr() + "?database=a+b&encrypt=disable"
	if got := srv.DSN("a b"); got != want {
		t.Fatalf("DSN %q, want %q", got, want)
	}
	if got := srv.DSN(""); got != "sqlserver://sa:p%40ss%20word@"+srv.Addr()+"?encrypt=disable" {
		t.Fatalf("DSN %q", got)
	}
	db := openDB(t, srv, "")
	if err := db.Ping(); err != nil {
		t.Fatal(err)
	}
}

func TestKillDuringWaitfor(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	admin, victim := conn(t, db), conn(t, db)
	spid := queryInt(t, victim, "SELECT @@SPID")
	errc := make(chan error, 1)
	go func() {
		_, err := victim.ExecContext(context.Background(), "WAITFOR DELAY '00:01:00'")
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	mustExec(t, admin, "KILL "+itoa(spid))
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("killed WAITFOR succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("KILL did not end the session's WAITFOR")
	}
}

func TestExecuteSQLByName(t *testing.T) {
	srv := startSim(t, Options{})
	db := openDB(t, srv, "")
	for _, proc := range []string{"sp_executesql", "sys.sp_executesql", "[sys].[sp_executesql]"} {
		var n int64
		if err := db.QueryRow(proc, "SELECT @p1", "@p1 bigint", int64(5)).Scan(&n); err != nil || n != 5 {
			t.Fatalf("%s: %d %v", proc, n, err)
		}
	}
	_, err := db.Exec("sp_who")
	var me mssql.Error
	if !errors.As(err, &me) || me.Number != 2812 {
		t.Fatalf("sp_who: %v", err)
	}
}

func TestDynamicSQLScope(t *testing.T) {
	srv := startSim(t, Options{})
	c := conn(t, openDB(t, srv, ""))
	mustExec(t, c, "CREATE DATABASE [dyn]")
	// USE inside sp_executesql (any parameterised query) ends with it.
	if got := queryString(t, c, "USE [dyn]; SELECT DB_NAME() WHERE 1 = @p1", 1).String; got != "dyn" {
		t.Fatalf("inside: %q", got)
	}
	if got := queryString(t, c, "SELECT DB_NAME()").String; got != "master" {
		t.Fatalf("after sp_executesql the session is in %q", got)
	}
	// T-SQL takes no variables here.
	wantErr(t, sqlErr(t, c, "CREATE DATABASE @p1", "x"), 102)
	wantErr(t, sqlErr(t, c, "KILL @p1", 60), 102)
	// ... but does for BACKUP and RESTORE.
	mustExec(t, c, "BACKUP DATABASE @p1 TO DISK = @p2", "dyn", bakPath(t.TempDir(), "dyn.bak"))
}

// TestProgressArrivesLive: with StepDelay, each 3211 reaches the client as
// it happens, not all at the end.
func TestProgressArrivesLive(t *testing.T) {
	srv := startSim(t, Options{StepDelay: 40 * time.Millisecond})
	db := openDB(t, srv, "")
	mustExec(t, db, "CREATE DATABASE [live]")
	ctx := context.Background()
	retmsg := &sqlexp.ReturnMessage{}
	rows, err := db.QueryContext(ctx, "BACKUP DATABASE [live] TO DISK = @p1 WITH STATS = 20", bakPath(t.TempDir(), "live.bak"), retmsg)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var first, last time.Time
	for active := true; active; {
		switch m := retmsg.Message(ctx).(type) {
		case sqlexp.MsgNotice:
			switch m.Message.(mssql.Error).Number {
			case 3211:
				if first.IsZero() {
					first = time.Now()
				}
			case 3014:
				last = time.Now()
			}
		case sqlexp.MsgNextResultSet:
			active = rows.NextResultSet()
		case sqlexp.MsgError:
			t.Fatal(m.Error)
		}
	}
	if first.IsZero() || last.Sub(first) < 100*time.Millisecond {
		t.Fatalf("progress not live: first 3211 at %v, 3014 %v later", first, last.Sub(first))
	}
}
