package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
)

// reviewBase is the configuration on main: east and the vault protect
// sales; the pull request adds west.
const reviewWest = `
target "west" {
  primary    = primary.sales
  connection = env("WEST_DSN")
  destination {
    url = "file://%[1]s/west"
  }
}
`

// prWorld is a repository as a pull-request workflow sees it: main's
// configuration (what cron applies), the pull request's checkout, one
// shared state.
type prWorld struct {
	*harness
	main, pr, statePath string
}

func newPRWorld(t *testing.T) *prWorld {
	h := newHarness(t)
	w := &prWorld{harness: h, main: filepath.Join(h.dir, "main"), pr: filepath.Join(h.dir, "pr"), statePath: filepath.Join(h.dir, "drs.state.json")}
	full := fmt.Sprintf(e2eConfig, h.dir)
	i := strings.Index(full, "\ntarget \"west\"")
	j := strings.Index(full, "\ntarget \"vault\"")
	mainCfg := full[:i] + full[j:]
	prCfg := mainCfg + fmt.Sprintf(reviewWest, h.dir)
	for dir, cfg := range map[string]string{w.main: mainCfg, w.pr: prCfg} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Remove(filepath.Join(h.dir, "main.drs.hcl"))
	return w
}

func (w *prWorld) g(dir string) cli.Globals {
	return cli.Globals{Chdir: dir, State: w.statePath, NoColor: true}
}

func (w *prWorld) cron() {
	w.t.Helper()
	code := w.env().Apply(context.Background(), w.g(w.main), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
	if code != 0 {
		w.t.Fatalf("cron apply at %s: %d\n%s\n%s", w.clock.Format(time.Kitchen), code, w.stdout.String(), w.stderr.String())
	}
}

func (w *prWorld) planPR(dir, base, out string) (int, string) {
	w.t.Helper()
	code := w.env().Plan(context.Background(), w.g(dir), cli.PlanOptions{Refresh: true, DetailedExitCode: true, BaseConfig: base, Out: out})
	return code, w.stdout.String() + w.stderr.String()
}

// TestPullRequestWorkflow: a pull request adds a target. Its plan, made
// against main's configuration, shows the seed of the new target apart
// from the log backups that are due anyway and exits 2; cron applies main
// twice before the merge; after the merge, the saved plan still applies:
// the reviewed seed stands, the routine part is planned again, and west is
// seeded. A pull request that changes nothing exits 0 while backups are due.
func TestPullRequestWorkflow(t *testing.T) {
	w := newPRWorld(t)
	w.cron()
	w.clock = w.clock.Add(16 * time.Minute) // log backups fall due

	// A pull request that changes nothing in the configuration.
	same := filepath.Join(w.dir, "same")
	os.MkdirAll(same, 0o755)
	b, _ := os.ReadFile(filepath.Join(w.main, "main.drs.hcl"))
	os.WriteFile(filepath.Join(same, "main.drs.hcl"), b, 0o644)
	code, out := w.planPR(same, w.main, "")
	if code != 0 || !strings.Contains(out, "causes no actions") || !strings.Contains(out, "backup log") {
		t.Fatalf("a pull request that changes nothing, with log backups due: exit %d, want 0\n%s", code, out)
	}
	// Without a base, from the ledger alone: the same answer.
	if code := w.env().Plan(context.Background(), w.g(w.main), cli.PlanOptions{Refresh: true, DetailedExitCode: true}); code != 0 {
		t.Fatalf("plan -detailed-exitcode on main with only routine work due: exit %d, want 0\n%s", code, w.stdout.String())
	}

	// The pull request that adds west.
	planFile := filepath.Join(w.dir, "plan.json")
	code, out = w.planPR(w.pr, w.main, planFile)
	if code != 2 {
		t.Fatalf("a pull request adding a target: exit %d, want 2\n%s", code, out)
	}
	t.Logf("the pull request's plan:\n%s", out)
	for _, want := range []string{"Changes the configuration causes:", `target "west" is added`, `target "west": seed 2 database(s)`, "Routine work, due whatever the configuration"} {
		if !strings.Contains(out, want) {
			t.Errorf("the review does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `target "east": seed`) {
		t.Errorf("the review counts east's routine work as the change's:\n%s", out)
	}

	// Cron runs main's configuration twice before the merge.
	for i := 0; i < 2; i++ {
		w.clock = w.clock.Add(16 * time.Minute)
		w.cron()
	}
	before := w.state().Serial

	// The merge: main's configuration is now the pull request's.
	b, _ = os.ReadFile(filepath.Join(w.pr, "main.drs.hcl"))
	os.WriteFile(filepath.Join(w.main, "main.drs.hcl"), b, 0o644)
	w.clock = w.clock.Add(time.Minute)
	code = w.env().Apply(context.Background(), w.g(w.main), cli.ApplyOptions{PlanFile: planFile, Refresh: true, Parallelism: 4})
	out = w.stdout.String() + w.stderr.String()
	if code != 0 || !strings.Contains(out, "still stand as reviewed") {
		t.Fatalf("apply of the reviewed plan after cron ran (serial %d): exit %d\n%s", before, code, out)
	}
	st := w.state()
	for _, db := range []string{"Sales", "O'Brien"} {
		if td := st.LookupTargetDatabase("west", db); td == nil || td.SeededFrom == "" {
			t.Errorf("west/%s is not seeded after the merge's apply", db)
		}
	}
}

// TestPullRequestWorkflow_reviewedChangeGone: the reviewed seed was done
// by another run before the plan is applied (someone applied the merged
// configuration by hand): the plan no longer stands and is refused, naming
// what changed; a plan made from another configuration is refused too.
func TestPullRequestWorkflow_reviewedChangeGone(t *testing.T) {
	w := newPRWorld(t)
	w.cron()
	planFile := filepath.Join(w.dir, "plan.json")
	if code, out := w.planPR(w.pr, w.main, planFile); code != 2 {
		t.Fatalf("plan: %d\n%s", code, out)
	}
	// Applied to main's configuration, before the merge: another
	// configuration than the one reviewed.
	w.clock = w.clock.Add(16 * time.Minute)
	w.cron()
	code := w.env().Apply(context.Background(), w.g(w.main), cli.ApplyOptions{PlanFile: planFile, Refresh: true})
	if out := w.stdout.String() + w.stderr.String(); code != 1 || !strings.Contains(out, "the configuration changed since the plan was made") {
		t.Fatalf("a reviewed plan applied to another configuration: exit %d\n%s", code, out)
	}
	// The merge, then an apply of the merged configuration by hand seeds
	// west before the reviewed plan is applied.
	b, _ := os.ReadFile(filepath.Join(w.pr, "main.drs.hcl"))
	os.WriteFile(filepath.Join(w.main, "main.drs.hcl"), b, 0o644)
	w.cron()
	code = w.env().Apply(context.Background(), w.g(w.main), cli.ApplyOptions{PlanFile: planFile, Refresh: true})
	out := w.stdout.String() + w.stderr.String()
	if code != 1 || !strings.Contains(out, "no longer stand as reviewed") || !strings.Contains(out, `reviewed, and no longer planned: sales/Sales → west: restore full Sales_full_`) {
		t.Fatalf("a reviewed plan whose seed was done meanwhile: exit %d\n%s", code, out)
	}
}
