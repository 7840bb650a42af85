package apply_test

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/observe"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// acks remembers what a run reported done, as the operator saw it.
type acks struct {
	*durableCheck
	mu   sync.Mutex
	done []*apply.Outcome
}

func (a *acks) Finished(o *apply.Outcome) {
	a.durableCheck.Finished(o)
	if o.Err == nil {
		a.mu.Lock()
		a.done = append(a.done, o)
		a.mu.Unlock()
	}
}

// TestApply_KillInTheWindow lands a kill -9 in the window group commit
// opened: actions completed on the servers and in storage, their records
// made in memory and waiting to share a write, and the write that would
// have carried them never reaches the disk (the process died while it was
// under way: every write from the kth on is lost). The runs after the
// kill start from what is on disk, refresh as the CLI does, and must
// converge within three applies without an error, with every action the
// killed run reported done still in the ledger. Random estates, slots,
// warm-up applies and kill points; replay one with -run
// 'KillInTheWindow/seed=N'.
func TestApply_KillInTheWindow(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { killTrial(t, seed) })
	}
}

func killTrial(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	cfg, reg, drv := setup(t, 1+rng.Intn(8))
	path := filepath.Join(t.TempDir(), "drs.state")
	local := state.NewLocal(path, state.LocalOptions{})
	st := state.New("l")
	if err := local.Write(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	apply1 := func(st *state.State, m state.Manager, rep apply.Reporter, par int) (*plan.Plan, *apply.Result, error) {
		obs := observe.Refresh(context.Background(), cfg, st, observe.Options{Engines: reg, Now: func() time.Time { return at }})
		p := plan.Make(cfg, st, obs, at, plan.Options{})
		r := &apply.Runner{Config: cfg, Engines: reg, State: m, Parallelism: par, Reporter: rep, Now: func() time.Time { return at }}
		res, err := r.Apply(context.Background(), p, st)
		return p, res, err
	}
	// The applications write between runs: no log backup is empty.
	write := func() {
		for _, db := range cfg.Primaries[0].Databases {
			if err := drv.Server("p").Write(db); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Warm-up applies: the kill lands in a seed, or in log shipping.
	warmups := rng.Intn(3)
	for i := 0; i < warmups; i++ {
		write()
		if _, _, err := apply1(st, local, newEvents(), 4); err != nil {
			t.Fatalf("warm-up %d: %v", i, err)
		}
		at = at.Add(16 * time.Minute)
	}
	write()
	disk := &capturing{Local: local, delay: time.Duration(rng.Intn(3)) * time.Millisecond, failAt: 1 + rng.Intn(9)}
	disk.durable = st.Clone()
	killed := &acks{durableCheck: &durableCheck{t: t, disk: disk, produced: map[string]string{}}}
	par := 1 + rng.Intn(8)
	p, res, err := apply1(st, disk, killed, par)
	what := fmt.Sprintf("seed %d: %d databases, %d warm-ups, %d slots, %d actions, kill in write %d of %d", seed, len(cfg.Primaries[0].Databases), warmups, par, len(p.Actions), disk.failAt, res.StateWrites)
	if err != nil && !strings.Contains(err.Error(), "injected") {
		t.Fatalf("%s: the killed run failed otherwise: %v", what, err)
	}
	// Where the kill landed: actions done on the servers and in storage
	// whose records were in memory, waiting for the write the kill cut.
	cut := 0
	for _, o := range res.Outcomes {
		if o.Err != nil && strings.Contains(o.Err.Error(), "injected") {
			cut++
		}
	}
	t.Logf("%s; %d acknowledged, %d done but cut off before their record was written", what, len(killed.done), cut)

	// The next runs: a new process reads the ledger from disk.
	st, err = local.Read(context.Background())
	if err != nil {
		t.Fatalf("%s: the ledger does not read after the kill: %v", what, err)
	}
	converged := false
	for round := 0; round < 3 && !converged; round++ {
		p, _, err := apply1(st, local, newEvents(), 1+rng.Intn(8))
		if err != nil {
			t.Fatalf("%s: apply %d after the kill: %v", what, round+1, err)
		}
		converged = len(p.Actions) == 0
	}
	if !converged {
		obs := observe.Refresh(context.Background(), cfg, st, observe.Options{Engines: reg, Now: func() time.Time { return at }})
		p := plan.Make(cfg, st, obs, at, plan.Options{})
		var left []string
		for _, a := range p.Actions {
			left = append(left, a.ID)
		}
		if len(left) > 0 {
			t.Fatalf("%s: three applies after the kill did not converge; still planned:\n  %s", what, strings.Join(left, "\n  "))
		}
	}
	// Nothing acknowledged is lost.
	produced := map[string]string{}
	for _, o := range killed.done {
		if o.Action.Kind == plan.BackupFull || o.Action.Kind == plan.BackupLog {
			produced[o.Action.ID] = o.Artifact
		}
	}
	for _, o := range killed.done {
		a := o.Action
		id := a.Artifact
		if id == "" {
			id = produced[a.From]
		}
		db := st.LookupDatabase(a.Primary, a.Database)
		td := st.LookupTargetDatabase(a.Target, a.Database)
		switch a.Kind {
		case plan.BackupFull, plan.BackupLog:
			if db.Artifact(o.Artifact) == nil {
				t.Errorf("%s: %s was reported done (%s), and the ledger lost it", what, a.ID, o.Artifact)
			}
		case plan.Ship, plan.Verify:
			if td == nil || td.Copies[id] == nil {
				t.Errorf("%s: %s was reported done, and the ledger lost the copy of %s", what, a.ID, id)
			}
		case plan.RestoreFull, plan.RestoreLog:
			art := db.Artifact(id)
			if td == nil || td.Restored == nil || art == nil || td.Restored.LastLSN.Cmp(art.LastLSN) < 0 {
				t.Errorf("%s: %s was reported done, and the ledger no longer has the target through %s", what, a.ID, id)
			}
		}
	}
}
