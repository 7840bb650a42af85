package cli_test

// Trying to break failover, switchover, fencing and reprotect the way an
// operator's worst week would (issue 9): lost replies, killed runs, storage
// gone, torn seeds, saved plans, recreated primaries. The in-memory engine
// (enginetest) with a fake clock for most; the SQL Server simulators where
// the real engine's behaviour matters.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/enginetest"
	"github.com/drsctl/drsctl/internal/state"
)

var errLost = errors.New("read tcp: connection reset by peer")

// promote runs `drsctl promote` in the worst-week world.
func (w *ww) promote(o cli.PromoteOptions) int {
	w.t.Helper()
	if o.Databases == nil {
		o.Databases = []string{"Sales"}
	}
	code := w.env().Promote(context.Background(), w.globals(), o)
	w.out = w.stdout.String() + w.stderr.String()
	w.t.Logf("promote %+v at %s → %d\n%s", o, w.clock.Format("Jan 2 15:04"), code, w.out)
	return code
}

func (w *ww) reprotect(target string) int {
	w.t.Helper()
	code := w.env().Reprotect(context.Background(), w.globals(), cli.ReprotectOptions{Target: target, Databases: []string{"Sales"}, AutoApprove: true})
	w.out = w.stdout.String() + w.stderr.String()
	w.t.Logf("reprotect %s → %d\n%s", target, code, w.out)
	return code
}

// shipped seeds, then ships and restores n more log backups (one row each).
func shipped(t *testing.T, o wwOpts, n int) *ww {
	w := newWW(t, o)
	w.insert(2)
	w.mustApply("seed")
	for range n {
		w.tick(16 * time.Minute)
		w.insert(1)
		w.mustApply("a log")
	}
	return w
}

func (w *ww) td(target string) *state.TargetDatabase {
	w.t.Helper()
	return w.state().LookupTargetDatabase(target, "Sales")
}

// restoresInOrder: no log backup restored twice on s, and no REPLACE over a
// database drsctl may not replace.
func (w *ww) restoresInOrder(s *enginetest.Server, name string) {
	w.t.Helper()
	if d := duplicateLogRestores(s); len(d) > 0 {
		w.t.Errorf("%s: log backups restored twice: %v", name, d)
	}
	if v := replaceViolations(s); len(v) > 0 {
		w.t.Errorf("%s: %v", name, v)
	}
}

// The recover worked, its reply was lost and the run died before the
// ledger knew: promote again records it (not a failure), with the LSN
// drsctl restored it through, and apply after it leaves it alone.
func TestBreak_PromoteReplyLostAfterRecover(t *testing.T) {
	w := shipped(t, wwOpts{}, 2)
	w.prim.SetDown(true)
	w.east.FailNext("recover", "Sales", true, errLost)
	// The refresh and the look before the recover answer; the look after
	// the lost reply fails too.
	w.east.FailNext("observe", "Sales", false, nil)
	w.east.FailNext("observe", "Sales", false, nil)
	w.east.FailNext("observe", "Sales", false, errLost)
	if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code == 0 {
		t.Fatalf("promote whose reply and second look were lost: exit 0")
	}
	if info, _ := w.east.Database("Sales"); info.State != engine.Online {
		t.Fatalf("the recover did not take effect: %s", info.State)
	}
	if td := w.td("east"); td.PromotedAt != nil {
		t.Fatalf("the ledger knows of the promotion already: %+v", td)
	}
	restored := w.td("east").Restored.LastLSN
	w.tick(time.Minute)
	if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code != 0 {
		t.Fatalf("promote again after a lost reply: exit %d", code)
	}
	td := w.td("east")
	if td.PromotedAt == nil || td.PromotedLSN != restored {
		t.Errorf("ledger after promote again: %+v (want promoted at LSN %s)", td, restored)
	}
	if !strings.Contains(w.out, "promoted (") {
		t.Errorf("promote again does not say it is promoted:\n%s", w.out)
	}
	w.east.Insert("Sales", 9000)
	w.prim.SetDown(false)
	w.tick(16 * time.Minute)
	w.insert(1)
	if code := w.run(); code != 0 {
		t.Errorf("apply after the promotion: exit %d", code)
	}
	if rows := w.east.Rows("Sales"); !slices.Contains(rows, 9000) {
		t.Errorf("apply touched the promoted database: %v", rows)
	}
	w.restoresInOrder(w.east, "east")
}

// Killed between the last log restore and the recover, with and without
// the ledger knowing of that last restore: promote again recovers it
// where it stands, restoring nothing twice.
func TestBreak_PromoteKilledBeforeRecover(t *testing.T) {
	for _, recorded := range []bool{true, false} {
		t.Run(fmt.Sprintf("restore-recorded=%v", recorded), func(t *testing.T) {
			// restore_delay holds back the last two logs: promote restores them.
			w := shipped(t, wwOpts{east: `restore_delay = "20m"`}, 3)
			w.prim.SetDown(true)
			if recorded {
				w.east.FailNext("recover", "Sales", false, errLost)
			} else {
				// The last of the held-back logs restores, its reply is lost.
				w.east.FailNext("restore", "Sales", false, nil)
				w.east.FailNext("restore", "Sales", true, errLost)
			}
			if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code == 0 {
				t.Fatal("promote whose recover failed: exit 0")
			}
			if info, _ := w.east.Database("Sales"); info.State != engine.Standby {
				t.Fatalf("east is %s", info.State)
			}
			w.tick(time.Minute)
			if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code != 0 {
				t.Fatalf("promote again: exit %d", code)
			}
			if rows, want := w.east.Rows("Sales"), w.prim.Rows("Sales"); !slices.Equal(rows, want) {
				t.Errorf("east after the failover: %v, the primary had %v", rows, want)
			}
			td := w.td("east")
			info, _ := w.east.Database("Sales")
			if td.PromotedAt == nil || td.PromotedHow != state.PromoteUnplanned || info.State != engine.Online {
				t.Errorf("ledger %+v, server %s", td, info.State)
			}
			w.restoresInOrder(w.east, "east")
		})
	}
}

// A promoted database dropped on the target is seeded again; the seed is
// torn (the connection drops mid-restore: the database is left RESTORING,
// the ledger says Seeding and still says promoted). The next apply must
// finish protecting it, not leave drsctl's own half-seed alone as a
// promoted database forever.
func TestBreak_TornSeedAfterPromotedDatabaseDropped(t *testing.T) {
	for _, c := range []string{"torn", "reply lost"} {
		t.Run(c, func(t *testing.T) {
			w := shipped(t, wwOpts{}, 1)
			if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code != 0 {
				t.Fatalf("promote: exit %d", code)
			}
			w.east.Drop("Sales")
			if c == "torn" {
				w.east.TearNextRestore("Sales")
			} else {
				w.east.FailNext("restore", "Sales", true, errLost)
			}
			w.tick(16 * time.Minute)
			w.insert(1)
			if code := w.run(); code == 0 {
				t.Fatal("apply whose seed failed: exit 0")
			}
			if td := w.td("east"); td.Seeding == "" || td.PromotedAt == nil {
				t.Fatalf("want the ledger mid-seed and still promoted: %+v", td)
			}
			w.converge(4)
			if info, _ := w.east.Database("Sales"); info.State != engine.Standby {
				t.Errorf("east is %s after the seed failed; want it protected again", info.State)
			}
			if td := w.td("east"); td.PromotedAt != nil || td.Seeding != "" {
				t.Errorf("east ledger: %+v", td)
			}
			w.checkInvariants()
			if n, want := fullRestores(w.east), map[string]int{"torn": 3, "reply lost": 2}[c]; n != want {
				t.Errorf("east: %d full restores, want %d", n, want)
			}
		})
	}
}

// restore_delay and a closed restore_window hold restores back in routine
// applies; a switchover ignores both, and loses nothing.
func TestBreak_SwitchoverIgnoresDelayAndWindow(t *testing.T) {
	// The fake clock starts at 08:00 UTC; the window is closed all day.
	w := shipped(t, wwOpts{east: `restore_delay = "20m"
  restore_window {
    from = "22:00"
    to   = "23:00"
  }`}, 0)
	w.tick(14*time.Hour + 30*time.Minute) // 22:30, inside the window: the seed
	w.mustApply("seed in the window")
	if info, _ := w.east.Database("Sales"); info.State != engine.Standby {
		t.Fatalf("east not seeded: %s", info.State)
	}
	for range 3 {
		w.tick(16 * time.Minute) // 22:46 .. 23:18: the window closes
		w.insert(1)
		w.mustApply("logs")
	}
	w.insert(1) // only in the tail
	if code := w.promote(cli.PromoteOptions{Target: "east", Planned: true, AutoApprove: true}); code != 0 {
		t.Fatalf("switchover: exit %d", code)
	}
	if rows, want := w.east.Rows("Sales"), w.prim.Rows("Sales"); !slices.Equal(rows, want) {
		t.Errorf("east after the switchover: %v, primary %v", rows, want)
	}
	if info, _ := w.prim.Database("Sales"); info.State != engine.Restoring {
		t.Errorf("the primary is %s after the switchover, want RESTORING", info.State)
	}
	if td := w.td("east"); td.PromotedHow != state.PromotePlanned {
		t.Errorf("ledger: %+v", td)
	}
	w.restoresInOrder(w.east, "east")
}

// One log copy at the destination rotted in place (same size and time),
// and the backup folder is gone with the primary's site. The failover must
// never skip it nor restore past it: it stops before it, says so, and
// recovers there.
func TestBreak_FailoverDamagedCopyAndNoFolder(t *testing.T) {
	w := shipped(t, wwOpts{east: `restore_delay = "40m"`}, 4) // restored through 08:16; 08:32, 08:48, 09:04 wait
	dir := filepath.Join(w.dir, "east", "sales", "Sales")
	var bad string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, "T084800Z.trn") {
			bad = p
		}
		return nil
	})
	if bad == "" {
		t.Fatal("no copy of the 08:48 log at east")
	}
	rot(t, bad, true)
	w.prim.SetDown(true)
	if err := os.Rename(filepath.Join(w.dir, "share"), filepath.Join(w.dir, "share-burnt")); err != nil {
		t.Fatal(err)
	}
	code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true})
	first := w.out
	if info, _ := w.east.Database("Sales"); code != 0 && info.State == engine.Online {
		t.Errorf("promote failed but east is online")
	}
	if code != 0 {
		if !strings.Contains(first, "promote east") {
			t.Errorf("a failover stopped by a damaged copy must say to promote again:\n%s", first)
		}
		code = w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true})
	}
	if code != 0 {
		t.Fatalf("promote again: exit %d", code)
	}
	if !strings.Contains(w.out, "stops at Sales_log_20260302T083200Z.trn") {
		t.Errorf("the failover must say where it stops:\n%s", w.out)
	}
	if rows := w.east.Rows("Sales"); fmt.Sprint(rows) != "[1 2 3 4]" {
		t.Errorf("east after the failover: %v, want [1 2 3 4] (through the 08:32 log)", rows)
	}
	for _, ev := range w.east.Restores() {
		if strings.Contains(ev.Path, "T08480") || strings.Contains(ev.Path, "T090400") {
			t.Errorf("restored %s (done=%v) past or from the damaged copy", ev.Path, ev.Done)
		}
	}
	w.restoresInOrder(w.east, "east")
}

// The destination cannot be listed (its storage is down), but the ledger
// holds verified copies: what happens, and does it say what to do?
func TestBreak_FailoverDestinationUnreachable(t *testing.T) {
	w := shipped(t, wwOpts{east: `restore_delay = "20m"`}, 3)
	w.prim.SetDown(true)
	dest := filepath.Join(w.dir, "east")
	if err := os.Rename(dest, dest+"-down"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dest, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true})
	info, _ := w.east.Database("Sales")
	t.Logf("exit %d, east %s", code, info.State)
	if code == 0 && info.State != engine.Online {
		t.Errorf("promote exit 0 but east is %s", info.State)
	}
	if code != 0 && info.State == engine.Online {
		t.Errorf("promote exit %d but east is online", code)
	}
	if !strings.Contains(w.out, "which cannot be listed") || !strings.Contains(w.out, "WITH RECOVERY on the target") {
		t.Errorf("promote does not say what to do while the destination is down:\n%s", w.out)
	}
	// The operator recovers it by hand; promote records it.
	w.east.RecoverByHand("Sales")
	if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code != 0 {
		t.Errorf("promote recording a database recovered by hand, destination still down: exit %d", code)
	}
	if td := w.td("east"); td.PromotedAt == nil {
		t.Errorf("not recorded: %+v", td)
	}
	w.restoresInOrder(w.east, "east")
}

// A target down for a day must not stop the backup folder's retention
// (the prune fence asks every standby that restored past a backup): the
// folder would fill and the primary stop being protected at all.
func TestBreak_PruneWhileATargetIsDown(t *testing.T) {
	w := shipped(t, wwOpts{full: "1h", folder: `retention = "2h"`}, 1)
	w.west.SetDown(true)
	for range 16 { // 4 hours
		w.tick(15 * time.Minute)
		w.insert(1)
		w.run()
	}
	// west restored through the 08:16 log before it went down: what it
	// still needs after that is kept for it, what it is past is not.
	for _, k := range w.folderFiles() {
		if strings.Contains(k, "T080000Z") || strings.Contains(k, "T081600Z") {
			t.Errorf("%s is still in the backup folder 4 hours later (retention 2h)", k)
		}
	}
	if strings.Contains(w.out, "before pruning") || strings.Contains(w.out, "refused to prune") {
		t.Errorf("a prune failed:\n%s", w.out)
	}
}

// Routine cron applies with retention, restore_delay, idle stretches and a
// daily full: no prune is ever refused.
func TestBreak_PruneFenceNoFalsePositive(t *testing.T) {
	w := shipped(t, wwOpts{full: "2h", folder: `retention = "3h"`, east: `restore_delay = "30m"`, rpo: "2h"}, 1)
	for i := range 48 { // 12 hours, idle every third hour
		w.tick(15 * time.Minute)
		if (i/4)%3 != 2 {
			w.insert(1)
		}
		if code := w.run(); code != 0 {
			t.Fatalf("cron apply %d: exit %d", i, code)
		}
		if strings.Contains(w.out, "refused to prune") {
			t.Fatalf("a prune was refused in routine operation:\n%s", w.out)
		}
	}
	w.checkInvariants()
}

// A switchover whose tail-log backup was taken (the primary is RESTORING
// now, nobody can write to it) but whose ship failed: the destination
// went down right after. promote -planned again cannot take another tail;
// its message must lead to a path that loses nothing, and that path must
// really lose nothing.
func TestBreak_SwitchoverTailShippedNowhere(t *testing.T) {
	h := seeded(t)
	h.insert(h.primary, "Sales", 2)
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Fatalf("apply exit %d", code)
	}
	h.insert(h.primary, "Sales", 3) // only the tail holds it
	var up func()
	e := h.envFor()
	e.Stdout = &onLine{w: e.Stdout, marker: "WITH NORECOVERY: done", f: func() { up = unmount(t, filepath.Join(h.dir, "west")) }}
	code := e.Promote(context.Background(), h.globals(), cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, Planned: true, AutoApprove: true})
	t.Logf("switchover → %d\n%s%s", code, h.stdout.String(), h.stderr.String())
	if code == 0 || up == nil {
		t.Fatalf("switchover with the destination going down after the tail: exit %d (down=%v)", code, up != nil)
	}
	if !strings.Contains(h.stdout.String(), "run it without -planned") {
		t.Errorf("the failed switchover does not say how to finish it:\n%s", h.stdout.String())
	}
	if st := h.standby(h.west, "Sales"); st.State != engine.Restoring {
		t.Fatalf("west/Sales is %s", st.RawState)
	}
	up()
	code, out := h.promote(cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, Planned: true, AutoApprove: true})
	if code == 0 || !strings.Contains(out, "promote without -planned") {
		t.Fatalf("switchover again after the tail was taken: exit %d, want the way on\n%s", code, out)
	}
	code, out = h.promote(cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, AutoApprove: true})
	if code != 0 {
		t.Fatalf("promote without -planned: exit %d", code)
	}
	if rows := h.rows(h.west, "Sales"); fmt.Sprint(rows) != "[1 2 3]" {
		t.Errorf("west/Sales after the failover: %v, want [1 2 3]: the tail's row lost", rows)
	}
	if strings.Contains(out, "is not on the target") || !strings.Contains(out, "nothing written on the primary was lost") {
		t.Errorf("promote must say nothing was lost, the tail of the log was restored:\n%s", out)
	}
	if td := h.ledger().LookupTargetDatabase("west", "Sales"); td == nil || td.PromotedHow != state.PromotePlanned {
		t.Errorf("ledger: %+v, want promoted_how planned", td)
	}
}

// A switchover of every database on west, where one of them cannot be
// promoted (dropped on west): its tail-log backup must not be taken, or
// the primary database is left RESTORING with no standby brought online.
func TestBreak_SwitchoverOneDatabaseCannot(t *testing.T) {
	h := seeded(t)
	if err := h.exec(h.west, "DROP DATABASE [O'Brien]"); err != nil {
		t.Fatal(err)
	}
	waitLogDue()
	code, out := h.promote(cli.PromoteOptions{Target: "west", Planned: true, AutoApprove: true})
	if code == 0 {
		t.Errorf("a switchover that could not promote O'Brien: exit 0")
	}
	if st := h.standby(h.west, "Sales"); st.State != engine.Online {
		t.Errorf("west/Sales is %s: the other databases must still switch over", st.RawState)
	}
	if err := h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (77, N'x')"); err == nil {
		t.Error("the primary's Sales still takes writes after its switchover")
	}
	for _, db := range []string{"O'Brien"} {
		if rows := h.rows(h.primary, db); rows == nil {
			t.Errorf("primary %s unreadable", db)
		}
		if err := h.exec(h.primary, fmt.Sprintf("INSERT INTO %s.dbo.drs_probe(id, note) VALUES (77, N'x')", quoteIdent(db))); err != nil {
			t.Errorf("the primary's %s takes no writes after a switchover that could not promote it: %v\n%s", db, err, out)
		}
	}
}

// A switchover whose target destination cannot be listed: the tail-log
// backup (which stops the primary) must not be taken when what follows it
// cannot be shipped.
func TestBreak_SwitchoverDestinationDown(t *testing.T) {
	h := seeded(t)
	up := unmount(t, filepath.Join(h.dir, "west"))
	defer up()
	code, out := h.promote(cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, Planned: true, AutoApprove: true})
	if code == 0 {
		t.Errorf("switchover with the destination down: exit 0")
	}
	if err := h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES (78, N'x')"); err != nil {
		t.Errorf("the primary takes no writes after a switchover that could not ship its tail: %v\n%s", err, out)
	}
}

// The tail-log backup's reply is lost (the server took it and left the
// primary RESTORING; drsctl never heard): promote without -planned adopts
// it from the primary's backup history, restores it, and loses nothing.
func TestBreak_SwitchoverTailReplyLost(t *testing.T) {
	w := shipped(t, wwOpts{}, 1)
	w.insert(1) // only in the tail
	w.tick(time.Minute)
	w.prim.FailNext("backup", "Sales", true, errLost)
	if code := w.promote(cli.PromoteOptions{Target: "west", Planned: true, AutoApprove: true}); code == 0 {
		t.Fatal("switchover whose tail-log reply was lost: exit 0")
	}
	if info, _ := w.prim.Database("Sales"); info.State != engine.Restoring {
		t.Fatalf("primary is %s", info.State)
	}
	w.tick(time.Minute)
	if code := w.promote(cli.PromoteOptions{Target: "west", Planned: true, AutoApprove: true}); code == 0 || !strings.Contains(w.out, "promote without -planned") {
		t.Fatalf("switchover again: exit %d, want the way on", code)
	}
	if code := w.promote(cli.PromoteOptions{Target: "west", AutoApprove: true}); code != 0 {
		t.Fatalf("promote without -planned: exit %d", code)
	}
	if rows, want := w.west.Rows("Sales"), w.prim.Rows("Sales"); !slices.Equal(rows, want) {
		t.Errorf("west after the switchover: %v, primary %v", rows, want)
	}
	if !strings.Contains(w.out, "nothing written on the primary was lost") {
		t.Errorf("promote must say nothing was lost")
	}
	w.restoresInOrder(w.west, "west")
}

// An unplanned failover with the primary online (a database that is not
// stopped at a tail) says what is lost: the tail rule must not claim more.
func TestBreak_FailoverPrimaryOnlineSaysLoss(t *testing.T) {
	w := shipped(t, wwOpts{}, 1)
	w.insert(1) // after the last log backup: lost by a failover
	if code := w.promote(cli.PromoteOptions{Target: "west", AutoApprove: true}); code != 0 {
		t.Fatalf("failover: exit %d", code)
	}
	if !strings.Contains(w.out, "RPO achieved") || strings.Contains(w.out, "nothing written on the primary was lost") {
		t.Errorf("an unplanned failover with the primary online must say what it loses:\n%s", w.out)
	}
	if td := w.td("west"); td.PromotedHow != state.PromoteUnplanned {
		t.Errorf("ledger: %+v", td)
	}
}

// recreateOnRead answers the confirmation prompt with "yes", after the
// database was dropped and created again on the primary meanwhile (the
// operator took a while to answer).
type recreateOnRead struct {
	w    *ww
	done bool
}

func (r *recreateOnRead) Read(p []byte) (int, error) {
	if !r.done {
		r.done = true
		r.w.prim.Drop("Sales")
		r.w.tick(2 * time.Hour) // a visibly different create date
		r.w.prim.Create("Sales", "12345678901234567890000")
		r.w.prim.Insert("Sales", 4242)
	}
	return copy(p, "yes\n"), nil
}

// The primary database is recreated while promote -planned waits for the
// operator's "yes": the tail-log backup must be refused, and the new
// database left online and untouched.
func TestBreak_TailLogFenceRecreatedPrimary(t *testing.T) {
	w := shipped(t, wwOpts{}, 1)
	e := w.env()
	e.Terminal = true
	e.Stdin = &recreateOnRead{w: w}
	code := e.Promote(context.Background(), w.globals(), cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, Planned: true})
	out := w.stdout.String() + w.stderr.String()
	t.Logf("promote -planned → %d\n%s", code, out)
	if code == 0 || !strings.Contains(out, "refused to take the tail-log backup") {
		t.Errorf("tail-log backup over a recreated primary database: exit %d", code)
	}
	info, _ := w.prim.Database("Sales")
	if info.State != engine.Online || !slices.Contains(info.Rows, 4242) {
		t.Errorf("the recreated primary database is %s with rows %v", info.State, info.Rows)
	}
	if wi, _ := w.west.Database("Sales"); wi.State != engine.Restoring {
		t.Errorf("west is %s after a refused switchover", wi.State)
	}
}

// reprotect refuses a database drsctl never seeded on the target.
func TestBreak_ReprotectNeverSeeded(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.west.Create("Sales", "11111111111111111111000") // someone else's database
	w.insert(1)
	w.run()
	if code := w.reprotect("west"); code == 0 || !strings.Contains(w.out, "never seeded") {
		t.Fatalf("reprotect of a database drsctl never seeded: exit %d", code)
	}
	w.tick(16 * time.Minute)
	w.run()
	if fullRestores(w.west) != 0 {
		t.Errorf("a database drsctl never seeded was restored over")
	}
}

// Reprotect, then the target's server goes down: nothing fails beyond the
// server being down, nothing is replaced; when it is back, the reprotect
// still holds and the database is replaced once.
func TestBreak_ReprotectThenTargetDown(t *testing.T) {
	w := shipped(t, wwOpts{}, 1)
	if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code != 0 {
		t.Fatalf("promote: exit %d", code)
	}
	w.east.Insert("Sales", 9000)
	if code := w.reprotect("east"); code != 0 {
		t.Fatalf("reprotect: exit %d", code)
	}
	w.east.SetDown(true)
	w.tick(16 * time.Minute)
	w.insert(1)
	w.run()
	if n := fullRestores(w.east); n != 1 {
		t.Errorf("east: %d full restores while down", n)
	}
	w.east.SetDown(false)
	w.converge(4)
	if n := fullRestores(w.east); n != 2 {
		t.Errorf("east: %d full restores, want 2 (the seed and the one reprotect asked for)", n)
	}
	w.ledgerAgrees("east", w.east)
	w.assertRows(w.east, "east")
	if td := w.td("east"); td.PromotedAt != nil || td.ReprotectAt != nil {
		t.Errorf("east ledger: %+v", td)
	}
}

// Plans saved before the promotion and before the reprotect, applied
// after them: neither may restore over the promoted database.
func TestBreak_SavedPlansAcrossPromoteAndReprotect(t *testing.T) {
	w := shipped(t, wwOpts{}, 1)
	w.tick(16 * time.Minute)
	w.insert(1)
	before := filepath.Join(w.dir, "before-promote.plan")
	if code := w.planOut(cli.PlanOptions{Out: before}); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, w.out)
	}
	if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code != 0 {
		t.Fatalf("promote: exit %d", code)
	}
	w.east.Insert("Sales", 9000)
	afterPromote := filepath.Join(w.dir, "after-promote.plan")
	if code := w.planOut(cli.PlanOptions{Out: afterPromote}); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, w.out)
	}
	if code := w.reprotect("east"); code != 0 {
		t.Fatalf("reprotect: exit %d", code)
	}
	for _, f := range []string{before, afterPromote} {
		code := w.env().Apply(context.Background(), w.globals(), cli.ApplyOptions{PlanFile: f, Parallelism: 4})
		t.Logf("apply %s → %d\n%s%s", filepath.Base(f), code, w.stdout.String(), w.stderr.String())
		if rows := w.east.Rows("Sales"); !slices.Contains(rows, 9000) {
			t.Fatalf("%s restored over the promoted database: %v", filepath.Base(f), rows)
		}
	}
	if n := fullRestores(w.east); n != 1 {
		t.Errorf("east: %d full restores from saved plans", n)
	}
}

// Nothing from a connection string reaches promote's or reprotect's
// output, with a wrong password and with one that does not parse.
func TestBreak_PromoteSecrets(t *testing.T) {
	h := seeded(t)
	const secret = "Pw-PLANTED-4711/x@y"
	for _, dsn := range []string{
		"sqlserver://sa:" + url.QueryEscape(secret) + "@127.0.0.1:1/?encrypt=disable&dial+timeout=2", // nobody listens
		"sqlserver://sa:" + secret + "@[::1:bad/?encrypt=disable",                                    // does not parse
	} {
		e := h.envFor()
		base := e.Getenv
		e.Getenv = func(k string) (string, bool) {
			if k == "EAST_DSN" {
				return dsn, true
			}
			return base(k)
		}
		for _, planned := range []bool{false, true} {
			code := e.Promote(context.Background(), h.globals(), cli.PromoteOptions{Target: "east", Databases: []string{"Sales"}, Planned: planned, AutoApprove: true})
			out := h.stdout.String() + h.stderr.String()
			if code == 0 {
				t.Errorf("promote with a wrong connection string: exit 0")
			}
			for _, leak := range []string{secret, url.QueryEscape(secret), "PLANTED"} {
				if strings.Contains(out, leak) {
					t.Errorf("promote output holds %q:\n%s", leak, out)
				}
			}
		}
		e.Reprotect(context.Background(), h.globals(), cli.ReprotectOptions{Target: "east", Databases: []string{"Sales"}, AutoApprove: true})
		if out := h.stdout.String() + h.stderr.String(); strings.Contains(out, "PLANTED") {
			t.Errorf("reprotect output holds the secret:\n%s", out)
		}
	}
}

// promote -database for one of three databases: the other two stay
// standbys on the same target and keep receiving logs from later applies;
// the promoted one is left alone, and apply exits 0.
func TestBreak_PromoteOneOfThree(t *testing.T) {
	h := seeded(t)
	code, _ := h.promote(cli.PromoteOptions{Target: "west", Databases: []string{"Sales"}, AutoApprove: true})
	if code != 0 {
		t.Fatalf("promote: exit %d", code)
	}
	h.insert(h.west, "Sales", 900)
	for _, db := range []string{"Sales", "O'Brien", hostile} {
		h.insert(h.primary, db, 2)
	}
	waitLogDue()
	if code := h.apply(); code != 0 {
		t.Errorf("apply after promoting one database: exit %d", code)
	}
	// west's NORECOVERY databases cannot be read: ask where they stand.
	for _, db := range []string{"O'Brien", hostile} {
		if st := h.standby(h.west, db); st.State != engine.Restoring {
			t.Errorf("west/%s is %s", db, st.RawState)
		}
		td := h.ledger().LookupTargetDatabase("west", db)
		last := h.ledger().LookupDatabase("sales", db).Artifacts
		if td == nil || td.Restored == nil || td.Restored.Artifact != last[len(last)-1].ID {
			t.Errorf("west/%s did not receive the newest log: %+v", db, td)
		}
	}
	if rows := h.rows(h.west, "Sales"); fmt.Sprint(rows) != "[1 900]" {
		t.Errorf("west/Sales (promoted) rows %v", rows)
	}
	if rows := h.rows(h.east, "Sales"); fmt.Sprint(rows) != "[1 2]" {
		t.Errorf("east/Sales rows %v", rows)
	}
}

// A DBA restores someone else's database (the QA team's copy) in place of
// drsctl's standby: the plan reports it and never restores onto it, and it
// needs none of drsctl's backups. The prune fence must not read it as a
// standby "before the end" of every old backup and stop the backup
// folder's retention (failing cron every run) until the folder fills.
func TestBreak_PruneFenceForeignDatabaseInPlace(t *testing.T) {
	w := shipped(t, wwOpts{full: "1h", folder: `retention = "2h"`}, 1)
	qa := w.drv.Server("qa")
	qa.Create("Sales", "5000")
	p := filepath.Join(w.dir, "qa.bak")
	if _, err := qa.BackupOutOfBandFull(context.Background(), "Sales", p); err != nil {
		t.Fatal(err)
	}
	w.west.Drop("Sales")
	if err := w.west.RestoreByHand(context.Background(), engine.RestoreRequest{Database: "Sales", Kind: artifact.Full, ServerPath: p, Mode: engine.NoRecovery}); err != nil {
		t.Fatal(err)
	}
	for range 16 {
		w.tick(15 * time.Minute)
		w.insert(1)
		w.run()
		if strings.Contains(w.out, "refused to prune") {
			t.Fatalf("a prune was refused for someone else's database:\n%s", w.out)
		}
	}
	for _, k := range w.folderFiles() {
		if strings.Contains(k, "T080000Z") || strings.Contains(k, "T081600Z") {
			t.Errorf("%s is still in the backup folder 4 hours later (retention 2h)", k)
		}
	}
	if fullRestores(w.west) != 1 {
		t.Errorf("west: restored over someone else's database")
	}
}

// The rule the prune fence exists for: drsctl's standby is restored back by
// hand to an older backup of drsctl's after the plan was saved; a saved
// plan's prune of a log it needs again is refused, and nothing is deleted.
func TestBreak_PruneFenceStandbyRestoredBack(t *testing.T) {
	w := shipped(t, wwOpts{full: "1h", folder: `retention = "2h"`}, 1)
	for range 7 { // to 10:01: the 08:00 full is pruned
		w.tick(15 * time.Minute)
		w.insert(1)
		w.mustApply("cron")
	}
	w.tick(15 * time.Minute)
	saved := filepath.Join(w.dir, "saved.plan")
	if code := w.planOut(cli.PlanOptions{Out: saved}); code != 0 {
		t.Fatalf("plan: exit %d\n%s", code, w.out)
	}
	if !strings.Contains(w.out, "prune Sales_log_20260302T081600Z.trn") {
		t.Fatalf("the saved plan does not prune the 08:16 log:\n%s", w.out)
	}
	full := filepath.Join(w.dir, "west", "sales", "Sales", "full", "Sales_full_20260302T080000Z.bak")
	if err := w.west.RestoreByHand(context.Background(), engine.RestoreRequest{Database: "Sales", Kind: artifact.Full, ServerPath: full, Mode: engine.NoRecovery, Replace: true}); err != nil {
		t.Fatal(err)
	}
	code := w.env().Apply(context.Background(), w.globals(), cli.ApplyOptions{PlanFile: saved, Parallelism: 4})
	out := w.stdout.String() + w.stderr.String()
	if code == 0 || !strings.Contains(out, `refused to prune Sales_log_20260302T081600Z.trn from backup folder "share": target "west" stands at LSN`) {
		t.Errorf("saved plan pruning a log west needs again: exit %d\n%s", code, out)
	}
	if !slices.ContainsFunc(w.folderFiles(), func(k string) bool { return strings.Contains(k, "T081600Z") }) {
		t.Errorf("the 08:16 log was deleted though west needs it again")
	}
}

// A saved plan reseeds west WITH REPLACE; west is failed over by hand
// before it is applied. The fence refuses, and must leave no Seeding
// intent behind: the next plan must see a database recovered outside
// drsctl (an error to act on), not drsctl's own half-seed to restore over.
func TestBreak_RefusedReplaceLeavesNoSeedingIntent(t *testing.T) {
	w := shipped(t, wwOpts{}, 1)
	w.insert(1)
	if _, err := w.prim.BackupOutOfBand(context.Background(), "Sales", filepath.Join(t.TempDir(), "hole.trn")); err != nil {
		t.Fatal(err)
	}
	w.tick(16 * time.Minute)
	saved := filepath.Join(w.dir, "saved.plan")
	w.planOut(cli.PlanOptions{Out: saved})
	if !strings.Contains(w.out, "restore full") {
		t.Fatalf("the saved plan does not reseed:\n%s", w.out)
	}
	w.west.RecoverByHand("Sales")
	w.west.Insert("Sales", 7777)
	code := w.env().Apply(context.Background(), w.globals(), cli.ApplyOptions{PlanFile: saved, Parallelism: 4})
	out := w.stdout.String() + w.stderr.String()
	if code == 0 || !strings.Contains(out, `refused to restore WITH REPLACE over "Sales" on target "west"`) {
		t.Fatalf("saved plan over a failed-over west: exit %d\n%s", code, out)
	}
	if td := w.td("west"); td.Seeding != "" {
		t.Errorf("a refused REPLACE left the ledger mid-seed: %+v", td)
	}
	for range 3 {
		w.tick(16 * time.Minute)
		w.insert(1)
		w.run()
		if !strings.Contains(w.out, `database "Sales" on target "west" is ONLINE: it was recovered outside drsctl`) {
			t.Errorf("the next plan does not report west as recovered outside drsctl:\n%s", w.out)
		}
	}
	if rows := w.west.Rows("Sales"); !slices.Contains(rows, 7777) {
		t.Errorf("west was restored over: %v", rows)
	}
	if v := replaceViolations(w.west); len(v) > 0 {
		t.Errorf("west: %v", v)
	}
}

// reprotect, then the operator drops the database on the target anyway
// before the next apply: it is seeded without REPLACE, once.
func TestBreak_ReprotectThenDropped(t *testing.T) {
	w := shipped(t, wwOpts{}, 1)
	if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code != 0 {
		t.Fatalf("promote: exit %d", code)
	}
	if code := w.reprotect("east"); code != 0 {
		t.Fatalf("reprotect: exit %d", code)
	}
	w.east.Drop("Sales")
	w.converge(4)
	for _, ev := range w.east.Restores() {
		if ev.Replace {
			t.Errorf("REPLACE over %s on east, which was dropped", ev.ReplacedState)
		}
	}
	if n := fullRestores(w.east); n != 2 {
		t.Errorf("east: %d full restores, want 2", n)
	}
	w.checkInvariants()
	if td := w.td("east"); td.PromotedAt != nil || td.ReprotectAt != nil {
		t.Errorf("east ledger: %+v", td)
	}
}

// A switchover onto a STANDBY target with readers and no disconnect_users,
// with logs still held back by restore_delay: restoring them fails (the
// readers hold the database). The primary must not have been stopped by
// the tail-log backup for a switchover that could not even catch up.
func TestBreak_SwitchoverCatchUpFailsBeforeTail(t *testing.T) {
	w := shipped(t, wwOpts{east: `restore_delay = "20m"`}, 3)
	w.east.SetReaders("Sales", 2)
	w.insert(1)
	if code := w.promote(cli.PromoteOptions{Target: "east", Planned: true, AutoApprove: true}); code == 0 {
		t.Fatal("switchover with readers holding east: exit 0")
	}
	if info, _ := w.prim.Database("Sales"); info.State != engine.Online {
		t.Errorf("the primary is %s after a switchover that could not catch east up", info.State)
	}
	if err := w.prim.Insert("Sales", 4343); err != nil {
		t.Errorf("the primary takes no writes: %v", err)
	}
	// Readers gone: the switchover goes through and loses nothing.
	w.east.SetReaders("Sales", 0)
	w.tick(time.Minute)
	if code := w.promote(cli.PromoteOptions{Target: "east", Planned: true, AutoApprove: true}); code != 0 {
		t.Fatalf("switchover again: exit %d", code)
	}
	if rows, want := w.east.Rows("Sales"), w.prim.Rows("Sales"); !slices.Equal(rows, want) {
		t.Errorf("east after the switchover: %v, primary %v", rows, want)
	}
	w.restoresInOrder(w.east, "east")
}

// A switchover whose recover failed after the tail was restored: promote
// without -planned recovers it and says nothing was lost.
func TestBreak_SwitchoverRecoverFailedAfterTail(t *testing.T) {
	w := shipped(t, wwOpts{}, 1)
	w.insert(1)
	w.west.FailNext("recover", "Sales", false, errLost)
	if code := w.promote(cli.PromoteOptions{Target: "west", Planned: true, AutoApprove: true}); code == 0 {
		t.Fatal("switchover whose recover failed: exit 0")
	}
	w.tick(time.Minute)
	if code := w.promote(cli.PromoteOptions{Target: "west", AutoApprove: true}); code != 0 {
		t.Fatalf("promote without -planned: exit %d", code)
	}
	if !strings.Contains(w.out, "nothing written on the primary was lost") || strings.Contains(w.out, "restore log") {
		t.Errorf("finishing the switchover must restore nothing again and say nothing was lost:\n%s", w.out)
	}
	if rows, want := w.west.Rows("Sales"), w.prim.Rows("Sales"); !slices.Equal(rows, want) {
		t.Errorf("west %v, primary %v", rows, want)
	}
	w.restoresInOrder(w.west, "west")
}

// Promote a second time, after the first worked: "already promoted" only
// when the promoted database still stands there. Replaced by someone's copy
// since, dropped since, or its server not answering, a failover must not be
// told all is well (found by scenario seed 9087).
func TestBreak_PromoteAgainAfterTheDatabaseChanged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(w *ww)
		code   int
		says   string
	}{
		{"still there", func(w *ww) {}, 0, "already promoted"},
		{"replaced by a copy", func(w *ww) {
			qa := w.drv.Server("qa")
			qa.Create("Sales", "5000")
			p := filepath.Join(w.dir, "qa.bak")
			if _, err := qa.BackupOutOfBandFull(context.Background(), "Sales", p); err != nil {
				w.t.Fatal(err)
			}
			w.east.Drop("Sales")
			if err := w.east.RestoreByHand(context.Background(), engine.RestoreRequest{Database: "Sales", Kind: artifact.Full, ServerPath: p, Mode: engine.NoRecovery}); err != nil {
				w.t.Fatal(err)
			}
		}, 1, "drsctl did not seed it"},
		{"dropped", func(w *ww) { w.east.Drop("Sales") }, 1, "has been dropped there since"},
		{"server not answering", func(w *ww) { w.east.FailNext("observe", "Sales", false, errLost) }, 1, "whether it is still there is unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := shipped(t, wwOpts{}, 1)
			w.prim.SetDown(true)
			if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code != 0 {
				t.Fatalf("first promote: exit %d", code)
			}
			tc.change(w)
			w.tick(time.Minute)
			code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true})
			if code != tc.code || !strings.Contains(w.out, tc.says) {
				t.Errorf("promote again: exit %d, want %d saying %q:\n%s", code, tc.code, tc.says, w.out)
			}
		})
	}
}

// A switchover to west, then the operator changes their mind and brings
// the old primary back ONLINE by hand (RESTORE WITH RECOVERY): a new
// recovery fork begins where the tail-log backup ended, and the primary's
// log chain carries on from there. East, standing at that point, keeps
// following it: no full restarts the chain, nothing is seeded again, and a
// failover to east later restores what the primary wrote since (found by
// scenario seed 11020, where the failover lost seven hours it could reach).
func TestBreak_SwitchoverUndoneByRecoveringThePrimary(t *testing.T) {
	w := shipped(t, wwOpts{}, 2)
	w.tick(time.Minute)
	if code := w.promote(cli.PromoteOptions{Target: "west", Planned: true, AutoApprove: true}); code != 0 {
		t.Fatalf("switchover: exit %d", code)
	}
	if info, _ := w.prim.Database("Sales"); info.State != engine.Restoring {
		t.Fatalf("the primary is %s after the switchover, want RESTORING", info.State)
	}
	w.prim.RecoverByHand("Sales")
	fullsBefore := fullRestores(w.east)
	for range 3 {
		w.tick(16 * time.Minute)
		w.insert(1)
		w.run()
		if strings.Contains(w.out, "restarted") || strings.Contains(w.out, "recreated") {
			t.Fatalf("a recovery that carries the chain on was taken for a restart:\n%s", w.out)
		}
	}
	if n := fullRestores(w.east); n != fullsBefore {
		t.Errorf("east was seeded again (%d full restores, was %d)", n, fullsBefore)
	}
	for _, a := range w.state().Primaries["sales"].Databases["Sales"].Artifacts {
		if a.NewFork {
			t.Errorf("%s was recorded as restarting the chain", a.ID)
		}
	}
	w.prim.SetDown(true)
	if code := w.promote(cli.PromoteOptions{Target: "east", AutoApprove: true}); code != 0 {
		t.Fatalf("failover to east: exit %d", code)
	}
	if got, want := w.east.Rows("Sales"), w.prim.Rows("Sales"); !slices.Equal(got, want) {
		t.Errorf("east after the failover holds %v, want the primary's %v", got, want)
	}
	w.restoresInOrder(w.east, "east")
}

// A ship of a backup no target needs (an idle database's empty log) is
// killed after its upload and before the ledger records the copy. Once the
// backup is pruned from the folder, the ledger must not forget it while
// that copy is still at the destination: nothing would ever remove it
// (found by the crash harness, seed 1 in CI).
func TestBreak_UnrecordedCopyOfABackupNoTargetNeeds(t *testing.T) {
	w := shipped(t, wwOpts{full: "1h", folder: `retention = "2h"`}, 1)
	w.tick(16 * time.Minute)
	w.mustApply("an idle database's empty log")
	st := w.state()
	var empty *state.Artifact
	for _, a := range st.Primaries["sales"].Databases["Sales"].Artifacts {
		if a.Kind == artifact.Log && a.FirstLSN == a.LastLSN {
			empty = a
		}
	}
	if empty == nil {
		t.Fatal("no empty log backup was taken")
	}
	for _, tg := range []string{"east", "west", "vault"} {
		if _, err := os.Stat(filepath.Join(w.dir, tg, filepath.FromSlash(empty.Key))); err != nil {
			continue
		}
		delete(st.Targets[tg].Databases["Sales"].Copies, empty.ID) // the run was killed before it wrote the copy down
	}
	f, err := os.Create(filepath.Join(w.dir, "drs.state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := state.Write(st, f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for range 12 { // 3 hours: past the folder's retention
		w.tick(16 * time.Minute)
		w.insert(1)
		w.run()
	}
	known := map[string]bool{}
	for _, a := range w.state().Primaries["sales"].Databases["Sales"].Artifacts {
		known[a.Key] = true
	}
	for _, tg := range []string{"east", "west", "vault"} {
		if _, err := os.Stat(filepath.Join(w.dir, tg, filepath.FromSlash(empty.Key))); err == nil && !known[empty.Key] {
			t.Errorf("%s: %s is at the destination but the ledger forgot it", tg, empty.Key)
		}
	}
}
