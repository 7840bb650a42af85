package plan

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/state"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

// testConfig: primary "sales" with database Sales; dr_east (standby, read-only
// standby mode), dr_west (standby, norecovery), vault (copy_only).
func testConfig() *config.Config {
	folder := &config.BackupFolder{Name: "share", URL: "file:///backups", ServerPath: `\\fs01\drs`, Retention: 7 * 24 * time.Hour}
	p := &config.Primary{Name: "sales", Engine: "memory", Databases: []string{"Sales"}, Folder: folder,
		FullBackup: config.Schedule{Every: 24 * time.Hour}, LogBackup: config.Schedule{Every: 15 * time.Minute}, RPO: 30 * time.Minute}
	mk := func(name string, kind config.TargetKind, mode config.RestoreMode) *config.Target {
		return &config.Target{Name: name, Primary: p, Kind: kind, RestoreMode: mode,
			Destination: config.Destination{URL: "file:///" + name, ServerPath: "/" + name}}
	}
	return &config.Config{BackupFolders: []*config.BackupFolder{folder}, Primaries: []*config.Primary{p},
		Targets: []*config.Target{mk("dr_east", config.Standby, config.RestoreStandby), mk("dr_west", config.Standby, config.RestoreNoRecovery), mk("vault", config.CopyOnly, "")}}
}

func only(cfg *config.Config, names ...string) *config.Config {
	var ts []*config.Target
	for _, t := range cfg.Targets {
		if containsString(names, t.Name) {
			ts = append(ts, t)
		}
	}
	cfg.Targets = ts
	return cfg
}

func art(id string, kind artifact.Kind, first, last string, finish time.Time) *state.Artifact {
	return &state.Artifact{ID: id, Key: "sales/Sales/" + string(kind) + "/" + id, Size: 100, SHA256: "sha-" + id,
		Header: artifact.Header{Kind: kind, Database: "Sales", FirstLSN: artifact.LSN(first), LastLSN: artifact.LSN(last),
			Start: finish.Add(-time.Second), Finish: finish}}
}

// chain: F (100-200) at -3h, L1 (150-300) -2h, L2 (300-400) -1h, L3 (400-500) -10m.
func chainState(arts ...*state.Artifact) *state.State {
	st := state.New("lineage-1")
	st.Serial = 7
	db := st.Database("sales", "Sales")
	for _, a := range arts {
		db.Add(a)
	}
	return st
}

var (
	F  = art("F.bak", artifact.Full, "100", "200", ago(3*time.Hour))
	L1 = art("L1.trn", artifact.Log, "150", "300", ago(2*time.Hour))
	L2 = art("L2.trn", artifact.Log, "300", "400", ago(time.Hour))
	L3 = art("L3.trn", artifact.Log, "400", "500", ago(10*time.Minute))
)

// at records that target t has restored (standby) or holds verified copies
// of (copy-only) the given artifacts.
func at(st *state.State, target string, restore bool, arts ...*state.Artifact) {
	td := st.TargetDatabase(target, "Sales")
	for i, a := range arts {
		v := a.Finish.Add(time.Minute)
		td.Copies[a.ID] = &state.Copy{Key: a.Key, Size: a.Size, SHA256: a.SHA256, ShippedAt: v, VerifiedAt: &v}
		if i == 0 {
			td.SeededFrom = a.ID
		}
		if restore {
			td.Restored = &state.Restore{Artifact: a.ID, Kind: a.Kind, LastLSN: a.LastLSN, Mode: "standby", At: v}
		}
	}
}

func ids(p *Plan) []string {
	var out []string
	for _, a := range p.Actions {
		out = append(out, a.ID)
	}
	sort.Strings(out)
	return out
}

func sorted(xs ...string) []string { sort.Strings(xs); return xs }

func TestMake_FreshConfigBacksUpAndSeedsEveryTarget(t *testing.T) {
	p := Make(testConfig(), nil, nil, now, Options{})
	nf := "+backup_full:sales/Sales"
	want := sorted("backup_full:sales/Sales",
		"ship:sales/Sales@dr_east#"+nf, "verify:sales/Sales@dr_east#"+nf, "restore_full:sales/Sales@dr_east#"+nf,
		"ship:sales/Sales@dr_west#"+nf, "verify:sales/Sales@dr_west#"+nf, "restore_full:sales/Sales@dr_west#"+nf,
		"ship:sales/Sales@vault#"+nf, "verify:sales/Sales@vault#"+nf)
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	r := p.Action("restore_full:sales/Sales@dr_east#" + nf)
	if r.From != "backup_full:sales/Sales" || r.Mode != "standby" || r.Replace || !r.Seed {
		t.Errorf("seed restore = %+v", r)
	}
	if got := p.Action("restore_full:sales/Sales@dr_west#" + nf).Mode; got != "norecovery" {
		t.Errorf("dr_west mode = %q", got)
	}
	if !hasDep(r, "verify:sales/Sales@dr_east#"+nf) {
		t.Errorf("restore must wait for verify: %v", r.DependsOn)
	}
	if !hasDep(p.Action("verify:sales/Sales@dr_east#"+nf), "ship:sales/Sales@dr_east#"+nf) {
		t.Error("verify must wait for ship")
	}
	if got := p.Action("backup_full:sales/Sales").Reason; got != "no full backup yet" {
		t.Errorf("reason = %q", got)
	}
	for _, r := range p.RPO {
		if !r.Breach {
			t.Errorf("RPO of never-restored %s must be a breach", r.Target)
		}
	}
}

func hasDep(a *Action, id string) bool {
	if a == nil {
		return false
	}
	return containsString(a.DependsOn, id)
}

func TestMake_NothingDue(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	at(st, "dr_west", true, F, L1, L2, L3)
	at(st, "vault", false, F, L1, L2, L3)
	p := Make(testConfig(), st, nil, now, Options{})
	if len(p.Actions) != 0 {
		t.Fatalf("want no actions, got %v", ids(p))
	}
	if p.Lineage != "lineage-1" || p.Serial != 7 {
		t.Errorf("plan must carry the state's lineage and serial, got %s/%d", p.Lineage, p.Serial)
	}
	for _, r := range p.RPO {
		if r.Breach || r.Lag != 10*time.Minute || r.Artifact != "L3.trn" {
			t.Errorf("RPO %+v", r)
		}
	}
}

func TestMake_LogDue(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	at(st, "dr_west", true, F, L1, L2, L3)
	at(st, "vault", false, F, L1, L2, L3)
	p := Make(testConfig(), st, nil, now.Add(6*time.Minute), Options{})
	nl := "+backup_log:sales/Sales"
	want := sorted("backup_log:sales/Sales",
		"ship:sales/Sales@dr_east#"+nl, "verify:sales/Sales@dr_east#"+nl, "restore_log:sales/Sales@dr_east#"+nl,
		"ship:sales/Sales@dr_west#"+nl, "verify:sales/Sales@dr_west#"+nl, "restore_log:sales/Sales@dr_west#"+nl,
		"ship:sales/Sales@vault#"+nl, "verify:sales/Sales@vault#"+nl)
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if got := p.Action("backup_log:sales/Sales").Reason; got != "last log backup 16m ago, every 15m" {
		t.Errorf("reason = %q", got)
	}
}

func TestMake_FullDueByAgeDoesNotReseed(t *testing.T) {
	old := art("F.bak", artifact.Full, "100", "200", ago(25*time.Hour))
	st := chainState(old, L1, L2, L3)
	at(st, "dr_east", true, old, L1, L2, L3)
	p := Make(only(testConfig(), "dr_east"), st, nil, now, Options{})
	want := sorted("backup_full:sales/Sales")
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if got := p.Action("backup_full:sales/Sales").Reason; got != "last full backup 25h ago, every 24h" {
		t.Errorf("reason = %q", got)
	}
}

func TestMake_GapInLSNsForcesReseed(t *testing.T) {
	gap := art("L3.trn", artifact.Log, "450", "500", ago(10*time.Minute)) // L2 ends at 400
	st := chainState(F, L1, L2, gap)
	at(st, "dr_east", true, F, L1, L2)
	p := Make(only(testConfig(), "dr_east"), st, nil, now, Options{})
	nf := "+backup_full:sales/Sales"
	want := sorted("backup_full:sales/Sales", "ship:sales/Sales@dr_east#"+nf, "verify:sales/Sales@dr_east#"+nf, "restore_full:sales/Sales@dr_east#"+nf)
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if r := p.Action("backup_full:sales/Sales").Reason; !strings.Contains(r, "chain is broken after L2.trn") || !strings.Contains(r, "gap") {
		t.Errorf("reason = %q", r)
	}
	if !p.Action("restore_full:sales/Sales@dr_east#" + nf).Replace {
		t.Error("reseeding a database drsctl seeded must REPLACE it")
	}
}

func observed(st *state.State, mut func(o *Observed)) *Observed {
	o := &Observed{Refreshed: true,
		Primaries: map[string]*PrimaryObservation{"sales": {Databases: map[string]*engine.PrimaryDatabase{
			"Sales": {Name: "Sales", Exists: true, State: "ONLINE", RecoveryModel: "FULL", LogChain: true}}}},
		Targets:      map[string]*TargetObservation{},
		Folders:      map[string]*StorageObservation{"share": {Objects: map[string]Object{}}},
		Destinations: map[string]*StorageObservation{},
	}
	if db := st.LookupDatabase("sales", "Sales"); db != nil {
		for _, a := range db.Artifacts {
			o.Primaries["sales"].Databases["Sales"].Backups = append(o.Primaries["sales"].Databases["Sales"].Backups,
				engine.BackupRecord{Header: a.Header, Path: `\\fs01\drs\` + strings.ReplaceAll(a.Key, "/", `\`)})
			o.Folders["share"].Objects[a.Key] = Object{Size: a.Size}
		}
	}
	for _, name := range []string{"dr_east", "dr_west", "vault"} {
		o.Targets[name] = &TargetObservation{Databases: map[string]*engine.StandbyDatabase{}}
		o.Destinations[name] = &StorageObservation{Objects: map[string]Object{}}
		td := st.LookupTargetDatabase(name, "Sales")
		if td == nil {
			continue
		}
		for _, c := range td.Copies {
			o.Destinations[name].Objects[c.Key] = Object{Size: c.Size, SHA256: c.SHA256}
		}
		if td.Restored != nil {
			s := engine.Standby
			if name == "dr_west" {
				s = engine.Restoring
			}
			o.Targets[name].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: s, RawState: "RESTORING", RedoLSN: td.Restored.LastLSN}
		}
	}
	if mut != nil {
		mut(o)
	}
	return o
}

func TestMake_OutOfBandLogBackupUnreachableBreaksChain(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	obs := observed(st, func(o *Observed) {
		db := o.Primaries["sales"].Databases["Sales"]
		db.Backups = append(db.Backups, engine.BackupRecord{Path: `C:\Temp\manual.trn`,
			Header: artifact.Header{Kind: artifact.Log, FirstLSN: "500", LastLSN: "600", Finish: ago(5 * time.Minute)}})
	})
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	nf := "+backup_full:sales/Sales"
	want := sorted("backup_full:sales/Sales", "ship:sales/Sales@dr_east#"+nf, "verify:sales/Sales@dr_east#"+nf, "restore_full:sales/Sales@dr_east#"+nf)
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if r := p.Action("backup_full:sales/Sales").Reason; !strings.Contains(r, `C:\Temp\manual.trn`) || !strings.Contains(r, "not in the backup folder") {
		t.Errorf("reason = %q", r)
	}
	for _, a := range p.Actions {
		if a.Kind == RestoreLog {
			t.Errorf("no log may be restored across a broken chain: %s", a.ID)
		}
	}
}

func TestMake_OutOfBandLogBackupInFolderIsAdopted(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	obs := observed(st, func(o *Observed) {
		db := o.Primaries["sales"].Databases["Sales"]
		db.Backups = append(db.Backups, engine.BackupRecord{Path: `\\FS01\drs\manual\Sales_extra.trn`,
			Header: artifact.Header{Kind: artifact.Log, FirstLSN: "500", LastLSN: "600", Finish: ago(5 * time.Minute)}})
		o.Folders["share"].Objects["manual/Sales_extra.trn"] = Object{Size: 10}
	})
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	x := "Sales_extra.trn"
	want := sorted("adopt:sales/Sales#"+x, "ship:sales/Sales@dr_east#"+x, "verify:sales/Sales@dr_east#"+x, "restore_log:sales/Sales@dr_east#"+x)
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if a := p.Action("adopt:sales/Sales#" + x); a.Adopted == nil || a.Adopted.Key != "manual/Sales_extra.trn" {
		t.Errorf("adopt = %+v", a)
	}
	if !hasDep(p.Action("ship:sales/Sales@dr_east#"+x), "adopt:sales/Sales#"+x) {
		t.Error("ship of an adopted artifact must wait for the adoption")
	}
}

func TestMake_LogAlreadyAppliedIsRecordedNotRepeated(t *testing.T) {
	// The apply that restored L3 died before writing the ledger.
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	st.TargetDatabase("dr_east", "Sales").Restored = &state.Restore{Artifact: "L2.trn", Kind: artifact.Log, LastLSN: "400"}
	obs := observed(st, func(o *Observed) { o.Targets["dr_east"].Databases["Sales"].RedoLSN = "500" })
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	want := sorted("record:sales/Sales@dr_east#L3.trn")
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
}

func TestMake_RestoreFailedHalfWayIsRetried(t *testing.T) {
	// L3 shipped and verified, its restore failed: the server is still at L2.
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	st.TargetDatabase("dr_east", "Sales").Restored = &state.Restore{Artifact: "L2.trn", Kind: artifact.Log, LastLSN: "400"}
	obs := observed(st, func(o *Observed) { o.Targets["dr_east"].Databases["Sales"].RedoLSN = "400" })
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	if diff := cmp.Diff(sorted("restore_log:sales/Sales@dr_east#L3.trn"), ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
}

func TestMake_TargetAddedLaterIsSeededWithoutNewFull(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	p := Make(only(testConfig(), "dr_east", "dr_west"), st, nil, now, Options{})
	var got []string
	for _, a := range p.Actions {
		if a.Kind == BackupFull || a.Kind == BackupLog {
			t.Errorf("a new target must not cause a backup: %s", a.ID)
		}
		if a.Kind == RestoreFull || a.Kind == RestoreLog {
			got = append(got, a.ID)
		}
	}
	want := []string{"restore_full:sales/Sales@dr_west#F.bak", "restore_log:sales/Sales@dr_west#L1.trn", "restore_log:sales/Sales@dr_west#L2.trn", "restore_log:sales/Sales@dr_west#L3.trn"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("restores in order (-want +got):\n%s", diff)
	}
	if !hasDep(p.Action(want[2]), want[1]) || !hasDep(p.Action(want[1]), want[0]) {
		t.Error("restores must depend on the previous one")
	}
	if p.Action(want[0]).Replace {
		t.Error("a database drsctl never seeded must not be REPLACEd")
	}
}

func TestMake_TwoTargetsAtDifferentPositions(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	at(st, "dr_west", true, F, L1)
	p := Make(only(testConfig(), "dr_east", "dr_west"), st, nil, now, Options{})
	want := sorted("ship:sales/Sales@dr_west#L2.trn", "verify:sales/Sales@dr_west#L2.trn", "restore_log:sales/Sales@dr_west#L2.trn",
		"ship:sales/Sales@dr_west#L3.trn", "verify:sales/Sales@dr_west#L3.trn", "restore_log:sales/Sales@dr_west#L3.trn")
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
}

func TestMake_RestoreDelayHoldsBackRecentLogs(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1)
	cfg := only(testConfig(), "dr_east")
	cfg.Targets[0].RestoreDelay = 30 * time.Minute
	p := Make(cfg, st, nil, now, Options{})
	want := sorted("ship:sales/Sales@dr_east#L2.trn", "verify:sales/Sales@dr_east#L2.trn", "restore_log:sales/Sales@dr_east#L2.trn",
		"ship:sales/Sales@dr_east#L3.trn", "verify:sales/Sales@dr_east#L3.trn")
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("L3 (10m old) is shipped but not restored under a 30m delay (-want +got):\n%s", diff)
	}
}

func TestMake_CopyOnlyTargetIsNeverRestored(t *testing.T) {
	st := chainState(F, L1)
	p := Make(only(testConfig(), "vault"), st, nil, now, Options{})
	for _, a := range p.Actions {
		if a.Kind == RestoreFull || a.Kind == RestoreLog {
			t.Errorf("copy_only target restored: %s", a.ID)
		}
	}
	want := sorted("backup_log:sales/Sales",
		"ship:sales/Sales@vault#F.bak", "verify:sales/Sales@vault#F.bak", "ship:sales/Sales@vault#L1.trn", "verify:sales/Sales@vault#L1.trn",
		"ship:sales/Sales@vault#+backup_log:sales/Sales", "verify:sales/Sales@vault#+backup_log:sales/Sales")
	if diff := cmp.Diff(want, ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
}

func TestMake_PromotedTargetGetsNothing(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1)
	pa := ago(time.Minute)
	st.TargetDatabase("dr_east", "Sales").PromotedAt = &pa
	p := Make(only(testConfig(), "dr_east"), st, nil, now, Options{})
	if len(p.Actions) != 0 {
		t.Fatalf("promoted target planned %v", ids(p))
	}
	if len(p.Problems) != 1 || !strings.Contains(p.Problems[0].Summary, "promoted") {
		t.Errorf("problems = %+v", p.Problems)
	}
}

func TestMake_SimpleRecoveryModelIsAPlanError(t *testing.T) {
	obs := observed(state.New("l"), func(o *Observed) { o.Primaries["sales"].Databases["Sales"].RecoveryModel = "SIMPLE" })
	p := Make(testConfig(), nil, obs, now, Options{})
	if len(p.Actions) != 0 {
		t.Errorf("no action may be planned for a SIMPLE database: %v", ids(p))
	}
	if !p.HasErrors() || !strings.Contains(p.Problems[0].Summary, "SIMPLE recovery model") || !strings.Contains(p.Problems[0].Detail, "ALTER DATABASE [Sales] SET RECOVERY FULL") {
		t.Errorf("problems = %+v", p.Problems)
	}
}

func TestMake_TargetRecoveredByHandIsReportedNotOverwritten(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1)
	obs := observed(st, func(o *Observed) {
		o.Targets["dr_east"].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Online, RawState: "ONLINE"}
	})
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	for _, a := range p.Actions {
		if a.Kind == RestoreFull || a.Kind == RestoreLog {
			t.Errorf("restore planned onto a recovered database: %s", a.ID)
		}
	}
	if !p.HasErrors() || !strings.Contains(p.Problems[0].Summary, "recovered outside drsctl") {
		t.Errorf("problems = %+v", p.Problems)
	}
}

func TestMake_ForeignDatabaseOnTargetIsNeverReplaced(t *testing.T) {
	st := chainState(F, L1)
	obs := observed(st, func(o *Observed) {
		o.Targets["dr_east"].Databases["Sales"] = &engine.StandbyDatabase{Name: "Sales", State: engine.Online, RawState: "ONLINE"}
	})
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	for _, a := range p.Actions {
		if a.Kind == RestoreFull {
			t.Errorf("restore planned over a foreign database: %s", a.ID)
		}
	}
	if !p.HasErrors() || !strings.Contains(p.Problems[0].Summary, "drsctl did not seed it") {
		t.Errorf("problems = %+v", p.Problems)
	}
}

func TestMake_CopyMissingAtDestinationIsReshipped(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "vault", false, F, L1, L2, L3)
	obs := observed(st, func(o *Observed) { delete(o.Destinations["vault"].Objects, L2.Key) })
	p := Make(only(testConfig(), "vault"), st, obs, now, Options{})
	if diff := cmp.Diff(sorted("ship:sales/Sales@vault#L2.trn", "verify:sales/Sales@vault#L2.trn"), ids(p)); diff != "" {
		t.Fatalf("actions (-want +got):\n%s", diff)
	}
	if len(p.Problems) != 1 || !strings.Contains(p.Problems[0].Summary, "missing") {
		t.Errorf("drift must show: %+v", p.Problems)
	}
}

func TestMake_DamagedCopyIsReshippedBeforeRestore(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1)
	td := st.TargetDatabase("dr_east", "Sales")
	td.Copies[L2.ID] = &state.Copy{Key: L2.Key, Size: L2.Size, SHA256: L2.SHA256}
	obs := observed(st, func(o *Observed) { o.Destinations["dr_east"].Objects[L2.Key] = Object{Size: 99} })
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	r := p.Action("restore_log:sales/Sales@dr_east#L2.trn")
	if r == nil || !hasDep(r, "verify:sales/Sales@dr_east#L2.trn") || !hasDep(p.Action("verify:sales/Sales@dr_east#L2.trn"), "ship:sales/Sales@dr_east#L2.trn") {
		t.Fatalf("damaged copy must be re-shipped and verified before restore: %v", ids(p))
	}
}

func TestMake_PruneOnlyWhatNoOneNeeds(t *testing.T) {
	old := 8 * 24 * time.Hour
	F0 := art("F0.bak", artifact.Full, "10", "20", ago(old+3*time.Hour))
	L0 := art("L0.trn", artifact.Log, "15", "100", ago(old+2*time.Hour))
	oldF := art("F.bak", artifact.Full, "100", "200", ago(old+time.Hour))
	oldL1 := art("L1.trn", artifact.Log, "100", "300", ago(old))
	newF := art("F2.bak", artifact.Full, "300", "350", ago(2*time.Hour))
	st := chainState(F0, L0, oldF, oldL1, newF, L2, L3)
	at(st, "dr_east", true, F0, L0, oldF, oldL1, L2, L3)
	at(st, "dr_west", true, F0, L0) // lags far behind, but its logs still connect
	cfg := only(testConfig(), "dr_east", "dr_west")
	p := Make(cfg, st, nil, now, Options{})
	var prunes []string
	for _, a := range p.Actions {
		if a.Kind == Prune {
			prunes = append(prunes, a.ID)
		}
	}
	// dr_west stands at L0 and needs L1 (and L2, L3); F0, L0 and F.bak are
	// needed by no one and older than 7d.
	want := sorted("prune:sales/Sales#F0.bak", "prune:sales/Sales#L0.trn", "prune:sales/Sales#F.bak")
	if diff := cmp.Diff(want, sorted(prunes...)); diff != "" {
		t.Fatalf("prunes (-want +got):\n%s", diff)
	}
	for _, a := range p.Actions {
		if a.Kind == Prune && (len(a.DependsOn) > 0 || len(a.After) > 0) {
			t.Errorf("prune %s waits on %v %v: nothing in the plan uses what it deletes, so nothing may hold it back", a.ID, a.DependsOn, a.After)
		}
	}
}

func TestMake_TargetFilter(t *testing.T) {
	p := Make(testConfig(), nil, nil, now, Options{Targets: []string{"vault"}})
	for _, a := range p.Actions {
		if a.Target != "" && a.Target != "vault" {
			t.Errorf("-target vault planned %s", a.ID)
		}
	}
	if p.Action("backup_full:sales/Sales") == nil {
		t.Error("the backups a selected target needs are planned")
	}
}

func TestMake_DeterministicAndPure(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_west", true, F, L1)
	before := st.Serial
	a := Make(testConfig(), st, nil, now, Options{})
	b := Make(testConfig(), st, nil, now, Options{})
	if diff := cmp.Diff(a, b); diff != "" {
		t.Fatalf("two plans of the same inputs differ:\n%s", diff)
	}
	if st.Serial != before || st.TargetDatabase("dr_west", "Sales").Restored.Artifact != "L1.trn" {
		t.Error("Make must not modify the state")
	}
}

func TestMake_CopyModifiedAfterVerificationIsReshipped(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1)
	td := st.TargetDatabase("dr_east", "Sales")
	verified := ago(50 * time.Minute)
	td.Copies[L2.ID] = &state.Copy{Key: L2.Key, Size: L2.Size, SHA256: L2.SHA256, VerifiedAt: &verified, ModTime: ago(55 * time.Minute)}
	obs := observed(st, func(o *Observed) {
		o.Destinations["dr_east"].Objects[L2.Key] = Object{Size: L2.Size, ModTime: ago(5 * time.Minute)} // a byte flipped in place
	})
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	if p.Action("ship:sales/Sales@dr_east#L2.trn") == nil || !hasDep(p.Action("restore_log:sales/Sales@dr_east#L2.trn"), "verify:sales/Sales@dr_east#L2.trn") {
		t.Fatalf("a copy modified after verification must be shipped and verified again before restore: %v", ids(p))
	}
	if p.Action("ship:sales/Sales@dr_east#F.bak") != nil || p.Action("ship:sales/Sales@dr_east#L1.trn") != nil {
		t.Errorf("only the changed copy is re-shipped: %v", ids(p))
	}
	if len(p.Problems) != 1 || !strings.Contains(p.Problems[0].Summary, "modified at") {
		t.Errorf("problems = %+v", p.Problems)
	}
}

func TestMake_DamagedCopyOfRestoredArtifactIsRepaired(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1, L2, L3)
	obs := observed(st, func(o *Observed) { o.Destinations["dr_east"].Objects[F.Key] = Object{Size: F.Size - 1} })
	p := Make(only(testConfig(), "dr_east"), st, obs, now, Options{})
	if diff := cmp.Diff(sorted("ship:sales/Sales@dr_east#F.bak", "verify:sales/Sales@dr_east#F.bak"), ids(p)); diff != "" {
		t.Fatalf("only the damaged copy is shipped again, nothing restored (-want +got):\n%s", diff)
	}
}
