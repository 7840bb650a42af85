package apply_test

import (
	"context"
	"fmt"
	"math/rand"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// plainDisk is the capturing ledger behind a Manager that cannot stage
// (an older or third-party backend): every write is whole and
// synchronous, and apply must behave as it did before group commit.
type plainDisk struct{ c *capturing }

func (p plainDisk) Read(ctx context.Context) (*state.State, error) { return p.c.Read(ctx) }
func (p plainDisk) Write(_ context.Context, s *state.State) error {
	staged, err := p.c.Stage(s)
	if err != nil {
		return err
	}
	if err := staged.Commit(context.Background()); err != nil {
		staged.Abandon()
		return err
	}
	return nil
}
func (p plainDisk) Lock(ctx context.Context, op string, ttl time.Duration) (state.Lease, error) {
	return p.c.Lock(ctx, op, ttl)
}
func (p plainDisk) ForceUnlock(ctx context.Context, id string) error { return p.c.ForceUnlock(ctx, id) }
func (p plainDisk) Describe() string                                 { return p.c.Describe() }

// hanging delays one write (a volume that stalls, a remote that does not
// answer for a while) on top of capturing.
type hanging struct {
	*capturing
	hangAt int // 1-based Stage call that stalls; 0: none
	hang   time.Duration
	stages int
}

func (h *hanging) Stage(s *state.State) (state.Staged, error) {
	h.stages++ // the writer stages one write at a time, under apply's lock
	if h.stages == h.hangAt {
		time.Sleep(h.hang)
	}
	return h.capturing.Stage(s)
}

// settleCheck checks, as actions start, that every action they wait for
// (DependsOn and After) was reported, done or not: an action reported done
// has its record on disk (durableCheck), so nothing starts on a
// predecessor whose record is not durable.
type settleCheck struct {
	*durableCheck
	plan *plan.Plan

	mu       sync.Mutex
	reported map[string]bool
	started  int
}

func (c *settleCheck) Started(a *plan.Action) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.started++
	in := map[string]bool{}
	for _, o := range c.plan.Actions {
		in[o.ID] = true
	}
	for _, d := range append(append([]string{}, a.DependsOn...), a.After...) {
		if in[d] && !c.reported[d] {
			c.t.Errorf("%s started before %s (which it waits for) settled", a.ID, d)
		}
	}
}

func (c *settleCheck) Finished(o *apply.Outcome) {
	c.durableCheck.Finished(o)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reported[o.Action.ID] {
		c.t.Errorf("%s reported twice", o.Action.ID)
	}
	c.reported[o.Action.ID] = true
}

func (c *settleCheck) Skipped(a *plan.Action, _ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reported[a.ID] {
		c.t.Errorf("%s reported twice", a.ID)
	}
	c.reported[a.ID] = true
}

// TestApply_SettleModel is the operator's bad week in random estates: any
// number of databases and slots (1 included), a Manager that can stage or
// one that cannot, writes that take a while, one that stalls for 300 ms,
// one that fails (the disk full), and an interrupt (SIGINT) at a random
// moment. Whatever happens: no action starts before every action it waits
// for is reported, an action reported done has its record on disk, every
// action is reported exactly once, an interrupted Apply returns promptly
// (once the stall is over), the ledger on disk is the last one written, and no goroutine
// is left behind. Replay one history with -run 'SettleModel/seed=N'.
func TestApply_SettleModel(t *testing.T) {
	for seed := int64(1); seed <= 60; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { settleTrial(t, seed) })
	}
}

func settleTrial(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	cfg, reg, _ := setup(t, 1+rng.Intn(12))
	path := filepath.Join(t.TempDir(), "drs.state")
	disk := &capturing{Local: state.NewLocal(path, state.LocalOptions{}), delay: time.Duration(rng.Intn(4)) * time.Millisecond}
	if rng.Intn(3) == 0 {
		disk.failAt = 1 + rng.Intn(30)
	}
	hang := &hanging{capturing: disk}
	if rng.Intn(3) == 0 {
		hang.hangAt, hang.hang = 1+rng.Intn(20), 300*time.Millisecond
	}
	var m state.Manager = hang
	plain := rng.Intn(4) == 0
	if plain {
		m = plainDisk{c: disk}
	}
	var cancelAfter time.Duration
	if rng.Intn(3) == 0 {
		cancelAfter = time.Duration(rng.Intn(40)) * time.Millisecond
	}
	st := state.New("l")
	if err := disk.Local.Write(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	disk.durable = st.Clone()
	now := time.Now()
	stopped := false
	for round := 0; round < 2 && !stopped; round++ {
		at := now.Add(time.Duration(round) * 16 * time.Minute)
		p := plan.Make(cfg, st, nil, at, plan.Options{})
		ev := &settleCheck{durableCheck: &durableCheck{t: t, disk: disk, produced: map[string]string{}}, plan: p, reported: map[string]bool{}}
		par := 1 + rng.Intn(8)
		r := &apply.Runner{Config: cfg, Engines: reg, State: m, Parallelism: par, Reporter: ev, Now: func() time.Time { return at }}
		ctx, cancel := context.WithCancel(context.Background())
		var cancelled atomic.Int64 // when the interrupt came (UnixNano)
		if cancelAfter > 0 && round == 1 {
			time.AfterFunc(cancelAfter, func() { cancelled.Store(time.Now().UnixNano()); cancel() })
		}
		before := runtime.NumGoroutine()
		res, err := r.Apply(ctx, p, st)
		returned := time.Now()
		interrupted := ctx.Err() != nil
		cancel()
		// Interrupted, apply writes what completed and returns: it waits
		// for the actions under way (milliseconds here) and at most one
		// stalled write, never for a commit delay with nothing to do. (A
		// generous bound: the machine is shared and -race is slow.)
		if at := cancelled.Load(); at != 0 {
			if took := returned.Sub(time.Unix(0, at)); took > 5*time.Second+hang.hang {
				t.Errorf("round %d (plain %v, %d slots): apply returned %s after the interrupt", round, plain, par, took)
			}
		}
		done, _, _ := res.Count()
		if done != ev.done {
			t.Errorf("round %d: %d actions done, %d reported done", round, done, ev.done)
		}
		for _, a := range p.Actions {
			if !ev.reported[a.ID] {
				t.Errorf("round %d: %s was never reported", round, a.ID)
			}
		}
		switch {
		case err == nil:
			if done != len(p.Actions) {
				t.Fatalf("round %d: %d of %d done without an error", round, done, len(p.Actions))
			}
		case strings.Contains(err.Error(), "injected"), interrupted:
			stopped = true
		default:
			t.Fatalf("round %d: %v", round, err)
		}
		// The writer, its timers' wake-ups and every action are gone
		// once Apply returns (a wake-up armed for later may still fire
		// once, within maxCommitDelay).
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("round %d: %d goroutines before apply, %d after:\n%s", round, before, n, buf[:runtime.Stack(buf, true)])
		}
	}
	if disk.failAt > 0 && disk.failAt <= disk.writes && !stopped {
		t.Fatalf("write %d failed but apply did not say so", disk.failAt)
	}
	onDisk(t, path, disk.durable, "the ledger on disk is not the last one written:")
}
