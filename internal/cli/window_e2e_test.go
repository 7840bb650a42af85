package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"

	"github.com/drsctl/drsctl/internal/cli"
)

// A read-only reporting standby whose restores may run only at night in
// Berlin, applied by cron every 15 minutes over a simulated day and a half:
// restores on it happen only inside the window, it catches up when the
// window opens, and a plan saved inside the window and applied after it
// closed restores nothing there.
func TestWindow_CronOverADay(t *testing.T) {
	w := newWW(t, wwOpts{rpo: "13h", east: `
  disconnect_users = true
  restore_window {
    from      = "19:00"
    to        = "07:00"
    time_zone = "Europe/Berlin"
  }`})
	berlin, _ := time.LoadLocation("Europe/Berlin")
	inWindow := func(tm time.Time) bool {
		h := tm.In(berlin).Hour()
		return h >= 19 || h < 7
	}
	eastRestores := func() int { return len(w.east.Restores()) }
	checkNoneOutside := func() {
		t.Helper()
		for _, ev := range w.east.Restores() {
			if !inWindow(ev.At) {
				t.Fatalf("a restore on east at %s, outside its window (19:00-07:00 Berlin): %+v", ev.At.In(berlin).Format("Mon 15:04 MST"), ev)
			}
		}
	}

	// Monday 09:00 CET: the first apply backs up, ships and seeds west; the
	// seed of east waits, and the plan says until when.
	w.insert(3)
	w.mustApply("first apply")
	if n := eastRestores(); n != 0 {
		t.Fatalf("east was restored outside its window (%d restores)", n)
	}
	if !strings.Contains(w.out, `restores on target "east" wait for the restore window, which opens at 19:00 CET (in 10h)`) {
		t.Errorf("the plan must say when the window opens:\n%s", w.out)
	}
	if !strings.Contains(w.out, "window closed, opens 19:00 CET (in 10h)") {
		t.Errorf("the RPO row must say the window is closed:\n%s", w.out)
	}
	if row := w.statusRow("east"); !strings.Contains(row, "window closed, opens 19:00 CET (in 10h)") {
		t.Errorf("status must say why east waits: %q", row)
	}
	if len(w.west.Restores()) == 0 {
		t.Error("west has no window: it is seeded at once")
	}
	cpy := w.state().LookupTargetDatabase("east", "Sales")
	if cpy == nil || len(cpy.Copies) == 0 {
		t.Error("east's copies must be shipped outside the window, ready for it")
	}

	// The day: cron every 15 minutes until 18:45 CET, every run exits 0.
	for w.clock.Before(time.Date(2026, 3, 2, 17, 45, 0, 0, time.UTC)) {
		w.tick(15 * time.Minute)
		w.insert(1)
		if code := w.run(); code != 0 {
			t.Fatalf("apply at %s exit %d: a closed window is not an error\n%s", w.clock.In(berlin).Format("15:04"), code, w.out)
		}
	}
	checkNoneOutside()
	if n := eastRestores(); n != 0 {
		t.Fatalf("east was restored %d times during the day", n)
	}

	// 19:00 CET: the window opens and east is seeded and catches up in one
	// apply.
	w.tick(15 * time.Minute)
	w.insert(1)
	w.mustApply("window opens")
	if eastRestores() == 0 {
		t.Fatal("east was not restored when its window opened")
	}
	w.assertRows(w.east, "east at 19:00")
	w.ledgerAgrees("east", w.east)

	// The night until 06:30 CET: east keeps up.
	for w.clock.Before(time.Date(2026, 3, 3, 5, 30, 0, 0, time.UTC)) {
		w.tick(15 * time.Minute)
		w.insert(1)
		w.mustApply("night")
	}
	w.assertRows(w.east, "east at 06:30")
	checkNoneOutside()

	// 06:45 CET: a plan is saved (on a pull request, say) with a restore on
	// east, and applied at 07:05 CET, after the window closed.
	w.tick(15 * time.Minute)
	w.insert(1)
	saved := filepath.Join(w.dir, "window.plan.json")
	if code := w.planOut(cli.PlanOptions{Out: saved}); code != 0 {
		t.Fatalf("plan -out: exit %d\n%s", code, w.out)
	}
	if !strings.Contains(w.out, `target "east"`) || !strings.Contains(w.out, "restore log") {
		t.Fatalf("the saved plan must restore on east:\n%s", w.out)
	}
	before := eastRestores()
	w.tick(20 * time.Minute)
	code := w.env().Apply(context.Background(), w.globals(), cli.ApplyOptions{PlanFile: saved, Parallelism: 4})
	w.out = w.stdout.String() + w.stderr.String()
	t.Logf("apply %s at %s → %d\n%s", saved, w.clock.In(berlin).Format("15:04 MST"), code, w.out)
	if code != 0 {
		t.Fatalf("a restore held back by the window is not a failure: exit %d", code)
	}
	if eastRestores() != before {
		t.Fatal("the saved plan restored on east after its window closed")
	}
	for _, want := range []string{
		`not started: target "east"'s restore window (every day 19:00-07:00 Europe/Berlin) is closed; nothing was restored, and the first apply after it opens at 19:00 CET (in 11h55m) restores it`,
		"Apply complete:", "1 not started.",
	} {
		if !strings.Contains(w.out, want) {
			t.Errorf("apply output lacks %q", want)
		}
	}
	w.assertRows(w.west, "west (no window) after the saved plan")

	// The next day: nothing on east until 19:00 CET, then it catches up.
	for w.clock.Before(time.Date(2026, 3, 3, 17, 45, 0, 0, time.UTC)) {
		w.tick(15 * time.Minute)
		w.insert(1)
		w.mustApply("second day")
	}
	checkNoneOutside()
	if eastRestores() != before {
		t.Fatal("east was restored during the second day")
	}
	// At 18:50 CET the lag grew all day (within the 13h RPO); the row says why.
	if row := w.rpoLine("east"); !strings.Contains(row, "ok") || !strings.Contains(row, "; window closed, opens 19:00 CET (in 10m)") {
		t.Errorf("east's RPO row at 18:50 CET: %q", row)
	}
	w.tick(15 * time.Minute)
	w.mustApply("second evening")
	w.assertRows(w.east, "east at 19:00 on the second day")
	checkNoneOutside()
}

// rpoLine is a target's row in the RPO section of the last command's plan.
func (w *ww) rpoLine(target string) string {
	_, rpo, _ := strings.Cut(w.out, "\nRPO:\n")
	for _, l := range strings.Split(rpo, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), target+" ") {
			return l
		}
	}
	return ""
}

// validate warns, naming the target, the longest closed stretch and the RPO,
// when the window alone makes the RPO unreachable.
func TestWindow_ValidateWarnsRPOUnreachable(t *testing.T) {
	w := newWW(t, wwOpts{rpo: "30m", east: `
  restore_window {
    days      = ["mon-fri"]
    from      = "19:00"
    to        = "07:00"
    time_zone = "Europe/Berlin"
  }`})
	code := w.env().Validate(w.globals(), false)
	out := w.stdout.String() + w.stderr.String()
	if code != 0 {
		t.Fatalf("a warning is not an error: exit %d\n%s", code, out)
	}
	for _, want := range []string{"Restore window makes the RPO unreachable", `Target "east"`, "longest closed stretch is 2d13h", `rpo = "30m"`, "Raise the rpo to at least 2d13h15m, or widen the window"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
}
