package cli_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "gocloud.dev/blob/fileblob"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/enginetest"
	"github.com/drsctl/drsctl/internal/state"
)

// harness runs drsctl commands in-process against in-memory servers, with
// file:// storage and a real state file in a temporary directory.
type harness struct {
	t       *testing.T
	dir     string
	drv     *enginetest.Driver
	clock   time.Time
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	engines *engine.Registry
}

const e2eConfig = `
backup_folder "share" {
  url       = "file://%[1]s/share"
  retention = "7d"
}

primary "sales" {
  engine        = "memory"
  connection    = "mem://primary"
  databases     = ["Sales", "O'Brien"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "30m"
}

target "east" {
  primary      = primary.sales
  connection   = "mem://east"
  restore_mode = "standby"
  destination {
    url = "file://%[1]s/east"
  }
}

target "west" {
  primary    = primary.sales
  connection = env("WEST_DSN")
  destination {
    url = "file://%[1]s/west"
  }
}

target "vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination {
    url = "file://%[1]s/vault"
  }
}
`

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, dir: t.TempDir(), drv: enginetest.NewDriver(), clock: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)}
	h.drv.Now = func() time.Time { return h.clock }
	h.engines = engine.NewRegistry()
	h.engines.Register("memory", h.drv)
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(fmt.Sprintf(e2eConfig, h.dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{"Sales", "O'Brien"} {
		h.drv.Server("primary").Create(db, "98765432109876543210000")
	}
	return h
}

func (h *harness) env() *cli.Env {
	h.stdout.Reset()
	h.stderr.Reset()
	return &cli.Env{Stdout: &h.stdout, Stderr: &h.stderr, Stdin: strings.NewReader(""),
		Getenv: func(k string) (string, bool) {
			if k == "WEST_DSN" {
				return "mem://west", true
			}
			return "", false
		},
		Engines: h.engines, Now: func() time.Time { return h.clock }, Version: "test"}
}

func (h *harness) globals() cli.Globals { return cli.Globals{Chdir: h.dir, NoColor: true} }

func (h *harness) apply() int {
	h.t.Helper()
	code := h.env().Apply(context.Background(), h.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
	h.t.Logf("apply at %s → %d\n%s\n%s", h.clock.Format(time.Kitchen), code, h.stdout.String(), h.stderr.String())
	return code
}

func (h *harness) plan(o cli.PlanOptions) int {
	h.t.Helper()
	return h.env().Plan(context.Background(), h.globals(), o)
}

func (h *harness) state() *state.State {
	h.t.Helper()
	st, err := state.NewLocal(filepath.Join(h.dir, "drs.state.json"), state.LocalOptions{}).Read(context.Background())
	if err != nil || st == nil {
		h.t.Fatalf("read the ledger: %v", err)
	}
	return st
}

// ledger summarises what the state says, for exact comparison.
type ledger struct {
	Artifacts map[string][]string // database → kinds in order
	Restored  map[string]string   // target/db → kind of newest restored artifact @ its LastLSN
	Copies    map[string]int      // target/db → number of verified copies
	Seeded    map[string]bool
}

func summarize(st *state.State) ledger {
	l := ledger{Artifacts: map[string][]string{}, Restored: map[string]string{}, Copies: map[string]int{}, Seeded: map[string]bool{}}
	lsn := map[string]string{}
	for name, db := range st.Primaries["sales"].Databases {
		for i, a := range db.Artifacts {
			l.Artifacts[name] = append(l.Artifacts[name], string(a.Kind))
			lsn[a.ID] = fmt.Sprintf("%s#%d", name, i)
			if a.SHA256 == "" || a.Size == 0 {
				panic("artifact without checksum")
			}
		}
	}
	for tn, t := range st.Targets {
		for dn, td := range t.Databases {
			k := tn + "/" + dn
			if td.Restored != nil {
				l.Restored[k] = lsn[td.Restored.Artifact]
			}
			for _, c := range td.Copies {
				if c.VerifiedAt != nil {
					l.Copies[k]++
				}
			}
			l.Seeded[k] = td.SeededFrom != ""
		}
	}
	return l
}

func TestApply_SeedsShipsRestoresAndRecoversFromHalfWayFailure(t *testing.T) {
	h := newHarness(t)
	prim, east, west := h.drv.Server("primary"), h.drv.Server("east"), h.drv.Server("west")
	prim.Insert("Sales", 1, 2)

	// 1. First apply: a full backup per database, seeded on both standbys,
	// copied to the vault.
	if code := h.apply(); code != 0 {
		t.Fatalf("first apply exit %d", code)
	}
	want := ledger{
		Artifacts: map[string][]string{"Sales": {"full"}, "O'Brien": {"full"}},
		Restored:  map[string]string{"east/Sales": "Sales#0", "west/Sales": "Sales#0", "east/O'Brien": "O'Brien#0", "west/O'Brien": "O'Brien#0"},
		Copies:    map[string]int{"east/Sales": 1, "west/Sales": 1, "vault/Sales": 1, "east/O'Brien": 1, "west/O'Brien": 1, "vault/O'Brien": 1},
		Seeded:    map[string]bool{"east/Sales": true, "west/Sales": true, "vault/Sales": true, "east/O'Brien": true, "west/O'Brien": true, "vault/O'Brien": true},
	}
	if diff := cmp.Diff(want, summarize(h.state())); diff != "" {
		t.Fatalf("ledger after seeding (-want +got):\n%s", diff)
	}
	if got := east.Rows("Sales"); !cmp.Equal(got, []int{1, 2}) {
		t.Errorf("east rows = %v", got)
	}

	// 2. Nothing due five minutes later.
	h.clock = h.clock.Add(5 * time.Minute)
	if code := h.plan(cli.PlanOptions{Refresh: true, DetailedExitCode: true}); code != 0 {
		t.Fatalf("plan with nothing due exit %d:\n%s%s", code, h.stdout.String(), h.stderr.String())
	}

	// 3. Logs due: rows written on the primary reach both standbys.
	prim.Insert("Sales", 3)
	h.clock = h.clock.Add(11 * time.Minute)
	if code := h.apply(); code != 0 {
		t.Fatalf("log apply exit %d", code)
	}
	if got := east.Rows("Sales"); !cmp.Equal(got, []int{1, 2, 3}) {
		t.Errorf("east rows after log = %v", got)
	}
	if got := west.Rows("Sales"); !cmp.Equal(got, []int{1, 2, 3}) {
		t.Errorf("west rows after log = %v", got)
	}

	// 4. A restore that fails half way: west applies the log but the reply
	// is lost. The next apply records it and does not restore it again.
	// (O'Brien is written too: an idle database's log backup is empty.)
	prim.Insert("Sales", 4)
	prim.Insert("O'Brien", 40)
	h.clock = h.clock.Add(16 * time.Minute)
	west.FailNext("restore", "Sales", true, errors.New("connection reset by peer"))
	if code := h.apply(); code != 1 {
		t.Fatalf("apply with a failing restore should exit 1, got %d", code)
	}
	if !strings.Contains(h.stderr.String(), "connection reset by peer") {
		t.Errorf("the failure must be reported:\n%s", h.stderr.String())
	}
	l := summarize(h.state())
	if l.Restored["west/Sales"] != "Sales#1" || l.Restored["east/Sales"] != "Sales#2" || l.Restored["west/O'Brien"] != "O'Brien#2" {
		t.Fatalf("after the lost reply the ledger must still say west/Sales is at the first log, and the rest moved on: %v", l.Restored)
	}
	restoresBefore := west.Calls("restore")
	h.clock = h.clock.Add(time.Minute)
	if code := h.apply(); code != 0 {
		t.Fatalf("recovery apply exit %d", code)
	}
	if n := west.Calls("restore") - restoresBefore; n != 0 {
		t.Errorf("recovery apply restored %d times; the log was already applied", n)
	}
	if !strings.Contains(h.stdout.String(), "record restored through") {
		t.Errorf("the plan must say it records the observed position:\n%s", h.stdout.String())
	}
	want = ledger{
		Artifacts: map[string][]string{"Sales": {"full", "log", "log"}, "O'Brien": {"full", "log", "log"}},
		Restored:  map[string]string{"east/Sales": "Sales#2", "west/Sales": "Sales#2", "east/O'Brien": "O'Brien#2", "west/O'Brien": "O'Brien#2"},
		Copies:    map[string]int{"east/Sales": 3, "west/Sales": 3, "vault/Sales": 3, "east/O'Brien": 3, "west/O'Brien": 3, "vault/O'Brien": 3},
		Seeded:    want.Seeded,
	}
	if diff := cmp.Diff(want, summarize(h.state())); diff != "" {
		t.Fatalf("final ledger (-want +got):\n%s", diff)
	}
	if got := west.Rows("Sales"); !cmp.Equal(got, []int{1, 2, 3, 4}) {
		t.Errorf("west rows = %v", got)
	}

	// Every copy in the ledger is really at its destination with that checksum.
	st := h.state()
	for tn, tg := range st.Targets {
		for _, td := range tg.Databases {
			for id, c := range td.Copies {
				if _, err := os.Stat(filepath.Join(h.dir, tn, filepath.FromSlash(c.Key))); err != nil {
					t.Errorf("%s copy %s: %v", tn, id, err)
				}
			}
		}
	}
	if strings.Contains(readFile(t, filepath.Join(h.dir, "drs.state.json")), "mem://") {
		t.Error("a connection string reached the state file")
	}
}

func TestApply_FailureStopsOnlyItsDependents(t *testing.T) {
	h := newHarness(t)
	h.drv.Server("east").SetDown(true)
	if code := h.apply(); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	l := summarize(h.state())
	// east could not be observed or restored; west and the vault are complete.
	if l.Restored["west/Sales"] != "Sales#0" || l.Copies["vault/Sales"] != 1 || l.Restored["east/Sales"] != "" {
		t.Fatalf("ledger %+v", l)
	}
	if l.Copies["east/Sales"] != 1 {
		t.Errorf("copies are still shipped to a target whose server is down: %+v", l.Copies)
	}
	h.drv.Server("east").SetDown(false)
	h.clock = h.clock.Add(time.Minute)
	if code := h.apply(); code != 0 {
		t.Fatalf("exit %d after the server came back", code)
	}
	if got := summarize(h.state()).Restored["east/Sales"]; got != "Sales#0" {
		t.Errorf("east seeded on the next apply: %q", got)
	}
}

func TestApply_OutOfBandLogBackupLeadsToReseed(t *testing.T) {
	h := newHarness(t)
	prim := h.drv.Server("primary")
	if code := h.apply(); code != 0 {
		t.Fatal("seed failed")
	}
	elsewhere := t.TempDir()
	if _, err := prim.BackupOutOfBand(context.Background(), "Sales", filepath.Join(elsewhere, "manual.trn")); err != nil {
		t.Fatal(err)
	}
	prim.Insert("Sales", 9)
	h.clock = h.clock.Add(20 * time.Minute)
	if code := h.plan(cli.PlanOptions{Refresh: true, DetailedExitCode: true}); code != 0 {
		// The reseed repairs what happened on the primary: not a change of
		// the configuration, which is what -detailed-exitcode reports.
		t.Fatalf("plan exit %d, want 0", code)
	}
	out := h.stdout.String()
	sales, _, _ := strings.Cut(out[strings.Index(out, `database "Sales"`):], `database "O'Brien"`)
	if !strings.Contains(sales, "not in the backup folder") || !strings.Contains(sales, "restore full") || strings.Contains(sales, "restore log") {
		t.Fatalf("plan must reseed, not restore logs:\n%s", out)
	}
	if code := h.apply(); code != 0 {
		t.Fatal("reseed failed")
	}
	if got := h.drv.Server("east").Rows("Sales"); !cmp.Equal(got, []int{9}) {
		t.Errorf("east rows after reseed = %v", got)
	}
}

func TestPlan_SavedPlanIsRefusedWhenStale(t *testing.T) {
	h := newHarness(t)
	out := filepath.Join(h.dir, "tfplan")
	if code := h.plan(cli.PlanOptions{Refresh: true, Out: out}); code != 0 {
		t.Fatalf("plan exit %d: %s", code, h.stderr.String())
	}
	if code := h.apply(); code != 0 {
		t.Fatal("apply failed")
	}
	code := h.env().Apply(context.Background(), h.globals(), cli.ApplyOptions{PlanFile: out, Refresh: true})
	if code != 1 || !strings.Contains(h.stderr.String(), "stale") {
		t.Fatalf("stale plan: exit %d, %s", code, h.stderr.String())
	}
}

func TestApply_NeedsApprovalWithoutATerminal(t *testing.T) {
	h := newHarness(t)
	code := h.env().Apply(context.Background(), h.globals(), cli.ApplyOptions{Refresh: true})
	if code != 1 || !strings.Contains(h.stderr.String(), "-auto-approve") {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(h.dir, "drs.state.json")); !os.IsNotExist(err) {
		t.Error("nothing may be written without approval")
	}
}

func TestStatus_PrometheusAndCheck(t *testing.T) {
	h := newHarness(t)
	if code := h.apply(); code != 0 {
		t.Fatal("apply failed")
	}
	h.clock = h.clock.Add(2 * time.Hour)
	code := h.env().Status(context.Background(), h.globals(), cli.StatusOptions{Format: "prometheus", Check: true})
	if code != 2 {
		t.Errorf("status -check with a breach: exit %d", code)
	}
	out := h.stdout.String()
	for _, want := range []string{`drsctl_rpo_breach{target="east",primary="sales",database="Sales"} 1`, `drsctl_rpo_lag_seconds{target="vault",primary="sales",database="O'Brien"} 7200`} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestLock_SecondRunWaitsThenFails(t *testing.T) {
	h := newHarness(t)
	m := state.NewLocal(filepath.Join(h.dir, "drs.state.json"), state.LocalOptions{})
	lease, err := m.Lock(context.Background(), "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	code := h.plan(cli.PlanOptions{Refresh: true, LockTimeout: 100 * time.Millisecond})
	if code != 1 || !strings.Contains(h.stderr.String(), "force-unlock "+lease.Info().ID) {
		t.Fatalf("exit %d: %s", code, h.stderr.String())
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var _ = sort.Strings
var _ artifact.Kind

func TestReadOnlyCommands(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	planFile := filepath.Join(h.dir, "plan.json")
	if code := h.plan(cli.PlanOptions{Refresh: true, Out: planFile}); code != 0 {
		t.Fatalf("plan: %d %s", code, h.stderr.String())
	}
	if code := h.env().Show(ctx, h.globals(), planFile, false); code != 0 || !strings.Contains(h.stdout.String(), "+ backup full") {
		t.Errorf("show FILE: %d\n%s", code, h.stdout.String())
	}
	if code := h.env().Graph(ctx, h.globals(), cli.GraphOptions{Plan: true}); code != 0 ||
		!strings.Contains(h.stdout.String(), `"backup_full:sales/Sales" -> "ship:sales/Sales@east#+backup_full:sales/Sales"`) {
		t.Errorf("graph: %d\n%s", code, h.stdout.String())
	}
	if code := h.apply(); code != 0 {
		t.Fatal("apply failed")
	}
	if code := h.env().StateList(ctx, h.globals()); code != 0 || !strings.Contains(h.stdout.String(), `target.east.database["Sales"]`) {
		t.Errorf("state list: %d\n%s", code, h.stdout.String())
	}
	if code := h.env().StateShow(ctx, h.globals(), `target.east.database["Sales"]`); code != 0 || !strings.Contains(h.stdout.String(), `"seeded_from"`) {
		t.Errorf("state show: %d\n%s", code, h.stdout.String())
	}
	if code := h.env().StateShow(ctx, h.globals(), `target.nowhere.database["Sales"]`); code != 1 || !strings.Contains(h.stderr.String(), "state list") {
		t.Errorf("state show of a missing address: %d %s", code, h.stderr.String())
	}
	if code := h.env().Status(ctx, h.globals(), cli.StatusOptions{JSON: true}); code != 0 || !strings.Contains(h.stdout.String(), `"type":"rpo"`) {
		t.Errorf("status -json: %d\n%s", code, h.stdout.String())
	}
	if code := h.env().Show(ctx, h.globals(), "", false); code != 0 || !strings.Contains(h.stdout.String(), "serial ") {
		t.Errorf("show state: %d\n%s", code, h.stdout.String())
	}
}

func TestApply_FolderURLAndServerPathMismatchIsExplained(t *testing.T) {
	h := newHarness(t)
	elsewhere := t.TempDir()
	cfg := readFile(t, filepath.Join(h.dir, "main.drs.hcl"))
	cfg = strings.Replace(cfg, `url       = "file://`+h.dir+`/share"`, `url       = "file://`+h.dir+`/share"
  server_path = "`+elsewhere+`"`, 1)
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(elsewhere, "sales", "Sales", "full"), 0o755)
	os.MkdirAll(filepath.Join(elsewhere, "sales", "O~27Brien", "full"), 0o755)
	if code := h.apply(); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(h.stderr.String(), "url and server_path name the same place") {
		t.Errorf("the error must say what to check:\n%s", h.stderr.String())
	}
	// Nothing completed, so no ledger was written: a backup drsctl could not
	// read never enters it.
	if _, err := os.Stat(filepath.Join(h.dir, "drs.state.json")); !os.IsNotExist(err) {
		t.Errorf("state written although nothing completed: %v", err)
	}
}
