package sqlserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// An error of severity 20 or more ends the connection after its ERROR
// token (sqlsim.Server.FailFatal): the failure is the server's error, with
// its number and words, not "unreachable" (which would be retried as a
// network problem).
func TestSession_FatalErrorKeepsTheServersWords(t *testing.T) {
	f := simFixture(t, simOptions{})
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, primary, "Sales", artifact.Full, "full.bak")

	const text = "The operating system returned error 1117(The request could not be performed because of an I/O device error.) to SQL Server during a write at offset 0x00000000010000 in file '/var/opt/mssql/data/Sales.mdf'."
	f.sims[1].FailFatal("RESTORE DATABASE", 823, 24, text)
	err := target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery), nil)
	t.Log(err)
	if err == nil {
		t.Fatal("the restore succeeded")
	}
	if errors.Is(err, engine.ErrUnreachable) {
		t.Errorf("reported as unreachable: %v", err)
	}
	var se *ServerError
	if !errors.As(err, &se) || !se.Has(823) {
		t.Fatalf("got %T %v, want a ServerError with 823", err, err)
	}
	wantContains(t, err, "restore database [Sales]", "SQL Server error 823", "I/O device error", "severity 24", "ended the connection")

	// The engine's next statement gets a new connection.
	f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery))

	// The same for a BACKUP.
	f.sims[0].FailFatal("BACKUP LOG", 9001, 21, "The log for database 'Sales' is not available. Check the operating system error log for related error messages. Resolve any errors and restart the database.")
	_, err = primary.Backup(context.Background(), engine.BackupRequest{Database: "Sales", Kind: artifact.Log, ServerPath: f.path("1.trn")}, nil)
	t.Log(err)
	if errors.Is(err, engine.ErrUnreachable) || !errors.As(err, &se) || !se.Has(9001) {
		t.Fatalf("backup: got %v, want SQL Server error 9001", err)
	}
	wantContains(t, err, "9001", "is not available", "severity 21")
}

// An interrupted RESTORE DATABASE leaves the database RESTORING with nothing
// to roll forward (sqlsim models SQL Server's 4319 and 4333): a log restore
// on it is a chain refusal (ErrChain, so apply re-plans) whose message says
// what to do, not an unclassified failure; restoring the interrupted full
// again, or another full WITH REPLACE, starts over.
func TestSession_InterruptedRestore(t *testing.T) {
	f := simFixture(t, simOptions{stepDelay: 100 * time.Millisecond})
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, primary, "Sales", artifact.Full, "full1.bak")
	insert(t, f.primary, "Sales", 2)
	f.backup(t, primary, "Sales", artifact.Log, "1.trn")
	f.backup(t, primary, "Sales", artifact.Full, "full2.bak")

	// Cancelled during the data copy.
	ctx, cancel := context.WithCancel(context.Background())
	p := &steps{notify: make(chan struct{}, 1)}
	done := make(chan error, 1)
	go func() {
		done <- target.Restore(ctx, f.restoreRequest("Sales", artifact.Full, "full1.bak", engine.NoRecovery), p)
	}()
	<-p.notify
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled restore: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the restore did not stop")
	}
	if sb := standbyOf(t, target, "Sales"); sb.State != engine.Restoring || sb.RedoLSN != "" {
		t.Fatalf("after an interrupted restore: %+v, want RESTORING with no redo point", sb)
	}

	hint := "was interrupted and left it mid-restore"
	err := target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Log, "1.trn", engine.NoRecovery), nil)
	t.Log(err)
	if !errors.Is(err, engine.ErrChain) {
		t.Errorf("a log on an interrupted restore: %v, want ErrChain (4319)", err)
	}
	wantContains(t, err, "SQL Server error 4319", hint)
	err = target.Recover(context.Background(), engine.RecoverRequest{Database: "Sales"})
	if !errors.Is(err, engine.ErrChain) {
		t.Errorf("recovering an interrupted restore: %v, want ErrChain (4333)", err)
	}
	wantContains(t, err, "4333", hint)
	// Another full begins a new sequence only WITH REPLACE.
	err = target.Restore(context.Background(), f.restoreRequest("Sales", artifact.Full, "full2.bak", engine.NoRecovery), nil)
	if !errors.Is(err, engine.ErrChain) {
		t.Errorf("another full without REPLACE: %v, want ErrChain (4319)", err)
	}
	wantContains(t, err, "4319")

	// The interrupted full again starts it over; the chain goes on.
	f.restore(t, target, f.restoreRequest("Sales", artifact.Full, "full1.bak", engine.NoRecovery))
	f.restore(t, target, f.restoreRequest("Sales", artifact.Log, "1.trn", engine.NoRecovery))

	// Torn again, then replaced by another full (what apply does for a seed
	// it started: RestoreFull with Replace).
	ctx, cancel = context.WithCancel(context.Background())
	go func() {
		req := f.restoreRequest("Sales", artifact.Full, "full1.bak", engine.NoRecovery)
		req.Replace = true
		done <- target.Restore(ctx, req, p)
	}()
	<-p.notify
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled restore: %v", err)
	}
	req := f.restoreRequest("Sales", artifact.Full, "full2.bak", engine.NoRecovery)
	req.Replace = true
	f.restore(t, target, req)
	if err := target.Recover(context.Background(), engine.RecoverRequest{Database: "Sales"}); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, f.target, "Sales"); n != 2 {
		t.Errorf("rows after recovery: %d", n)
	}
}
