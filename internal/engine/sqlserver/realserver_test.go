package sqlserver

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"
	"time"
)

// TestRealSQLServer runs the log-shipping scenario against real servers you
// provide:
//
//	DRSCTL_TEST_SQLSERVER_DSN          the primary (a go-mssqldb connection string; sysadmin)
//	DRSCTL_TEST_SQLSERVER_TARGET_DSN   the standby, another server
//	DRSCTL_TEST_SQLSERVER_BACKUP_DIR   a directory both servers can write and read (also gets the undo file)
//	DRSCTL_TEST_SQLSERVER_DATA_DIR     optional: MOVE data files there on the standby
//	DRSCTL_TEST_SQLSERVER_LOG_DIR      optional: MOVE log files there on the standby
//
// It creates and drops a database with a unique name on both servers; the
// backup files it writes stay in the backup directory.
func TestRealSQLServer(t *testing.T) {
	primaryDSN, targetDSN := os.Getenv("DRSCTL_TEST_SQLSERVER_DSN"), os.Getenv("DRSCTL_TEST_SQLSERVER_TARGET_DSN")
	if primaryDSN == "" || targetDSN == "" {
		t.Skip("DRSCTL_TEST_SQLSERVER_DSN and DRSCTL_TEST_SQLSERVER_TARGET_DSN are not set: this optional test runs against " +
			"real SQL Servers you provide; none can be installed where drsctl's CI runs (the simulator tests above cover the " +
			"engine there), so skipping it is right even in CI")
	}
	backupDir := os.Getenv("DRSCTL_TEST_SQLSERVER_BACKUP_DIR")
	if backupDir == "" {
		t.Fatal("DRSCTL_TEST_SQLSERVER_BACKUP_DIR must name a directory both servers can use")
	}
	f := &fixture{
		primaryDSN: primaryDSN, targetDSN: targetDSN,
		backupDir: backupDir, undoDir: backupDir,
		dataDir: os.Getenv("DRSCTL_TEST_SQLSERVER_DATA_DIR"), logDir: os.Getenv("DRSCTL_TEST_SQLSERVER_LOG_DIR"),
	}
	f.primary, f.target = openDB(t, primaryDSN), openDB(t, targetDSN)
	f.createProbe = func(t *testing.T, db string) {
		exec(t, f.primary, "CREATE TABLE "+quoteIdent(db)+".dbo.drs_probe (id int NOT NULL PRIMARY KEY, note nvarchar(200) NULL)")
	}
	// A unique name that also needs its quoting.
	db := fmt.Sprintf("drsctl_test_%d O'Brien]", time.Now().UnixNano())
	t.Cleanup(func() {
		for side, admin := range map[string]*sql.DB{"primary": f.primary, "target": f.target} {
			_, err := admin.ExecContext(context.Background(), "IF DB_ID(@p1) IS NOT NULL EXEC (N'DROP DATABASE ' + QUOTENAME(@p1))", db)
			if err != nil {
				t.Logf("drop %s on the %s: %v", db, side, err)
			}
		}
	})
	standbyScenario(t, f, db)
}
