package apply_test

import (
	"bytes"
	"context"
	"path/filepath"
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
	got, err := state.NewLocal(path, state.LocalOptions{}).Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := state.Write(got, &a); err != nil {
		t.Fatal(err)
	}
	if err := state.Write(st, &b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatalf("the ledger on disk is not the one apply holds:\n%s\n---\n%s", a.String(), b.String())
	}
}
