package apply_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// TestApply_SlowRemoteWrites: a remote ledger whose writes take 100 ms (an
// object store across a WAN), in a cron run of short actions. A completed
// action waits for others to share its write only while every slot is
// busy: when the scheduler has nothing else to start it is written at
// once. An outcome left waiting for the timer (up to a second) while
// nothing else runs would add up to a second per write to the run.
func TestApply_SlowRemoteWrites(t *testing.T) {
	const latency = 100 * time.Millisecond
	for _, par := range []int{1, 3, 10} {
		t.Run(fmt.Sprintf("slots=%d", par), func(t *testing.T) {
			cfg, reg, _ := setup(t, 4)
			path := filepath.Join(t.TempDir(), "drs.state")
			disk := &slowDisk{Local: state.NewLocal(path, state.LocalOptions{}), delay: latency}
			st := state.New("l")
			if err := disk.Local.Write(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			for round := 0; round < 2; round++ {
				at := now.Add(time.Duration(round) * 16 * time.Minute)
				p := plan.Make(cfg, st, nil, at, plan.Options{})
				r := &apply.Runner{Config: cfg, Engines: reg, State: disk, Parallelism: par, Reporter: newEvents(), Now: func() time.Time { return at }}
				t0 := time.Now()
				res, err := r.Apply(context.Background(), p, st)
				took := time.Since(t0)
				if err != nil {
					t.Fatal(err)
				}
				// The actions themselves take milliseconds here: the run is
				// its writes, plus what the writes waited for.
				waited := took - res.StateTime
				t.Logf("round %d: %d actions, %d changes in %d writes (%s), run %s, %s not writing",
					round, len(p.Actions), res.StateChanges, res.StateWrites, res.StateTime.Round(time.Millisecond), took.Round(time.Millisecond), waited.Round(time.Millisecond))
				if waited > time.Second {
					t.Errorf("round %d: the run spent %s not writing, for actions that take milliseconds: completed actions waited for the timer with nothing else to do", round, waited.Round(time.Millisecond))
				}
			}
		})
	}
}

// busyActions makes every action take work (its reporter's Started runs in
// the action's slot) and measures, for each action done, how long after
// its work ended it was reported: what waiting to share a write cost it
// and its dependents.
type busyActions struct {
	work time.Duration

	mu    sync.Mutex
	ended map[string]time.Time
	worst time.Duration
	total time.Duration
	n     int
}

func (b *busyActions) Started(a *plan.Action) {
	time.Sleep(b.work)
	b.mu.Lock()
	b.ended[a.ID] = time.Now()
	b.mu.Unlock()
}
func (b *busyActions) Progress(*plan.Action, int, string) {}
func (b *busyActions) Skipped(*plan.Action, string)       {}
func (b *busyActions) Finished(o *apply.Outcome) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := time.Since(b.ended[o.Action.ID])
	b.worst = max(b.worst, d)
	b.total += d
	b.n++
}

// TestApply_SlowRemoteWritesBusy: the same remote ledger (100 ms a write)
// with actions that take 40 ms, so that slots are busy when actions
// complete and their records wait to share a write. The wait is bounded:
// an action is reported (and its dependents start) at most about a second
// (maxCommitDelay) and a write or two after its work ended, and the run
// makes fewer writes than changes.
func TestApply_SlowRemoteWritesBusy(t *testing.T) {
	const latency = 100 * time.Millisecond
	for _, par := range []int{1, 4} {
		t.Run(fmt.Sprintf("slots=%d", par), func(t *testing.T) {
			cfg, reg, _ := setup(t, 6)
			path := filepath.Join(t.TempDir(), "drs.state")
			disk := &slowDisk{Local: state.NewLocal(path, state.LocalOptions{}), delay: latency}
			st := state.New("l")
			if err := disk.Local.Write(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			at := time.Now()
			p := plan.Make(cfg, st, nil, at, plan.Options{})
			b := &busyActions{work: 40 * time.Millisecond, ended: map[string]time.Time{}}
			r := &apply.Runner{Config: cfg, Engines: reg, State: disk, Parallelism: par, Reporter: b, Now: func() time.Time { return at }}
			t0 := time.Now()
			res, err := r.Apply(context.Background(), p, st)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d actions, %d changes in %d writes (%s), run %s; reported after their work ended: %s on average, %s at worst",
				len(p.Actions), res.StateChanges, res.StateWrites, res.StateTime.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond),
				(b.total / time.Duration(b.n)).Round(time.Millisecond), b.worst.Round(time.Millisecond))
			if limit := time.Second + 3*latency + 300*time.Millisecond; b.worst > limit {
				t.Errorf("an action was reported %s after its work ended (more than %s): its record waited longer than maxCommitDelay and a write", b.worst.Round(time.Millisecond), limit)
			}
			if res.StateWrites >= res.StateChanges {
				t.Errorf("%d changes in %d writes: records did not share writes while every slot was busy", res.StateChanges, res.StateWrites)
			}
		})
	}
}
