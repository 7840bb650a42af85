package apply_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// TestApply_LogAlreadyRestoredIsRecordedAndTheNextFollows: the ledger says
// a standby stands before a log its server already has (an apply killed
// before its record, a position the planner could not confirm). The
// server's answer to that log, "too early" (4326), means it is already
// there: recorded as restored, and the next log follows in the same run.
func TestApply_LogAlreadyRestoredIsRecordedAndTheNextFollows(t *testing.T) {
	cfg, reg, drv := setup(t, 1)
	st := state.New("l")
	ms := &memState{st: st}
	t0 := time.Now()
	run := func(at time.Time) *apply.Result {
		t.Helper()
		p := plan.Make(cfg, st, nil, at, plan.Options{})
		r := &apply.Runner{Config: cfg, Engines: reg, State: ms, Parallelism: 2, Reporter: newEvents(), Now: func() time.Time { return at }}
		res, err := r.Apply(context.Background(), p, st)
		if err != nil {
			t.Fatalf("apply at %s: %v", at.Sub(t0), err)
		}
		return res
	}
	run(t0)
	seed := *st.TargetDatabase("a", "db0").Restored
	if seed.Kind != artifact.Full {
		t.Fatalf("after the first apply target a stands at %+v, want its seed", seed)
	}
	if err := drv.Server("p").Insert("db0", 1); err != nil {
		t.Fatal(err)
	}
	run(t0.Add(16 * time.Minute))
	l1 := *st.TargetDatabase("a", "db0").Restored
	if l1.Kind != artifact.Log {
		t.Fatalf("target a stands at %+v, want a log", l1)
	}
	// The ledger loses the restore of l1 on target a.
	st.TargetDatabase("a", "db0").Restored = &seed
	if err := drv.Server("p").Insert("db0", 2); err != nil {
		t.Fatal(err)
	}
	res := run(t0.Add(32 * time.Minute))
	if done, failed, skipped := res.Count(); failed+skipped != 0 {
		t.Fatalf("done %d failed %d skipped %d", done, failed, skipped)
	}
	got := st.TargetDatabase("a", "db0").Restored
	if got.Kind != artifact.Log || got.LastLSN.Cmp(l1.LastLSN) <= 0 {
		t.Fatalf("target a stands at %+v in the ledger, want the log after %s", got, l1.Artifact)
	}
	if rows := drv.Server("a").Rows("db0"); !slices.Equal(rows, []int{1, 2}) {
		t.Fatalf("target a has rows %v, want [1 2]", rows)
	}
}
