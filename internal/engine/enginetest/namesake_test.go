package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// TestDroppedNamesakeHistory: history outlives Drop, but a database
// created again under the name sees none of it: no LastRestore on the
// standby, no backups of the old family on the primary.
func TestDroppedNamesakeHistory(t *testing.T) {
	e := newEnv(t)
	p, s := e.drv.Server("p"), e.drv.Server("s")
	p.Create("Sales", base)
	p.Insert("Sales", 1)
	_, fPath := e.backup("p", "Sales", artifact.Full)
	e.mustRestore("s", "Sales", fPath, false)

	s.Drop("Sales")
	s.Create("Sales", base)
	obs, err := e.open("s").ObserveStandby(context.Background(), []string{"Sales"})
	if err != nil {
		t.Fatal(err)
	}
	if obs[0].State != engine.Online || obs[0].LastRestore != nil {
		t.Fatalf("a database created where a restored one was dropped: %+v, last restore %+v", obs[0], obs[0].LastRestore)
	}

	p.Drop("Sales")
	p.Create("Sales", base)
	got, err := e.open("p").ObservePrimary(context.Background(), []string{"Sales"}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got[0].Backups) != 0 {
		t.Fatalf("a database created again lists its namesake's backups: %+v", got[0].Backups)
	}
}
