package apply_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// seededSetup applies a first plan: db0 is seeded on a (standby) and b.
func seededSetup(t *testing.T) (*apply.Runner, *state.State, *memState, string) {
	t.Helper()
	cfg, reg, _ := setup(t, 1)
	st := state.New("l")
	ms := &memState{st: st}
	r := &apply.Runner{Config: cfg, Engines: reg, State: ms, Parallelism: 2, Reporter: newEvents()}
	if _, err := r.Apply(context.Background(), plan.Make(cfg, st, nil, time.Now(), plan.Options{}), st); err != nil {
		t.Fatal(err)
	}
	dir := strings.TrimPrefix(cfg.BackupFolders[0].URL, "file://")
	return r, st, ms, dir
}

func onlyAction(t *testing.T, r *apply.Runner, st *state.State, a *plan.Action) error {
	t.Helper()
	res, err := r.Apply(context.Background(), &plan.Plan{FormatVersion: plan.FormatVersion, Actions: []*plan.Action{a}}, st)
	if err != nil {
		return err
	}
	for _, o := range res.Outcomes {
		if o.Err != nil {
			return o.Err
		}
	}
	return nil
}

// A prune never deletes a file that is not the backup drsctl recorded: one
// written under its name since (another size) is refused and kept.
func TestFence_PruneRefusesAFileThatIsNotTheRecordedBackup(t *testing.T) {
	r, st, _, dir := seededSetup(t)
	full := st.LookupDatabase("p", "db0").Artifacts[0]
	path := filepath.Join(dir, filepath.FromSlash(full.Key))
	if err := os.WriteFile(path, []byte("someone else's file"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := onlyAction(t, r, st, &plan.Action{ID: "prune", Kind: plan.Prune, Primary: "p", Database: "db0", Artifact: full.ID, ArtifactKind: artifact.Full})
	if err == nil || !strings.Contains(err.Error(), "refused to prune") || !strings.Contains(err.Error(), "something else wrote under its name") {
		t.Fatalf("prune of a replaced file: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "someone else's file" {
		t.Error("the file was deleted")
	}
	if st.LookupDatabase("p", "db0").Artifact(full.ID).PrunedAt != nil {
		t.Error("the ledger records a prune that was refused")
	}
}

// A REPLACE is refused when the standby moved since the plan saw it, and
// when it is online (failed over), unless reprotect asked for exactly that.
func TestFence_ReplaceChecksWhatThePlanAssumed(t *testing.T) {
	r, st, _, _ := seededSetup(t)
	td := st.LookupTargetDatabase("a", "db0")
	full := st.LookupDatabase("p", "db0").Artifact(td.SeededFrom)
	replace := func(assumed *plan.Assumption) error {
		return onlyAction(t, r, st, &plan.Action{ID: "seed", Kind: plan.RestoreFull, Primary: "p", Database: "db0", Target: "a",
			Artifact: full.ID, ArtifactKind: artifact.Full, Mode: "standby", Seed: true, Replace: true, Assumed: assumed})
	}
	err := replace(&plan.Assumption{State: engine.Standby, RedoLSN: "1"})
	if err == nil || !strings.Contains(err.Error(), "the plan saw it at LSN 1") {
		t.Errorf("REPLACE over a standby that moved: %v", err)
	}
	if err := replace(&plan.Assumption{State: engine.Standby, RedoLSN: td.Restored.LastLSN}); err != nil {
		t.Errorf("REPLACE over the standby the plan saw: %v", err)
	}
}

// A recover is refused when the standby does not stand where drsctl
// restored it.
func TestFence_RecoverChecksThePosition(t *testing.T) {
	r, st, _, _ := seededSetup(t)
	st.TargetDatabase("a", "db0").Restored.LastLSN = "999999999"
	err := onlyAction(t, r, st, &plan.Action{ID: "promote", Kind: plan.Promote, Primary: "p", Database: "db0", Target: "a", Mode: plan.PromoteUnplanned})
	if err == nil || !strings.Contains(err.Error(), "refused to recover") {
		t.Fatalf("recover of a standby elsewhere than the ledger says: %v", err)
	}
	if st.LookupTargetDatabase("a", "db0").PromotedAt != nil {
		t.Error("a refused promote was recorded")
	}
}
