package sqlserver

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// TestSession_ObserveManyAtOnce: observing many databases in one call,
// asked several at a time, describes each exactly as observing it alone
// does, in the order asked: databases with and without backups, missing,
// in SIMPLE recovery, with hostile names; on the standby restoring, in
// STANDBY, recovered and absent.
func TestSession_ObserveManyAtOnce(t *testing.T) {
	f := simFixture(t, simOptions{})
	ctx := context.Background()
	primary, target := open(t, f.primaryDSN), open(t, f.targetDSN)
	start := time.Now().Add(-time.Hour)
	var names []string
	for i := 0; i < 3*observeConcurrency; i++ {
		db := fmt.Sprintf("db%02d", i)
		if i%5 == 3 {
			db = fmt.Sprintf(`Sales]; DROP DATABASE x; -- %d`, i)
		}
		names = append(names, db)
		if i%7 == 6 {
			continue // missing everywhere
		}
		f.createDatabase(t, db)
		if i%4 == 1 {
			continue // no backup, not on the standby
		}
		insert(t, f.primary, db, 1)
		full, log := fmt.Sprintf("m%d_full.bak", i), fmt.Sprintf("m%d_log.trn", i)
		f.backup(t, primary, db, artifact.Full, full)
		insert(t, f.primary, db, 2)
		f.backup(t, primary, db, artifact.Log, log)
		mode := engine.StandbyMode
		if i%2 == 0 {
			mode = engine.NoRecovery
		}
		f.restore(t, target, f.restoreRequest(db, artifact.Full, full, mode))
		f.restore(t, target, f.restoreRequest(db, artifact.Log, log, mode))
		if i%3 == 0 {
			if err := target.Recover(ctx, engine.RecoverRequest{Database: db}); err != nil {
				t.Fatalf("recover %s: %v", db, err)
			}
		}
		if i%6 == 2 {
			exec(t, f.primary, "ALTER DATABASE "+quoteIdent(db)+" SET RECOVERY SIMPLE")
		}
	}

	prim, err := primary.ObservePrimary(ctx, names, start)
	if err != nil {
		t.Fatal(err)
	}
	stby, err := target.ObserveStandby(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(prim) != len(names) || len(stby) != len(names) {
		t.Fatalf("%d and %d answers for %d databases", len(prim), len(stby), len(names))
	}
	kinds := map[string]bool{}
	for i, db := range names {
		if alone := primaryOf(t, primary, db, start); !reflect.DeepEqual(prim[i], alone) {
			t.Errorf("primary %q among many:\n%+v\nalone:\n%+v", db, prim[i], alone)
		}
		if alone := standbyOf(t, target, db); !reflect.DeepEqual(stby[i], alone) {
			t.Errorf("standby %q among many:\n%+v\nalone:\n%+v", db, stby[i], alone)
		}
		kinds[fmt.Sprint(prim[i].Exists, len(prim[i].Backups), prim[i].RecoveryModel, stby[i].State)] = true
	}
	if len(kinds) < 5 {
		t.Errorf("only %d kinds of database observed: %v", len(kinds), kinds)
	}
}
