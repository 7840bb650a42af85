package sqlserver

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// killDelay is how long the simulators take to end a killed session: far
// longer than the old engine's three KILL-and-RESTORE attempts take.
const killDelay = 500 * time.Millisecond

// standbyWithLogs seeds [Sales] on the target as a STANDBY from a full and
// leaves two log backups (1.trn, 2.trn) to restore.
func standbyWithLogs(t *testing.T) (*fixture, engine.Session, engine.Session) {
	t.Helper()
	f := simFixture(t, simOptions{})
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, primary, "Sales", artifact.Log, "1.trn")
	insert(t, f.primary, "Sales", 2)
	f.backup(t, primary, "Sales", artifact.Log, "2.trn")
	f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode))
	return f, primary, target
}

func withDatabase(dsn, db string) string { return strings.Replace(dsn, "?", "?database="+db+"&", 1) }

// parkedReader is one session that ran query and stays.
func parkedReader(t *testing.T, dsn, query string) *sql.Conn {
	t.Helper()
	c, err := openDB(t, dsn).Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.ExecContext(context.Background(), query); err != nil {
		t.Fatalf("reader: %s: %v", query, err)
	}
	return c
}

func userAccessOf(t *testing.T, db *sql.DB, name string) string {
	t.Helper()
	var s string
	if err := db.QueryRowContext(context.Background(), "SELECT user_access_desc FROM sys.databases WHERE name = @p1", name).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func restoreDisconnecting(f *fixture, file string) engine.RestoreRequest {
	req := f.restoreRequest("Sales", artifact.Log, file, engine.StandbyMode)
	req.DisconnectUsers = true
	return req
}

// A report query run from master that reads the standby by a three-part
// name inside a transaction holds the database, though
// sys.dm_exec_sessions places it in master.
func TestReaders_ThreePartNameFromMaster(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	reader := parkedReader(t, f.targetDSN, "BEGIN TRAN; SELECT COUNT(*) FROM [Sales].dbo.drs_probe")

	err := target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Log, "1.trn", engine.StandbyMode), nil)
	if !errors.Is(err, engine.ErrInUse) {
		t.Fatalf("without DisconnectUsers: %v, want ErrInUse (3101)", err)
	}
	f.restore(t, target, restoreDisconnecting(f, "1.trn"))
	if _, err := reader.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Error("the reader's session survived")
	}
	if n := countRows(t, f.target, "Sales"); n != 1 {
		t.Errorf("rows: %d, want 1", n)
	}
	if got := userAccessOf(t, f.target, "Sales"); got != "MULTI_USER" {
		t.Errorf("user_access_desc %q after the restore, want MULTI_USER", got)
	}
}

// pooledReader keeps a session in [db] as an application's pool does: when
// its connection is ended it connects again at once, as often as needed.
type pooledReader struct {
	reconnects atomic.Int64
	inside     atomic.Bool // a session of it is in the database now
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startPooledReader(t *testing.T, dsn, db string) *pooledReader {
	t.Helper()
	pool := openDB(t, withDatabase(dsn, db))
	r := &pooledReader{stop: make(chan struct{})}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		ctx := context.Background()
		for first := true; ; first = false {
			select {
			case <-r.stop:
				return
			default:
			}
			c, err := pool.Conn(ctx)
			if err != nil {
				time.Sleep(time.Millisecond) // refused (924, or mid-restore): again
				continue
			}
			if !first {
				r.reconnects.Add(1)
			}
			for {
				_, err := c.ExecContext(ctx, "SELECT COUNT(*) FROM dbo.drs_probe")
				if err != nil {
					break
				}
				r.inside.Store(true)
				select {
				case <-r.stop:
					c.Close()
					return
				case <-time.After(time.Millisecond):
				}
			}
			r.inside.Store(false)
			_ = c.Raw(func(any) error { return sqldriver.ErrBadConn }) // drop it from the pool
			c.Close()
		}
	}()
	t.Cleanup(r.close)
	for !r.inside.Load() {
		time.Sleep(time.Millisecond)
	}
	return r
}

func (r *pooledReader) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.wg.Wait()
}

// A pooled reader comes back within milliseconds of a KILL, and a killed
// session takes time to go: KILL-then-RESTORE never finds the database
// free.
func TestReaders_PooledReaderReconnects(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	f.sims[1].SetKillDelay(killDelay)
	r := startPooledReader(t, f.targetDSN, "Sales")

	f.restore(t, target, restoreDisconnecting(f, "1.trn"))
	for r.reconnects.Load() == 0 || !r.inside.Load() {
		time.Sleep(time.Millisecond) // it comes back once the database is MULTI_USER again
	}
	f.restore(t, target, restoreDisconnecting(f, "2.trn"))
	r.close()
	if n := countRows(t, f.target, "Sales"); n != 2 {
		t.Errorf("rows: %d, want 2", n)
	}
}

// Without VIEW SERVER STATE the login sees only its own session in
// sys.dm_exec_sessions: a KILL loop finds nobody and says nothing.
func TestReaders_WithoutViewServerState(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	f.sims[1].DenyViewServerState(true)
	parkedReader(t, withDatabase(f.targetDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")
	f.restore(t, target, restoreDisconnecting(f, "1.trn"))
	if n := countRows(t, f.target, "Sales"); n != 1 {
		t.Errorf("rows: %d, want 1", n)
	}
}

// Promotion (RECOVERY) of a standby a reader holds.
func TestReaders_RecoverDisconnectsReaders(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	f.restore(t, target, f.restoreRequest("Sales", artifact.Log, "1.trn", engine.StandbyMode))
	f.sims[1].SetKillDelay(killDelay)
	parkedReader(t, withDatabase(f.targetDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")

	err := target.Recover(context.Background(), engine.RecoverRequest{Database: "Sales"})
	if !errors.Is(err, engine.ErrInUse) {
		t.Fatalf("without DisconnectUsers: %v, want ErrInUse", err)
	}
	if err := target.Recover(context.Background(), engine.RecoverRequest{Database: "Sales", DisconnectUsers: true}); err != nil {
		t.Fatalf("recover with DisconnectUsers: %v", err)
	}
	if got := standbyOf(t, target, "Sales").State; got != engine.Online {
		t.Errorf("state %s, want online", got)
	}
	if got := userAccessOf(t, f.target, "Sales"); got != "MULTI_USER" {
		t.Errorf("user_access_desc %q after promotion, want MULTI_USER", got)
	}
	insert(t, f.target, "Sales", 10) // writable, by anyone
}

// The tail-log backup of a planned switchover, with an application still
// connected to the primary.
func TestReaders_TailLogBackupDisconnectsUsers(t *testing.T) {
	f, primary, _ := standbyWithLogs(t)
	f.sims[0].SetKillDelay(killDelay)
	app := parkedReader(t, withDatabase(f.primaryDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")

	// A tail-log backup that fails after the ALTER leaves the primary
	// MULTI_USER: its applications must not be locked out.
	_, err := primary.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Log,
		ServerPath: joinServerPath(f.backupDir, "no-such-dir/tail.trn"), NoRecovery: true, DisconnectUsers: true}, nil)
	wantContains(t, err, "3201")
	if got := userAccessOf(t, f.primary, "Sales"); got != "MULTI_USER" {
		t.Errorf("user_access_desc %q after a failed tail-log backup, want MULTI_USER", got)
	}
	if got := primaryOf(t, primary, "Sales", time.Time{}).State; got != "ONLINE" {
		t.Fatalf("primary %s after a failed tail-log backup", got)
	}
	if _, err := app.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Error("the application's session survived the ALTER … WITH ROLLBACK IMMEDIATE")
	}

	app = parkedReader(t, withDatabase(f.primaryDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")
	_, err = primary.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Log,
		ServerPath: f.path("tail.trn"), NoRecovery: true}, nil)
	if !errors.Is(err, engine.ErrInUse) {
		t.Fatalf("without DisconnectUsers: %v, want ErrInUse", err)
	}
	if _, err := primary.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Log,
		ServerPath: f.path("tail.trn"), NoRecovery: true, DisconnectUsers: true}, nil); err != nil {
		t.Fatalf("tail-log backup with DisconnectUsers: %v", err)
	}
	if got := primaryOf(t, primary, "Sales", time.Time{}).State; got != "RESTORING" {
		t.Errorf("primary %s after the tail-log backup, want RESTORING", got)
	}
	if _, err := app.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Error("the application's session survived")
	}
}

// A runner killed between ALTER … SET SINGLE_USER and the statement leaves
// the database SINGLE_USER: the next restore or recovery, whatever its
// outcome, sets MULTI_USER back.
func TestReaders_InterruptedRunLeavesSingleUser(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	interrupted := func() {
		t.Helper()
		c := parkedReader(t, f.targetDSN, "ALTER DATABASE [Sales] SET SINGLE_USER WITH ROLLBACK IMMEDIATE")
		c.Close() // the runner is gone before its RESTORE
		if got := userAccessOf(t, f.target, "Sales"); got != "SINGLE_USER" {
			t.Fatalf("user_access_desc %q, want SINGLE_USER", got)
		}
	}

	interrupted()
	// 2.trn before 1.trn: the server refuses it (4305), and still the
	// database is left MULTI_USER.
	err := target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Log, "2.trn", engine.StandbyMode), nil)
	if !errors.Is(err, engine.ErrChain) {
		t.Fatalf("restore out of order: %v, want ErrChain", err)
	}
	if got := userAccessOf(t, f.target, "Sales"); got != "MULTI_USER" {
		t.Errorf("after a failed restore: user_access_desc %q, want MULTI_USER", got)
	}

	interrupted()
	if err := target.Recover(context.Background(), engine.RecoverRequest{Database: "Sales"}); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if got := userAccessOf(t, f.target, "Sales"); got != "MULTI_USER" {
		t.Errorf("after RECOVERY: user_access_desc %q, want MULTI_USER", got)
	}
}

// With DisconnectUsers a restore onto a standby goes through RESTORING
// (RESTORE DATABASE … WITH NORECOVERY, so nobody reconnects while the
// backup is opened); a restore that then fails leaves a readable STANDBY,
// MULTI_USER, as before.
func TestReaders_FailedRestoreLeavesAReadableStandby(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	parkedReader(t, withDatabase(f.targetDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")
	err := target.Restore(context.Background(), restoreDisconnecting(f, "2.trn"), nil) // before 1.trn: 4305
	if !errors.Is(err, engine.ErrChain) {
		t.Fatalf("restore out of order: %v, want ErrChain", err)
	}
	if got := standbyOf(t, target, "Sales").State; got != engine.Standby {
		t.Errorf("state %s after a failed restore, want standby", got)
	}
	if got := userAccessOf(t, f.target, "Sales"); got != "MULTI_USER" {
		t.Errorf("user_access_desc %q after a failed restore, want MULTI_USER", got)
	}
	parkedReader(t, withDatabase(f.targetDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")
	f.restore(t, target, restoreDisconnecting(f, "1.trn"))
	f.restore(t, target, restoreDisconnecting(f, "2.trn"))
	if n := countRows(t, f.target, "Sales"); n != 2 {
		t.Errorf("rows: %d, want 2", n)
	}
}

// A reseed (a full WITH REPLACE) over a standby that a reader holds.
func TestReaders_ReseedOverAStandbyWithReaders(t *testing.T) {
	f, _, target := standbyWithLogs(t)
	f.sims[1].SetKillDelay(killDelay)
	reader := parkedReader(t, withDatabase(f.targetDSN, "Sales"), "SELECT COUNT(*) FROM dbo.drs_probe")
	req := f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode)
	req.Replace, req.DisconnectUsers = true, true
	f.restore(t, target, req)
	if _, err := reader.ExecContext(context.Background(), "SELECT 1"); err == nil {
		t.Error("the reader's session survived")
	}
	if got := standbyOf(t, target, "Sales").State; got != engine.Standby {
		t.Errorf("state %s after the reseed, want standby", got)
	}
	if got := userAccessOf(t, f.target, "Sales"); got != "MULTI_USER" {
		t.Errorf("user_access_desc %q after the reseed, want MULTI_USER", got)
	}
	f.restore(t, target, restoreDisconnecting(f, "1.trn"))
}
