package plan

import (
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/state"
)

func healthOf(t *testing.T, hs []TargetHealth, target string) TargetHealth {
	t.Helper()
	for _, h := range hs {
		if h.Target == target {
			return h
		}
	}
	t.Fatalf("no health row for %s", target)
	return TargetHealth{}
}

func TestHealth_BackupAge(t *testing.T) {
	// A server clock 2h ahead: the log's finish says "just now, in the
	// future", but drsctl saw it complete an hour ago.
	ahead := art("L9.trn", artifact.Log, "500", "600", now.Add(2*time.Hour))
	ahead.Completed = ago(time.Hour)
	// An adopted log whose server clock was a day ahead: no Completed to
	// bound it, so it is not believed.
	adopted := art("OOB.trn", artifact.Log, "500", "550", now.Add(24*time.Hour))
	adopted.OutOfBand = true
	tests := map[string]struct {
		st        *state.State
		alertOff  bool
		wantAge   time.Duration
		wantLast  string
		wantAlert bool
	}{
		"fresh":                              {st: chainState(F, L1, L2, L3), wantAge: 10 * time.Minute, wantLast: "L3.trn"},
		"two hours without a backup":         {st: chainState(F, L1), wantAge: 2 * time.Hour, wantLast: "L1.trn", wantAlert: true},
		"no backup at all":                   {st: state.New(""), wantAlert: true},
		"alert turned off":                   {st: chainState(F), alertOff: true, wantAge: 3 * time.Hour, wantLast: "F.bak"},
		"finish later than Completed":        {st: chainState(F, ahead), wantAge: time.Hour + time.Second, wantLast: "L9.trn", wantAlert: true},
		"adopted backup dated in the future": {st: chainState(F, L1, adopted), wantAge: 2 * time.Hour, wantLast: "L1.trn", wantAlert: true},
		"a full counts as the newest backup": {st: chainState(L1, art("F2.bak", artifact.Full, "300", "310", ago(5*time.Minute))), wantAge: 5 * time.Minute, wantLast: "F2.bak"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			if tt.alertOff {
				off := time.Duration(0)
				cfg.Primaries[0].LogBackup.AlertAfter = &off
			}
			bs, _ := Health(cfg, tt.st, now)
			if len(bs) != 1 {
				t.Fatalf("%d backup rows", len(bs))
			}
			b := bs[0]
			if b.Age != tt.wantAge || b.Artifact != tt.wantLast || b.Alert != tt.wantAlert {
				t.Errorf("age %s last %q alert %v; want %s %q %v", b.Age, b.Artifact, b.Alert, tt.wantAge, tt.wantLast, tt.wantAlert)
			}
			if want := 45 * time.Minute; !tt.alertOff && b.AlertAfter != want {
				t.Errorf("AlertAfter = %s, want the default %s", b.AlertAfter, want)
			}
		})
	}
}

func TestHealth_Restore(t *testing.T) {
	empty := art("L4.trn", artifact.Log, "500", "500", ago(5*time.Minute)) // idle: never restored
	nf := art("F2.bak", artifact.Full, "10", "20", ago(20*time.Minute))
	nf.NewFork = true
	tests := map[string]struct {
		st          *state.State
		target      string
		delay       time.Duration
		later       time.Duration
		wantOverdue time.Duration
		wantAlert   bool
	}{
		"standby current":           {st: with(chainState(F, L1, L2, L3), "dr_east", true, F, L1, L2, L3), target: "dr_east"},
		"log waiting ten minutes":   {st: with(chainState(F, L1, L2, L3), "dr_east", true, F, L1, L2), target: "dr_east", wantOverdue: 10 * time.Minute},
		"log waiting seventy":       {st: with(chainState(F, L1, L2, L3), "dr_east", true, F, L1, L2), target: "dr_east", later: time.Hour, wantOverdue: 70 * time.Minute, wantAlert: true},
		"idle database never stale": {st: with(chainState(F, L1, L2, L3, empty), "dr_east", true, F, L1, L2, L3), target: "dr_east", later: 48 * time.Hour},
		"new fork waits for a seed": {st: with(chainState(F, L1, L2, L3, nf), "dr_east", true, F, L1, L2, L3), target: "dr_east", wantOverdue: 9 * time.Minute}, // since L3 was restored
		"never seeded":              {st: chainState(F, L1), target: "dr_east", wantOverdue: 3 * time.Hour, wantAlert: true},
		// restore_delay holds L2 and L3 back by design: the wait starts
		// when L2 may first be restored, an hour after it was taken.
		"delay is not a wait":     {st: with(chainState(F, L1, L2, L3), "dr_east", true, F, L1), target: "dr_east", delay: time.Hour, wantOverdue: 0},
		"delay then a wait":       {st: with(chainState(F, L1, L2, L3), "dr_east", true, F, L1), target: "dr_east", delay: time.Hour, later: time.Hour, wantOverdue: time.Hour, wantAlert: true},
		"copy-only not shipped":   {st: with(chainState(F, L1, L2, L3), "vault", false, F, L1), target: "vault", wantOverdue: time.Hour, wantAlert: true},
		"copy-only shipped":       {st: with(chainState(F, L1, L2, L3), "vault", false, F, L1, L2, L3), target: "vault"},
		"nothing taken, no alert": {st: state.New(""), target: "dr_east"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			for _, tg := range cfg.Targets {
				tg.RestoreDelay = tt.delay
			}
			_, hs := Health(cfg, tt.st, now.Add(tt.later))
			h := healthOf(t, hs, tt.target)
			if h.Overdue != tt.wantOverdue || h.Alert != tt.wantAlert {
				t.Errorf("overdue %s alert %v (waiting since %s, last %s); want %s %v", h.Overdue, h.Alert, h.Waiting, h.Last, tt.wantOverdue, tt.wantAlert)
			}
			if h.AlertAfter != 45*time.Minute {
				t.Errorf("AlertAfter = %s, want the default 45m", h.AlertAfter)
			}
		})
	}
}

func TestHealth_PromotedAndDrills(t *testing.T) {
	st := with(chainState(F, L1, L2, L3), "dr_east", true, F)
	promoted := ago(30 * time.Minute)
	st.TargetDatabase("dr_east", "Sales").PromotedAt = &promoted
	st.TargetDatabase("dr_east", "Sales").PromotedHow = state.PromoteUnplanned
	ok := ago(8 * 24 * time.Hour)
	failed := &state.Drill{At: ago(time.Hour), Duration: 3 * time.Minute, Artifact: "L3.trn", OK: false, Error: "CHECKDB found 2 errors"}
	west := st.TargetDatabase("dr_west", "Sales")
	west.LastDrill, west.DrillOKAt = failed, &ok
	cfg := testConfig()
	for _, tg := range cfg.Targets {
		tg.DrillAlertAfter = 7 * 24 * time.Hour
	}
	_, hs := Health(cfg, st, now)
	east := healthOf(t, hs, "dr_east")
	if east.Alert || east.PromotedAt == nil || east.PromotedHow != state.PromoteUnplanned || east.DrillAlert {
		t.Errorf("a promoted database is shown, never alerted: %+v", east)
	}
	w := healthOf(t, hs, "dr_west")
	if w.LastDrill != failed || w.DrillOKAt == nil || !w.DrillAlert {
		t.Errorf("last good drill 8 days ago with drill_alert_after 7d: %+v", w)
	}
	cfg.Targets[1].DrillAlertAfter = 0
	if _, hs := Health(cfg, st, now); healthOf(t, hs, "dr_west").DrillAlert {
		t.Error("drill alerts are off unless drill_alert_after is set")
	}
}

// with is at, returning the state.
func with(st *state.State, target string, restore bool, arts ...*state.Artifact) *state.State {
	at(st, target, restore, arts...)
	return st
}

// A target with a restore window is not overdue for what waits for the
// window to open: a reporting standby restored at night must not alert all
// day. Once the window is open, the wait counts from its opening.
func TestHealth_RestoreWindow(t *testing.T) {
	st := with(chainState(F, L1, L2, L3), "dr_east", true, F, L1, L2) // L3 waits
	for name, tt := range map[string]struct {
		later       time.Duration // after now (12:00 UTC)
		wantOverdue time.Duration
		wantAlert   bool
	}{
		"daytime: the window is closed": {later: 5 * time.Hour, wantOverdue: 0},
		"just after it opens":           {later: 7*time.Hour + 10*time.Minute, wantOverdue: 10 * time.Minute},
		"an hour into the window":       {later: 8 * time.Hour, wantOverdue: time.Hour, wantAlert: true},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := withWindow(nightly(t, "UTC"))
			_, hs := Health(cfg, st, now.Add(tt.later))
			h := healthOf(t, hs, "dr_east")
			if h.Overdue != tt.wantOverdue || h.Alert != tt.wantAlert {
				t.Errorf("overdue %s alert %v; want %s %v", h.Overdue, h.Alert, tt.wantOverdue, tt.wantAlert)
			}
		})
	}
}
