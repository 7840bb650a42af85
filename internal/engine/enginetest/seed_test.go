package enginetest

import (
	"context"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// TestSeedRestore: as the SQL Server engine reads msdb, a standby reports
// the full it was seeded from, whatever logs followed, with its family;
// after a seed again the new full; a namesake created since, none.
func TestSeedRestore(t *testing.T) {
	e := newEnv(t)
	p, s := e.drv.Server("p"), e.drv.Server("s")
	p.Create("Sales", base)
	p.Insert("Sales", 1)
	full, fPath := e.backup("p", "Sales", artifact.Full)
	p.Insert("Sales", 2)
	_, lPath := e.backup("p", "Sales", artifact.Log)
	e.clock = e.clock.Add(time.Second)
	full2, f2Path := e.backup("p", "Sales", artifact.Full)
	e.mustRestore("s", "Sales", fPath, false)
	e.mustRestore("s", "Sales", lPath, false)
	observe := func() engine.StandbyDatabase {
		t.Helper()
		obs, err := e.open("s").ObserveStandby(context.Background(), []string{"Sales"})
		if err != nil {
			t.Fatal(err)
		}
		return obs[0]
	}
	got := observe()
	if sr := got.SeedRestore; sr == nil || sr.Path != fPath || sr.LastLSN != full.LastLSN || sr.FamilyGUID != full.FamilyGUID || sr.FamilyGUID == "" {
		t.Fatalf("mid-chain: seed restore %+v, want %s (family %s)", got.SeedRestore, fPath, full.FamilyGUID)
	}
	if got.LastRestore == nil || got.LastRestore.Path != lPath || got.LastRestore.FamilyGUID != full.FamilyGUID {
		t.Fatalf("mid-chain: last restore %+v", got.LastRestore)
	}
	e.mustRestore("s", "Sales", f2Path, true)
	if sr := observe().SeedRestore; sr == nil || sr.Path != f2Path || sr.LastLSN != full2.LastLSN {
		t.Fatalf("seeded again: seed restore %+v, want %s", sr, f2Path)
	}
	s.Drop("Sales")
	s.Create("Sales", base)
	if sr := observe().SeedRestore; sr != nil {
		t.Fatalf("a database created where a restored one was dropped: seed restore %+v", sr)
	}
}
