package sqlserver

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// A STANDBY restore without an undo file path puts the undo file in the
// target server's default data directory: a place only that server writes,
// never the destination (a URL, or a share another target writes). The
// next restores keep working from there.
func TestRestore_StandbyUndoFileDefaultsToTheServersDataDirectory(t *testing.T) {
	f := simFixture(t, simOptions{})
	p := open(t, f.primaryDSN)
	f.createDatabase(t, "Sales")
	insert(t, f.primary, "Sales", 1)
	f.backup(t, p, "Sales", artifact.Full, "full.bak")
	insert(t, f.primary, "Sales", 2)
	f.backup(t, p, "Sales", artifact.Log, "log.trn")

	s := open(t, f.targetDSN)
	for _, r := range []struct {
		kind artifact.Kind
		file string
	}{{artifact.Full, "full.bak"}, {artifact.Log, "log.trn"}} {
		req := f.restoreRequest("Sales", r.kind, r.file, engine.StandbyMode)
		req.UndoFile = ""
		if err := s.Restore(context.Background(), req, engine.NoProgress); err != nil {
			t.Fatalf("restore %s WITH STANDBY and no undo file named: %v", r.file, err)
		}
	}
	if st := standbyOf(t, s, "Sales"); st.State != engine.Standby {
		t.Fatalf("Sales is %s, want a STANDBY database", st.RawState)
	}
	var dataDir sql.NullString
	if err := f.target.QueryRow("SELECT SERVERPROPERTY('InstanceDefaultDataPath')").Scan(&dataDir); err != nil || dataDir.String == "" {
		t.Fatalf("default data path: %q, %v", dataDir.String, err)
	}
	entries, err := os.ReadDir(dataDir.String)
	if err != nil {
		t.Fatal(err)
	}
	var undo []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tuf") {
			undo = append(undo, e.Name())
		}
	}
	if len(undo) != 1 || !strings.HasPrefix(undo[0], "Sales_") {
		t.Errorf("undo files in the server's data directory %s: %v, want one for Sales", dataDir.String, undo)
	}
	if files, _ := os.ReadDir(f.backupDir); len(files) > 0 {
		for _, e := range files {
			if strings.HasSuffix(e.Name(), ".tuf") {
				t.Errorf("an undo file was written beside the backups: %s", e.Name())
			}
		}
	}
}
