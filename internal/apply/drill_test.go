package apply_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// noDrill is a driver whose sessions have no Drill method: an engine that
// cannot run drills.
type noDrill struct{ inner engine.Driver }

type plainSession struct{ engine.Session }

func (d noDrill) Open(ctx context.Context, dsn string) (engine.Session, error) {
	s, err := d.inner.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	return plainSession{s}, nil
}

func TestDrill_InMemory(t *testing.T) {
	cfg, reg, drv := setup(t, 1)
	if err := drv.Server("p").Insert("db0", 1, 2); err != nil {
		t.Fatal(err)
	}
	st := state.New("l")
	ms := &memState{st: st}
	r := &apply.Runner{Config: cfg, Engines: reg, State: ms}
	if _, err := r.Apply(context.Background(), plan.Make(cfg, st, nil, time.Now(), plan.Options{}), st); err != nil {
		t.Fatal(err)
	}
	// A log backup after a point in time, for -at.
	time.Sleep(10 * time.Millisecond)
	mid := time.Now().UTC()
	time.Sleep(10 * time.Millisecond)
	if err := drv.Server("p").Insert("db0", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Apply(context.Background(), plan.Make(cfg, st, nil, time.Now().Add(16*time.Minute), plan.Options{}), st); err != nil {
		t.Fatal(err)
	}
	standby, _ := drv.Server("a").Database("db0")

	out, err := r.Drill(context.Background(), st, apply.DrillOptions{Target: "a", Database: "db0"})
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	if !strings.HasPrefix(out.Scratch, "drsctl_drill_db0_") || out.Left || len(out.Backups) != 2 {
		t.Errorf("outcome %+v", out)
	}
	drills := drv.Server("a").Drills()
	if len(drills) != 1 || fmt.Sprint(drills[0].Rows) != "[1 2 3]" || drills[0].Database != out.Scratch {
		t.Errorf("drills on the server: %+v", drills)
	}
	if drv.Server("a").Exists(out.Scratch) {
		t.Error("the scratch database was not dropped")
	}
	if after, _ := drv.Server("a").Database("db0"); after.State != standby.State || fmt.Sprint(after.Rows) != fmt.Sprint(standby.Rows) {
		t.Errorf("the standby changed: %+v → %+v", standby, after)
	}
	td := ms.st.LookupTargetDatabase("a", "db0") // as persisted
	if td.LastDrill == nil || !td.LastDrill.OK || td.LastDrill.Check != "3 rows" || td.DrillOKAt == nil {
		t.Errorf("persisted drill: %+v", td.LastDrill)
	}

	// The in-memory engine does not model STOPAT: said, not faked.
	if _, err := r.Drill(context.Background(), st, apply.DrillOptions{Target: "a", Database: "db0", At: mid}); err == nil || !strings.Contains(err.Error(), "STOPAT") {
		t.Errorf("drill -at on the in-memory engine: %v", err)
	}

	// An engine without drills: a clear error, recorded as a failed drill.
	reg2 := engine.NewRegistry()
	reg2.Register("memory", noDrill{inner: drv})
	r2 := &apply.Runner{Config: cfg, Engines: reg2, State: ms}
	_, err = r2.Drill(context.Background(), st, apply.DrillOptions{Target: "a", Database: "db0"})
	if !errors.Is(err, engine.ErrNoDrill) || !strings.Contains(err.Error(), `engine "memory"`) {
		t.Fatalf("want ErrNoDrill naming the engine, got %v", err)
	}
	if d := ms.st.LookupTargetDatabase("a", "db0").LastDrill; d == nil || d.OK || !strings.Contains(d.Error, "cannot run restore drills") {
		t.Errorf("recorded: %+v", d)
	}
	if len(drv.Server("a").Drills()) != 2 { // the STOPAT refusal counted, nothing more
		t.Errorf("drills reached the server: %+v", drv.Server("a").Drills())
	}
}

func TestDrill_Refusals(t *testing.T) {
	cfg, reg, _ := setup(t, 1)
	st := state.New("l")
	r := &apply.Runner{Config: cfg, Engines: reg, State: &memState{st: st}}
	for _, c := range []struct {
		o    apply.DrillOptions
		want string
	}{
		{apply.DrillOptions{Target: "nope", Database: "db0"}, `no target "nope"`},
		{apply.DrillOptions{Target: "a", Database: "other"}, `does not protect database "other"`},
		{apply.DrillOptions{Target: "a", Database: "db0"}, "nothing to drill"},
	} {
		out, err := r.Drill(context.Background(), st, c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) || out.Drill != nil {
			t.Errorf("%+v: got %v (recorded %v), want %q and nothing recorded", c.o, err, out.Drill, c.want)
		}
	}
	if st.LookupTargetDatabase("a", "db0") != nil {
		t.Error("a drill that could not start wrote the ledger")
	}
}

func TestScratchName(t *testing.T) {
	at := time.Date(2026, 12, 3, 4, 5, 6, 0, time.FixedZone("x", 3600))
	for db, want := range map[string]string{
		"Sales":                       "drsctl_drill_Sales_20261203T030506Z",
		"Sales]; DROP DATABASE x; --": "drsctl_drill_Sales___DROP_DATABASE_x_____20261203T030506Z",
		"O'Brien":                     "drsctl_drill_O_Brien_20261203T030506Z",
		strings.Repeat("a", 200):      "drsctl_drill_" + strings.Repeat("a", 64) + "_20261203T030506Z",
	} {
		if got := apply.ScratchName(db, at); got != want {
			t.Errorf("ScratchName(%q) = %q, want %q", db, got, want)
		}
	}
}
