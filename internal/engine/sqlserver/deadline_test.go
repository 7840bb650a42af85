package sqlserver

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/go-mssqldb/msdsn"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// withTimeouts adds go-mssqldb's `connection timeout` and SqlClient's
// `command timeout` (seconds) to a simulator's URL DSN.
func withTimeouts(dsn string, connection, command int) string {
	if connection > 0 {
		dsn += "&connection+timeout=" + strconv.Itoa(connection)
	}
	if command > 0 {
		dsn += "&command+timeout=" + strconv.Itoa(command)
	}
	return dsn
}

func TestLimitsOf(t *testing.T) {
	for _, c := range []struct {
		dsn            string
		login, command time.Duration
		err            string
	}{
		{dsn: "sqlserver://sa:pw@h:1433", login: defaultLoginTimeout, command: defaultCommandTimeout},
		{dsn: "sqlserver://sa:pw@h?connection+timeout=5&command+timeout=7", login: 5 * time.Second, command: 7 * time.Second},
		{dsn: "server=h;user id=sa;password=pw;Connect Timeout=4;Command Timeout=9", login: 4 * time.Second, command: 9 * time.Second},
		// 0 means "no limit" to SqlClient; a scheduled run never wants that.
		{dsn: "server=h;user id=sa;password=pw;connection timeout=0;command timeout=0", login: defaultLoginTimeout, command: defaultCommandTimeout},
		{dsn: "server=h;user id=sa;password=pw;command timeout=soon", err: `invalid command timeout "soon"`},
	} {
		cfg, err := msdsn.Parse(c.dsn)
		if err != nil {
			t.Fatalf("%s: %v", c.dsn, err)
		}
		l, err := limitsOf(cfg)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.dsn, err, c.err)
			}
		case err != nil:
			t.Errorf("%s: %v", c.dsn, err)
		case l.login != c.login || l.command != c.command:
			t.Errorf("%s: login %s, command %s; want %s, %s", c.dsn, l.login, l.command, c.login, c.command)
		}
	}
}

// waitStalled waits until the simulator holds something in its stall.
func waitStalled(t *testing.T, srv *sqlsim.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Stalled() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing reached the stall")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// within runs call and fails the test unless it returns within limit.
func within(t *testing.T, limit time.Duration, call func() error) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return time.Since(start), err
	case <-time.After(limit):
		t.Fatalf("still waiting after %s", limit)
		return 0, nil
	}
}

// TestOpen_FrozenServerLoginEnds: a server that accepts TCP and answers
// nothing (not even PRELOGIN) fails the login after `connection timeout`,
// naming the server; go-mssqldb alone would wait for ever.
func TestOpen_FrozenServerLoginEnds(t *testing.T) {
	f := simFixture(t, simOptions{})
	srv := f.sims[0]
	srv.SetStall(sqlsim.StallAll)
	defer srv.SetStall(sqlsim.StallNone)
	took, err := within(t, 10*time.Second, func() error {
		_, err := New().Open(context.Background(), withTimeouts(f.primaryDSN, 1, 0))
		return err
	})
	t.Logf("after %s: %v", took, err)
	if !errors.Is(err, engine.ErrUnreachable) || !strings.Contains(err.Error(), srv.Addr()) || !strings.Contains(err.Error(), "connection timeout") {
		t.Errorf("got %v, want ErrUnreachable naming %s and the connection timeout", err, srv.Addr())
	}
	if took > 4*time.Second {
		t.Errorf("took %s with a 1 s connection timeout", took)
	}
}

// TestSession_StalledServerShortStatementsEnd: a server that logs in but
// then answers no request fails observations after `command timeout`.
func TestSession_StalledServerShortStatementsEnd(t *testing.T) {
	f := simFixture(t, simOptions{})
	f.createDatabase(t, "Sales")
	s := open(t, withTimeouts(f.primaryDSN, 1, 1))
	primaryOf(t, s, "Sales", time.Time{})
	srv := f.sims[0]
	srv.SetStall(sqlsim.StallRequests)
	defer srv.SetStall(sqlsim.StallNone)
	took, err := within(t, 15*time.Second, func() error {
		_, err := s.ObservePrimary(context.Background(), []string{"Sales"}, time.Time{})
		return err
	})
	t.Logf("after %s: %v", took, err)
	if !errors.Is(err, engine.ErrUnreachable) || !strings.Contains(err.Error(), srv.Addr()) {
		t.Errorf("got %v, want ErrUnreachable naming %s", err, srv.Addr())
	}
	if took > 5*time.Second {
		t.Errorf("took %s with a 1 s command timeout", took)
	}
	// Answering again, the same session works.
	srv.SetStall(sqlsim.StallNone)
	primaryOf(t, s, "Sales", time.Time{})
}

// TestSession_SilentRestoreIsNotKilled: `connection timeout=1` in the DSN
// and a RESTORE that sends nothing for 3 s while the server answers
// everyone else: the restore completes. go-mssqldb applies the connection
// timeout to every read for the connection's life (issue 10, item 3).
func TestSession_SilentRestoreIsNotKilled(t *testing.T) {
	f := simFixture(t, simOptions{})
	primary := open(t, f.primaryDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, primary, "Sales", artifact.Full, "full.bak")
	target := open(t, withTimeouts(f.targetDSN, 1, 1))
	srv := f.sims[1]
	srv.SetStall(sqlsim.StallLongOps)
	go func() {
		waitStalled(t, srv)
		time.Sleep(3 * time.Second)
		srv.SetStall(sqlsim.StallNone)
	}()
	took, err := within(t, 20*time.Second, func() error {
		return target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode), engine.NoProgress)
	})
	t.Logf("after %s: %v", took, err)
	if err != nil {
		t.Fatalf("a restore silent for 3 s on a live server failed: %v", err)
	}
	if n := countRows(t, f.target, "Sales"); n != 1 {
		t.Errorf("restored %d rows, want 1", n)
	}
}

// TestSession_ServerFreezesDuringBackup: the primary stops answering
// anything in the middle of a BACKUP; the backup ends with ErrUnreachable
// once a liveness check goes unanswered, leaves no file, and the server,
// answering again, takes the next backup.
func TestSession_ServerFreezesDuringBackup(t *testing.T) {
	for _, mode := range []sqlsim.Stall{sqlsim.StallRequests, sqlsim.StallAll} {
		t.Run(mode.String(), func(t *testing.T) {
			f := simFixture(t, simOptions{})
			f.createDatabase(t, "Sales")
			s := open(t, withTimeouts(f.primaryDSN, 1, 1))
			srv := f.sims[0]
			// Hold the BACKUP mid-statement (its session logged in), then
			// freeze the server.
			srv.SetStall(sqlsim.StallLongOps)
			defer srv.SetStall(sqlsim.StallNone)
			go func() {
				waitStalled(t, srv)
				time.Sleep(1500 * time.Millisecond) // a live server's silence: not ended
				srv.SetStall(mode)
			}()
			took, err := within(t, 20*time.Second, func() error {
				_, err := s.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path("full.bak")}, nil)
				return err
			})
			t.Logf("after %s: %v", took, err)
			if !errors.Is(err, engine.ErrUnreachable) || !strings.Contains(err.Error(), srv.Addr()) {
				t.Errorf("got %v, want ErrUnreachable naming %s", err, srv.Addr())
			}
			if took > 10*time.Second {
				t.Errorf("took %s with 1 s timeouts", took)
			}
			srv.SetStall(sqlsim.StallNone)
			if _, err := os.Stat(f.path("full.bak")); err == nil {
				t.Error("the abandoned backup left its file")
			}
			f.backup(t, s, "Sales", artifact.Full, "full2.bak")
		})
	}
}
