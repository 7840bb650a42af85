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
	"github.com/drsctl/drsctl/internal/plan"
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

// TestReviewExitCode_NoOpAndQuietChanges: plan -detailed-exitcode
// -base-config answers "does this change to the configuration do
// anything?", with log backups due all along. Comments, formatting, blocks
// reordered, the file renamed or split in two, CRLF line ends: 0. A change
// that plans no action right away but changes what drsctl does (a restore
// window, another server for a target, a database taken off one target,
// data_dir): 2, and the review says what changed.
func TestReviewExitCode_NoOpAndQuietChanges(t *testing.T) {
	w := newPRWorld(t)
	w.cron()
	w.clock = w.clock.Add(16 * time.Minute) // log backups due
	b, err := os.ReadFile(filepath.Join(w.main, "main.drs.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	mainCfg := string(b)
	blocks := strings.SplitAfter(mainCfg, "\n}\n")
	reordered := strings.Join(append([]string{blocks[len(blocks)-2]}, blocks[:len(blocks)-2]...), "\n")
	i := strings.Index(mainCfg, "\ntarget ")
	pr := func(name string, files map[string]string) (int, string) {
		t.Helper()
		dir := filepath.Join(w.dir, strings.ReplaceAll(name, " ", "_"))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for f, src := range files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return w.planPR(dir, w.main, "")
	}
	for name, files := range map[string]map[string]string{
		"comments":     {"main.drs.hcl": "# Sales, protected twice.\n" + strings.Replace(mainCfg, "\ntarget ", "\n// east is in the other building\ntarget ", 1)},
		"formatting":   {"main.drs.hcl": strings.ReplaceAll(strings.ReplaceAll(mainCfg, " = ", "    =    "), "\n", "\n\n")},
		"reordered":    {"main.drs.hcl": reordered},
		"renamed":      {"sales.drs.hcl": mainCfg},
		"split in two": {"a.drs.hcl": mainCfg[:i], "b.drs.hcl": mainCfg[i:]},
		"CRLF":         {"main.drs.hcl": strings.ReplaceAll(mainCfg, "\n", "\r\n")},
	} {
		if code, out := pr(name, files); code != 0 || !strings.Contains(out, "causes no actions") {
			t.Errorf("%s: exit %d, want 0\n%s", name, code, out)
		}
	}
	for name, c := range map[string]struct{ old, new, says string }{
		"restore window":        {`restore_mode = "standby"`, "restore_mode = \"standby\"\n  restore_window {\n    from = \"20:00\"\n    to = \"21:00\"\n  }", `target "east": restore_window none`},
		"another server":        {`"mem://east"`, `"mem://east2"`, `target "east": connection changed`},
		"database off a target": {`restore_mode = "standby"`, "restore_mode = \"standby\"\n  databases = [\"Sales\"]", `target "east": database "O'Brien" is no longer shipped or restored there`},
		"data_dir":              {`restore_mode = "standby"`, "restore_mode = \"standby\"\n  data_dir = \"/data2\"", `target "east": data_dir "" → "/data2"`},
	} {
		if !strings.Contains(mainCfg, c.old) {
			t.Fatalf("%s: %q is not in the configuration", name, c.old)
		}
		code, out := pr(name, map[string]string{"main.drs.hcl": strings.Replace(mainCfg, c.old, c.new, 1)})
		if code != 2 || !strings.Contains(out, c.says) {
			t.Errorf("%s: exit %d, want 2 and %q\n%s", name, code, c.says, out)
		}
	}
}

// TestReviewExitCode_BeforeTheFirstApply: the first pull request comes
// before any apply (no state yet). Planned against its base, a change
// that adds nothing exits 0 though everything is to be seeded; one that
// adds a target exits 2 and names only that target's seeds as its own.
func TestReviewExitCode_BeforeTheFirstApply(t *testing.T) {
	w := newPRWorld(t)
	b, _ := os.ReadFile(filepath.Join(w.main, "main.drs.hcl"))
	same := filepath.Join(w.dir, "same")
	os.MkdirAll(same, 0o755)
	os.WriteFile(filepath.Join(same, "main.drs.hcl"), b, 0o644)
	if code, out := w.planPR(same, w.main, ""); code != 0 {
		t.Errorf("no state yet, the configuration unchanged: exit %d, want 0\n%s", code, out)
	}
	code, out := w.planPR(w.pr, w.main, "")
	if code != 2 || !strings.Contains(out, `target "west": seed 2 database(s)`) || strings.Contains(out, `target "east": seed`) {
		t.Errorf("no state yet, a target added: exit %d, want 2 and only west's seeds\n%s", code, out)
	}
	if _, err := os.Stat(w.statePath); err == nil {
		t.Errorf("plan created the state %s", w.statePath)
	}
}

// TestReviewExitCode_TargetNewInThePullRequest: plan -target west
// -base-config main, west being what the pull request adds: main's plan
// cannot be asked for west, and the review compares with nothing planned
// there (was: "-base-config …: -target "west": no target or primary of
// that name", exit 1).
func TestReviewExitCode_TargetNewInThePullRequest(t *testing.T) {
	w := newPRWorld(t)
	w.cron()
	w.clock = w.clock.Add(16 * time.Minute)
	code := w.env().Plan(context.Background(), w.g(w.pr), cli.PlanOptions{Refresh: true, DetailedExitCode: true, BaseConfig: w.main, Targets: []string{"west"}})
	out := w.stdout.String() + w.stderr.String()
	if code != 2 || !strings.Contains(out, `target "west": seed 2 database(s)`) {
		t.Fatalf("plan -target west of the pull request adding it: exit %d, want 2\n%s", code, out)
	}
	// Both: east as main plans it (routine), west the change's.
	code = w.env().Plan(context.Background(), w.g(w.pr), cli.PlanOptions{Refresh: true, DetailedExitCode: true, BaseConfig: w.main, Targets: []string{"west", "east"}})
	out = w.stdout.String() + w.stderr.String()
	if code != 2 || !strings.Contains(out, `target "west": seed 2 database(s)`) || strings.Contains(out, `target "east": `+"seed") {
		t.Fatalf("plan -target west -target east: exit %d\n%s", code, out)
	}
}

// TestPullRequestWorkflow_ValueFromAFileChangedMeanwhile: the
// configuration reads east's destination from a file beside it
// (file("east.url")). Between the review and the merge another change
// moved east's destination by editing only that file: the .drs.hcl files
// are byte for byte as reviewed, the configuration is not. The reviewed
// plan is refused as made from another configuration (was: applied).
func TestPullRequestWorkflow_ValueFromAFileChangedMeanwhile(t *testing.T) {
	w := newPRWorld(t)
	eastURL := fmt.Sprintf("\"file://%s/east\"", w.dir)
	for _, dir := range []string{w.main, w.pr} {
		p := filepath.Join(dir, "main.drs.hcl")
		b, _ := os.ReadFile(p)
		if !strings.Contains(string(b), eastURL) {
			t.Fatalf("%s is not in the configuration", eastURL)
		}
		os.WriteFile(p, []byte(strings.Replace(string(b), eastURL, `trimspace(file("east.url"))`, 1)), 0o644)
		os.WriteFile(filepath.Join(dir, "east.url"), []byte(fmt.Sprintf("file://%s/east\n", w.dir)), 0o644)
	}
	w.cron()
	planFile := filepath.Join(w.dir, "plan.json")
	if code, out := w.planPR(w.pr, w.main, planFile); code != 2 {
		t.Fatalf("plan: %d\n%s", code, out)
	}
	w.clock = w.clock.Add(16 * time.Minute)
	w.cron()
	// The merge, and east.url as another change left it.
	b, _ := os.ReadFile(filepath.Join(w.pr, "main.drs.hcl"))
	os.WriteFile(filepath.Join(w.main, "main.drs.hcl"), b, 0o644)
	os.WriteFile(filepath.Join(w.main, "east.url"), []byte(fmt.Sprintf("file://%s/east-new\n", w.dir)), 0o644)
	before := w.state().Serial
	code := w.env().Apply(context.Background(), w.g(w.main), cli.ApplyOptions{PlanFile: planFile, Refresh: true})
	out := w.stdout.String() + w.stderr.String()
	if code != 1 || !strings.Contains(out, "the configuration changed since the plan was made") {
		t.Fatalf("a reviewed plan applied to a configuration whose file() value changed: exit %d\n%s", code, out)
	}
	if st := w.state(); st.Serial != before {
		t.Errorf("the refused plan wrote the state: serial %d → %d", before, st.Serial)
	}
	// As reviewed again: applies.
	os.WriteFile(filepath.Join(w.main, "east.url"), []byte(fmt.Sprintf("file://%s/east\n", w.dir)), 0o644)
	if code := w.env().Apply(context.Background(), w.g(w.main), cli.ApplyOptions{PlanFile: planFile, Refresh: true}); code != 0 {
		t.Fatalf("the reviewed plan, east.url as reviewed: exit %d\n%s", code, w.stdout.String()+w.stderr.String())
	}
}

// TestPullRequestWorkflow_ShorterRetentionMergedADayLater: the pull
// request shortens the backup folder's retention to 1h; its plan lists the
// backups that deletes. It is merged a day later, cron having run main
// (7d) meanwhile: the reviewed plan still applies, deletes what its
// reviewer saw listed and nothing else — the backups that aged out since
// are named and left to the next run, which deletes them.
func TestPullRequestWorkflow_ShorterRetentionMergedADayLater(t *testing.T) {
	w := newPRWorld(t)
	w.cron()
	w.clock = w.clock.Add(25 * time.Hour) // a new full: yesterday's chain is needed no more
	w.cron()
	b, _ := os.ReadFile(filepath.Join(w.main, "main.drs.hcl"))
	os.WriteFile(filepath.Join(w.pr, "main.drs.hcl"), []byte(strings.Replace(string(b), `retention = "7d"`, `retention = "1h"`, 1)), 0o644)
	planFile := filepath.Join(w.dir, "plan.json")
	code, out := w.planPR(w.pr, w.main, planFile)
	if code != 2 || !strings.Contains(out, "retention 7d → 1h: shorter") {
		t.Fatalf("plan: exit %d\n%s", code, out)
	}
	saved := readPlan(t, planFile)
	listed := map[string]bool{}
	for _, a := range saved.Actions {
		if a.Kind == plan.Prune {
			listed[a.Primary+"/"+a.Database+"/"+a.Artifact] = true
		}
	}
	if len(listed) == 0 {
		t.Fatalf("the review lists no deletion\n%s", out)
	}
	w.clock = w.clock.Add(24 * time.Hour)
	w.cron() // main: 7d, a new full and logs
	b, _ = os.ReadFile(filepath.Join(w.pr, "main.drs.hcl"))
	os.WriteFile(filepath.Join(w.main, "main.drs.hcl"), b, 0o644)
	w.clock = w.clock.Add(time.Minute)
	pruned := func() map[string]bool {
		got := map[string]bool{}
		for pn, p := range w.state().Primaries {
			for dn, d := range p.Databases {
				for _, a := range d.Artifacts {
					if a.PrunedAt != nil {
						got[pn+"/"+dn+"/"+a.ID] = true
					}
				}
			}
		}
		return got
	}
	already := pruned()
	code = w.env().Apply(context.Background(), w.g(w.main), cli.ApplyOptions{PlanFile: planFile, Refresh: true, Parallelism: 4})
	out = w.stdout.String() + w.stderr.String()
	if code != 0 || !strings.Contains(out, "Left to the next run") {
		t.Fatalf("the reviewed plan a day later: exit %d\n%s", code, out)
	}
	var unlisted []string
	for k := range pruned() {
		if !already[k] && !listed[k] {
			unlisted = append(unlisted, k)
		}
	}
	if len(unlisted) > 0 {
		t.Fatalf("the reviewed plan deleted what its review did not list: %v\n%s", unlisted, out)
	}
	n := len(pruned())
	w.clock = w.clock.Add(time.Minute)
	w.cron()
	if len(pruned()) <= n {
		t.Errorf("the next run did not delete what was left to it (%d pruned before, %d after)", n, len(pruned()))
	}
}

// TestReviewBase_DoesNotLoad: the base names an engine this drsctl lacks
// (a base branch ahead of the runner's drsctl): the plan says which file
// and line, and what to do — not only that the base does not load.
func TestReviewBase_DoesNotLoad(t *testing.T) {
	w := newPRWorld(t)
	p := filepath.Join(w.main, "main.drs.hcl")
	b, _ := os.ReadFile(p)
	os.WriteFile(p, []byte(strings.Replace(string(b), `engine        = "memory"`, `engine        = "postgres"`, 1)), 0o644)
	code, out := w.planPR(w.pr, w.main, "")
	if code != 1 || !strings.Contains(out, "main.drs.hcl") || !strings.Contains(out, "postgres") || !strings.Contains(out, "without -base-config") {
		t.Fatalf("a base that does not load: exit %d\n%s", code, out)
	}
}

// TestPullRequestWorkflow_FailoverBeforeTheMerge: the pull request adds
// west; before it is merged, east is failed over by hand and `drsctl
// reprotect east` asks the next apply to replace what was promoted. The
// reviewed plan does not hold that REPLACE: applied now it is refused,
// naming it, and nothing runs (the workflow falls back to planning main,
// whose cron run then does what reprotect asked for).
func TestPullRequestWorkflow_FailoverBeforeTheMerge(t *testing.T) {
	w := newPRWorld(t)
	w.cron()
	planFile := filepath.Join(w.dir, "plan.json")
	if code, out := w.planPR(w.pr, w.main, planFile); code != 2 {
		t.Fatalf("plan: %d\n%s", code, out)
	}
	w.clock = w.clock.Add(10 * time.Minute)
	if c := w.env().Promote(context.Background(), w.g(w.main), cli.PromoteOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true}); c != 0 {
		t.Fatalf("promote: %d\n%s", c, w.stdout.String()+w.stderr.String())
	}
	if c := w.env().Reprotect(context.Background(), w.g(w.main), cli.ReprotectOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true}); c != 0 {
		t.Fatalf("reprotect: %d\n%s", c, w.stdout.String()+w.stderr.String())
	}
	b, _ := os.ReadFile(filepath.Join(w.pr, "main.drs.hcl"))
	os.WriteFile(filepath.Join(w.main, "main.drs.hcl"), b, 0o644)
	before := w.state().Serial
	code := w.env().Apply(context.Background(), w.g(w.main), cli.ApplyOptions{PlanFile: planFile, Refresh: true})
	out := w.stdout.String() + w.stderr.String()
	if code != 1 || !strings.Contains(out, "now also planned, and not in the reviewed plan: sales/Sales → east: restore full") {
		t.Fatalf("the reviewed plan after a failover and reprotect: exit %d\n%s", code, out)
	}
	if w.state().Serial != before {
		t.Fatal("the refused plan wrote the state")
	}
	if td := w.state().LookupTargetDatabase("west", "Sales"); td != nil && td.SeededFrom != "" {
		t.Fatal("west was seeded by a refused plan")
	}
	w.clock = w.clock.Add(time.Minute)
	w.cron() // the merged configuration: the REPLACE reprotect asked for, and west's seeds
	if td := w.state().LookupTargetDatabase("east", "Sales"); td == nil || td.PromotedAt != nil {
		t.Fatal("cron did not protect east's Sales again")
	}
}
