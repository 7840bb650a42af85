package apply_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// slowDisk is a local ledger whose writes take a while to reach the disk,
// as on a busy volume, and which checks, as each write completes, that
// what is on disk reads back.
type slowDisk struct {
	*state.Local
	delay   time.Duration
	commits atomic.Int32
}

func (d *slowDisk) Stage(s *state.State) (state.Staged, error) {
	c, err := d.Local.Stage(s)
	if err != nil {
		return nil, err
	}
	return &slowCommit{Staged: c, d: d}, nil
}

type slowCommit struct {
	state.Staged
	d *slowDisk
}

func (c *slowCommit) Commit(ctx context.Context) error {
	time.Sleep(c.d.delay)
	c.d.commits.Add(1)
	return c.Staged.Commit(ctx)
}

// TestApply_GroupCommit: actions that complete while a write is under way
// share the next write, every change still reaches the disk, and no
// action starts before the actions it depends on finished (which they do
// only once their change is durable).
func TestApply_GroupCommit(t *testing.T) {
	cfg, reg, _ := setup(t, 12)
	st := state.New("l")
	path := filepath.Join(t.TempDir(), "drs.state")
	disk := &slowDisk{Local: state.NewLocal(path, state.LocalOptions{}), delay: 15 * time.Millisecond}
	if err := disk.Write(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	p := plan.Make(cfg, st, nil, time.Now(), plan.Options{})
	ev := newEvents()
	r := &apply.Runner{Config: cfg, Engines: reg, State: disk, Parallelism: 8, Reporter: ev}
	res, err := r.Apply(context.Background(), p, st)
	if err != nil {
		t.Fatal(err)
	}
	if done, _, _ := res.Count(); done != len(p.Actions) {
		t.Fatalf("%d of %d actions done", done, len(p.Actions))
	}
	for _, a := range p.Actions {
		for _, dep := range a.DependsOn {
			if ev.finished[dep] == 0 || ev.finished[dep] > ev.started[a.ID] {
				t.Errorf("%s started before %s finished", a.ID, dep)
			}
		}
	}
	if res.StateWrites >= res.StateChanges || int(disk.commits.Load()) != res.StateWrites {
		t.Errorf("%d changes in %d writes (%d commits seen): concurrent actions did not share writes", res.StateChanges, res.StateWrites, disk.commits.Load())
	}
	t.Logf("%d changes in %d writes, %s", res.StateChanges, res.StateWrites, res.StateTime)
	onDisk(t, path, st, "the ledger on disk is not the one apply holds:")
}

// capturing is a local ledger that remembers, as each write completes,
// the ledger that write made durable, and can be told to fail the Nth
// write (the disk full, the volume gone).
type capturing struct {
	*state.Local
	delay  time.Duration
	failAt int // 1-based; 0: never

	mu      sync.Mutex
	writes  int
	durable *state.State
}

func (c *capturing) Stage(s *state.State) (state.Staged, error) {
	staged, err := c.Local.Stage(s)
	if err != nil {
		return nil, err
	}
	// As the write stores it (Stage moved the serial on).
	var buf bytes.Buffer
	if err := state.Write(s, &buf); err != nil {
		return nil, err
	}
	return &capturedCommit{Staged: staged, c: c, json: buf.Bytes()}, nil
}

type capturedCommit struct {
	state.Staged
	c    *capturing
	json []byte
}

func (cc *capturedCommit) Commit(ctx context.Context) error {
	c := cc.c
	time.Sleep(c.delay)
	c.mu.Lock()
	c.writes++
	n := c.writes
	c.mu.Unlock()
	if n == c.failAt {
		return errors.New("injected: no space left on device")
	}
	if err := cc.Staged.Commit(ctx); err != nil {
		return err
	}
	s, err := state.Read(bytes.NewReader(cc.json))
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.durable = s
	c.mu.Unlock()
	return nil
}

// durableCheck is a reporter that, as each action is reported done,
// checks that what it did is in the ledger on disk: an action counts as
// done only once its record is durable, however its write was grouped.
type durableCheck struct {
	t    *testing.T
	disk *capturing

	mu       sync.Mutex
	produced map[string]string // backup action → artifact
	done     int
}

func (d *durableCheck) Started(*plan.Action)               {}
func (d *durableCheck) Progress(*plan.Action, int, string) {}
func (d *durableCheck) Skipped(*plan.Action, string)       {}
func (d *durableCheck) Finished(o *apply.Outcome) {
	if o.Err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.done++
	a := o.Action
	d.disk.mu.Lock()
	s := d.disk.durable
	d.disk.mu.Unlock()
	id := a.Artifact
	if id == "" {
		id = d.produced[a.From]
	}
	var missing string
	switch a.Kind {
	case plan.BackupFull, plan.BackupLog:
		d.produced[a.ID] = o.Artifact
		if s == nil || s.LookupDatabase(a.Primary, a.Database).Artifact(o.Artifact) == nil {
			missing = "artifact " + o.Artifact
		}
	case plan.Ship, plan.Verify:
		var c *state.Copy
		if s != nil {
			if td := s.LookupTargetDatabase(a.Target, a.Database); td != nil {
				c = td.Copies[id]
			}
		}
		if c == nil || a.Kind == plan.Verify && c.VerifiedAt == nil {
			missing = "the copy of " + id
		}
	case plan.RestoreFull, plan.RestoreLog:
		var td *state.TargetDatabase
		if s != nil {
			td = s.LookupTargetDatabase(a.Target, a.Database)
		}
		if td == nil || td.Restored == nil || td.Restored.Artifact != id {
			missing = "the restore of " + id
		}
	}
	if missing != "" {
		d.t.Errorf("%s reported done, but the ledger on disk does not have %s", a.ID, missing)
	}
}

// TestApply_DoneMeansDurable runs random estates (databases, slots, write
// latency) through a seed and a round of log backups, failing a random
// state write in some: every action reported done has its record on
// disk, whatever its write was grouped with; once a write fails, the
// actions whose records it carried are failed, not done, nothing starts
// afterwards, and what is on disk reads back as the last write that
// succeeded. Replay one history with -run 'DoneMeansDurable/seed=N'.
func TestApply_DoneMeansDurable(t *testing.T) {
	for seed := int64(1); seed <= 24; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			cfg, reg, _ := setup(t, 1+rng.Intn(12))
			path := filepath.Join(t.TempDir(), "drs.state")
			disk := &capturing{Local: state.NewLocal(path, state.LocalOptions{}), delay: time.Duration(rng.Intn(3)) * time.Millisecond}
			if rng.Intn(3) > 0 {
				disk.failAt = 1 + rng.Intn(40)
			}
			st := state.New("l")
			if err := disk.Local.Write(context.Background(), st); err != nil {
				t.Fatal(err)
			}
			disk.durable = st.Clone()
			now := time.Now()
			var failed error
			for round := 0; round < 2 && failed == nil; round++ {
				at := now.Add(time.Duration(round) * 16 * time.Minute)
				p := plan.Make(cfg, st, nil, at, plan.Options{})
				ev := &durableCheck{t: t, disk: disk, produced: map[string]string{}}
				r := &apply.Runner{Config: cfg, Engines: reg, State: disk, Parallelism: 1 + rng.Intn(8), Reporter: ev, Now: func() time.Time { return at }}
				res, err := r.Apply(context.Background(), p, st)
				done, _, _ := res.Count()
				if done != ev.done {
					t.Errorf("round %d: %d actions done, %d reported done", round, done, ev.done)
				}
				if err != nil {
					if !strings.Contains(err.Error(), "injected") {
						t.Fatalf("round %d: %v", round, err)
					}
					failed = err
				} else if done != len(p.Actions) {
					t.Fatalf("round %d: %d of %d done without an error", round, done, len(p.Actions))
				}
			}
			if disk.failAt > 0 && disk.failAt <= disk.writes && failed == nil {
				t.Fatalf("write %d failed but apply did not say so", disk.failAt)
			}
			onDisk(t, path, disk.durable, "the ledger on disk is not the last one written:")
		})
	}
}

// onDisk fails the test unless the ledger at path reads back as want.
func onDisk(t *testing.T, path string, want *state.State, what string) {
	t.Helper()
	got, err := state.NewLocal(path, state.LocalOptions{}).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := state.Write(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := state.Write(want, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("%s:\n%s\n---\n%s", what, a.String(), b.String())
	}
}
