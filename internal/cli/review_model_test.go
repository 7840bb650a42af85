package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/plan"
)

// reviewEdits are configuration changes a pull request makes to main's
// configuration (the prWorld's), as text: old → new.
var reviewEdits = []struct{ name, old, new string }{
	{"add west", "", reviewWest},
	{"folder retention 1h", `retention = "7d"`, `retention = "1h"`},
	{"east retention 1h", "/east\"\n  }", "/east\"\n    retention = \"1h\"\n  }"},
	{"drop O'Brien", `["Sales", "O'Brien"]`, `["Sales"]`},
	{"east norecovery", `restore_mode = "standby"`, `restore_mode = "norecovery"`},
	{"east data_dir", `restore_mode = "standby"`, "restore_mode = \"standby\"\n  data_dir = \"/data2\""},
	{"east window", `restore_mode = "standby"`, "restore_mode = \"standby\"\n  restore_window {\n    from = \"20:00\"\n    to = \"21:00\"\n  }"},
	{"rpo 2h", `rpo = "30m"`, `rpo = "2h"`},
}

// TestReviewModel: random pull requests (one or two edits of main's
// configuration, or a comment alone) × random histories between review
// and merge (cron runs minutes or a day apart, writes, a DBA's full
// backup, a failover by hand, reprotect). Replay one with
// DRSCTL_REVIEW_SEED=n. Invariants:
//   - an action the base's plan also has is never the configuration's;
//   - a comment changes nothing: exit 0, no action of the configuration;
//   - the reviewed plan applied after the history either is refused and
//     changes nothing, or runs no REPLACE, prune or promote the saved plan
//     did not hold.
func TestReviewModel(t *testing.T) {
	seeds := []int64{}
	if s := os.Getenv("DRSCTL_REVIEW_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, n)
	} else {
		base := time.Now().UnixNano() % 1e6
		for i := int64(0); i < 24; i++ {
			seeds = append(seeds, base+i)
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("replay with DRSCTL_REVIEW_SEED=%d", seed)
			reviewModelRun(t, rand.New(rand.NewSource(seed)))
		})
	}
}

func reviewModelRun(t *testing.T, rng *rand.Rand) {
	w := newPRWorld(t)
	w.cron()
	mainPath := filepath.Join(w.main, "main.drs.hcl")
	b, _ := os.ReadFile(mainPath)
	mainCfg, prCfg := string(b), string(b)
	var edits []string
	if rng.Intn(5) == 0 {
		prCfg = "# reviewed on Tuesday\n" + prCfg
		edits = append(edits, "comment")
	} else {
		for _, i := range rng.Perm(len(reviewEdits))[:1+rng.Intn(2)] {
			e := reviewEdits[i]
			if e.old == "" {
				prCfg += fmt.Sprintf(e.new, w.dir)
			} else if strings.Contains(prCfg, e.old) {
				prCfg = strings.Replace(prCfg, e.old, e.new, 1)
			} else {
				continue // an earlier edit took its place
			}
			edits = append(edits, e.name)
		}
	}
	t.Logf("the pull request: %s", strings.Join(edits, ", "))
	if err := os.WriteFile(filepath.Join(w.pr, "main.drs.hcl"), []byte(prCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	w.clock = w.clock.Add(time.Duration(1+rng.Intn(40)) * time.Minute)

	// The pull request's plan, and the base's at the same moment.
	savedFile, baseFile := filepath.Join(w.dir, "plan.json"), filepath.Join(w.dir, "base.json")
	serial := w.state().Serial
	code, out := w.planPR(w.pr, w.main, savedFile)
	if code != 0 && code != 2 {
		t.Fatalf("plan of the pull request: exit %d\n%s", code, out)
	}
	if c := w.env().Plan(context.Background(), w.g(w.main), cli.PlanOptions{Refresh: true, Out: baseFile}); c != 0 {
		t.Fatalf("plan of main: exit %d\n%s", c, w.stdout.String()+w.stderr.String())
	}
	if s := w.state().Serial; s != serial {
		t.Fatalf("plan wrote the state: serial %d → %d", serial, s)
	}
	saved, base := readPlan(t, savedFile), readPlan(t, baseFile)
	inBase := map[string]bool{}
	for _, a := range base.Actions {
		inBase[a.ID] = true
	}
	for _, a := range saved.Actions {
		if inBase[a.ID] && a.Cause == plan.CauseConfiguration {
			t.Errorf("%s: main plans it too, and the review calls it the change's", a.Describe())
		}
	}
	if edits[0] == "comment" {
		if code != 0 || saved.HasConfigChanges() {
			t.Errorf("a comment: exit %d, changes %v\n%s", code, saved.HasConfigChanges(), out)
		}
	}

	// Between review and merge.
	promoted := false
	for i, n := 0, rng.Intn(5); i < n; i++ {
		switch k := rng.Intn(6); {
		case k == 0:
			w.clock = w.clock.Add(time.Duration(2+rng.Intn(30)) * time.Hour)
			t.Logf("cron, %s later", w.clock.Format(time.Stamp))
			w.cron()
		case k == 1:
			w.drv.Server("primary").Insert("Sales", rng.Intn(100))
			fallthrough
		case k == 2:
			w.clock = w.clock.Add(16 * time.Minute)
			t.Logf("cron at %s", w.clock.Format(time.Stamp))
			w.cron()
		case k == 3:
			t.Logf("a DBA's full backup")
			if _, err := w.drv.Server("primary").BackupOutOfBandFull(context.Background(), "Sales", filepath.Join(t.TempDir(), "dba.bak")); err != nil {
				t.Fatal(err)
			}
		case k == 4 && !promoted:
			t.Logf("promote east by hand")
			if c := w.env().Promote(context.Background(), w.g(w.main), cli.PromoteOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true}); c != 0 {
				t.Fatalf("promote: exit %d\n%s", c, w.stdout.String()+w.stderr.String())
			}
			promoted = true
		case k == 5 && promoted:
			t.Logf("reprotect east")
			if c := w.env().Reprotect(context.Background(), w.g(w.main), cli.ReprotectOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true}); c != 0 {
				t.Fatalf("reprotect: exit %d\n%s", c, w.stdout.String()+w.stderr.String())
			}
		}
	}

	// The merge applies the reviewed plan.
	if err := os.WriteFile(mainPath, []byte(prCfg), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = mainCfg
	w.clock = w.clock.Add(time.Minute)
	before := w.state().Serial
	code = w.env().Apply(context.Background(), w.g(w.main), cli.ApplyOptions{PlanFile: savedFile, Refresh: true, JSON: true, Parallelism: 4})
	out = w.stdout.String() + w.stderr.String()
	t.Logf("apply of the reviewed plan: exit %d", code)
	if code != 0 {
		if !strings.Contains(out, "stale") || strings.Contains(out, "planned_action") {
			t.Fatalf("refused, not as stale, or after planning: exit %d\n%s", code, out)
		}
		if s := w.state().Serial; s != before {
			t.Fatalf("a refused plan wrote the state: serial %d → %d", before, s)
		}
		return
	}
	held := map[string]bool{}
	for _, a := range saved.Actions {
		held[a.ReviewKey()] = true
	}
	sc := bufio.NewScanner(strings.NewReader(w.stdout.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			Type   string       `json:"type"`
			Action *plan.Action `json:"action"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil || m.Type != "planned_action" || m.Action == nil {
			continue
		}
		a := m.Action
		if (a.Kind == plan.Prune || a.Replace || a.Kind == plan.Promote) && !held[a.ReviewKey()] {
			t.Errorf("the reviewed plan ran %s, which it did not hold", a.Describe())
		}
	}
}

func readPlan(t *testing.T, path string) *plan.Plan {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := plan.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
