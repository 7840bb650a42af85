package sqlserver

import (
	"context"
	"errors"
	"testing"

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
