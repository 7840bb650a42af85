package cli_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// Failover, switchover, protecting again and fencing, end to end with the
// real sqlserver engine against the simulators (issue 9). Each test starts
// from the three-simulator harness: east STANDBY (disconnect_users), west
// NORECOVERY, a copy-only vault.

func (h *sqlHarness) editConfig(old, new string) {
	h.t.Helper()
	p := filepath.Join(h.dir, "main.drs.hcl")
	b, err := os.ReadFile(p)
	if err != nil {
		h.t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		h.t.Fatalf("config has no %q", old)
	}
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *sqlHarness) promote(o cli.PromoteOptions) (int, string) {
	h.t.Helper()
	code := h.envFor().Promote(context.Background(), h.globals(), o)
	out := h.stdout.String() + h.stderr.String()
	h.t.Logf("promote %+v → %d\n%s", o, code, out)
	return code, out
}

func (h *sqlHarness) ledger() *state.State {
	h.t.Helper()
	return h.harness.state()
}

// standby asks a simulator how it sees one database, through the engine.
func (h *sqlHarness) standby(s *sqlsim.Server, db string) engine.StandbyDatabase {
	h.t.Helper()
	drv, err := h.engines.Driver("sqlserver")
	if err != nil {
		h.t.Fatal(err)
	}
	ctx := context.Background()
	sess, err := drv.Open(ctx, s.DSN(""))
	if err != nil {
		h.t.Fatal(err)
	}
	defer sess.Close()
	dbs, err := sess.ObserveStandby(ctx, []string{db})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, d := range dbs {
		if d.Name == db {
			return d
		}
	}
	return engine.StandbyDatabase{Name: db, State: engine.Absent}
}

func (h *sqlHarness) insert(s *sqlsim.Server, db string, ids ...int) {
	h.t.Helper()
	for _, id := range ids {
		if err := h.exec(s, fmt.Sprintf("INSERT INTO %s.dbo.drs_probe(id, note) VALUES (%d, N'r')", quoteIdent(db), id)); err != nil {
			h.t.Fatal(err)
		}
	}
}

// seeded inserts row 1 everywhere and applies until east and west stand.
func seeded(t *testing.T) *sqlHarness {
	h := newSQLHarness(t)
	for _, db := range []string{"Sales", "O'Brien", hostile} {
		h.insert(h.primary, db, 1)
	}
	if code := h.apply(); code != 0 {
		t.Fatalf("seed apply exit %d", code)
	}
	return h
}

// breakChain makes the next plan reseed Sales WITH REPLACE: a DBA's log
// backup to a path drsctl cannot reach.
func (h *sqlHarness) breakChain() {
	h.t.Helper()
	h.insert(h.primary, "Sales", 50)
	if err := h.exec(h.primary, "BACKUP LOG [Sales] TO DISK = N'"+filepath.Join(h.t.TempDir(), "manual.trn")+"' WITH INIT"); err != nil {
		h.t.Fatal(err)
	}
	waitLogDue()
}

// A plan saved on a pull request reseeds east/Sales WITH REPLACE. Before
// the merge applies it, the operator fails east/Sales over by hand and
// production writes to it. The saved plan's REPLACE must be refused, and the
// row kept.
func TestFailover_SavedPlanDoesNotReplaceAFailedOverStandby(t *testing.T) {
	h := seeded(t)
	h.breakChain()
	planFile := filepath.Join(h.dir, "pr.plan")
	code := h.envFor().Plan(context.Background(), h.globals(), cli.PlanOptions{Refresh: true, Out: planFile})
	if code != 0 {
		t.Fatalf("plan exit %d\n%s%s", code, h.stdout.String(), h.stderr.String())
	}
	f, err := os.Open(planFile)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Load(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var replace *plan.Action
	for _, a := range p.Actions {
		if a.Kind == plan.RestoreFull && a.Replace && a.Target == "east" && a.Database == "Sales" {
			replace = a
		}
	}
	if replace == nil || replace.Assumed == nil || replace.Assumed.State != engine.Standby || replace.Assumed.RedoLSN.IsZero() {
		t.Fatalf("the saved plan must REPLACE east/Sales and carry what it assumed (standby at a redo LSN): %+v", replace)
	}

	// The failover by hand, and production's write.
	if err := h.exec(h.east, "RESTORE DATABASE [Sales] WITH RECOVERY"); err != nil {
		t.Fatal(err)
	}
	h.insert(h.east, "Sales", 777)

	code = h.envFor().Apply(context.Background(), h.globals(), cli.ApplyOptions{PlanFile: planFile, Parallelism: 4})
	out := h.stdout.String() + h.stderr.String()
	if code == 0 {
		t.Errorf("apply of the saved plan succeeded over a failed-over standby:\n%s", out)
	}
	for _, want := range []string{"refused to restore WITH REPLACE over \"Sales\" on target \"east\"", "drsctl promote east -database Sales"} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	if rows := h.rows(h.east, "Sales"); !slices.Contains(rows, 777) {
		t.Errorf("the failed-over database lost production's row: %v", rows)
	}
	// west, untouched by the failover, was reseeded by the same plan.
	if st := h.standby(h.west, "Sales"); st.State != engine.Restoring {
		t.Errorf("west/Sales is %s after the saved plan", st.RawState)
	}
}

// The operator fails east/Sales over in SSMS while apply takes the full that
// will reseed it (promote would wait on the state lock). The REPLACE that
// follows must be refused.
func TestFailover_DuringApplyDoesNotReplace(t *testing.T) {
	h := seeded(t)
	h.breakChain()
	e := h.envFor()
	e.Stdout = &onLine{w: e.Stdout, marker: "backup full: started", f: func() {
		if err := h.exec(h.east, "RESTORE DATABASE [Sales] WITH RECOVERY"); err != nil {
			t.Error(err)
		}
		h.insert(h.east, "Sales", 777)
	}}
	code := e.Apply(context.Background(), h.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
	out := h.stdout.String() + h.stderr.String()
	if code == 0 || !strings.Contains(out, "refused to restore WITH REPLACE") {
		t.Errorf("apply exit %d; want the REPLACE refused:\n%s", code, out)
	}
	if rows := h.rows(h.east, "Sales"); !slices.Contains(rows, 777) {
		t.Errorf("the failed-over database lost production's row: %v\n%s", rows, out)
	}
}

// A failover with the primary gone: east has a restore_delay, so shipped
// logs wait; promote restores them all first (saying restore_delay is
// ignored), then recovers, and prints the RPO achieved.
func TestPromote_UnplannedRestoresPendingLogsFirst(t *testing.T) {
	h := seeded(t)
	h.editConfig(`restore_mode     = "standby"`, `restore_mode     = "standby"
  restore_delay    = "1h"`)
	h.insert(h.primary, "Sales", 2, 3)
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply exit %d", code)
	}
	if rows := h.rows(h.east, "Sales"); fmt.Sprint(rows) != "[1]" {
		t.Fatalf("restore_delay: east must still stand at the seed, rows %v", rows)
	}
	h.primary.Close() // the disaster

	code, out := h.promote(cli.PromoteOptions{Target: "east", Databases: []string{"Sales"}})
	if code == 0 || !strings.Contains(out, "-auto-approve") {
		t.Fatalf("promote without a terminal or -auto-approve must refuse: exit %d\n%s", code, out)
	}
	if st := h.standby(h.east, "Sales"); st.State != engine.Standby {
		t.Fatalf("an unapproved promote changed east/Sales: %s", st.RawState)
	}
	code, out = h.promote(cli.PromoteOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true})
	if code != 0 {
		t.Fatalf("promote exit %d\n%s", code, out)
	}
	for _, want := range []string{"restore_delay (1h) is ignored", "restore log", "RPO achieved"} {
		if !strings.Contains(out, want) {
			t.Errorf("promote output lacks %q", want)
		}
	}
	if rows := h.rows(h.east, "Sales"); fmt.Sprint(rows) != "[1 2 3]" {
		t.Errorf("east/Sales after the failover: rows %v, want [1 2 3]", rows)
	}
	if st := h.standby(h.east, "Sales"); st.State != engine.Online {
		t.Errorf("east/Sales is %s after promote", st.RawState)
	}
	h.insert(h.east, "Sales", 4) // writable now
	td := h.ledger().LookupTargetDatabase("east", "Sales")
	if td == nil || td.PromotedAt == nil || td.PromotedHow != state.PromoteUnplanned || td.PromotedLSN.IsZero() || td.PromotedLSN != td.Restored.LastLSN {
		t.Errorf("ledger after promote: %+v", td)
	}
	// The other databases are untouched, and the next apply (the primary
	// still down) leaves east/Sales alone.
	if st := h.standby(h.east, "O'Brien"); st.State != engine.Standby {
		t.Errorf("east/O'Brien is %s", st.RawState)
	}
	h.apply()
	if rows := h.rows(h.east, "Sales"); !slices.Contains(rows, 4) {
		t.Errorf("apply after the failover touched the promoted database: %v", rows)
	}
}

// A switchover: a row written on the primary just before it is on the
// promoted target; the primary is left RESTORING. Readers on the primary
// block the tail-log backup until -disconnect-users.
func TestPromote_PlannedLosesNothing(t *testing.T) {
	h := seeded(t)
	h.insert(h.primary, "Sales", 2)
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply exit %d", code)
	}
	h.insert(h.primary, "Sales", 3) // after the last log backup: only the tail holds it

	app, err := sql.Open("sqlserver", h.primary.DSN("Sales"))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	app.SetMaxOpenConns(1)
	if _, err := app.Exec("SELECT 1"); err != nil {
		t.Fatal(err)
	}
	code, out := h.promote(cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, Planned: true, AutoApprove: true})
	if code == 0 || !strings.Contains(out, "-disconnect-users") {
		t.Fatalf("switchover with an application connected: exit %d, want a failure naming -disconnect-users\n%s", code, out)
	}
	if st := h.standby(h.west, "Sales"); st.State != engine.Restoring {
		t.Fatalf("a failed switchover changed west/Sales: %s", st.RawState)
	}
	h.insert(h.primary, "Sales", 4)
	code, out = h.promote(cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, Planned: true, DisconnectUsers: true, AutoApprove: true})
	if code != 0 {
		t.Fatalf("switchover exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "nothing written on the primary was lost") {
		t.Errorf("switchover output:\n%s", out)
	}
	if rows := h.rows(h.west, "Sales"); fmt.Sprint(rows) != "[1 2 3 4]" {
		t.Errorf("west/Sales after the switchover: rows %v, want [1 2 3 4]", rows)
	}
	if err := h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (5, N'lost?')"); err == nil {
		t.Error("the old primary still takes writes after the switchover")
	}
	if td := h.ledger().LookupTargetDatabase("west", "Sales"); td == nil || td.PromotedHow != state.PromotePlanned {
		t.Errorf("ledger: %+v", td)
	}
}

// Readers on a STANDBY target: recovering needs the database alone; east
// has disconnect_users, so promote ends their sessions. Without it, the
// error says what to do.
func TestPromote_ReadersConnected(t *testing.T) {
	h := seeded(t)
	reader, err := sql.Open("sqlserver", h.east.DSN("Sales"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	reader.SetMaxOpenConns(1)
	reader.SetMaxIdleConns(1)
	hold := func() {
		t.Helper()
		if _, err := reader.Exec("SELECT COUNT(*) FROM dbo.drs_probe"); err != nil {
			t.Fatal(err)
		}
	}
	hold()
	h.editConfig("disconnect_users = true", "disconnect_users = false")
	code, out := h.promote(cli.PromoteOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true})
	if code == 0 || !strings.Contains(out, "disconnect_users") {
		t.Fatalf("promote with a reader and no disconnect_users: exit %d\n%s", code, out)
	}
	h.editConfig("disconnect_users = false", "disconnect_users = true")
	code, out = h.promote(cli.PromoteOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true})
	if code != 0 {
		t.Fatalf("promote with disconnect_users: exit %d\n%s", code, out)
	}
	if st := h.standby(h.east, "Sales"); st.State != engine.Online {
		t.Errorf("east/Sales is %s", st.RawState)
	}
}

// Failed over by hand: promote records it instead of failing, and the
// applies after it succeed.
func TestPromote_AlreadyOnlineIsRecorded(t *testing.T) {
	h := seeded(t)
	if err := h.exec(h.west, "RESTORE DATABASE [Sales] WITH RECOVERY"); err != nil {
		t.Fatal(err)
	}
	if code, out := h.plan(); code != 1 || !strings.Contains(out, "drsctl promote west -database Sales") {
		t.Fatalf("plan after a failover by hand: exit %d\n%s", code, out)
	}
	code, out := h.promote(cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, AutoApprove: true})
	if code != 0 || !strings.Contains(out, "already ONLINE") {
		t.Fatalf("promote of an online database: exit %d\n%s", code, out)
	}
	if td := h.ledger().LookupTargetDatabase("west", "Sales"); td == nil || td.PromotedHow != state.PromoteRecorded {
		t.Errorf("ledger: %+v", td)
	}
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Errorf("apply after recording the failover: exit %d", code)
	}
}

// Protecting again: a promoted database still online is left alone until
// reprotect; one dropped on the target is seeded by the next apply.
func TestPromote_ProtectingAgain(t *testing.T) {
	h := seeded(t)
	for _, tg := range []string{"east", "west"} {
		if code, _ := h.promote(cli.PromoteOptions{Target: tg, Databases: []string{"Sales"}, AutoApprove: true}); code != 0 {
			t.Fatalf("promote %s exit %d", tg, code)
		}
	}
	h.insert(h.east, "Sales", 900)
	h.insert(h.primary, "Sales", 2)
	waitLogDue()
	h.apply()
	if rows := h.rows(h.east, "Sales"); !slices.Contains(rows, 900) {
		t.Fatalf("a promoted online database was touched: %v", rows)
	}
	if !strings.Contains(h.stdout.String(), "drsctl reprotect east -database Sales") {
		t.Errorf("the plan must say how to protect east/Sales again:\n%s", h.stdout.String())
	}

	// west: dropped on the target → seeded again by the next apply.
	if err := h.exec(h.west, "DROP DATABASE [Sales]"); err != nil {
		t.Fatal(err)
	}
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply after dropping the promoted west/Sales: exit %d", code)
	}
	if st := h.standby(h.west, "Sales"); st.State != engine.Restoring {
		t.Errorf("west/Sales is %s; want it seeded again", st.RawState)
	}
	if td := h.ledger().LookupTargetDatabase("west", "Sales"); td == nil || td.PromotedAt != nil {
		t.Errorf("west/Sales ledger after the new seed: %+v", td)
	}

	// east: reprotect, then the next apply replaces it.
	code := h.envFor().Reprotect(context.Background(), h.globals(), cli.ReprotectOptions{Target: "east", Databases: []string{"Sales"}})
	if code == 0 {
		t.Fatal("reprotect without -auto-approve must refuse")
	}
	if code := h.envFor().Reprotect(context.Background(), h.globals(), cli.ReprotectOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true}); code != 0 {
		t.Fatalf("reprotect exit %d\n%s", code, h.stderr.String())
	}
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply after reprotect: exit %d", code)
	}
	if rows := h.rows(h.east, "Sales"); fmt.Sprint(rows) != "[1 2]" {
		t.Errorf("east/Sales after reprotect: rows %v, want the primary's [1 2]", rows)
	}
	td := h.ledger().LookupTargetDatabase("east", "Sales")
	if td == nil || td.PromotedAt != nil || td.ReprotectAt != nil {
		t.Errorf("east/Sales ledger after reprotect and seed: %+v", td)
	}
	var raw bytes.Buffer
	json.NewEncoder(&raw).Encode(td)
	t.Logf("east/Sales ledger: %s", raw.String())
}

// A switchover that cannot happen (the target database was failed over by
// hand, or never seeded) takes no tail-log backup: the primary stays
// ONLINE and writable.
func TestPromote_PlannedThatCannotHappenTakesNoTailLog(t *testing.T) {
	h := seeded(t)
	if err := h.exec(h.west, "RESTORE DATABASE [Sales] WITH RECOVERY"); err != nil {
		t.Fatal(err)
	}
	h.exec(h.west, "DROP DATABASE [O'Brien]")
	for _, db := range []string{"Sales", "O'Brien"} {
		code, out := h.promote(cli.PromoteOptions{Target: "west", Databases: []string{db}, Planned: true, AutoApprove: true})
		if code == 0 || strings.Contains(out, "backup log (tail)") {
			t.Errorf("switchover of %s onto a target that cannot take it: exit %d\n%s", db, code, out)
		}
		if err := h.exec(h.primary, fmt.Sprintf("INSERT INTO %s.dbo.drs_probe(id, note) VALUES (60, N'still primary')", quoteIdent(db))); err != nil {
			t.Errorf("the primary's %s no longer takes writes after a refused switchover: %v", db, err)
		}
	}
}

// reprotect is the operator's word about drsctl's database: when a DBA has
// since restored (and recovered) another database under its name, the next
// apply still never restores over it.
func TestReprotect_NeverReplacesAForeignDatabase(t *testing.T) {
	h := seeded(t)
	qa := filepath.Join(t.TempDir(), "qa.bak")
	for _, q := range []string{"CREATE DATABASE [QA]", "INSERT INTO [QA].dbo.drs_probe(id, note) VALUES (4242, N'qa')",
		"BACKUP DATABASE [QA] TO DISK = N'" + qa + "' WITH INIT"} {
		if err := h.exec(h.primary, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.exec(h.east, "RESTORE DATABASE [Sales] FROM DISK = N'"+qa+"' WITH REPLACE, RECOVERY, MOVE N'QA' TO N'"+filepath.Join(t.TempDir(), "qa.mdf")+"', MOVE N'QA_log' TO N'"+filepath.Join(t.TempDir(), "qa.ldf")+"'"); err != nil {
		t.Fatal(err)
	}
	if code := h.envFor().Reprotect(context.Background(), h.globals(), cli.ReprotectOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true}); code != 0 {
		t.Fatalf("reprotect exit %d", code)
	}
	waitLogDue()
	h.apply()
	if rows := h.rows(h.east, "Sales"); !slices.Contains(rows, 4242) {
		t.Errorf("the QA database restored under east/Sales was replaced after reprotect: rows %v\n%s", rows, h.stdout.String())
	}
	if !strings.Contains(h.stdout.String(), "drsctl did not seed it") {
		t.Errorf("the plan must say the database is not drsctl's:\n%s", h.stdout.String())
	}
}

// A switchover onto a STANDBY target that does not disconnect its readers
// warns before it asks: readers there would stop it after the primary has.
func TestPromote_PlannedWarnsOfReadersBeforeItAsks(t *testing.T) {
	h := seeded(t)
	h.editConfig("disconnect_users = true", "disconnect_users = false")
	code, out := h.promote(cli.PromoteOptions{Target: "east", Databases: []string{"Sales"}, Planned: true})
	if code == 0 || !strings.Contains(out, `readers of "Sales" on target "east" would block the switchover`) {
		t.Errorf("exit %d; want the readers' warning with the plan:\n%s", code, out)
	}
	h.editConfig("disconnect_users = false", "disconnect_users = true")
	if _, out := h.promote(cli.PromoteOptions{Target: "east", Databases: []string{"Sales"}, Planned: true}); strings.Contains(out, "would block the switchover") {
		t.Errorf("warned with disconnect_users set:\n%s", out)
	}
}

// A switchover to west is undone on the primary by hand (RESTORE DATABASE
// … WITH RECOVERY of the database the tail-log backup left RESTORING). SQL
// Server begins a new recovery fork there, so the database's identity
// (recovery_fork_guid) changes, but its log chain (last_log_backup_lsn)
// carries on from the tail-log backup: east keeps following it with no
// full and no reseed.
func TestPromote_SwitchoverUndoneOnThePrimaryCarriesTheChainOn(t *testing.T) {
	h := seeded(t)
	h.insert(h.primary, "Sales", 2)
	code, out := h.promote(cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, Planned: true, DisconnectUsers: true, AutoApprove: true})
	if code != 0 {
		t.Fatalf("switchover exit %d\n%s", code, out)
	}
	if err := h.exec(h.primary, "RESTORE DATABASE [Sales] WITH RECOVERY"); err != nil {
		t.Fatal(err)
	}
	restoresBefore := h.ledger().LookupTargetDatabase("east", "Sales").SeededFrom
	h.insert(h.primary, "Sales", 3)
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply after the primary was recovered by hand: exit %d\n%s", code, h.stdout.String()+h.stderr.String())
	}
	out = h.stdout.String() + h.stderr.String()
	if strings.Contains(out, "recreated") || strings.Contains(out, "restarted") {
		t.Errorf("the recovery was taken for a new chain:\n%s", out)
	}
	if got := h.ledger().LookupTargetDatabase("east", "Sales").SeededFrom; got != restoresBefore {
		t.Errorf("east was seeded again from %s (was %s)", got, restoresBefore)
	}
	if rows := h.rows(h.east, "Sales"); fmt.Sprint(rows) != "[1 2 3]" {
		t.Errorf("east/Sales rows %v, want [1 2 3]", rows)
	}
}
