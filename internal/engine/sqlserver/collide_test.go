package sqlserver

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// TestRestore_AddedFileNameTakenByAnotherDatabase: two standbys share the
// target's data_dir, and their moved names meet: [Sales] adds a file
// named 2024_Archive, [Sales_2024] one named Archive, and both would be
// <data_dir>/Sales_2024_Archive.ndf. The second log restore must not fail
// with 1834 on every apply (the standby stuck for good): the file goes
// under a name of its own, and the other database's file is untouched.
func TestRestore_AddedFileNameTakenByAnotherDatabase(t *testing.T) {
	f := simFixture(t, simOptions{})
	p, s := open(t, f.primaryDSN), open(t, f.targetDSN)
	primaryDir := t.TempDir()
	for _, db := range []string{"Sales", "Sales_2024"} {
		f.createDatabase(t, db)
		f.backup(t, p, db, artifact.Full, db+".bak")
		f.restore(t, s, f.restoreRequest(db, artifact.Full, db+".bak", engine.StandbyMode))
	}
	added := map[string]string{"Sales_2024": "Archive", "Sales": "2024_Archive"}
	for _, db := range []string{"Sales_2024", "Sales"} {
		logical := added[db]
		exec(t, f.primary, "ALTER DATABASE "+quoteIdent(db)+" ADD FILE (NAME = N'"+logical+"', FILENAME = N'"+filepath.Join(primaryDir, db+"-"+logical+".ndf")+"')")
		insert(t, f.primary, db, 1)
		f.backup(t, p, db, artifact.Log, db+"_1.trn")
		req := f.restoreRequest(db, artifact.Log, db+"_1.trn", engine.StandbyMode)
		req.DataDir, req.LogDir, req.DisconnectUsers = f.dataDir, f.logDir, true
		if err := s.Restore(context.Background(), req, engine.NoProgress); err != nil {
			t.Fatalf("log restore of %s after ADD FILE %s: %v", db, logical, err)
		}
	}
	other := filesOf(t, f.target, "Sales_2024")["Archive"]
	if want := joinServerPath(f.dataDir, "Sales_2024_Archive.ndf"); other != want {
		t.Fatalf("[Sales_2024] Archive is at %q, want %q", other, want)
	}
	mine := filesOf(t, f.target, "Sales")["2024_Archive"]
	if mine == "" || mine == other || filepath.Dir(mine) != filepath.Clean(f.dataDir) {
		t.Fatalf("[Sales] 2024_Archive is at %q, want a file of its own in %s", mine, f.dataDir)
	}
	for _, db := range []string{"Sales", "Sales_2024"} {
		if got := standbyOf(t, s, db); got.State != engine.Standby {
			t.Errorf("%s: state %s, want standby", db, got.State)
		}
		if n := countRows(t, f.target, db); n != 1 {
			t.Errorf("%s: %d rows, want 1", db, n)
		}
	}
}
