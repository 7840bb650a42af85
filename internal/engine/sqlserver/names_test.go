package sqlserver

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// TestSession_HostileNamesEndToEnd: database names with every character
// that means something to T-SQL or to a file system, and characters outside
// the Basic Multilingual Plane (two UTF-16 code units each), go through the
// engine to the simulators over go-mssqldb: backup, HEADERONLY, msdb
// history, a STANDBY restore with MOVE, the standby's position, recovery.
// Each is quoted, never spliced: a database the names try to drop
// survives. (File names here come from an index: the names would not be
// valid file names, and how drsctl names files is the blob key layout's
// business.)
func TestSession_HostileNamesEndToEnd(t *testing.T) {
	f := simFixture(t, simOptions{})
	ctx := context.Background()
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	exec(t, f.primary, "CREATE DATABASE [x]")
	exec(t, f.target, "CREATE DATABASE [x]")
	start := time.Now().Add(-time.Hour)
	for i, db := range []string{
		`a"b`, "semi;colon", "dash--dash /*c*/", `slash/and\back`, "..", "two  spaces inside",
		"Sales 💾", "𠀋 extension B", `Zürich]'"; DROP DATABASE x; --`, "tab\there",
	} {
		t.Run(fmt.Sprintf("%d %s", i, db), func(t *testing.T) {
			fullFile, logFile := fmt.Sprintf("n%d_full.bak", i), fmt.Sprintf("n%d_log.trn", i)
			f.createDatabase(t, db)
			insert(t, f.primary, db, 1)
			full := f.backup(t, primary, db, artifact.Full, fullFile)
			insert(t, f.primary, db, 2)
			log := f.backup(t, primary, db, artifact.Log, logFile)
			mustContinue(t, full, log)
			if full.Database != db || log.Database != db {
				t.Fatalf("headers name %q and %q, want %q", full.Database, log.Database, db)
			}
			described, err := primary.Describe(ctx, f.path(fullFile))
			if err != nil || described.Database != db || described.LastLSN != full.LastLSN {
				t.Fatalf("Describe: %+v, %v", described, err)
			}
			p := primaryOf(t, primary, db, start)
			if !p.Exists || len(p.Backups) != 2 || p.Backups[1].LastLSN != log.LastLSN {
				t.Fatalf("primary: %+v", p)
			}

			f.restore(t, target, f.restoreRequest(db, artifact.Full, fullFile, engine.StandbyMode))
			f.restore(t, target, f.restoreRequest(db, artifact.Log, logFile, engine.StandbyMode))
			sb := standbyOf(t, target, db)
			if sb.State != engine.Standby || sb.RedoLSN != log.LastLSN || sb.LastRestore == nil || sb.LastRestore.Path != f.path(logFile) {
				t.Fatalf("standby: %+v %+v", sb, sb.LastRestore)
			}
			if n := countRows(t, f.target, db); n != 2 {
				t.Fatalf("rows on the standby: %d, want 2", n)
			}
			if err := target.Recover(ctx, engine.RecoverRequest{Database: db}); err != nil {
				t.Fatalf("recover: %v", err)
			}
			if sb := standbyOf(t, target, db); sb.State != engine.Online {
				t.Fatalf("after recovery: %+v", sb)
			}
		})
	}
	for role, db := range map[string]*sql.DB{"primary": f.primary, "target": f.target} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM sys.databases WHERE name = @p1", "x").Scan(&n); err != nil || n != 1 {
			t.Errorf("database x on the %s: %d %v", role, n, err)
		}
	}
}
