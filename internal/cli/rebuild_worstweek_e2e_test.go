package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// loseState deletes the ledger and everything beside it (a CI runner
// thrown away).
func (w *ww) loseState() {
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

// rebuild runs `drsctl state rebuild`, keeping its output in w.out.
func (w *ww) rebuild() int {
	w.t.Helper()
	code := w.env().StateRebuild(context.Background(), w.globals())
	w.out = w.stdout.String() + w.stderr.String()
	w.t.Logf("state rebuild at %s → %d\n%s", w.clock.Format("Jan 2 15:04"), code, w.out)
	return code
}

// nextPlan plans (refreshed) into a file and loads it.
func (w *ww) nextPlan() (*plan.Plan, int) {
	w.t.Helper()
	out := filepath.Join(w.dir, "next.plan")
	code := w.planOut(cli.PlanOptions{Out: out})
	f, err := os.Open(out)
	if err != nil {
		w.t.Fatalf("plan exited %d without a plan file: %v\n%s", code, err, w.out)
	}
	defer f.Close()
	p, err := plan.Load(f)
	if err != nil {
		w.t.Fatal(err)
	}
	return p, code
}

// noSeed fails the test for a seed in p, or a full backup in the ledger
// shipped again; and for a full backup taken, unless fullWhy is set and
// its reason says it.
func noSeed(t *testing.T, p *plan.Plan, fullWhy string) {
	t.Helper()
	for _, a := range p.Actions {
		switch {
		case a.Kind == plan.RestoreFull || a.Seed || (a.Kind == plan.Ship && a.ArtifactKind == artifact.Full && a.From == ""):
			t.Errorf("the plan after the rebuild: %s %s (%s)", a.Kind, a.ID, a.Reason)
		case a.Kind == plan.BackupFull && (fullWhy == "" || !strings.Contains(a.Reason, fullWhy)):
			t.Errorf("the plan after the rebuild takes a full backup: %s (%s)", a.ID, a.Reason)
		}
	}
}

// TestWorst_StateRebuild_MishapsThenLostState: a week of mishaps, then the
// ledger is lost. West's server was down for a while (mid-chain, its copies
// shipped ahead of it); a cleanup job deleted from the backup folder a log
// west has not restored yet (only the destinations' copies remain); the
// vault's copy of another log was truncated; a DBA wrote a log backup of
// their own into the backup folder, and took one to a place drsctl cannot
// read that is COPY_ONLY (no hole). `state rebuild`, then: no full backup,
// no seed; the log gone from the folder is recorded from its copies (they
// agree) and restored on west from its own; the truncated copy is not
// recorded and is shipped again; the DBA's backup is adopted as before.
func TestWorst_StateRebuild_MishapsThenLostState(t *testing.T) {
	w := newWW(t, wwOpts{})
	ctx := context.Background()
	w.insert(2)
	w.mustApply("seed")
	w.cron(2, 16*time.Minute)
	seeds := fullRestores(w.east) + fullRestores(w.west)

	// A DBA's log backup into the backup folder, adopted; a COPY_ONLY one
	// elsewhere, which is no part of the chain.
	share := filepath.Join(w.dir, "share")
	if err := os.MkdirAll(filepath.Join(share, "manual"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.insert(1)
	if _, err := w.prim.BackupOutOfBand(ctx, "Sales", filepath.Join(share, "manual", "Sales_manual_1.trn")); err != nil {
		t.Fatal(err)
	}
	if _, err := w.prim.BackupByHand(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Log, CopyOnly: true, ServerPath: filepath.Join(t.TempDir(), "copyonly.trn")}); err != nil {
		t.Fatal(err)
	}
	w.cron(1, 16*time.Minute)

	// West is down for three log intervals: its copies are shipped ahead.
	w.west.SetDown(true)
	w.cron(3, 16*time.Minute)
	westInfo, _ := w.west.Database("Sales")
	var gone string // the first log west has not restored
	for _, a := range w.state().Primaries["sales"].Databases["Sales"].Artifacts {
		if a.Kind == artifact.Log && a.FirstLSN.Cmp(westInfo.RedoLSN) == 0 && a.LastLSN.Cmp(a.FirstLSN) > 0 && !a.OutOfBand {
			gone = a.Key
		}
	}
	if gone == "" {
		t.Fatalf("no log continues west's position %s", westInfo.RedoLSN)
	}
	// The cleanup job deletes it from the backup folder.
	if err := os.Remove(filepath.Join(share, filepath.FromSlash(gone))); err != nil {
		t.Fatal(err)
	}
	// The vault's copy of the first log is truncated.
	vaultLogs, _ := filepath.Glob(filepath.Join(w.dir, "vault", "sales", "Sales", "log", "*.trn"))
	slices.Sort(vaultLogs)
	truncated := vaultLogs[0]
	if err := os.Truncate(truncated, 10); err != nil {
		t.Fatal(err)
	}
	lost := w.state()

	w.loseState()
	w.tick(time.Minute)
	// While west's server is down, a rebuild would not know what stands
	// there: it refuses and writes nothing.
	if code := w.rebuild(); code != 1 || !strings.Contains(w.out, `target "west"`) || !strings.Contains(w.out, "nothing was written") {
		t.Errorf("state rebuild with west down: exit %d, want 1 naming west\n%s", code, w.out)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "drs.state.json")); !os.IsNotExist(err) {
		t.Fatalf("a refused rebuild wrote a state: %v", err)
	}
	w.west.SetDown(false)
	if code := w.rebuild(); code != 0 {
		t.Fatalf("state rebuild exit %d:\n%s", code, w.out)
	}
	st := w.state()
	db := st.Primaries["sales"].Databases["Sales"]
	goneID := filepath.Base(gone)
	a := db.Artifact(goneID)
	switch {
	case a == nil:
		t.Fatalf("the log deleted from the backup folder (%s) is not in the rebuilt ledger, though every destination has it", goneID)
	case a.PrunedAt == nil:
		t.Errorf("%s is recorded as in the backup folder; it was deleted from it", goneID)
	case a.SHA256 != lost.Primaries["sales"].Databases["Sales"].Artifact(goneID).SHA256:
		t.Errorf("%s recorded with SHA-256 %s, the lost ledger had %s", goneID, a.SHA256, lost.Primaries["sales"].Databases["Sales"].Artifact(goneID).SHA256)
	}
	if td := st.LookupTargetDatabase("west", "Sales"); td == nil || td.Copies[goneID] == nil || td.SeededFrom == "" {
		t.Errorf("west: %+v; want drsctl's, with its copy of %s", td, goneID)
	}
	truncID := filepath.Base(truncated)
	if c := st.LookupTargetDatabase("vault", "Sales").Copies[truncID]; c != nil {
		t.Errorf("the vault's truncated copy of %s is recorded: %+v", truncID, c)
	}
	for _, a := range db.Artifacts {
		if strings.Contains(a.Key, "manual") || a.OutOfBand {
			t.Errorf("the DBA's backup %s is in the rebuilt ledger as drsctl's", a.Key)
		}
	}

	p, code := w.nextPlan()
	if code != 0 {
		t.Errorf("plan after the rebuild: exit %d\n%s", code, w.out)
	}
	// The backup folder lost a log: a new target could not be seeded from
	// it, so a full backup is due, as it was with the lost ledger. No
	// standby is seeded again: west restores the log from its own copy.
	noSeed(t, p, "no full backup in the backup folder reaches the present")
	var adopted, reshipped, westRestores bool
	for _, a := range p.Actions {
		switch {
		case a.Kind == plan.Adopt && strings.Contains(a.Adopted.Key, "manual"):
			adopted = true
		case a.Kind == plan.Ship && a.Target == "vault" && a.Artifact == truncID:
			reshipped = true
		case a.Kind == plan.RestoreLog && a.Target == "west" && a.Artifact == goneID:
			westRestores = true
		}
	}
	if !adopted || !reshipped || !westRestores {
		t.Errorf("the plan after the rebuild: DBA's backup adopted %v, truncated copy shipped again %v, west restores %s from its copy %v; want all\n%s", adopted, reshipped, goneID, westRestores, w.out)
	}
	w.insert(1)
	w.converge(4)
	w.checkInvariants()
	if n := fullRestores(w.east) + fullRestores(w.west); n != seeds {
		t.Errorf("%d full restores, want still %d", n, seeds)
	}
}

// TestWorst_StateRebuild_PromotedAndForeign: east was failed over by hand
// (ONLINE, written to), and west's database was replaced by a DBA's restore
// of their own full. After the ledger is lost, `state rebuild` records east
// as promoted (drsctl seeded it) and leaves west out (drsctl did not seed
// what stands there): no plan restores over either, and no full is taken.
func TestWorst_StateRebuild_PromotedAndForeign(t *testing.T) {
	w := newWW(t, wwOpts{})
	ctx := context.Background()
	w.insert(2)
	w.mustApply("seed")
	w.cron(2, 16*time.Minute)

	w.east.RecoverByHand("Sales")
	if err := w.east.Insert("Sales", 5000); err != nil {
		t.Fatal(err)
	}
	elsewhere := t.TempDir()
	nightly := filepath.Join(elsewhere, "nightly.bak")
	if _, err := w.prim.BackupOutOfBandFull(ctx, "Sales", nightly); err != nil {
		t.Fatal(err)
	}
	w.west.Drop("Sales")
	if err := w.west.RestoreByHand(ctx, engine.RestoreRequest{Database: "Sales", Kind: artifact.Full, ServerPath: nightly, Mode: engine.NoRecovery}); err != nil {
		t.Fatal(err)
	}

	w.loseState()
	w.tick(time.Minute)
	if code := w.rebuild(); code != 0 {
		t.Fatalf("state rebuild exit %d:\n%s", code, w.out)
	}
	for _, want := range []string{"recorded as promoted", `target "west" database "Sales": left alone (RESTORING)`} {
		if !strings.Contains(w.out, want) {
			t.Errorf("the rebuild's report lacks %q", want)
		}
	}
	st := w.state()
	if td := st.LookupTargetDatabase("east", "Sales"); td == nil || td.PromotedAt == nil || td.PromotedHow != state.PromoteRecorded || td.SeededFrom == "" {
		t.Errorf("east in the rebuilt ledger: %+v; want seeded by drsctl and promoted (recorded)", td)
	}
	if td := st.LookupTargetDatabase("west", "Sales"); td != nil {
		t.Errorf("west in the rebuilt ledger: %+v; want nothing (drsctl did not seed what stands there)", td)
	}

	p, code := w.nextPlan()
	if code != 1 || !strings.Contains(w.out, "drsctl did not seed it") {
		t.Errorf("plan after the rebuild: exit %d, want 1 with west's database named as not drsctl's\n%s", code, w.out)
	}
	noSeed(t, p, "")
	for _, a := range p.Actions {
		// (West's copies are proven and recorded, as for any database the
		// ledger does not hold: nothing is restored from them.)
		if (a.Target == "east" || a.Target == "west") && a.Kind != plan.Prune && a.Kind != plan.Verify {
			t.Errorf("the plan after the rebuild touches %s: %s (%s)", a.Target, a.ID, a.Reason)
		}
	}
	for i := 0; i < 3; i++ {
		w.cron(1, 16*time.Minute)
	}
	if v := append(replaceViolations(w.east), replaceViolations(w.west)...); len(v) > 0 {
		t.Errorf("restored over a database drsctl does not own: %v", v)
	}
	if rows := w.east.Rows("Sales"); !slices.Contains(rows, 5000) {
		t.Errorf("east was written over: %v", rows)
	}
	if n := fullRestores(w.east) + fullRestores(w.west); n != 2 {
		t.Errorf("%d full restores by drsctl, want the 2 first seeds only", n)
	}
}

// TestWorst_StateRebuild_NeverOverwritesALedger: state rebuild refuses
// where a ledger exists, even one that cannot be read, and leaves it
// byte for byte as it was.
func TestWorst_StateRebuild_NeverOverwritesALedger(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(1)
	w.mustApply("seed")
	path := filepath.Join(w.dir, "drs.state.json")
	for _, damaged := range []bool{false, true} {
		if damaged {
			if err := os.WriteFile(path, []byte(`{"version": 3, "lineage": "x", "serial": 4, "prim`), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		before := readFile(t, path)
		if code := w.rebuild(); code != 1 || !strings.Contains(w.out, "never overwrites a ledger") || !strings.Contains(w.out, "move it aside") {
			t.Errorf("state rebuild over a ledger (damaged %v): exit %d\n%s", damaged, code, w.out)
		}
		if after := readFile(t, path); after != before {
			t.Errorf("state rebuild changed the ledger it refused (damaged %v)", damaged)
		}
	}
}

// TestWorst_StateRebuild_StandbysOnADBAsLog: the last backup the standbys
// restored is a DBA's log written into the backup folder (adopted by the
// lost ledger), not one of drsctl's. The rebuilt ledger does not make it
// drsctl's; the next plan adopts it again and records the standbys there:
// nothing is seeded again.
func TestWorst_StateRebuild_StandbysOnADBAsLog(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	w.cron(1, 16*time.Minute)
	seeds := fullRestores(w.east) + fullRestores(w.west)
	share := filepath.Join(w.dir, "share")
	if err := os.MkdirAll(filepath.Join(share, "manual"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.insert(1)
	if _, err := w.prim.BackupOutOfBand(context.Background(), "Sales", filepath.Join(share, "manual", "Sales_manual_1.trn")); err != nil {
		t.Fatal(err)
	}
	w.tick(5 * time.Minute) // no log due: the standbys restore the DBA's and stand on it
	w.mustApply("the DBA's log")
	info, _ := w.east.Database("Sales")
	if manual := w.state().LookupTargetDatabase("east", "Sales").Restored.Artifact; manual != "Sales_manual_1.trn" {
		t.Fatalf("east stands after %s (LSN %s), want the DBA's log", manual, info.RedoLSN)
	}

	w.loseState()
	w.tick(time.Minute)
	if code := w.rebuild(); code != 0 {
		t.Fatalf("state rebuild exit %d:\n%s", code, w.out)
	}
	if !strings.Contains(w.out, "which no backup of drsctl's found ends at: the next plan places it") {
		t.Errorf("the rebuild's report does not say east's position is left to the next plan:\n%s", w.out)
	}
	p, code := w.nextPlan()
	if code != 0 {
		t.Errorf("plan after the rebuild: exit %d\n%s", code, w.out)
	}
	noSeed(t, p, "")
	recorded := map[string]bool{}
	for _, a := range p.Actions {
		if a.Kind == plan.Record && a.Artifact == "Sales_manual_1.trn" {
			recorded[a.Target] = true
		}
	}
	if !recorded["east"] || !recorded["west"] {
		t.Errorf("the plan after the rebuild records the standbys on the DBA's log: %v; want east and west\n%s", recorded, w.out)
	}
	w.insert(1)
	w.converge(4)
	w.checkInvariants()
	if n := fullRestores(w.east) + fullRestores(w.west); n != seeds {
		t.Errorf("%d full restores, want still %d", n, seeds)
	}
}
