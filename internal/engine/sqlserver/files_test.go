package sqlserver

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// filesOf is where the target server has each file of a database
// (sys.master_files: logical name → physical path).
func filesOf(t *testing.T, db *sql.DB, database string) map[string]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), "SELECT name, physical_name FROM sys.master_files WHERE database_id = DB_ID(@p1)", database)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, p string
		if err := rows.Scan(&n, &p); err != nil {
			t.Fatal(err)
		}
		out[n] = p
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func defaultPaths(t *testing.T, db *sql.DB) (data, log string) {
	t.Helper()
	if err := db.QueryRowContext(context.Background(), queryDefaultPaths).Scan(&data, &log); err != nil {
		t.Fatal(err)
	}
	return data, log
}

func wantFiles(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v || len(got) != len(want) {
			t.Errorf("files %v, want %v", got, want)
			return
		}
	}
}

// TestRestore_FilesAddedOnThePrimary: a file added on the primary between
// two log backups is created by the log restore, in the standby's data
// directory (data_dir, or the server's default), never at the primary's
// path, which on a standby with another layout does not exist (5133, 3156:
// every log restore failed, retried forever). A full without data_dir
// lands in the standby's default paths, not the primary's. A file removed
// on the primary is dropped by the next log restore.
func TestRestore_FilesAddedOnThePrimary(t *testing.T) {
	ctx := context.Background()
	t.Run("data_dir and log_dir set", func(t *testing.T) {
		f := simFixture(t, simOptions{})
		p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
		f.createDatabase(t, "Sales")
		f.backup(t, p, "Sales", artifact.Full, "full.bak")
		f.restore(t, s, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery))

		primaryDir := t.TempDir()
		exec(t, f.primary, "ALTER DATABASE [Sales] ADD FILE (NAME = N'Sales_2026', FILENAME = N'"+filepath.Join(primaryDir, "Sales_2026.ndf")+"') TO FILEGROUP [PRIMARY]")
		exec(t, f.primary, "ALTER DATABASE [Sales] ADD LOG FILE (NAME = N'Sales_log2', FILENAME = N'"+filepath.Join(primaryDir, "Sales_log2.ldf")+"')")
		insert(t, f.primary, "Sales", 1)
		f.backup(t, p, "Sales", artifact.Log, "log1.trn")
		req := f.restoreRequest("Sales", artifact.Log, "log1.trn", engine.StandbyMode)
		req.DataDir, req.LogDir = f.dataDir, f.logDir
		f.restore(t, s, req)
		wantFiles(t, filesOf(t, f.target, "Sales"), map[string]string{
			"Sales":      joinServerPath(f.dataDir, "Sales_Sales.mdf"),
			"Sales_log":  joinServerPath(f.logDir, "Sales_Sales_log.ldf"),
			"Sales_2026": joinServerPath(f.dataDir, "Sales_Sales_2026.ndf"),
			"Sales_log2": joinServerPath(f.logDir, "Sales_Sales_log2.ldf"),
		})
		if n := countRows(t, f.target, "Sales"); n != 1 {
			t.Fatalf("standby has %d rows, want 1", n)
		}

		// REMOVE FILE: the next log restore drops it on the standby, and
		// nothing is MOVEd (the standby has every other file).
		exec(t, f.primary, "ALTER DATABASE [Sales] REMOVE FILE [Sales_2026]")
		insert(t, f.primary, "Sales", 2)
		f.backup(t, p, "Sales", artifact.Log, "log2.trn")
		req = f.restoreRequest("Sales", artifact.Log, "log2.trn", engine.StandbyMode)
		req.DataDir, req.LogDir = f.dataDir, f.logDir
		f.restore(t, s, req)
		if got := filesOf(t, f.target, "Sales"); len(got) != 3 || got["Sales_2026"] != "" {
			t.Fatalf("after the log that removes Sales_2026 the standby has %v", got)
		}
		if n := countRows(t, f.target, "Sales"); n != 2 {
			t.Fatalf("standby has %d rows, want 2", n)
		}
	})

	t.Run("no data_dir, the primary's directory missing on the standby's host", func(t *testing.T) {
		f := simFixture(t, simOptions{})
		p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
		defData, defLog := defaultPaths(t, f.target)
		f.createDatabase(t, "Sales")
		f.backup(t, p, "Sales", artifact.Full, "full.bak")
		req := f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery)
		req.DataDir, req.LogDir = "", ""
		f.restore(t, s, req)
		wantFiles(t, filesOf(t, f.target, "Sales"), map[string]string{
			"Sales":     joinServerPath(defData, "Sales_Sales.mdf"),
			"Sales_log": joinServerPath(defLog, "Sales_Sales_log.ldf"),
		})

		primaryDir := filepath.Join(t.TempDir(), "D_Data") // D:\Data on the primary
		if err := os.Mkdir(primaryDir, 0o755); err != nil {
			t.Fatal(err)
		}
		exec(t, f.primary, "ALTER DATABASE [Sales] ADD FILE (NAME = N'Sales_2026', FILENAME = N'"+filepath.Join(primaryDir, "Sales_2026.ndf")+"')")
		insert(t, f.primary, "Sales", 1)
		f.backup(t, p, "Sales", artifact.Log, "log1.trn")
		if err := os.RemoveAll(primaryDir); err != nil { // not on the standby's host
			t.Fatal(err)
		}
		req = f.restoreRequest("Sales", artifact.Log, "log1.trn", engine.NoRecovery)
		if err := s.Restore(ctx, req, engine.NoProgress); err != nil {
			t.Fatalf("log restore after ADD FILE on the primary: %v", err)
		}
		if got := filesOf(t, f.target, "Sales")["Sales_2026"]; got != joinServerPath(defData, "Sales_Sales_2026.ndf") {
			t.Fatalf("the added file is at %q, want it in the standby's default data path %s", got, defData)
		}
		if got := standbyOf(t, s, "Sales"); got.State != engine.Restoring {
			t.Fatalf("standby state %+v after the log restore", got)
		}
	})
}

// TestRestore_VersionMismatch: a backup of an older SQL Server restores
// on a newer one only without STANDBY (3180: the restore upgrades the
// database); one of a newer version never restores on an older one (3169).
// Both are reported as engine.ErrIncompatible with what to do, not as a
// failure to retry.
func TestRestore_VersionMismatch(t *testing.T) {
	ctx := context.Background()
	t.Run("2019 primary, 2022 standby", func(t *testing.T) {
		f := simFixture(t, simOptions{primaryVersion: 15})
		p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
		f.createDatabase(t, "Sales")
		f.backup(t, p, "Sales", artifact.Full, "full.bak")
		insert(t, f.primary, "Sales", 1)
		f.backup(t, p, "Sales", artifact.Log, "log1.trn")

		err := s.Restore(ctx, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.StandbyMode), engine.NoProgress)
		if !errors.Is(err, engine.ErrIncompatible) || !hasNumber(err, errStandbyUpgrade) {
			t.Fatalf("STANDBY restore of a 2019 backup on 2022: %v, want 3180 as ErrIncompatible", err)
		}
		wantContains(t, err, "SQL Server error 3180: This backup cannot be restored using WITH STANDBY because a database upgrade is needed.",
			`restore_mode = "norecovery"`, "same major version")
		if errors.Is(err, engine.ErrChain) || errors.Is(err, engine.ErrDamaged) || errors.Is(err, engine.ErrUnreachable) {
			t.Fatalf("3180 classed as something to retry or reseed: %v", err)
		}

		f.restore(t, s, f.restoreRequest("Sales", artifact.Full, "full.bak", engine.NoRecovery))
		f.restore(t, s, f.restoreRequest("Sales", artifact.Log, "log1.trn", engine.NoRecovery))
		if got := standbyOf(t, s, "Sales"); got.State != engine.Restoring {
			t.Fatalf("standby state %+v, want restoring", got)
		}
	})

	t.Run("2022 primary, 2019 standby", func(t *testing.T) {
		f := simFixture(t, simOptions{targetVersion: 15})
		p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
		f.createDatabase(t, "Sales")
		f.backup(t, p, "Sales", artifact.Full, "full.bak")
		for _, mode := range []engine.RestoreMode{engine.NoRecovery, engine.StandbyMode} {
			err := s.Restore(ctx, f.restoreRequest("Sales", artifact.Full, "full.bak", mode), engine.NoProgress)
			if !errors.Is(err, engine.ErrIncompatible) || !hasNumber(err, errNewerVersion) {
				t.Fatalf("%s restore of a 2022 backup on 2019: %v, want 3169 as ErrIncompatible", mode, err)
			}
			wantContains(t, err, "SQL Server error 3169: The database was backed up on a server running version 16.00.4135. That version is incompatible with this server, which is running version 15.00.4355.",
				"same or a newer major version", "upgrade the target's SQL Server")
		}
	})
}

func TestAddedFiles(t *testing.T) {
	have := []dbFileRow{{fileID: 1, logical: "Sales"}, {fileID: 2, logical: "Sales_log", createLSN: "0"}, {fileID: 3, logical: "Sales_2025", createLSN: "77000000012300001"}}
	for name, c := range map[string]struct {
		backup []backupFile
		want   []string
	}{
		"the database's first files, CreateLSN 0 or NULL": {
			backup: []backupFile{{logical: "Sales", fileID: 1, createLSN: "0"}, {logical: "Sales_log", fileID: 2}},
		},
		"a new file_id": {
			backup: []backupFile{{logical: "Sales", fileID: 1, createLSN: "0"}, {logical: "Sales_2026", fileID: 4, createLSN: "77000000099900001"}},
			want:   []string{"Sales_2026"},
		},
		"renamed: same file_id and LSN": {
			backup: []backupFile{{logical: "Sales_old", fileID: 3, createLSN: "77000000012300001"}},
		},
		"file_id reused by another file": {
			backup: []backupFile{{logical: "Sales_2026", fileID: 3, createLSN: "77000000099900001"}},
			want:   []string{"Sales_2026"},
		},
		"same name and file_id, LSNs disagree: the same file": {
			backup: []backupFile{{logical: "Sales_2025", fileID: 3, createLSN: "77000000099900001"}},
		},
		"added and removed in the same log": {
			backup: []backupFile{{logical: "tmp", fileID: 4, createLSN: "77000000099900001", dropLSN: "77000000099900009"}},
			want:   []string{"tmp"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, f := range addedFiles(c.backup, have) {
				got = append(got, f.logical)
			}
			if len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
				t.Fatalf("added %v, want %v", got, c.want)
			}
		})
	}
}
