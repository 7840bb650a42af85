package sqlsim

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-sql/sqlexp"
	mssql "github.com/microsoft/go-mssqldb"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func sameInstant(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	// datetime keeps 1/300 s: within 2 ms of the clock.
	if d := got.Sub(want); d < -2*time.Millisecond || d > 2*time.Millisecond {
		t.Errorf("%s = %s, want %s (the injected clock)", what, got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
}

// TestClock: every time the simulator produces comes from Options.Now, as
// the server's local time (UTC for the simulator), whatever zone the clock
// returns its times in.
func TestClock(t *testing.T) {
	// A clock far from the real time, in a zone that is not UTC, with
	// milliseconds datetime cannot hold exactly.
	zone := time.FixedZone("UTC+2", 2*3600)
	t0 := time.Date(2031, 2, 3, 6, 7, 8, 123_456_789, zone)
	pclock, sclock := &fakeClock{t: t0}, &fakeClock{t: t0}
	psrv := startSim(t, Options{Name: "P", Now: pclock.Now})
	ssrv := startSim(t, Options{Name: "S", Now: sclock.Now})
	p := conn(t, openDB(t, psrv, ""))
	s := conn(t, openDB(t, ssrv, ""))
	dir := t.TempDir()
	ctx := context.Background()

	// GETDATE() and its kin.
	var getdate, getutcdate, sysdt, sysutc time.Time
	if err := p.QueryRowContext(ctx, "SELECT GETDATE(), GETUTCDATE(), SYSDATETIME(), SYSUTCDATETIME()").Scan(&getdate, &getutcdate, &sysdt, &sysutc); err != nil {
		t.Fatal(err)
	}
	sameInstant(t, "GETDATE()", getdate, t0)
	sameInstant(t, "GETUTCDATE()", getutcdate, t0)
	if !sysdt.Equal(t0.Truncate(100*time.Nanosecond)) || !sysutc.Equal(sysdt) {
		t.Errorf("SYSDATETIME() %s, SYSUTCDATETIME() %s, want %s", sysdt, sysutc, t0.UTC())
	}
	if getdate.Location() != time.UTC || getdate.Hour() != t0.UTC().Hour() {
		t.Errorf("GETDATE() %s: want the server's local wall clock, UTC (%s)", getdate, t0.UTC())
	}

	// Session login times.
	var login time.Time
	if err := p.QueryRowContext(ctx, "SELECT login_time FROM sys.dm_exec_sessions WHERE session_id = @@SPID").Scan(&login); err != nil {
		t.Fatal(err)
	}
	sameInstant(t, "login_time", login, t0)

	// create_date.
	t1 := t0.Add(time.Hour)
	pclock.set(t1)
	mustExec(t, p, "CREATE DATABASE [Sales]; INSERT INTO [Sales].dbo.drs_probe (id) VALUES (1)")
	created, _ := dbInfo(t, p, "Sales")
	sameInstant(t, "create_date", created.created, t1)

	// A backup: the clock stands still, so it starts and finishes at t2,
	// in HEADERONLY and in msdb, and reports the time the clock saw pass.
	t2 := t1.Add(36 * time.Hour)
	pclock.set(t2)
	fp := bakPath(dir, "f.bak")
	msgs := notices(t, p, "BACKUP DATABASE [Sales] TO DISK = @p1 WITH INIT", fp)
	if last := msgs[len(msgs)-1]; !strings.Contains(last, "in 0.001 seconds") {
		t.Errorf("3014 with a clock that does not move: %q", last)
	}
	h := headerOf(t, p, fp)
	sameInstant(t, "HEADERONLY BackupStartDate", h.Start, t2)
	sameInstant(t, "HEADERONLY BackupFinishDate", h.Finish, t2)
	hist := backups(t, p, "Sales", t2.Add(-time.Second))
	if len(hist) != 1 {
		t.Fatalf("msdb backups since the injected time: %d, want 1", len(hist))
	}
	sameInstant(t, "backup_start_date", hist[0].start, t2)
	sameInstant(t, "backup_finish_date", hist[0].finish, t2)
	if got := backups(t, p, "Sales", t2.Add(time.Second)); len(got) != 0 {
		t.Errorf("backup_finish_date after the injected time: %+v", got)
	}

	// A log backup at t3 and a restore on the other server at its own time.
	t3 := t2.Add(7 * time.Second)
	pclock.set(t3)
	mustExec(t, p, "INSERT INTO [Sales].dbo.drs_probe (id) VALUES (2)")
	lp := bakPath(dir, "l.trn")
	mustExec(t, p, "BACKUP LOG [Sales] TO DISK = @p1", lp)
	if lh := headerOf(t, p, lp); !lh.Start.Equal(hist[0].start.Add(7*time.Second)) || !lh.Finish.Equal(lh.Start) {
		t.Errorf("log backup dates %s..%s, want %s", lh.Start, lh.Finish, t3.UTC())
	}
	t4 := t0.Add(-24 * time.Hour)
	sclock.set(t4)
	mustExec(t, s, "RESTORE DATABASE [Sales] FROM DISK = @p1 WITH NORECOVERY, MOVE N'Sales' TO @p2, MOVE N'Sales_log' TO @p3",
		fp, bakPath(t.TempDir(), "s.mdf"), bakPath(t.TempDir(), "s.ldf"))
	t5 := t4.Add(2 * time.Second)
	sclock.set(t5)
	mustExec(t, s, "RESTORE LOG [Sales] FROM DISK = @p1 WITH NORECOVERY", lp)
	rows, err := s.QueryContext(ctx, msdbRestores, "Sales")
	if err != nil {
		t.Fatal(err)
	}
	var dates []time.Time
	for rows.Next() {
		var d time.Time
		var db, typ, first, last, dev string
		if err := rows.Scan(&d, &db, &typ, &first, &last, &dev); err != nil {
			t.Fatal(err)
		}
		dates = append(dates, d)
	}
	rows.Close()
	if len(dates) != 2 {
		t.Fatalf("restorehistory rows %d, want 2", len(dates))
	}
	sameInstant(t, "restore_date of the full", dates[0], t4)
	sameInstant(t, "restore_date of the log", dates[1], t5)
	// The restored database's create_date is the restore's time; the
	// backup sets it recorded keep the primary's dates.
	restored, _ := dbInfo(t, s, "Sales")
	sameInstant(t, "create_date of the restored database", restored.created, t4)
	for _, b := range backups(t, s, "Sales", time.Time{}) {
		if b.typ == "L" {
			sameInstant(t, "restored log's backup_finish_date", b.finish, t3)
		}
	}
}

// notices runs one statement and returns the texts of its INFO messages.
func notices(t *testing.T, e execer, q string, args ...any) []string {
	t.Helper()
	ctx := context.Background()
	retmsg := &sqlexp.ReturnMessage{}
	rows, err := e.QueryContext(ctx, q, append(args, retmsg)...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var texts []string
	for active := true; active; {
		switch m := retmsg.Message(ctx).(type) {
		case sqlexp.MsgNotice:
			texts = append(texts, m.Message.(mssql.Error).Message)
		case sqlexp.MsgNext:
			for rows.Next() {
			}
		case sqlexp.MsgNextResultSet:
			active = rows.NextResultSet()
		case sqlexp.MsgError:
			t.Fatalf("%s: %v", q, m.Error)
		}
	}
	return texts
}
