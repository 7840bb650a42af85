package plan

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/state"
)

// The situations operators meet every week, one test each (issue 7). Each
// failed on the planner that built "the chain" from the newest full.

func kinds(p *Plan, k ActionKind) []string {
	var out []string
	for _, a := range p.Actions {
		if a.Kind == k {
			out = append(out, a.ID)
		}
	}
	return out
}

func problemWith(p *Plan, sev Severity, text string) *Problem {
	for i, pr := range p.Problems {
		if pr.Severity == sev && strings.Contains(pr.Summary+"\n"+pr.Detail, text) {
			return &p.Problems[i]
		}
	}
	return nil
}

func rpoOf(p *Plan, target string) RPOStatus {
	for _, r := range p.RPO {
		if r.Target == target {
			return r
		}
	}
	return RPOStatus{}
}

// 1. A full backup does not break the log chain: a standby continues with
// the log after its position, whichever full came last.
func TestChain_FullBackupDoesNotReseed(t *testing.T) {
	F2 := art("F2.bak", artifact.Full, "390", "410", ago(90*time.Minute))
	L3b := art("L3.trn", artifact.Log, "400", "500", ago(10*time.Minute)) // continues L2, straddles F2
	st := chainState(F, L1, L2, F2, L3b)
	at(st, "dr_east", true, F, L1, L2)
	at(st, "dr_west", true, F, L1, L2)
	for _, opts := range []Options{{}, {Targets: []string{"dr_west"}}} {
		p := Make(only(testConfig(), "dr_east", "dr_west"), st, observed(st, nil), now, opts)
		if got := kinds(p, RestoreFull); len(got) > 0 {
			t.Fatalf("%v: a full backup made a standby reseed: %v", opts.Targets, got)
		}
		if p.Action("backup_full:sales/Sales") != nil {
			t.Errorf("%v: no full is due", opts.Targets)
		}
		r := p.Action("restore_log:sales/Sales@dr_west#L3.trn")
		if r == nil || r.Reason != "continues after L2.trn" {
			t.Fatalf("%v: dr_west must continue with L3.trn: %v", opts.Targets, ids(p))
		}
	}
}

// 2. Idle log backups (FirstLSN == LastLSN) are never restored and do not
// stop the chain; the standby is current through them.
func TestChain_EmptyLogBackupsAreSkipped(t *testing.T) {
	E1 := art("E1.trn", artifact.Log, "300", "300", ago(100*time.Minute))
	E2 := art("E2.trn", artifact.Log, "300", "300", ago(80*time.Minute))
	L2b := art("L2.trn", artifact.Log, "300", "400", ago(60*time.Minute))
	E3 := art("E3.trn", artifact.Log, "400", "400", ago(5*time.Minute))
	st := chainState(F, L1, E1, E2, L2b, E3)
	at(st, "dr_east", true, F, L1)
	p := Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
	want := sorted("ship:sales/Sales@dr_east#L2.trn", "verify:sales/Sales@dr_east#L2.trn", "restore_log:sales/Sales@dr_east#L2.trn")
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	// Once L2 is restored, the empty E3 after it makes the standby current
	// through E3's finish: 5 minutes, not an hour.
	at(st, "dr_east", true, L2b)
	st.TargetDatabase("dr_east", "Sales").SeededFrom = "F.bak"
	p = Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
	if len(p.Actions) != 0 {
		t.Errorf("nothing is due: %v", ids(p))
	}
	if r := rpoOf(p, "dr_east"); r.Lag != 5*time.Minute || r.Breach {
		t.Errorf("RPO %+v, want 5m through E3", r)
	}
	// A log due now continues from LSN 400, where E3 left the chain.
	p = Make(only(testConfig(), "dr_east"), st, observed(st, nil), now.Add(15*time.Minute), Options{})
	r := p.Action("restore_log:sales/Sales@dr_east#+backup_log:sales/Sales")
	if r == nil || r.Continues != "400" {
		t.Fatalf("the new log must be restored, continuing from 400: %+v %v", r, ids(p))
	}
}

// 3. A copy-only target holds a gap-free chain: a ship that failed is
// retried, and its RPO ends where the chain has a hole.
func TestChain_CopyOnlyHoleIsFilledAndMeasured(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "vault", false, F, L1, L3) // L2's ship failed once
	p := Make(only(testConfig(), "vault"), st, observed(st, nil), now, Options{})
	if diff := cmp.Diff(sorted("ship:sales/Sales@vault#L2.trn", "verify:sales/Sales@vault#L2.trn"), ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if r := rpoOf(p, "vault"); r.Artifact != "L1.trn" || !r.Breach {
		t.Errorf("RPO %+v: the vault can only restore through L1 (2h ago)", r)
	}
	// The ledger alone (status) says the same.
	if r := rpoOf(Make(only(testConfig(), "vault"), st, nil, now, Options{}), "vault"); r.Artifact != "L1.trn" || !r.Breach {
		t.Errorf("status RPO %+v", r)
	}
}

func TestChain_CopyOnlyRetentionKeepsTheOnlyFullItHolds(t *testing.T) {
	old := 8 * 24 * time.Hour
	F1 := art("F1.bak", artifact.Full, "100", "200", ago(old))
	La := art("La.trn", artifact.Log, "150", "300", ago(old-time.Hour))
	F2 := art("F2.bak", artifact.Full, "290", "310", ago(2*time.Hour))
	Lb := art("Lb.trn", artifact.Log, "300", "400", ago(time.Hour))
	st := chainState(F1, La, F2, Lb)
	at(st, "vault", false, F1, La, Lb) // F2's ship has not succeeded yet
	cfg := only(testConfig(), "vault")
	cfg.Targets[0].Destination.Retention = 7 * 24 * time.Hour
	p := Make(cfg, st, observed(st, nil), now, Options{})
	for _, id := range kinds(p, Prune) {
		if strings.Contains(id, "@vault#F1.bak") || strings.Contains(id, "@vault#La.trn") {
			t.Errorf("%s: the vault's only complete chain is pruned before its next full is there", id)
		}
	}
	if p.Action("ship:sales/Sales@vault#F2.bak") == nil {
		t.Errorf("F2 must be shipped: %v", ids(p))
	}
}

// 4. A failing full backup must not cost the log backup: ordered, not
// chained.
func TestChain_LogBackupDoesNotDependOnTheFull(t *testing.T) {
	oldF := art("F.bak", artifact.Full, "100", "200", ago(25*time.Hour))
	st := chainState(oldF, L1, L2, L3)
	at(st, "dr_east", true, oldF, L1, L2, L3)
	p := Make(only(testConfig(), "dr_east"), st, observed(st, nil), now.Add(10*time.Minute), Options{})
	full, log := p.Action("backup_full:sales/Sales"), p.Action("backup_log:sales/Sales")
	if full == nil || log == nil {
		t.Fatalf("both backups are due: %v", ids(p))
	}
	if len(log.DependsOn) != 0 || len(full.DependsOn) != 0 {
		t.Errorf("backups share no fate: full %v, log %v", full.DependsOn, log.DependsOn)
	}
	if !containsString(full.After, log.ID) {
		t.Errorf("the full runs after the log (one backup at a time): %v", full.After)
	}
}

// 5. A seed whose reply was lost is recorded, not reported as a foreign
// database forever; an interrupted seed is restored again over itself.
func TestChain_SeedWhoseReplyWasLostIsRecorded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		seeding bool
	}{{"verified copy only", false}, {"seed intent", true}} {
		t.Run(tc.name, func(t *testing.T) {
			st := chainState(F, L1)
			td := st.TargetDatabase("dr_east", "Sales")
			v := ago(time.Hour)
			td.Copies[F.ID] = &state.Copy{Key: F.Key, Size: F.Size, SHA256: F.SHA256, VerifiedAt: &v}
			if tc.seeding {
				td.Seeding = F.ID
			}
			obs := observed(st, func(o *Observed) {
				o.Targets["dr_east"].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Standby, RawState: "RESTORING", RedoLSN: F.LastLSN}
			})
			p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
			rec := p.Action("record:sales/Sales@dr_east#F.bak")
			if rec == nil || !rec.Seed {
				t.Fatalf("the seed must be recorded: %v %+v", ids(p), p.Problems)
			}
			if r := p.Action("restore_log:sales/Sales@dr_east#L1.trn"); r == nil || !hasDep(r, rec.ID) {
				t.Errorf("L1 continues after the recorded seed: %v", ids(p))
			}
			if p.HasErrors() || len(kinds(p, RestoreFull)) > 0 {
				t.Errorf("no error and no reseed: %v %+v", ids(p), p.Problems)
			}
		})
	}
	t.Run("interrupted", func(t *testing.T) {
		st := chainState(F, L1)
		td := st.TargetDatabase("dr_east", "Sales")
		v := ago(time.Hour)
		td.Copies[F.ID] = &state.Copy{Key: F.Key, Size: F.Size, SHA256: F.SHA256, VerifiedAt: &v}
		td.Seeding = F.ID
		obs := observed(st, func(o *Observed) {
			o.Targets["dr_east"].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Restoring, RawState: "RESTORING"}
		})
		p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
		r := p.Action("restore_full:sales/Sales@dr_east#F.bak")
		if r == nil || !r.Replace || !strings.Contains(r.Reason, "did not complete") {
			t.Fatalf("an interrupted seed of drsctl's own is restored again WITH REPLACE: %+v %v", r, ids(p))
		}
	})
	t.Run("foreign database at a full's LSN is still refused", func(t *testing.T) {
		st := chainState(F, L1) // no copy shipped, no intent
		obs := observed(st, func(o *Observed) {
			o.Targets["dr_east"].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Restoring, RawState: "RESTORING", RedoLSN: F.LastLSN}
		})
		p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
		if len(kinds(p, RestoreFull))+len(kinds(p, RestoreLog))+len(kinds(p, Record)) > 0 || problemWith(p, Error, "drsctl did not seed it") == nil {
			t.Fatalf("a database drsctl never shipped a seed for is not adopted: %v %+v", ids(p), p.Problems)
		}
	})
}

// 6. A link missing from the chain (pruned, deleted by a cleanup job) ends
// it: reseed from the newest full whose chain reaches the present, and
// never plan a restore without a verified copy.
func TestChain_MissingLinkReseedsFromAFullThatReaches(t *testing.T) {
	F2 := art("F2.bak", artifact.Full, "390", "410", ago(90*time.Minute))
	L3b := art("L3.trn", artifact.Log, "400", "500", ago(10*time.Minute))
	for _, tc := range []struct {
		name string
		gone func(st *state.State, o *Observed)
		why  string
	}{
		{"pruned", func(st *state.State, o *Observed) {
			p := ago(time.Minute)
			st.LookupDatabase("sales", "Sales").Artifact("L2.trn").PrunedAt = &p
			delete(o.Folders["share"].Objects, L2.Key)
		}, "L2.trn was pruned from the backup folder"},
		{"deleted outside drsctl", func(st *state.State, o *Observed) {
			delete(o.Folders["share"].Objects, L2.Key)
		}, "L2.trn is missing from the backup folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := chainState(F, L1, cloneArt(L2), F2, L3b)
			at(st, "dr_east", true, F, L1)
			obs := observed(st, nil)
			tc.gone(st, obs)
			p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
			if p.Action("restore_log:sales/Sales@dr_east#L2.trn") != nil {
				t.Fatalf("a restore planned with no copy behind it: %v", ids(p))
			}
			r := p.Action("restore_full:sales/Sales@dr_east#F2.bak")
			if r == nil || !r.Replace || !strings.HasPrefix(r.Reason, "seed again from F2.bak: "+tc.why) {
				t.Fatalf("reseed from F2: %+v\n%v", r, ids(p))
			}
			if p.Action("backup_full:sales/Sales") != nil {
				t.Error("F2's chain reaches the present: no new full is needed")
			}
			if p.Action("restore_log:sales/Sales@dr_east#L3.trn") == nil {
				t.Errorf("L3 follows F2: %v", ids(p))
			}
		})
	}
	t.Run("no full reaches: a new one is taken", func(t *testing.T) {
		st := chainState(F, L1, cloneArt(L2), L3)
		at(st, "dr_east", true, F, L1)
		obs := observed(st, func(o *Observed) { delete(o.Folders["share"].Objects, L2.Key) })
		p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
		full := p.Action("backup_full:sales/Sales")
		if full == nil || !strings.Contains(full.Reason, "L2.trn is missing from the backup folder") {
			t.Fatalf("full: %+v %v", full, ids(p))
		}
		if r := p.Action("restore_full:sales/Sales@dr_east#+backup_full:sales/Sales"); r == nil || !r.Replace {
			t.Errorf("reseed from the new full: %v", ids(p))
		}
	})
}

func cloneArt(a *state.Artifact) *state.Artifact { c := *a; return &c }

// 7. restore_delay at least as long as the full interval still seeds: from
// the newest full old enough.
func TestChain_RestoreDelayLongerThanFullInterval(t *testing.T) {
	Fa := art("Fa.bak", artifact.Full, "100", "110", ago(49*time.Hour))
	La := art("La.trn", artifact.Log, "100", "200", ago(37*time.Hour))
	Fb := art("Fb.bak", artifact.Full, "190", "210", ago(25*time.Hour))
	Lb := art("Lb.trn", artifact.Log, "200", "300", ago(13*time.Hour))
	Fc := art("Fc.bak", artifact.Full, "290", "310", ago(time.Hour))
	Lc := art("Lc.trn", artifact.Log, "300", "400", ago(10*time.Minute))
	st := chainState(Fa, La, Fb, Lb, Fc, Lc)
	cfg := only(testConfig(), "dr_east")
	cfg.Targets[0].RestoreDelay = 26 * time.Hour
	p := Make(cfg, st, observed(st, nil), now, Options{})
	if got := kinds(p, RestoreFull); len(got) != 1 || got[0] != "restore_full:sales/Sales@dr_east#Fa.bak" {
		t.Fatalf("seed from Fa, the newest full older than 26h: %v", ids(p))
	}
	if p.Action("restore_log:sales/Sales@dr_east#La.trn") == nil || p.Action("restore_log:sales/Sales@dr_east#Lb.trn") != nil {
		t.Errorf("La (37h) is restored, Lb (13h) waits: %v", ids(p))
	}
	if p.Action("ship:sales/Sales@dr_east#Lc.trn") == nil {
		t.Errorf("everything it will restore is shipped now: %v", ids(p))
	}
}

// 8. LSNs that go backwards (a primary moved or restored from an older
// backup) are a break: nothing after them is restored onto the old chain.
func TestChain_LSNsGoingBackwardsAreABreak(t *testing.T) {
	moved := art("M1.trn", artifact.Log, "300", "350", ago(5*time.Minute)) // the new server's first log
	st := chainState(F, L1, L2, moved)
	at(st, "dr_east", true, F, L1, L2)
	p := Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
	if got := kinds(p, RestoreLog); len(got) > 0 {
		t.Fatalf("logs of another history restored onto the standby: %v", got)
	}
	full := p.Action("backup_full:sales/Sales")
	if full == nil || !strings.Contains(full.Reason, "LSNs went backwards") {
		t.Fatalf("a new full is due because LSNs went backwards: %+v", full)
	}
	if p.Action("backup_log:sales/Sales") != nil {
		t.Error("no log backup before the new chain has a full")
	}
	if r := p.Action("restore_full:sales/Sales@dr_east#+backup_full:sales/Sales"); r == nil || !r.Replace {
		t.Errorf("the standby is seeded again from the new full: %v", ids(p))
	}
	if r := rpoOf(p, "dr_east"); !r.Breach || !strings.Contains(r.Unknown, "older fork") {
		t.Errorf("RPO %+v: a standby on the old history protects nothing of the new one", r)
	}
}

// 9. A failed observation is an error in the plan, never "not there".
func TestChain_FailedFolderListingIsNotAnAnswer(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2)
	obs := observed(st, func(o *Observed) {
		o.Folders["share"] = &StorageObservation{Err: "list smb://fs01/drs: connection refused"}
		db := o.Primaries["sales"].Databases["Sales"]
		db.Backups = append(db.Backups, engine.BackupRecord{Path: `\\fs01\drs\sales\Sales\log\x.trn`,
			Header: artifact.Header{Kind: artifact.Log, FirstLSN: "500", LastLSN: "600", Finish: ago(time.Minute)}})
	})
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	if len(kinds(p, BackupFull))+len(kinds(p, RestoreFull))+len(kinds(p, Ship)) > 0 {
		t.Fatalf("nothing that depends on the folder may be decided: %v", ids(p))
	}
	if problemWith(p, Error, `cannot list backup folder "share"`) == nil || !p.HasErrors() {
		t.Errorf("problems %+v", p.Problems)
	}
	// L3's copy is already verified there: the restore that needs no folder goes on.
	at(st, "dr_east", true, L3)
	st.TargetDatabase("dr_east", "Sales").Restored = &state.Restore{Artifact: "L2.trn", Kind: artifact.Log, LastLSN: "400"}
	obs.Destinations["dr_east"].Objects[L3.Key] = Object{Size: L3.Size}
	p = Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	if len(kinds(p, RestoreFull)) > 0 {
		t.Errorf("no reseed while the folder cannot be listed: %v", ids(p))
	}
}

func TestChain_FailedDestinationListingIsAnError(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "vault", false, F, L1, L2, L3)
	obs := observed(st, func(o *Observed) {
		o.Destinations["vault"] = &StorageObservation{Err: "list s3://vault: AccessDenied"}
	})
	p := Make(only(testConfig(), "vault"), st, obs, now.Add(20*time.Minute), Options{})
	if problemWith(p, Error, `cannot list target "vault"'s destination`) == nil {
		t.Fatalf("problems %+v", p.Problems)
	}
	if r := rpoOf(p, "vault"); !r.Breach || r.Unknown == "" {
		t.Errorf("RPO %+v: unknown, never ok", r)
	}
	for _, a := range p.Actions {
		if a.Target == "vault" {
			t.Errorf("nothing is planned at a destination that cannot be listed: %s", a.ID)
		}
	}
}

// 10. A backup that finished in the future never makes a lag healthy.
func TestChain_ClockAheadIsNotHealthy(t *testing.T) {
	future := art("L4.trn", artifact.Log, "500", "600", now.Add(2*time.Hour))
	st := chainState(F, L1, L2, L3, future)
	at(st, "dr_east", true, F, L1, L2, L3, future)
	p := Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
	// Its finish time cannot be true: the standby is counted current only
	// through L3 before it, 10 minutes ago.
	if r := rpoOf(p, "dr_east"); r.Lag != 10*time.Minute || !r.Through.Equal(L3.Finish) {
		t.Errorf("RPO %+v", r)
	}
	if problemWith(p, Warning, "clock is about 2h ahead") == nil {
		t.Errorf("problems %+v", p.Problems)
	}
	// With drsctl's own completion time, the lag is measured by drsctl's
	// clock, from the start of the backup (it took 1s).
	c := cloneArt(future)
	c.Completed = ago(3 * time.Minute)
	st = chainState(F, L1, L2, L3, c)
	at(st, "dr_east", true, F, L1, L2, L3, c)
	p = Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
	if r := rpoOf(p, "dr_east"); r.Lag != 3*time.Minute+time.Second || r.Breach {
		t.Errorf("RPO %+v, want 3m1s by drsctl's clock", r)
	}
}

// 11. Pruning: a broken destination does not stop it; orphans go by
// retention; a standby recovered by hand holds nothing back.
func TestChain_PruneIsIndependentAndCoversOrphans(t *testing.T) {
	old := 8 * 24 * time.Hour
	F0 := art("F0.bak", artifact.Full, "10", "20", ago(old+time.Hour))
	L0 := art("L0.trn", artifact.Log, "15", "100", ago(old))
	L0b := art("L0b.trn", artifact.Log, "100", "150", ago(old-time.Minute))
	Fx := art("F.bak", artifact.Full, "140", "200", ago(3*time.Hour))
	L1x := art("L1.trn", artifact.Log, "150", "300", ago(2*time.Hour))
	st := chainState(F0, L0, L0b, Fx, L1x)
	at(st, "dr_east", true, F0, L0) // recovered by hand: it would need L0b
	at(st, "vault", false, Fx, L1x)
	st.Database("sales", "Gone").Add(art("G.bak", artifact.Full, "1", "2", ago(old)))
	obs := observed(st, func(o *Observed) {
		o.Targets["dr_east"].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Online, RawState: "ONLINE"}
		o.Destinations["vault"] = &StorageObservation{Err: "unreachable"}
		o.Folders["share"].Objects["sales/Gone/full/G.bak"] = Object{Size: 100}
	})
	p := Make(only(testConfig(), "dr_east", "vault"), st, obs, now, Options{})
	want := sorted("prune:sales/Sales#F0.bak", "prune:sales/Sales#L0.trn", "prune:sales/Sales#L0b.trn", "prune:Gone#G.bak")
	got := kinds(p, Prune)
	for i := range got {
		got[i] = strings.Replace(got[i], "prune:sales/Gone", "prune:Gone", 1)
	}
	if diff := cmp.Diff(want, sorted(got...)); diff != "" {
		t.Fatalf("prunes (-want +got):\n%s", diff)
	}
}

func TestChain_LostFullReplyIsAdoptedThenPruned(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	lost := artifact.Header{Kind: artifact.Full, Database: "Sales", FirstLSN: "490", LastLSN: "510", Start: ago(6 * time.Minute), Finish: ago(5 * time.Minute)}
	obs := observed(st, func(o *Observed) {
		db := o.Primaries["sales"].Databases["Sales"]
		db.Backups = append(db.Backups, engine.BackupRecord{Header: lost, Path: `\\fs01\drs\sales\Sales\full\Sales_full_x.bak`})
		o.Folders["share"].Objects["sales/Sales/full/Sales_full_x.bak"] = Object{Size: 10}
	})
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	a := p.Action("adopt:sales/Sales#Sales_full_x.bak")
	if a == nil || a.Adopted.Key != "sales/Sales/full/Sales_full_x.bak" {
		t.Fatalf("a full in the folder that the ledger lacks is adopted: %v", ids(p))
	}
	if len(kinds(p, RestoreFull)) > 0 {
		t.Errorf("adopting a full reseeds nothing: %v", ids(p))
	}
}

// 12. A creation time that moved by an hour (daylight saving read with
// today's offset) is the same database; a real recreation is not.
func TestChain_DaylightSavingIsNotARecreation(t *testing.T) {
	created := time.Date(2026, 3, 1, 9, 30, 0, 123e6, time.UTC)
	for _, tc := range []struct {
		name      string
		led, seen string // identities
		shift     time.Duration
		restart   bool
	}{
		{"an hour later", "", "", time.Hour, false},
		{"an hour earlier", "", "", -time.Hour, false},
		{"half-hour zone", "", "", 30 * time.Minute, false},
		{"recreated", "", "", time.Hour + 17*time.Second, true},
		{"identity decides over time", "fork-a", "fork-a", 3*time.Hour + 7*time.Second, false},
		{"identity changed", "fork-a", "fork-b", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := chainState(F, L1, L2, L3)
			at(st, "dr_east", true, F, L1, L2, L3)
			db := st.LookupDatabase("sales", "Sales")
			db.CreatedAt, db.RecoveryModel, db.Identity = created, "FULL", tc.led
			obs := observed(st, func(o *Observed) {
				pd := o.Primaries["sales"].Databases["Sales"]
				pd.CreatedAt, pd.Identity = created.Add(tc.shift), tc.seen
			})
			p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
			full := p.Action("backup_full:sales/Sales")
			if tc.restart != (full != nil && full.NewFork) {
				t.Fatalf("restart = %v, want %v: %v", full, tc.restart, ids(p))
			}
			if !tc.restart && len(kinds(p, RestoreFull)) > 0 {
				t.Errorf("reseed: %v", ids(p))
			}
		})
	}
}

// A chain restart (here the server lost its log chain) stays in the ledger
// until a full begins the new fork: a full whose reply was lost is adopted
// as that start, and nothing seeds from the chain before it meanwhile.
func TestChain_RestartSurvivesALostFullReply(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	st.LookupDatabase("sales", "Sales").Restart = "the server has no log chain for the database"

	// The full's file is not there (yet): a new full restarts the chain, and
	// the standby waits for it rather than continuing the old one.
	p := Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
	full := p.Action("backup_full:sales/Sales")
	if full == nil || !full.NewFork || p.Action("backup_log:sales/Sales") != nil {
		t.Fatalf("a full that begins the new fork, and no log before it: %v", ids(p))
	}
	if r := p.Action("restore_full:sales/Sales@dr_east#+backup_full:sales/Sales"); r == nil || !r.Replace {
		t.Errorf("the standby is seeded from the new full: %v", ids(p))
	}

	// The lost full is in the folder and the server's history: adopted as
	// the fork's start; the standby is seeded from it; no other full.
	lost := artifact.Header{Kind: artifact.Full, Database: "Sales", FirstLSN: "900", LastLSN: "910", Start: ago(2 * time.Minute), Finish: ago(time.Minute)}
	obs := observed(st, func(o *Observed) {
		db := o.Primaries["sales"].Databases["Sales"]
		db.Backups = append(db.Backups, engine.BackupRecord{Header: lost, Path: `\\fs01\drs\sales\Sales\full\Sales_full_lost.bak`})
		o.Folders["share"].Objects["sales/Sales/full/Sales_full_lost.bak"] = Object{Size: 10}
	})
	p = Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	a := p.Action("adopt:sales/Sales#Sales_full_lost.bak")
	if a == nil || !a.NewFork {
		t.Fatalf("the lost full begins the new fork: %+v %v", a, ids(p))
	}
	if p.Action("backup_full:sales/Sales") != nil {
		t.Error("no second full")
	}
	if r := p.Action("restore_full:sales/Sales@dr_east#Sales_full_lost.bak"); r == nil || !hasDep(r, a.ID) {
		t.Errorf("the standby is seeded from the adopted full: %v", ids(p))
	}
}

// Someone restored another database under the standby's name: drsctl's
// ledger still says it seeded it, but what stands there came from
// elsewhere. Never REPLACE it.
func TestChain_ForeignRestoreUnderTheStandbysNameIsRefused(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2)
	for _, tc := range []struct {
		name, from string
		refused    bool
	}{
		{"restored from elsewhere", `\\qa\backups\Sales.bak`, true},
		{"restored from its destination", "/dr_east/sales/Sales/full/F.bak", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obs := observed(st, func(o *Observed) {
				o.Targets["dr_east"].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Restoring, RawState: "RESTORING", RedoLSN: "1003",
					LastRestore: &engine.RestoreRecord{Kind: artifact.Full, LastLSN: "1003", Path: tc.from}}
			})
			p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
			replaced := len(kinds(p, RestoreFull)) > 0
			if tc.refused && (replaced || problemWith(p, Error, "drsctl did not seed it") == nil) {
				t.Fatalf("refused: %v %+v", ids(p), p.Problems)
			}
			if !tc.refused && !replaced {
				t.Fatalf("drsctl's own standby at an unknown LSN is seeded again: %v %+v", ids(p), p.Problems)
			}
		})
	}
	t.Run("restored from elsewhere over a torn seed", func(t *testing.T) {
		st := chainState(F, L1, L2, L3)
		at(st, "dr_east", true, F, L1, L2)
		st.TargetDatabase("dr_east", "Sales").Seeding = F.ID
		obs := observed(st, func(o *Observed) {
			o.Targets["dr_east"].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Restoring, RawState: "RESTORING", RedoLSN: "1003",
				LastRestore: &engine.RestoreRecord{Kind: artifact.Full, LastLSN: "1003", Path: `\\qa\backups\Sales.bak`}}
		})
		p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
		if len(kinds(p, RestoreFull)) > 0 || problemWith(p, Error, "drsctl did not seed it") == nil {
			t.Fatalf("a seed drsctl started does not make whatever stands there later its own: %v %+v", ids(p), p.Problems)
		}
	})
	t.Run("no position", func(t *testing.T) {
		obs := observed(st, func(o *Observed) {
			o.Targets["dr_east"].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Restoring, RawState: "RESTORING"}
		})
		p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
		if len(kinds(p, RestoreFull))+len(kinds(p, RestoreLog)) > 0 || problemWith(p, Error, "reports no position") == nil {
			t.Fatalf("nothing is restored over a database drsctl cannot place: %v %+v", ids(p), p.Problems)
		}
	})
}

// An empty listing where the ledger has backups and drsctl's markers are
// gone (an unmounted share, a wrong url) is not every backup deleted:
// nothing is reseeded or pruned because of it, but due backups still run —
// if the folder was really emptied, they are what recovers it.
func TestChain_EmptyFolderListingIsNotEveryBackupDeleted(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	obs := observed(st, func(o *Observed) { o.Folders["share"] = &StorageObservation{Objects: map[string]Object{}} })
	p := Make(only(testConfig(), "dr_east"), st, obs, now.Add(20*time.Minute), Options{})
	if problemWith(p, Error, "lists none of the 4 backups") == nil {
		t.Fatalf("problems %+v", p.Problems)
	}
	if p.Action("backup_full:sales/Sales") != nil || len(kinds(p, RestoreFull)) > 0 || len(kinds(p, Prune)) > 0 {
		t.Errorf("nothing decided from the empty listing: %v", ids(p))
	}
	if p.Action("backup_log:sales/Sales") == nil || p.Action("restore_log:sales/Sales@dr_east#+backup_log:sales/Sales") == nil {
		t.Errorf("the due log backup is still taken and restored: %v", ids(p))
	}
	// With drsctl's markers there, it is a cleanup job: the files are missing.
	obs.Folders["share"].Marked = map[string]bool{"sales/Sales/log": true}
	p = Make(only(testConfig(), "dr_east"), st, obs, now.Add(20*time.Minute), Options{})
	if full := p.Action("backup_full:sales/Sales"); full == nil || !strings.Contains(full.Reason, "missing from the backup folder") {
		t.Errorf("deleted backups: a new full: %v", ids(p))
	}
}

// A backup whose file in the folder no longer matches its SHA-256 is never
// shipped again: the chain goes around it.
func TestChain_DamagedFileInTheFolderIsWorkedAround(t *testing.T) {
	F2 := art("F2.bak", artifact.Full, "390", "410", ago(90*time.Minute))
	L3b := art("L3.trn", artifact.Log, "400", "500", ago(10*time.Minute))
	bad := cloneArt(L2)
	d := ago(time.Minute)
	bad.DamagedAt = &d
	st := chainState(F, L1, bad, F2, L3b)
	at(st, "dr_east", true, F, L1)
	p := Make(only(testConfig(), "dr_east"), st, observed(st, nil), now, Options{})
	if p.Action("ship:sales/Sales@dr_east#L2.trn") != nil {
		t.Fatalf("a damaged file is shipped: %v", ids(p))
	}
	r := p.Action("restore_full:sales/Sales@dr_east#F2.bak")
	if r == nil || !strings.Contains(r.Reason, "L2.trn is damaged in the backup folder") {
		t.Fatalf("reseed from F2 around the damaged L2: %+v %v", r, ids(p))
	}
}
