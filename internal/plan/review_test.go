package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/state"
)

// chainStateAtL3: the three targets stand at L3 (the copy-only target
// holds copies up to it).
func chainStateAtL3() *state.State {
	st := chainState(F, L1, L2, L3)
	for _, t := range []string{"dr_east", "dr_west"} {
		at(st, t, true, F, L1, L2, L3)
	}
	at(st, "vault", false, F, L1, L2, L3)
	return st
}

func TestReview_UnchangedConfigurationIsRoutine(t *testing.T) {
	s := chainStateAtL3()
	cfg := testConfig()
	later := now.Add(10 * time.Minute) // a log backup falls due
	p := Make(cfg, s, nil, later, Options{})
	base := Make(testConfig(), s, nil, later, Options{})
	ClassifyAgainst(p, s, cfg, base, testConfig())
	if len(p.Actions) == 0 {
		t.Fatal("no routine work planned: the test needs a log backup due")
	}
	if p.HasConfigChanges() {
		t.Fatalf("an unchanged configuration causes changes: %+v", p.Review)
	}
	if p.Review.Routine != len(p.Actions) {
		t.Errorf("routine %d of %d actions", p.Review.Routine, len(p.Actions))
	}
	Classify(p, s)
	if p.HasConfigChanges() {
		t.Fatalf("from the ledger alone, routine work of protected databases is the configuration's: %+v", p.Review)
	}
}

func TestReview_ShorterRetentionDeletesBackupsAndSaysSo(t *testing.T) {
	s := chainStateAtL3()
	F0 := art("F0.bak", artifact.Full, "10", "20", ago(72*time.Hour))
	L0 := art("L0.trn", artifact.Log, "20", "30", ago(71*time.Hour))
	s.Database("sales", "Sales").Artifacts = append([]*state.Artifact{F0, L0}, s.Database("sales", "Sales").Artifacts...)
	baseCfg, cfg := testConfig(), testConfig()
	cfg.Primaries[0].Folder.Retention = 24 * time.Hour
	base := Make(baseCfg, s, nil, now, Options{})
	p := Make(cfg, s, nil, now, Options{})
	ClassifyAgainst(p, s, cfg, base, baseCfg)
	var pruned []string
	for _, a := range p.Actions {
		if a.Kind == Prune {
			if a.Cause != CauseConfiguration {
				t.Errorf("%s: the shorter retention's prune is not marked as the change's", a.ID)
			}
			pruned = append(pruned, a.Artifact)
		}
	}
	if strings.Join(pruned, ",") != "F0.bak,L0.trn" {
		t.Fatalf("pruned %v, want F0 and L0 (older than the new retention, younger than the old)", pruned)
	}
	if !p.HasConfigChanges() || len(p.Review.Settings) != 1 || !strings.Contains(p.Review.Settings[0], "retention 7d → 24h: shorter") {
		t.Errorf("settings %q", p.Review.Settings)
	}
	if len(p.Review.Causes) != 1 || !strings.Contains(p.Review.Causes[0], "delete 2 backup(s)") {
		t.Errorf("causes %q", p.Review.Causes)
	}
}

func TestReview_NewTargetFromTheLedgerAlone(t *testing.T) {
	s := chainStateAtL3()
	delete(s.Targets, "dr_west") // added to the configuration since
	p := Make(testConfig(), s, nil, now, Options{})
	Classify(p, s)
	for _, a := range p.Actions {
		if want := a.Target == "dr_west"; (a.Cause == CauseConfiguration) != want {
			t.Errorf("%s: cause %q", a.ID, a.Cause)
		}
	}
	if !p.HasConfigChanges() {
		t.Fatal("a new target's seed is not a configuration change")
	}
}

func TestReview_StillApproved(t *testing.T) {
	seed := &Action{ID: "r1", Kind: RestoreFull, Primary: "p", Database: "d", Target: "west", Artifact: "F1.bak", Seed: true, Cause: CauseConfiguration}
	saved := &Plan{Actions: []*Action{seed, {ID: "b", Kind: BackupLog, Primary: "p", Database: "d"}}}
	// Routine runs took a new full: the seed now starts from it.
	now := &Plan{Actions: []*Action{{ID: "r2", Kind: RestoreFull, Primary: "p", Database: "d", Target: "west", Artifact: "F2.bak", Seed: true}}}
	if d := StillApproved(saved, now); len(d) != 0 {
		t.Errorf("the same seed from a newer full: %q", d)
	}
	// The seed happened meanwhile.
	if d := StillApproved(saved, &Plan{}); len(d) != 1 || !strings.Contains(d[0], "reviewed, and no longer planned") {
		t.Errorf("the seed done meanwhile: %q", d)
	}
	// A REPLACE that nobody reviewed.
	replace := &Plan{Actions: []*Action{now.Actions[0], {ID: "r3", Kind: RestoreFull, Primary: "p", Database: "d", Target: "east", Seed: true, Replace: true}}}
	if d := StillApproved(saved, replace); len(d) != 1 || !strings.Contains(d[0], "now also planned, and not in the reviewed plan") || !strings.Contains(d[0], "p/d → east: restore full") {
		t.Errorf("an unreviewed REPLACE: %q", d)
	}
}

// TestReview_CausesSayEveryKind: a destination moved to one that already
// holds copies plans only verifies there (and a standby found ahead of the
// ledger a record): the review's line for the target says so, never an
// empty list of what it does.
func TestReview_CausesSayEveryKind(t *testing.T) {
	s := chainStateAtL3()
	p := &Plan{Actions: []*Action{
		{ID: "v1", Kind: Verify, Primary: "sales", Database: "Sales", Target: "dr_east", Artifact: "F.bak", Cause: CauseConfiguration},
		{ID: "v2", Kind: Verify, Primary: "sales", Database: "Sales", Target: "dr_east", Artifact: "L1.trn", Cause: CauseConfiguration},
		{ID: "r1", Kind: Record, Primary: "sales", Database: "Sales", Target: "dr_west", Cause: CauseConfiguration},
	}}
	p.Review = &Review{}
	p.Review.sumUp(p, s)
	got := strings.Join(p.Review.Causes, "\n")
	for _, want := range []string{`target "dr_east": verify and record 2 copies already there (sales/Sales)`, `target "dr_west": record where 1 database(s) stand (sales/Sales)`} {
		if !strings.Contains(got, want) {
			t.Errorf("causes do not say %q:\n%s", want, got)
		}
	}
}

// TestReview_CausesOfANewTarget: a new target's verifies prove its ships;
// the review does not call them copies already there.
func TestReview_CausesOfANewTarget(t *testing.T) {
	s := chainStateAtL3()
	delete(s.Targets, "dr_west")
	p := Make(testConfig(), s, nil, now, Options{})
	Classify(p, s)
	got := strings.Join(p.Review.Causes, "\n")
	if !strings.Contains(got, `target "dr_west": seed 1 database(s), ship`) || strings.Contains(got, "already there") {
		t.Errorf("causes of a new target:\n%s", got)
	}
}
