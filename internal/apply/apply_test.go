package apply_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "gocloud.dev/blob/fileblob"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/enginetest"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// memState is a state.Manager in memory that can be told to fail.
type memState struct {
	mu     sync.Mutex
	st     *state.State
	writes int
	fail   error
	onSave func()
}

func (m *memState) Read(context.Context) (*state.State, error) { return m.st.Clone(), nil }
func (m *memState) Write(_ context.Context, s *state.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	m.writes++
	s.Serial++
	m.st = s.Clone()
	if m.onSave != nil {
		m.onSave()
	}
	return nil
}
func (m *memState) Lock(context.Context, string, time.Duration) (state.Lease, error) {
	return nil, errors.New("not used")
}
func (m *memState) ForceUnlock(context.Context, string) error { return nil }
func (m *memState) Describe() string                          { return "memory" }

// events records the order of reports.
type events struct {
	mu       sync.Mutex
	started  map[string]int
	finished map[string]int
	n        int
	skipped  map[string]string
}

func newEvents() *events {
	return &events{started: map[string]int{}, finished: map[string]int{}, skipped: map[string]string{}}
}
func (e *events) Started(a *plan.Action)             { e.mu.Lock(); e.n++; e.started[a.ID] = e.n; e.mu.Unlock() }
func (e *events) Progress(*plan.Action, int, string) {}
func (e *events) Finished(o *apply.Outcome) {
	e.mu.Lock()
	e.n++
	e.finished[o.Action.ID] = e.n
	e.mu.Unlock()
}
func (e *events) Skipped(a *plan.Action, why string) {
	e.mu.Lock()
	e.skipped[a.ID] = why
	e.mu.Unlock()
}

func setup(t *testing.T, dbs int) (*config.Config, *engine.Registry, *enginetest.Driver) {
	dir := t.TempDir()
	var names []string
	drv := enginetest.NewDriver()
	for i := 0; i < dbs; i++ {
		n := fmt.Sprintf("db%d", i)
		names = append(names, `"`+n+`"`)
		drv.Server("p").Create(n, "1000")
	}
	hcl := fmt.Sprintf(`
backup_folder "f" { url = "file://%[1]s/folder" }
primary "p" {
  engine = "memory"
  connection = "mem://p"
  databases = [%[2]s]
  backup_folder = backup_folder.f
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "30m"
}
target "a" {
  primary = primary.p
  connection = "mem://a"
  restore_mode = "standby"
  destination { url = "file://%[1]s/a" }
}
target "b" {
  primary = primary.p
  connection = "mem://b"
  destination { url = "file://%[1]s/b" }
}
`, dir, strings.Join(names, ", "))
	if err := os.WriteFile(filepath.Join(dir, "c.drs.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir, config.LoadOptions{KnownEngines: []string{"memory"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	r := engine.NewRegistry()
	r.Register("memory", drv)
	return cfg, r, drv
}

func TestApply_NoActionStartsBeforeItsDependenciesAreRecorded(t *testing.T) {
	cfg, reg, _ := setup(t, 5)
	st := state.New("l")
	p := plan.Make(cfg, st, nil, time.Now(), plan.Options{})
	ev := newEvents()
	ms := &memState{st: st}
	r := &apply.Runner{Config: cfg, Engines: reg, State: ms, Parallelism: 4, Reporter: ev}
	res, err := r.Apply(context.Background(), p, st)
	if err != nil {
		t.Fatal(err)
	}
	done, failed, skipped := res.Count()
	if failed+skipped != 0 || done != len(p.Actions) {
		t.Fatalf("done %d failed %d skipped %d of %d", done, failed, skipped, len(p.Actions))
	}
	for _, a := range p.Actions {
		for _, d := range a.DependsOn {
			if ev.finished[d] == 0 || ev.finished[d] > ev.started[a.ID] {
				t.Errorf("%s started (#%d) before %s finished (#%d)", a.ID, ev.started[a.ID], d, ev.finished[d])
			}
		}
	}
	// Every action is recorded as it completes, and a seed also as it starts.
	if want := len(p.Actions) + p.Counts()[plan.RestoreFull]; ms.writes != want {
		t.Errorf("state written %d times for %d actions (%d seeds), want %d", ms.writes, len(p.Actions), p.Counts()[plan.RestoreFull], want)
	}
	// The persisted ledger is what the in-memory one says.
	if ms.st.Serial != st.Serial || len(ms.st.Primaries["p"].Databases) != 5 {
		t.Errorf("persisted state differs: serial %d vs %d", ms.st.Serial, st.Serial)
	}
}

func TestApply_CancelStopsStartingNewWork(t *testing.T) {
	cfg, reg, _ := setup(t, 6)
	st := state.New("l")
	p := plan.Make(cfg, st, nil, time.Now(), plan.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	ms := &memState{st: st}
	ms.onSave = func() {
		if ms.writes == 3 {
			cancel() // Ctrl-C after three actions completed
		}
	}
	ev := newEvents()
	r := &apply.Runner{Config: cfg, Engines: reg, State: ms, Parallelism: 1, Reporter: ev}
	res, err := r.Apply(ctx, p, st)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v", err)
	}
	done, _, skipped := res.Count()
	if done < 3 || skipped == 0 {
		t.Errorf("done %d skipped %d", done, skipped)
	}
	if ms.writes != done {
		t.Errorf("%d actions done but %d recorded", done, ms.writes)
	}
}

func TestApply_StateWriteFailureStopsEverything(t *testing.T) {
	cfg, reg, drv := setup(t, 3)
	st := state.New("l")
	p := plan.Make(cfg, st, nil, time.Now(), plan.Options{})
	ms := &memState{st: st, fail: errors.New("disk full")}
	r := &apply.Runner{Config: cfg, Engines: reg, State: ms, Parallelism: 1, Reporter: newEvents()}
	res, err := r.Apply(context.Background(), p, st)
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "not recorded") {
		t.Fatalf("err = %v", err)
	}
	_, failed, skipped := res.Count()
	if failed != 1 {
		t.Errorf("failed %d, want exactly the one action whose write failed", failed)
	}
	if skipped != len(p.Actions)-1 {
		t.Errorf("skipped %d of %d", skipped, len(p.Actions)-1)
	}
	if n := drv.Server("p").Calls("backup"); n != 1 {
		t.Errorf("%d backups ran after the state could not be written", n)
	}
}

func TestApply_ShipsOfOneArtifactRunAsOneFanOut(t *testing.T) {
	cfg, reg, _ := setup(t, 1)
	st := state.New("l")
	p := plan.Make(cfg, st, nil, time.Now(), plan.Options{})
	ev := newEvents()
	r := &apply.Runner{Config: cfg, Engines: reg, State: &memState{st: st}, Parallelism: 10, Reporter: ev}
	if _, err := r.Apply(context.Background(), p, st); err != nil {
		t.Fatal(err)
	}
	var ships []string
	for _, a := range p.Actions {
		if a.Kind == plan.Ship {
			ships = append(ships, a.ID)
		}
	}
	if len(ships) != 2 {
		t.Fatalf("ships %v", ships)
	}
	// Started together: both reported before either finished.
	if ev.started[ships[1]] > ev.finished[ships[0]] || ev.started[ships[0]] > ev.finished[ships[1]] {
		t.Errorf("ships of one artifact must run as one fan-out: %v %v", ev.started, ev.finished)
	}
}
