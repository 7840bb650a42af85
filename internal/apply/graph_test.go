package apply_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// Hand-built actions on primary "p" of setup's configuration.

func backupFull(id, db string) *plan.Action {
	return &plan.Action{ID: id, Kind: plan.BackupFull, Primary: "p", Database: db, ArtifactKind: artifact.Full}
}

func backupLog(id, db string) *plan.Action {
	return &plan.Action{ID: id, Kind: plan.BackupLog, Primary: "p", Database: db, ArtifactKind: artifact.Log}
}

func ship(id, from, target, db string) *plan.Action {
	return &plan.Action{ID: id, Kind: plan.Ship, Primary: "p", Database: db, Target: target, From: from, DependsOn: []string{from}}
}

// run applies the actions as one plan and returns the outcomes by action ID.
func run(t *testing.T, cfg *config.Config, reg *engine.Registry, ms *memState, st *state.State, ev *events, actions ...*plan.Action) (map[string]*apply.Outcome, error) {
	t.Helper()
	if ev == nil {
		ev = newEvents()
	}
	r := &apply.Runner{Config: cfg, Engines: reg, State: ms, Parallelism: 4, Reporter: ev}
	res, err := r.Apply(context.Background(), &plan.Plan{Lineage: st.Lineage, Serial: st.Serial, Actions: actions}, st)
	outs := map[string]*apply.Outcome{}
	for _, o := range res.Outcomes {
		outs[o.Action.ID] = o
	}
	return outs, err
}

// seedChain takes a full backup of db so that log backups have a chain.
func seedChain(t *testing.T, cfg *config.Config, reg *engine.Registry, ms *memState, st *state.State, db string) {
	t.Helper()
	if _, err := run(t, cfg, reg, ms, st, nil, backupFull("first_full", db)); err != nil {
		t.Fatal(err)
	}
}

func TestApply_After(t *testing.T) {
	t.Run("a log backup after a failing full backup still runs; what depends on the full does not", func(t *testing.T) {
		cfg, reg, drv := setup(t, 1)
		st := state.New("l")
		ms := &memState{st: st}
		seedChain(t, cfg, reg, ms, st, "db0")
		drv.Server("p").FailNext("backup", "db0", false, errors.New("disk full on the primary"))

		full := backupFull("full", "db0")
		log := backupLog("log", "db0")
		log.After = []string{"full"}
		shipFull := ship("ship_full", "full", "a", "db0")
		ev := newEvents()
		outs, err := run(t, cfg, reg, ms, st, ev, full, log, shipFull)
		if err == nil || !strings.Contains(err.Error(), "disk full on the primary") {
			t.Fatalf("err = %v", err)
		}
		if outs["full"].Err == nil {
			t.Errorf("full backup: no error")
		}
		if o := outs["log"]; o.Err != nil || o.Skipped != "" || o.Artifact == "" {
			t.Errorf("log backup: err %v, skipped %q, artifact %q; want it taken", o.Err, o.Skipped, o.Artifact)
		}
		if ev.started["log"] < ev.finished["full"] {
			t.Errorf("log backup started (#%d) before the full backup finished (#%d)", ev.started["log"], ev.finished["full"])
		}
		if want := "not started: full failed"; outs["ship_full"].Skipped != want {
			t.Errorf("ship of the failed full: skipped %q, want %q", outs["ship_full"].Skipped, want)
		}
		if n := drv.Server("p").Calls("backup"); n != 3 {
			t.Errorf("%d backups ran, want 3 (first full, failed full, log)", n)
		}
	})

	t.Run("an action after a skipped one still runs", func(t *testing.T) {
		cfg, reg, drv := setup(t, 1)
		st := state.New("l")
		ms := &memState{st: st}
		seedChain(t, cfg, reg, ms, st, "db0")
		drv.Server("p").FailNext("backup", "db0", false, errors.New("boom"))

		full := backupFull("full", "db0")
		shipFull := ship("ship_full", "full", "a", "db0") // skipped: full fails
		log := backupLog("log", "db0")
		log.After = []string{"ship_full"}
		outs, _ := run(t, cfg, reg, ms, st, nil, full, shipFull, log)
		if outs["ship_full"].Skipped == "" {
			t.Fatalf("ship of the failed full ran: %+v", outs["ship_full"])
		}
		if o := outs["log"]; o.Err != nil || o.Skipped != "" {
			t.Errorf("log backup: err %v, skipped %q; want it taken", o.Err, o.Skipped)
		}
	})

	t.Run("after a success it waits for it; an ID outside the plan is satisfied", func(t *testing.T) {
		cfg, reg, _ := setup(t, 1)
		st := state.New("l")
		ms := &memState{st: st}
		full := backupFull("full", "db0")
		log := backupLog("log", "db0")
		log.After = []string{"full", "not_in_this_plan"}
		ev := newEvents()
		outs, err := run(t, cfg, reg, ms, st, ev, log, full) // the log first: order comes from After
		if err != nil {
			t.Fatal(err)
		}
		if outs["log"].Artifact == "" {
			t.Fatalf("log backup: %+v", outs["log"])
		}
		if ev.started["log"] < ev.finished["full"] {
			t.Errorf("log backup started (#%d) before the full backup finished (#%d)", ev.started["log"], ev.finished["full"])
		}
	})

	t.Run("a state write failure still stops what comes after", func(t *testing.T) {
		cfg, reg, drv := setup(t, 1)
		st := state.New("l")
		ms := &memState{st: st, fail: errors.New("disk full")}
		full := backupFull("full", "db0")
		log := backupLog("log", "db0")
		log.After = []string{"full"}
		outs, err := run(t, cfg, reg, ms, st, nil, full, log)
		if err == nil || !strings.Contains(err.Error(), "not recorded") {
			t.Fatalf("err = %v", err)
		}
		if want := "not started: the state could not be written"; outs["log"].Skipped != want {
			t.Errorf("log backup: skipped %q, want %q", outs["log"].Skipped, want)
		}
		if n := drv.Server("p").Calls("backup"); n != 1 {
			t.Errorf("%d backups ran after the state could not be written", n)
		}
	})

	t.Run("cancellation still stops what comes after", func(t *testing.T) {
		cfg, reg, drv := setup(t, 1)
		st := state.New("l")
		ctx, cancel := context.WithCancel(context.Background())
		ms := &memState{st: st}
		ms.onSave = cancel // Ctrl-C as soon as the full backup is recorded
		full := backupFull("full", "db0")
		log := backupLog("log", "db0")
		log.After = []string{"full"}
		r := &apply.Runner{Config: cfg, Engines: reg, State: ms, Parallelism: 4, Reporter: newEvents()}
		res, err := r.Apply(ctx, &plan.Plan{Lineage: "l", Actions: []*plan.Action{full, log}}, st)
		if err == nil || !strings.Contains(err.Error(), "interrupted") {
			t.Fatalf("err = %v", err)
		}
		if o := res.Outcomes[1]; o.Skipped == "" {
			t.Errorf("log backup ran after the apply was interrupted: %+v", o)
		}
		if n := drv.Server("p").Calls("backup"); n != 1 {
			t.Errorf("%d backups ran, want 1", n)
		}
	})
}

// clockReporter is a clock that moves a minute per reading, and a Reporter
// that notes which reading was the latest when a backup reported progress.
type clockReporter struct {
	*events
	mu         sync.Mutex
	t0         time.Time
	readings   int
	atProgress int
}

func (c *clockReporter) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readings++
	return c.t0.Add(time.Duration(c.readings) * time.Minute)
}

func (c *clockReporter) Progress(*plan.Action, int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.atProgress = c.readings
}

func TestApply_BackupRecordsCompletionForkAndIdentity(t *testing.T) {
	cfg, reg, _ := setup(t, 1)
	st := state.New("l")
	ms := &memState{st: st}
	clk := &clockReporter{events: newEvents(), t0: time.Date(2026, 11, 25, 6, 0, 0, 0, time.FixedZone("CET", 3600))}
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	full := backupFull("full", "db0")
	full.NewFork = true
	full.Observed = &plan.PrimaryFacts{RecoveryModel: "FULL", CreatedAt: created, Identity: "fork-2"}
	r := &apply.Runner{Config: cfg, Engines: reg, State: ms, Parallelism: 1, Reporter: clk, Now: clk.Now}
	if _, err := r.Apply(context.Background(), &plan.Plan{Lineage: "l", Actions: []*plan.Action{full}}, st); err != nil {
		t.Fatal(err)
	}
	db := ms.st.LookupDatabase("p", "db0")
	if db == nil || len(db.Artifacts) != 1 {
		t.Fatalf("ledger: %+v", db)
	}
	if db.Identity != "fork-2" || db.RecoveryModel != "FULL" || !db.CreatedAt.Equal(created) {
		t.Errorf("database facts: identity %q, recovery model %q, created %v", db.Identity, db.RecoveryModel, db.CreatedAt)
	}
	art := db.Artifacts[0]
	if !art.NewFork {
		t.Errorf("artifact NewFork = false, want true")
	}
	// The engine reports progress last thing before it returns: Completed
	// is the very next reading of the clock, taken before the file is read
	// back, in UTC.
	want := clk.t0.Add(time.Duration(clk.atProgress+1) * time.Minute)
	if clk.atProgress == 0 || !art.Completed.Equal(want) || art.Completed.Location() != time.UTC {
		t.Errorf("Completed = %v, want %v in UTC (progress at reading %d)", art.Completed, want.UTC(), clk.atProgress)
	}

	// A log backup without NewFork or facts leaves the facts alone.
	log := backupLog("log", "db0")
	if _, err := r.Apply(context.Background(), &plan.Plan{Lineage: "l", Actions: []*plan.Action{log}}, st); err != nil {
		t.Fatal(err)
	}
	db = ms.st.LookupDatabase("p", "db0")
	if got := db.Artifacts[1]; got.NewFork || got.Completed.IsZero() {
		t.Errorf("log artifact: NewFork %v, Completed %v", got.NewFork, got.Completed)
	}
	if db.Identity != "fork-2" {
		t.Errorf("identity %q after a backup without facts", db.Identity)
	}
}

func TestApply_SeedIsRecordedBeforeTheServerIsTouched(t *testing.T) {
	seedPlan := func() []*plan.Action {
		restore := &plan.Action{ID: "restore", Kind: plan.RestoreFull, Primary: "p", Database: "db0", Target: "b", From: "full",
			Mode: "norecovery", Seed: true, DependsOn: []string{"ship"}}
		return []*plan.Action{backupFull("full", "db0"), ship("ship", "full", "b", "db0"), restore}
	}
	type saved struct {
		seeding, seededFrom string
		restoreCalls        int
	}
	watch := func(ms *memState, drv interface{ Calls(string) int }) *[]saved {
		var log []saved
		ms.onSave = func() { // called with ms.mu held
			td := ms.st.LookupTargetDatabase("b", "db0")
			if td == nil {
				return
			}
			log = append(log, saved{td.Seeding, td.SeededFrom, drv.Calls("restore")})
		}
		return &log
	}

	t.Run("success", func(t *testing.T) {
		cfg, reg, drv := setup(t, 1)
		st := state.New("l")
		ms := &memState{st: st}
		saves := watch(ms, drv.Server("b"))
		outs, err := run(t, cfg, reg, ms, st, nil, seedPlan()...)
		if err != nil {
			t.Fatal(err)
		}
		full := outs["full"].Artifact
		if len(*saves) < 2 || (*saves)[len(*saves)-2] != (saved{full, "", 0}) {
			t.Errorf("saves of target b: %+v; want Seeding = %s written before the restore ran", *saves, full)
		}
		td := ms.st.LookupTargetDatabase("b", "db0")
		if td.SeededFrom != full || td.Seeding != "" || td.Restored == nil || td.Restored.Artifact != full {
			t.Errorf("after the seed: SeededFrom %q, Seeding %q, Restored %+v", td.SeededFrom, td.Seeding, td.Restored)
		}
	})

	t.Run("failure leaves Seeding set", func(t *testing.T) {
		cfg, reg, drv := setup(t, 1)
		st := state.New("l")
		ms := &memState{st: st}
		drv.Server("b").FailNext("restore", "db0", false, errors.New("connection reset"))
		outs, err := run(t, cfg, reg, ms, st, nil, seedPlan()...)
		if err == nil || !strings.Contains(err.Error(), "connection reset") {
			t.Fatalf("err = %v", err)
		}
		td := ms.st.LookupTargetDatabase("b", "db0")
		if full := outs["full"].Artifact; td.Seeding != full || td.SeededFrom != "" || td.Restored != nil {
			t.Errorf("after a failed seed: Seeding %q (want %q), SeededFrom %q, Restored %+v", td.Seeding, full, td.SeededFrom, td.Restored)
		}
	})

	t.Run("a seed that cannot be recorded is not started", func(t *testing.T) {
		cfg, reg, drv := setup(t, 1)
		st := state.New("l")
		ms := &memState{st: st}
		ms.onSave = func() { // called with ms.mu held
			if ms.writes == 2 { // the full backup and its ship are recorded; nothing more is
				ms.fail = errors.New("disk full")
			}
		}
		outs, err := run(t, cfg, reg, ms, st, nil, seedPlan()...)
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("err = %v", err)
		}
		if outs["restore"].Err == nil {
			t.Errorf("restore: %+v", outs["restore"])
		}
		if n := drv.Server("b").Calls("restore"); n != 0 {
			t.Errorf("the engine restored %d times though the seed could not be recorded", n)
		}
	})
}

func TestApply_RestoreOfANewLogChecksItContinues(t *testing.T) {
	for _, tc := range []struct {
		name      string
		continues artifact.LSN
	}{
		{"the target stands before the new log: LSNs went backwards", "1"},
		{"the target stands beyond the new log", "99999999999999999999999999"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, reg, drv := setup(t, 1)
			st := state.New("l")
			ms := &memState{st: st}
			seedChain(t, cfg, reg, ms, st, "db0")
			log := backupLog("log", "db0")
			restore := &plan.Action{ID: "restore", Kind: plan.RestoreLog, Primary: "p", Database: "db0", Target: "a", From: "log",
				Mode: "standby", Continues: tc.continues, DependsOn: []string{"ship"}}
			outs, err := run(t, cfg, reg, ms, st, nil, log, ship("ship", "log", "a", "db0"), restore)
			if err == nil {
				t.Fatal("apply succeeded")
			}
			o := outs["restore"]
			if !errors.Is(o.Err, engine.ErrChain) {
				t.Fatalf("restore error %v does not wrap engine.ErrChain", o.Err)
			}
			for _, w := range []string{"begins at LSN", `target "a" stands at LSN ` + string(tc.continues), "nothing was restored"} {
				if !strings.Contains(o.Err.Error(), w) {
					t.Errorf("error %q does not mention %q", o.Err, w)
				}
			}
			if n := drv.Server("a").Calls("restore"); n != 0 {
				t.Errorf("the engine restored %d times", n)
			}
			if outs["log"].Err != nil || outs["ship"].Err != nil {
				t.Errorf("backup or ship failed: %v, %v", outs["log"].Err, outs["ship"].Err)
			}
		})
	}

	t.Run("a new log that continues is restored", func(t *testing.T) {
		cfg, reg, drv := setup(t, 1)
		st := state.New("l")
		ms := &memState{st: st}
		seedChain(t, cfg, reg, ms, st, "db0")
		first := ms.st.LookupDatabase("p", "db0").Artifacts[0]
		log := backupLog("log", "db0")
		restore := &plan.Action{ID: "restore", Kind: plan.RestoreLog, Primary: "p", Database: "db0", Target: "a", From: "log",
			Mode: "standby", Continues: first.FirstLSN, DependsOn: []string{"ship"}}
		outs, _ := run(t, cfg, reg, ms, st, nil, log, ship("ship", "log", "a", "db0"), restore)
		if n := drv.Server("a").Calls("restore"); n != 1 {
			t.Errorf("the engine restored %d times, want 1 (restore error: %v)", n, outs["restore"].Err)
		}
	})
}

func TestApply_RecordOfASeed(t *testing.T) {
	for _, seed := range []bool{true, false} {
		cfg, reg, _ := setup(t, 1)
		st := state.New("l")
		st.TargetDatabase("a", "db0").Seeding = "db0_full_x.bak"
		ms := &memState{st: st}
		rec := &plan.Action{ID: "record", Kind: plan.Record, Primary: "p", Database: "db0", Target: "a", Artifact: "db0_full_x.bak", Seed: seed,
			Position: &plan.Position{Artifact: "db0_full_x.bak", Kind: artifact.Full, LastLSN: "1002"}}
		if _, err := run(t, cfg, reg, ms, st, nil, rec); err != nil {
			t.Fatal(err)
		}
		td := ms.st.LookupTargetDatabase("a", "db0")
		if td.Restored == nil || td.Restored.Artifact != "db0_full_x.bak" {
			t.Errorf("seed=%v: Restored %+v", seed, td.Restored)
		}
		switch {
		case seed && (td.SeededFrom != "db0_full_x.bak" || td.Seeding != ""):
			t.Errorf("record of a seed: SeededFrom %q, Seeding %q; want the seed complete", td.SeededFrom, td.Seeding)
		case !seed && (td.SeededFrom != "" || td.Seeding != "db0_full_x.bak"):
			t.Errorf("record of a position: SeededFrom %q, Seeding %q; want them untouched", td.SeededFrom, td.Seeding)
		}
	}
}

func TestApply_PruneOrphan(t *testing.T) {
	ctx := context.Background()
	put := func(t *testing.T, url, key string) {
		t.Helper()
		b, err := blob.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if err := b.WriteAll(ctx, key, []byte("orphan"), nil); err != nil {
			t.Fatal(err)
		}
	}
	exists := func(t *testing.T, url, key string) bool {
		t.Helper()
		b, err := blob.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ok, err := b.Exists(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	key := blob.DatabasePrefix("p", "db0") + "log/db0_log_20261125T050000Z.trn"

	for _, target := range []string{"", "a"} {
		t.Run("from target "+target, func(t *testing.T) {
			cfg, reg, _ := setup(t, 1)
			url := cfg.PrimaryByName("p").Folder.URL
			if target != "" {
				url = cfg.TargetByName(target).Destination.URL
			}
			put(t, url, key)
			st := state.New("l")
			ms := &memState{st: st}
			prune := &plan.Action{ID: "prune", Kind: plan.Prune, Primary: "p", Database: "db0", Target: target, Key: key}
			if _, err := run(t, cfg, reg, ms, st, nil, prune); err != nil {
				t.Fatal(err)
			}
			if exists(t, url, key) {
				t.Errorf("%s is still there", key)
			}
			if ms.writes != 0 || len(st.Primaries) != 0 || len(st.Targets) != 0 {
				t.Errorf("the ledger changed: %d writes, %+v", ms.writes, st)
			}
			// Gone already: not an error.
			if _, err := run(t, cfg, reg, ms, st, nil, prune); err != nil {
				t.Errorf("prune of a missing orphan: %v", err)
			}
		})
	}

	t.Run("refuses a key outside the database's place", func(t *testing.T) {
		cfg, reg, _ := setup(t, 1)
		url := cfg.PrimaryByName("p").Folder.URL
		put(t, url, "p/db1/log/x.trn")
		put(t, url, "elsewhere.txt")
		prefix := blob.DatabasePrefix("p", "db0")
		for _, k := range []string{"p/db1/log/x.trn", "elsewhere.txt", prefix + "../db1/log/x.trn", prefix + "log//x.trn", prefix} {
			st := state.New("l")
			prune := &plan.Action{ID: "prune", Kind: plan.Prune, Primary: "p", Database: "db0", Key: k}
			_, err := run(t, cfg, reg, &memState{st: st}, st, nil, prune)
			if err == nil || !strings.Contains(err.Error(), "refusing to prune") {
				t.Errorf("prune of %s: err = %v", k, err)
			}
		}
		for _, k := range []string{"p/db1/log/x.trn", "elsewhere.txt"} {
			if !exists(t, url, k) {
				t.Errorf("%s was deleted", k)
			}
		}
	})

	t.Run("refuses a key the ledger knows", func(t *testing.T) {
		cfg, reg, _ := setup(t, 1)
		url := cfg.PrimaryByName("p").Folder.URL
		put(t, url, key)
		st := state.New("l")
		st.Database("p", "db0").Add(&state.Artifact{ID: "db0_log_20261125T050000Z.trn", Header: artifact.Header{Kind: artifact.Log}, Key: key})
		prune := &plan.Action{ID: "prune", Kind: plan.Prune, Primary: "p", Database: "db0", Key: key}
		_, err := run(t, cfg, reg, &memState{st: st}, st, nil, prune)
		if err == nil || !strings.Contains(err.Error(), "not an orphan") {
			t.Errorf("err = %v", err)
		}
		if !exists(t, url, key) {
			t.Errorf("%s was deleted", key)
		}
	})
}

func TestApply_PruneKeepsWhatATargetIsSeedingFrom(t *testing.T) {
	for _, seeding := range []bool{true, false} {
		cfg, reg, _ := setup(t, 1)
		st := state.New("l")
		id := "db0_full_20261125T045500Z.bak"
		st.Database("p", "db0").Add(&state.Artifact{ID: id, Header: artifact.Header{Kind: artifact.Full}, Key: blob.DatabasePrefix("p", "db0") + "full/" + id})
		td := st.TargetDatabase("a", "db0")
		if seeding {
			td.Seeding = id
		}
		ms := &memState{st: st}
		prune := &plan.Action{ID: "prune", Kind: plan.Prune, Primary: "p", Database: "db0", Artifact: id}
		if _, err := run(t, cfg, reg, ms, st, nil, prune); err != nil {
			t.Fatal(err)
		}
		art := ms.st.LookupDatabase("p", "db0").Artifact(id)
		switch {
		case seeding && (art == nil || art.PrunedAt == nil):
			t.Errorf("a target is seeding from the pruned full: ledger %+v, want it kept as pruned", art)
		case !seeding && art != nil:
			t.Errorf("nothing needs the pruned full, but the ledger keeps it: %+v", art)
		}
	}
}

func TestApply_VerifyTellsAFailedReadFromADamagedCopy(t *testing.T) {
	ctx := context.Background()
	for _, damaged := range []bool{true, false} {
		t.Run(map[bool]string{true: "damaged copy", false: "read fails"}[damaged], func(t *testing.T) {
			cfg, reg, _ := setup(t, 1)
			st := state.New("l")
			ms := &memState{st: st}
			seedChain(t, cfg, reg, ms, st, "db0")
			art := ms.st.LookupDatabase("p", "db0").Artifacts[0]
			shipped := &plan.Action{ID: "ship", Kind: plan.Ship, Primary: "p", Database: "db0", Target: "a", Artifact: art.ID}
			proven := &plan.Action{ID: "verify", Kind: plan.Verify, Primary: "p", Database: "db0", Target: "a", Artifact: art.ID, DependsOn: []string{"ship"}}
			if _, err := run(t, cfg, reg, ms, ms.st, nil, shipped, proven); err != nil {
				t.Fatal(err)
			}
			st = ms.st.Clone()
			url := cfg.TargetByName("a").Destination.URL
			path := strings.TrimPrefix(url, "file://") + "/" + art.Key
			if damaged {
				if err := os.WriteFile(path, []byte("rotten"), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				// A read that fails (here: the copy's name is a symbolic
				// link loop now, ELOOP) says nothing about the copy's bytes.
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(path, path); err != nil {
					t.Fatal(err)
				}
			}
			v := &plan.Action{ID: "verify-again", Kind: plan.Verify, Primary: "p", Database: "db0", Target: "a", Artifact: art.ID}
			_, err := run(t, cfg, reg, ms, st, nil, v)
			if err == nil {
				t.Fatal("verify passed")
			}
			c := ms.st.LookupTargetDatabase("a", "db0").Copies[art.ID]
			b, oerr := blob.Open(ctx, url)
			if oerr != nil {
				t.Fatal(oerr)
			}
			defer b.Close()
			if damaged {
				if c != nil {
					t.Errorf("the damaged copy is still in the ledger: %+v", c)
				}
				if ok, _ := b.Exists(ctx, art.Key); ok {
					t.Errorf("the damaged copy is still at the destination")
				}
				if !strings.Contains(err.Error(), "damaged") {
					t.Errorf("err = %v", err)
				}
				return
			}
			if c == nil {
				t.Fatalf("a failed read dropped the copy from the ledger (err %v)", err)
			}
			if c.VerifiedAt != nil {
				t.Errorf("the copy is still recorded as verified after a read that failed")
			}
			if strings.Contains(err.Error(), "damaged") {
				t.Errorf("a failed read is reported as damage: %v", err)
			}
		})
	}
}
