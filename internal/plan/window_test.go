package plan

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/google/go-cmp/cmp"

	"github.com/drsctl/drsctl/internal/config"
)

var everyDay = [7]bool{true, true, true, true, true, true, true}

// nightly is a window from 19:00 to 07:00 every day in zone.
func nightly(t *testing.T, zone string) config.RestoreWindows {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	return config.RestoreWindows{{Days: everyDay, From: 19 * 60, To: 7 * 60, Location: loc, Zone: zone}}
}

// withWindow is testConfig with dr_east (a read-only STANDBY target) taking
// restores only inside ws.
func withWindow(ws config.RestoreWindows) *config.Config {
	cfg := testConfig()
	cfg.TargetByName("dr_east").RestoreWindows = ws
	return cfg
}

func onTarget(p *Plan, target string) map[ActionKind]int {
	c := map[ActionKind]int{}
	for _, a := range p.Actions {
		if a.Target == target {
			c[a.Kind]++
		}
	}
	return c
}

func rpoRow(t *testing.T, p *Plan, target string) RPOStatus {
	t.Helper()
	for _, r := range p.RPO {
		if r.Target == target {
			return r
		}
	}
	t.Fatalf("no RPO row for %q", target)
	return RPOStatus{}
}

// Outside the window nothing is restored on that target, while everything
// else (ships, verifies, the other targets' restores) is planned as usual,
// and the plan says when the window opens.
func TestWindow_ClosedHoldsRestoresOnly(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1)
	at(st, "dr_west", true, F, L1)
	p := Make(withWindow(nightly(t, "UTC")), st, nil, now, Options{}) // 12:00 UTC

	if got := onTarget(p, "dr_east"); got[RestoreLog]+got[RestoreFull] != 0 || got[Ship] != 2 || got[Verify] != 2 {
		t.Errorf("dr_east: %v; want L2 and L3 shipped and verified, nothing restored", got)
	}
	if got := onTarget(p, "dr_west"); got[RestoreLog] != 2 {
		t.Errorf("dr_west (no window) must restore L2 and L3: %v", got)
	}
	var note *Problem
	for i, pr := range p.Problems {
		if pr.Target == "dr_east" {
			note = &p.Problems[i]
		}
	}
	if note == nil || note.Severity != Warning || note.Summary != `restores on target "dr_east" wait for the restore window, which opens at 19:00 UTC (in 7h)` {
		t.Fatalf("want a warning saying when the window opens, got %+v", p.Problems)
	}
	r := rpoRow(t, p, "dr_east")
	if !r.Breach || r.Lag != 2*time.Hour || r.Window != "window closed, opens 19:00 UTC (in 7h)" {
		t.Errorf("dr_east RPO = %+v; want the lag as usual (2h, a breach) marked as the window's", r)
	}
	if w := rpoRow(t, p, "dr_west"); w.Window != "" {
		t.Errorf("dr_west has no window: %+v", w)
	}
	var b strings.Builder
	if err := WriteHuman(&b, p, Style{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "BREACH  2h behind, through L1.trn (limit 30m); window closed, opens 19:00 UTC (in 7h)") {
		t.Errorf("the RPO row must say the window is closed:\n%s", b.String())
	}
}

// Inside the window, across midnight, the plan is exactly the plan without
// a window.
func TestWindow_OpenAcrossMidnightPlansAsUsual(t *testing.T) {
	st := chainState(F, L1, L2, L3)
	at(st, "dr_east", true, F, L1)
	for _, tm := range []time.Time{
		time.Date(2026, 11, 25, 19, 0, 0, 0, time.UTC), // opens
		time.Date(2026, 11, 25, 23, 59, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC), // the next morning, still the same window
		time.Date(2026, 11, 26, 6, 59, 0, 0, time.UTC),
	} {
		// The ledger is the same, so the plans must be too (their clocks
		// aside).
		want := Make(testConfig(), st, nil, tm, Options{})
		got := Make(withWindow(nightly(t, "UTC")), st, nil, tm, Options{})
		if diff := cmp.Diff(ids(want), ids(got)); diff != "" {
			t.Errorf("at %s (-no window +window):\n%s", tm.Format(time.Kitchen), diff)
		}
		if got.Action("restore_log:sales/Sales@dr_east#L2.trn") == nil || got.Action("restore_log:sales/Sales@dr_east#L3.trn") == nil {
			t.Errorf("at %s L2 and L3 must be restored on dr_east: %v", tm.Format(time.Kitchen), ids(got))
		}
		if r := rpoRow(t, got, "dr_east"); r.Window != "" {
			t.Errorf("at %s the window is open: %+v", tm.Format(time.Kitchen), r)
		}
	}
	// 07:00 the window has closed.
	if k := onTarget(Make(withWindow(nightly(t, "UTC")), st, nil, time.Date(2026, 11, 26, 7, 0, 0, 0, time.UTC), Options{}), "dr_east"); k[RestoreLog] != 0 {
		t.Errorf("at 07:00 the window is closed: %v", k)
	}
}

// On the nights the clocks change in Berlin the window is still 19:00 to
// 07:00 local time: which UTC hours are open differs from one day to the
// other.
func TestWindow_DaylightSaving(t *testing.T) {
	ws := nightly(t, "Europe/Berlin")
	for _, c := range []struct {
		name     string
		now      time.Time
		restores bool
		opens    string
	}{
		{"last Sunday of March, 06:30 CEST", time.Date(2026, 3, 29, 4, 30, 0, 0, time.UTC), true, ""},
		{"last Sunday of March, 07:30 CEST", time.Date(2026, 3, 29, 5, 30, 0, 0, time.UTC), false, "19:00 CEST (in 11h30m)"},
		{"last Sunday of October, 06:30 CET", time.Date(2026, 10, 25, 5, 30, 0, 0, time.UTC), true, ""},
		{"last Sunday of October, 07:30 CET", time.Date(2026, 10, 25, 6, 30, 0, 0, time.UTC), false, "19:00 CET (in 11h30m)"},
		{"the Saturday before, 18:30 CEST", time.Date(2026, 10, 24, 16, 30, 0, 0, time.UTC), false, "19:00 CEST (in 30m)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			// A ledger placed relative to c.now: L1 restored, L2 waiting.
			base := c.now.Sub(now)
			f, l1, l2 := *F, *L1, *L2
			f.Finish, l1.Finish, l2.Finish = F.Finish.Add(base), L1.Finish.Add(base), L2.Finish.Add(base)
			st := chainState(&f, &l1, &l2)
			at(st, "dr_east", true, &f, &l1)
			p := Make(withWindow(ws), st, nil, c.now, Options{})
			if got := p.Action("restore_log:sales/Sales@dr_east#L2.trn") != nil; got != c.restores {
				t.Errorf("restores planned = %v, want %v", got, c.restores)
			}
			if r := rpoRow(t, p, "dr_east"); c.opens != "" && r.Window != "window closed, opens "+c.opens {
				t.Errorf("RPO window note %q, want it to open at %s", r.Window, c.opens)
			}
		})
	}
}

// A new target's seed waits for the window too; the backup it needs is
// taken and shipped meanwhile, so only the restore is left when it opens.
func TestWindow_SeedWaits(t *testing.T) {
	p := Make(withWindow(nightly(t, "UTC")), nil, nil, now, Options{})
	nf := "+backup_full:sales/Sales"
	if p.Action("backup_full:sales/Sales") == nil || p.Action("ship:sales/Sales@dr_east#"+nf) == nil || p.Action("verify:sales/Sales@dr_east#"+nf) == nil {
		t.Fatalf("backup, ship and verify must go on outside the window: %v", ids(p))
	}
	if p.Action("restore_full:sales/Sales@dr_east#"+nf) != nil {
		t.Error("the seed of dr_east must wait for its window")
	}
	if p.Action("restore_full:sales/Sales@dr_west#"+nf) == nil {
		t.Error("dr_west has no window: it is seeded now")
	}
	if r := rpoRow(t, p, "dr_east"); !r.Breach || r.Window != "window closed, opens 19:00 UTC (in 7h)" {
		t.Errorf("dr_east RPO = %+v", r)
	}
}

// restore_delay and the window combine: inside the window only what is
// older than the delay is restored; outside it nothing is.
func TestWindow_CombinesWithRestoreDelay(t *testing.T) {
	st := chainState(F, L1, L2, L3) // L2 finished 1h ago, L3 10m ago
	at(st, "dr_east", true, F, L1)
	day := config.RestoreWindows{{Days: everyDay, From: 8 * 60, To: 18 * 60, Location: time.UTC, Zone: "UTC"}}
	cfg := withWindow(day)
	cfg.TargetByName("dr_east").RestoreDelay = 30 * time.Minute
	p := Make(cfg, st, nil, now, Options{}) // 12:00: open
	if p.Action("restore_log:sales/Sales@dr_east#L2.trn") == nil || p.Action("restore_log:sales/Sales@dr_east#L3.trn") != nil {
		t.Errorf("inside the window with a 30m delay, L2 and not L3: %v", ids(p))
	}
	p = Make(cfg, st, nil, now.Add(7*time.Hour), Options{}) // 19:00: closed
	if k := onTarget(p, "dr_east"); k[RestoreLog] != 0 {
		t.Errorf("outside the window nothing is restored: %v", k)
	}
	if r := rpoRow(t, p, "dr_east"); r.Window != "window closed, opens Thu 08:00 UTC (in 13h)" {
		t.Errorf("the next opening is tomorrow morning: %q", r.Window)
	}
	// Nothing old enough to restore: nothing waits for the window either.
	at(st, "dr_east", true, F, L1, L2, L3)
	p = Make(cfg, st, nil, now.Add(7*time.Hour), Options{})
	if r := rpoRow(t, p, "dr_east"); r.Window != "" || len(p.Problems) != 0 {
		t.Errorf("a target that is up to date does not wait for anything: %+v %+v", r, p.Problems)
	}
}
