package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

func TestSession_StandbyScenario(t *testing.T) {
	f := simFixture(t, simOptions{})
	standbyScenario(t, f, "Sales")

	// MOVE put the files in the target's data and log directories, named
	// after the database.
	rows, err := allRows(context.Background(), f.target, "SELECT name, physical_name, type_desc FROM sys.master_files WHERE database_id = DB_ID(@p1)", "Sales")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.string("physical_name"))
	}
	want := []string{filepath.Join(f.dataDir, "Sales_Sales.mdf"), filepath.Join(f.logDir, "Sales_Sales_log.ldf")}
	if !slices.Equal(got, want) {
		t.Errorf("files on the target: %q, want %q", got, want)
	}
}

func TestSession_ObservePrimary(t *testing.T) {
	f := simFixture(t, simOptions{})
	s := open(t, f.primaryDSN)
	start := time.Now().Add(-time.Minute)

	f.createDatabase(t, "Chained")
	full := f.backup(t, s, "Chained", artifact.Full, "c.bak")
	// An out-of-band log backup, taken by someone else.
	oob := f.path("oob.trn")
	exec(t, f.primary, "BACKUP LOG [Chained] TO DISK = @p1 WITH INIT", oob)

	f.createDatabase(t, "NoChain")

	f.createDatabase(t, "Simple")
	exec(t, f.primary, "ALTER DATABASE [Simple] SET RECOVERY SIMPLE")
	f.backup(t, s, "Simple", artifact.Full, "s.bak")

	got, err := s.ObservePrimary(context.Background(), []string{"Chained", "Missing", "NoChain", "Simple"}, start)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]engine.PrimaryDatabase{}
	for _, d := range got {
		byName[d.Name] = d
	}
	for _, c := range []struct {
		name     string
		exists   bool
		model    string
		logChain bool
		backups  []artifact.Kind
	}{
		{"Chained", true, "FULL", true, []artifact.Kind{artifact.Full, artifact.Log}},
		{"Missing", false, "", false, nil},
		{"NoChain", true, "FULL", false, nil},
		{"Simple", true, "SIMPLE", false, []artifact.Kind{artifact.Full}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d, ok := byName[c.name]
			if !ok {
				t.Fatalf("%s not reported", c.name)
			}
			var kinds []artifact.Kind
			for _, b := range d.Backups {
				kinds = append(kinds, b.Kind)
			}
			if d.Exists != c.exists || d.RecoveryModel != c.model || d.LogChain != c.logChain || !slices.Equal(kinds, c.backups) {
				t.Errorf("got exists=%v model=%q chain=%v backups=%v, want %v %q %v %v", d.Exists, d.RecoveryModel, d.LogChain, kinds, c.exists, c.model, c.logChain, c.backups)
			}
			if c.exists && (d.State != "ONLINE" || d.CreatedAt.IsZero() || d.CreatedAt.Location() != time.UTC) {
				t.Errorf("state %q created %v", d.State, d.CreatedAt)
			}
		})
	}
	ch := byName["Chained"].Backups
	if len(ch) != 2 {
		t.Fatalf("Chained backups: %+v", ch)
	}
	if ch[0].Header.LastLSN != full.LastLSN || ch[0].Path != f.path("c.bak") || ch[0].FamilyGUID != full.FamilyGUID {
		t.Errorf("full as msdb has it: %+v, want %+v", ch[0], full)
	}
	if ch[1].Path != oob || ch[1].CopyOnly || ch[1].Finish.Location() != time.UTC || ch[1].Finish.Before(start) {
		t.Errorf("out-of-band log: %+v", ch[1])
	}
	mustContinue(t, full, ch[1].Header)

	// Backups before `since` are left out.
	later, err := s.ObservePrimary(context.Background(), []string{"Chained"}, time.Now().Add(time.Hour))
	if err != nil || len(later[0].Backups) != 0 {
		t.Errorf("backups since an hour from now: %+v %v", later, err)
	}
}

func TestSession_Backup(t *testing.T) {
	f := simFixture(t, simOptions{})
	s := open(t, f.primaryDSN)
	ctx := context.Background()
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)

	var p steps
	full, err := s.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path("full.bak"), Compression: true}, &p)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.got(); !slices.Equal(got, []int{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}) {
		t.Errorf("progress %v", got)
	}
	if full.Kind != artifact.Full || full.Database != "Sales" || full.CopyOnly || full.FamilyGUID == "" ||
		full.Start.IsZero() || full.Finish.Before(full.Start) || full.Finish.Location() != time.UTC {
		t.Errorf("full header %+v", full)
	}
	for _, l := range []artifact.LSN{full.FirstLSN, full.LastLSN, full.CheckpointLSN} {
		if !aboveInt64(l) {
			t.Errorf("LSN %s is not above 2^63: the simulator's LSNBase was not used", l)
		}
	}
	insert(t, f.primary, "Sales", 2)
	log1 := f.backup(t, s, "Sales", artifact.Log, "1.trn")
	log2 := f.backup(t, s, "Sales", artifact.Log, "2.trn")
	mustContinue(t, full, log1)
	mustContinue(t, log1, log2)
	if ok, _ := artifact.Continues(full, log2); ok {
		t.Errorf("log 2 must not continue the full directly")
	}

	// A copy-only full does not disturb the chain.
	co, err := s.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path("copy.bak"), CopyOnly: true}, nil)
	if err != nil || !co.CopyOnly {
		t.Fatalf("copy-only: %+v %v", co, err)
	}
	mustContinue(t, log2, f.backup(t, s, "Sales", artifact.Log, "3.trn"))

	// Describe reads the same header back.
	d, err := s.Describe(ctx, f.path("1.trn"))
	if err != nil {
		t.Fatal(err)
	}
	if d != log1 {
		t.Errorf("describe\n got %+v\nwant %+v", d, log1)
	}

	// A file that holds a backup is never overwritten.
	_, err = s.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Log, ServerPath: f.path("1.trn")}, nil)
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("backup over an existing backup: %v, want fs.ErrExist", err)
	}
	if again, _ := s.Describe(ctx, f.path("1.trn")); again != log1 {
		t.Errorf("the existing backup changed: %+v", again)
	}

	// The server's refusals come with their cause.
	_, err = s.Backup(ctx, engine.BackupRequest{Database: "Nope", Kind: artifact.Full, ServerPath: f.path("nope.bak")}, nil)
	wantContains(t, err, "backup database [Nope] to "+f.path("nope.bak"), "SQL Server error 911")
	_, err = s.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: filepath.Join(f.backupDir, "no", "such", "dir.bak")}, nil)
	wantContains(t, err, "SQL Server error 3201")
	if strings.Contains(err.Error(), "3013") {
		t.Errorf("the generic 3013 hides the cause: %v", err)
	}
	_, err = s.Describe(ctx, f.path("missing.bak"))
	wantContains(t, err, "describe "+f.path("missing.bak"), "3201")
}

func TestSession_TailLogBackup(t *testing.T) {
	f := simFixture(t, simOptions{})
	s := open(t, f.primaryDSN)
	f.createDatabase(t, "Sales")
	full := f.backup(t, s, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 1)
	tail, err := s.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Log, ServerPath: f.path("tail.trn"), NoRecovery: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustContinue(t, full, tail)
	if p := primaryOf(t, s, "Sales", time.Time{}); p.State != "RESTORING" || p.LogChain {
		t.Errorf("primary after a tail-log backup: %+v", p)
	}
	_, err = s.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path("x.bak"), NoRecovery: true}, nil)
	wantContains(t, err, "tail-log")
}

func TestSession_RestoreNoRecovery(t *testing.T) {
	f := simFixture(t, simOptions{})
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	full := f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 2)
	log1 := f.backup(t, primary, "Sales", artifact.Log, "1.trn")

	var p steps
	if err := target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery), &p); err != nil {
		t.Fatal(err)
	}
	if got := p.got(); len(got) != 10 || got[9] != 100 {
		t.Errorf("restore progress %v", got)
	}
	if sb := standbyOf(t, target, "Sales"); sb.State != engine.Restoring || sb.RawState != "RESTORING" || sb.RedoLSN != full.LastLSN {
		t.Errorf("after the full: %+v", sb)
	}
	var n int
	if err := f.target.QueryRow("SELECT COUNT(*) FROM [Sales].dbo.drs_probe").Scan(&n); sqlNumber(err) != 927 {
		t.Errorf("reading a restoring database: %v, want 927", err)
	}
	f.restore(t, target, f.restoreRequest("Sales", artifact.Log, "1.trn", engine.NoRecovery))
	if sb := standbyOf(t, target, "Sales"); sb.State != engine.Restoring || sb.RedoLSN != log1.LastLSN ||
		sb.LastRestore == nil || sb.LastRestore.FirstLSN != log1.FirstLSN || sb.LastRestore.At.Location() != time.UTC {
		t.Errorf("after the log: %+v %+v", sb, sb.LastRestore)
	}
	if err := target.Recover(context.Background(), engine.RecoverRequest{Database: "Sales"}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, f.target, "Sales"); n != 2 {
		t.Errorf("rows after recovery: %d", n)
	}
	// Online: nothing more can be restored.
	err := target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Log, "1.trn", engine.NoRecovery), nil)
	if !errors.Is(err, engine.ErrChain) {
		t.Errorf("a log on an online database: %v, want ErrChain (3117)", err)
	}
	wantContains(t, err, "3117")
	err = target.Recover(context.Background(), engine.RecoverRequest{Database: "Sales"})
	wantContains(t, err, "recover [Sales]", "3153")

	// A backup file the server cannot read is ErrDamaged: apply then proves
	// the copy again before using it.
	err = target.Restore(context.Background(), f.restoreRequest("Other", artifact.Full, "no-such-file.bak", engine.NoRecovery), nil)
	if !errors.Is(err, engine.ErrDamaged) {
		t.Errorf("restoring a file that is not there: %v, want ErrDamaged (3201)", err)
	}
}

func TestSession_DisconnectUsers(t *testing.T) {
	f := simFixture(t, simOptions{})
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, primary, "Sales", artifact.Log, "1.trn")
	insert(t, f.primary, "Sales", 2)
	f.backup(t, primary, "Sales", artifact.Log, "2.trn")
	f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))

	// A reader parked in the standby database.
	reader := openDB(t, strings.Replace(f.targetDSN, "?", "?database=Sales&", 1))
	rc, err := reader.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var n int
	if err := rc.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM dbo.drs_probe").Scan(&n); err != nil {
		t.Fatal(err)
	}

	err = target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Log, "1.trn", engine.StandbyMode), nil)
	if !errors.Is(err, engine.ErrInUse) {
		t.Fatalf("restore with a reader: %v, want ErrInUse", err)
	}
	wantContains(t, err, "3101")

	req := f.restoreRequest("Sales", artifact.Log, "1.trn", engine.StandbyMode)
	req.DisconnectUsers = true
	f.restore(t, target, req)
	if err := rc.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM dbo.drs_probe").Scan(&n); err == nil {
		t.Errorf("the reader's session survived")
	}
	// Nobody to disconnect: fine too.
	req = f.restoreRequest("Sales", artifact.Log, "2.trn", engine.StandbyMode)
	req.DisconnectUsers = true
	f.restore(t, target, req)
	if n := countRows(t, f.target, "Sales"); n != 2 {
		t.Errorf("rows: %d", n)
	}
}

func TestSession_Replace(t *testing.T) {
	f := simFixture(t, simOptions{})
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	// Another database of the same name already lives on the target.
	exec(t, f.target, "CREATE DATABASE [Sales]")

	err := target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode), nil)
	if err == nil || errors.Is(err, engine.ErrChain) || errors.Is(err, engine.ErrInUse) {
		t.Fatalf("restore over another database without REPLACE: %v", err)
	}
	wantContains(t, err, "3154")

	req := f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode)
	req.Replace = true
	f.restore(t, target, req)
	if n := countRows(t, f.target, "Sales"); n != 1 {
		t.Errorf("rows after REPLACE: %d", n)
	}
}

func TestSession_Names(t *testing.T) {
	f := simFixture(t, simOptions{})
	// A database the hostile name tries to drop.
	exec(t, f.primary, "CREATE DATABASE [x]")
	exec(t, f.target, "CREATE DATABASE [x]")
	for _, name := range []string{"Sales]; DROP DATABASE x; --", "O'Brien", "Zürich 日本", "two\nlines"} {
		t.Run(name, func(t *testing.T) {
			standbyScenario(t, f, name)
		})
	}
	for _, db := range []*sql.DB{f.primary, f.target} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM sys.databases WHERE name = @p1", "x").Scan(&n); err != nil || n != 1 {
			t.Errorf("database x: %d %v", n, err)
		}
	}
}

func TestOpen_PasswordNeverInErrors(t *testing.T) {
	const pw = "Pa55-Wörd'x;y"
	f := simFixture(t, simOptions{password: pw})
	host, port, _ := net.SplitHostPort(f.sims[0].Addr())
	if s := open(t, f.primaryDSN); s == nil {
		t.Fatal("no session")
	}
	wrong := "Wr0ng-" + pw
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	for _, c := range []struct{ name, dsn, secret string }{
		{"wrong password, url", (&url.URL{Scheme: "sqlserver", User: url.UserPassword("sa", wrong), Host: net.JoinHostPort(host, port), RawQuery: "encrypt=disable"}).String(), wrong},
		{"wrong password, ado", "server=" + host + ";port=" + port + ";user id=sa;password=" + strings.ReplaceAll(wrong, ";", "") + ";encrypt=disable", strings.ReplaceAll(wrong, ";", "")},
		{"dead server", (&url.URL{Scheme: "sqlserver", User: url.UserPassword("sa", pw), Host: deadAddr, RawQuery: "encrypt=disable"}).String(), pw},
		{"bad port, ado", "server=" + host + ";port=notaport;user id=sa;password=Secret-Ado-1;encrypt=disable", "Secret-Ado-1"},
		{"bad option, url", "sqlserver://sa:Secret-Url-2@" + host + ":" + port + "?log=nope", "Secret-Url-2"},
		{"bad url", "sqlserver://sa:Secret%zz3@" + host + ":" + port, "Secret%zz3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := New().Open(ctx, c.dsn)
			if err == nil {
				s.Close()
				t.Fatal("opened")
			}
			t.Log(err)
			if strings.Contains(err.Error(), c.secret) || strings.Contains(err.Error(), c.dsn) {
				t.Errorf("the error holds the password or the connection string: %v", err)
			}
			if c.name == "dead server" && !errors.Is(err, engine.ErrUnreachable) {
				t.Errorf("dead server: %v, want ErrUnreachable", err)
			}
		})
	}
}

func TestSession_DeadServer(t *testing.T) {
	f := simFixture(t, simOptions{})
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	primaryOf(t, primary, "Sales", time.Time{})
	standbyOf(t, target, "Sales")
	for _, srv := range f.sims {
		srv.Close()
	}
	for _, c := range []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"observe primary", func(ctx context.Context) error {
			_, err := primary.ObservePrimary(ctx, []string{"Sales"}, time.Time{})
			return err
		}},
		{"backup", func(ctx context.Context) error {
			_, err := primary.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Log, ServerPath: f.path("l.trn")}, nil)
			return err
		}},
		{"describe", func(ctx context.Context) error { _, err := primary.Describe(ctx, f.path("full.bak")); return err }},
		{"observe standby", func(ctx context.Context) error {
			_, err := target.ObserveStandby(ctx, []string{"Sales"})
			return err
		}},
		{"restore", func(ctx context.Context) error {
			return target.Restore(ctx, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery), nil)
		}},
		{"recover", func(ctx context.Context) error { return target.Recover(ctx, engine.RecoverRequest{Database: "Sales"}) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			start := time.Now()
			err := c.call(ctx)
			t.Log(err)
			if !errors.Is(err, engine.ErrUnreachable) {
				t.Errorf("got %v, want ErrUnreachable", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestSession_ServerDiesMidStatement closes the server while a BACKUP runs,
// with no deadline on the context: the call still ends, quickly.
func TestSession_ServerDiesMidStatement(t *testing.T) {
	f := simFixture(t, simOptions{stepDelay: 200 * time.Millisecond})
	s := open(t, f.primaryDSN)
	f.createDatabase(t, "Sales")
	p := &steps{notify: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() {
		_, err := s.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path("full.bak")}, p)
		done <- err
	}()
	select {
	case <-p.notify:
	case <-time.After(10 * time.Second):
		t.Fatal("no progress")
	}
	f.sims[0].Close()
	select {
	case err := <-done:
		t.Log(err)
		if !errors.Is(err, engine.ErrUnreachable) {
			t.Errorf("got %v, want ErrUnreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the backup did not end after the server died")
	}
}

func TestSession_Cancel(t *testing.T) {
	f := simFixture(t, simOptions{stepDelay: 200 * time.Millisecond})
	s := open(t, f.primaryDSN)
	f.createDatabase(t, "Sales")
	ctx, cancel := context.WithCancel(context.Background())
	p := &steps{notify: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() {
		_, err := s.Backup(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path("full.bak")}, p)
		done <- err
	}()
	<-p.notify
	cancel()
	select {
	case err := <-done:
		t.Log(err)
		if !errors.Is(err, context.Canceled) || errors.Is(err, engine.ErrUnreachable) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the backup did not stop")
	}
	if _, err := os.Stat(f.path("full.bak")); err == nil {
		t.Errorf("a cancelled backup left its file")
	}
	// The session is still usable.
	if _, err := s.ObservePrimary(context.Background(), []string{"Sales"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
}

func TestSession_ConcurrentUse(t *testing.T) {
	f := simFixture(t, simOptions{})
	s := open(t, f.primaryDSN)
	names := []string{"a", "b", "c", "d"}
	for _, n := range names {
		f.createDatabase(t, n)
	}
	errs := make(chan error, len(names)*2)
	for _, n := range names {
		go func() {
			_, err := s.Backup(context.Background(), engine.BackupRequest{Database: n, Kind: artifact.Full, ServerPath: f.path(n + ".bak")}, nil)
			errs <- err
		}()
		go func() {
			_, err := s.ObservePrimary(context.Background(), names, time.Time{})
			errs <- err
		}()
	}
	for range len(names) * 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestRun_ConnectionLostBeforeAnyReply: go-mssqldb's message queue stays
// silent when the connection breaks before the first reply packet; the
// connection watch ends the statement anyway.
func TestRun_ConnectionLostBeforeAnyReply(t *testing.T) {
	f := simFixture(t, simOptions{})
	s := open(t, f.primaryDSN).(*session)
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		done <- s.dedicated(context.Background(), func(c *sql.Conn, lost <-chan struct{}) error {
			close(started)
			return run(context.Background(), c, lost, "WAITFOR DELAY '00:00:30'", nil)
		})
	}()
	<-started
	time.Sleep(100 * time.Millisecond)
	f.sims[0].Close()
	select {
	case err := <-done:
		t.Log(err)
		if !errors.Is(err, engine.ErrUnreachable) {
			t.Errorf("got %v, want ErrUnreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the statement did not end after the server died")
	}
}
