package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/wiring"
)

const rebuildConfig = `
backup_folder "share" {
  url = "file://%[1]s/share"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales", "O'Brien"]
  backup_folder = backup_folder.share
  full_backup { every = "1m" }
  log_backup { every = "5s" }
  rpo = "5m"
}
target "east" {
  primary          = primary.sales
  connection       = env("EAST_DSN")
  restore_mode     = "standby"
  disconnect_users = true
  data_dir         = "%[1]s/east-data"
  destination { url = "file://%[1]s/east" }
}
target "west" {
  primary      = primary.sales
  connection   = env("WEST_DSN")
  restore_mode = "norecovery"
  data_dir     = "%[1]s/west-data"
  destination { url = "file://%[1]s/west" }
}
target "vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = "file://%[1]s/vault" }
}
`

// rebuildWorld is a running estate on the SQL Server simulators: a
// primary, two standbys (STANDBY and NORECOVERY) and a copy-only vault,
// on one fake clock.
type rebuildWorld struct {
	*sqlHarness
	clock    *cronClock
	dsns     map[string]string
	inserted int
}

func newRebuildWorld(t *testing.T) *rebuildWorld {
	clock := &cronClock{t: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
	h := &harness{t: t, dir: t.TempDir(), clock: clock.Now(), engines: wiring.Engines()}
	start := func(name string) *sqlsim.Server {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(h.dir, name+"-sim"),
			Name: strings.ToUpper(name), LSNBase: "98765432109876543210000", Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	w := &rebuildWorld{sqlHarness: &sqlHarness{harness: h, primary: start("primary"), east: start("east"), west: start("west")}, clock: clock}
	for _, d := range []string{"share", "east", "west", "vault", "east-data", "west-data"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(fmt.Sprintf(rebuildConfig, h.dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"Sales", "O'Brien"} {
		if err := w.exec(w.primary, "CREATE DATABASE "+quoteIdent(db)); err != nil {
			t.Fatal(err)
		}
	}
	w.dsns = map[string]string{"PRIMARY_DSN": w.primary.DSN(""), "EAST_DSN": w.east.DSN(""), "WEST_DSN": w.west.DSN("")}
	return w
}

func (w *rebuildWorld) cliEnv() *cli.Env {
	e := w.env()
	e.Getenv = func(k string) (string, bool) { v, ok := w.dsns[k]; return v, ok }
	e.Now = w.clock.Now
	return e
}

func (w *rebuildWorld) applyOK(what string) string {
	w.t.Helper()
	code := w.cliEnv().Apply(context.Background(), w.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
	out := w.stdout.String() + w.stderr.String()
	if code != 0 {
		w.t.Fatalf("%s: apply exited %d:\n%s", what, code, out)
	}
	return out
}

func (w *rebuildWorld) rebuild() (int, string) {
	w.t.Helper()
	code := w.cliEnv().StateRebuild(context.Background(), w.globals())
	return code, w.stdout.String() + w.stderr.String()
}

// planned makes a plan (refreshed) and returns it with its exit code.
func (w *rebuildWorld) planned() (*plan.Plan, int, string) {
	w.t.Helper()
	out := filepath.Join(w.dir, "next.plan")
	code := w.cliEnv().Plan(context.Background(), w.globals(), cli.PlanOptions{Refresh: true, Out: out})
	text := w.stdout.String() + w.stderr.String()
	f, err := os.Open(out)
	if err != nil {
		w.t.Fatalf("plan exited %d without a plan file: %v\n%s", code, err, text)
	}
	defer f.Close()
	p, err := plan.Load(f)
	if err != nil {
		w.t.Fatal(err)
	}
	return p, code, text
}

func (w *rebuildWorld) insert() {
	w.t.Helper()
	w.inserted++
	if err := w.exec(w.primary, fmt.Sprintf("INSERT INTO [Sales].dbo.drs_probe (id, note) VALUES (%d, N'row')", w.inserted)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *rebuildWorld) fullRestores() map[string]int {
	n := map[string]int{}
	for name, s := range map[string]*sqlsim.Server{"east": w.east, "west": w.west} {
		for _, r := range s.RestoreHistory() {
			if r.Type == "D" {
				n[name+"/"+r.Database]++
			}
		}
	}
	return n
}

func (w *rebuildWorld) loseState() {
	w.t.Helper()
	matches, err := filepath.Glob(filepath.Join(w.dir, "drs.state.json*"))
	if err != nil {
		w.t.Fatal(err)
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil {
			w.t.Fatal(err)
		}
	}
}

// facts is what must survive a lost ledger: drsctl's backups still in
// storage, what each target was seeded from and stands after, and the
// proven copies at each destination.
type facts struct {
	Artifacts map[string][]string // database → artifact IDs not pruned, in order
	Seeded    map[string]string   // target/db → SeededFrom
	Restored  map[string]string   // target/db → artifact ID
	Copies    map[string][]string // target/db → verified copy IDs, sorted
}

func factsOf(st *state.State) facts {
	f := facts{Artifacts: map[string][]string{}, Seeded: map[string]string{}, Restored: map[string]string{}, Copies: map[string][]string{}}
	for name, db := range st.Primaries["sales"].Databases {
		for _, a := range db.Artifacts {
			if a.PrunedAt == nil {
				f.Artifacts[name] = append(f.Artifacts[name], a.ID)
			}
		}
	}
	for tn, t := range st.Targets {
		for dn, td := range t.Databases {
			k := tn + "/" + dn
			f.Seeded[k] = td.SeededFrom
			if td.Restored != nil {
				f.Restored[k] = td.Restored.Artifact
			}
			for id, c := range td.Copies {
				if c.VerifiedAt != nil {
					f.Copies[k] = append(f.Copies[k], id)
				}
			}
			sort.Strings(f.Copies[k])
		}
	}
	return f
}

// TestSQLServer_StateRebuild_NextPlanTakesNoFullAndReseedsNothing is
// issue 11's "done when": the state of a running estate (simulators, two
// standbys, a copy-only target) is deleted, `state rebuild` reconstructs
// it, and the next plan takes no full backup and reseeds nothing; the
// apply after it converges with no restore repeated.
func TestSQLServer_StateRebuild_NextPlanTakesNoFullAndReseedsNothing(t *testing.T) {
	w := newRebuildWorld(t)
	// Seed, then logs (one idle), then a second full (the chain goes on),
	// then more logs: a standby mid-chain on both servers.
	w.insert()
	w.applyOK("seed")
	for i := 0; i < 14; i++ {
		if i != 4 {
			w.insert()
		}
		w.clock.advance(6 * time.Second)
		w.applyOK(fmt.Sprintf("round %d", i))
	}
	seeded := w.fullRestores()
	for _, k := range []string{"east/Sales", "west/Sales", "east/O'Brien", "west/O'Brien"} {
		if seeded[k] != 1 {
			t.Fatalf("%s was seeded %d times before the state was lost, want 1", k, seeded[k])
		}
	}
	before := w.ledger()
	if n := len(before.Primaries["sales"].Databases["Sales"].Artifacts); n < 10 {
		t.Fatalf("the estate has only %d backups of Sales: the test lost its history", n)
	}
	fulls := 0
	for _, a := range before.Primaries["sales"].Databases["Sales"].Artifacts {
		if a.Kind == "full" {
			fulls++
		}
	}
	if fulls < 2 {
		t.Fatalf("want a second full backup before the state is lost, have %d", fulls)
	}

	// The runner is thrown away: its state with it.
	w.loseState()
	w.clock.advance(2 * time.Second)
	code, out := w.rebuild()
	if code != 0 {
		t.Fatalf("state rebuild exited %d:\n%s", code, out)
	}
	t.Logf("state rebuild:\n%s", out)
	for _, want := range []string{`target "east" database "Sales": seeded by drsctl from`, `target "west" database "O'Brien": seeded by drsctl from`, `target "vault" database "Sales": copy-only`} {
		if !strings.Contains(out, want) {
			t.Errorf("the rebuild's report lacks %q", want)
		}
	}
	after := w.ledger()
	if after.Lineage == before.Lineage || after.Serial != 1 {
		t.Errorf("rebuilt ledger lineage %s serial %d: want a new lineage at serial 1", after.Lineage, after.Serial)
	}
	if diff := cmp.Diff(factsOf(before), factsOf(after)); diff != "" {
		t.Errorf("the rebuilt ledger differs from the lost one (-lost +rebuilt):\n%s", diff)
	}

	// Running it again refuses: a ledger exists now.
	if code, out := w.rebuild(); code == 0 || !strings.Contains(out, "never overwrites a ledger") {
		t.Errorf("a second state rebuild exited %d:\n%s", code, out)
	}

	// The next plan: no full backup, no seed, no error.
	p, code, text := w.planned()
	if code != 0 {
		t.Fatalf("plan after the rebuild exited %d:\n%s", code, text)
	}
	for _, a := range p.Actions {
		switch {
		case a.Kind == plan.BackupFull:
			t.Errorf("the plan after the rebuild takes a full backup: %s (%s)", a.ID, a.Reason)
		case a.Kind == plan.RestoreFull || a.Seed:
			t.Errorf("the plan after the rebuild seeds: %s (%s)", a.ID, a.Reason)
		case a.Kind == plan.Ship && a.ArtifactKind == "full":
			t.Errorf("the plan after the rebuild ships a full backup again: %s (%s)", a.ID, a.Reason)
		}
	}
	if len(p.Problems) > 0 {
		t.Errorf("the plan after the rebuild has problems: %+v\n%s", p.Problems, text)
	}

	// And the applies after it converge: new rows reach the standby, no
	// full restore is repeated.
	for i := 0; i < 3; i++ {
		w.insert()
		w.clock.advance(6 * time.Second)
		out := w.applyOK(fmt.Sprintf("apply %d after the rebuild", i+1))
		if strings.Contains(out, "seed") || strings.Contains(out, "REPLACE") {
			t.Errorf("apply %d after the rebuild seeds:\n%s", i+1, out)
		}
	}
	if got := w.fullRestores(); !cmp.Equal(got, seeded) {
		t.Errorf("full restores after the rebuild %v, want still %v", got, seeded)
	}
	want := make([]int, w.inserted)
	for i := range want {
		want[i] = i + 1
	}
	if got := w.sqlHarness.rows(w.east, "Sales"); !slices.Equal(got, want) {
		t.Errorf("east Sales rows %v, want %v", got, want)
	}
}
