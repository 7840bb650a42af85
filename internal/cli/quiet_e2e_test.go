package cli_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
)

// quietApply is a cron run: apply -auto-approve -log-level warn.
func (h *harness) quietApply() (int, string, string) {
	h.t.Helper()
	env := h.env()
	g := h.globals()
	g.LogLevel = "warn"
	if err := env.Configure(g); err != nil {
		h.t.Fatal(err)
	}
	code := env.Apply(context.Background(), g, cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
	return code, h.stdout.String(), h.stderr.String()
}

// TestCron_SpeaksOnlyWhenSomethingIsWrong: cron mails whatever a job
// prints. A cron run with nothing wrong prints nothing and exits 0, with
// work done or not; a warning that persists is said by the first run that
// sees it, not by every run; an RPO breach that remains after the run is
// said, with exit 2; a failure is said, with exit 1.
func TestCron_SpeaksOnlyWhenSomethingIsWrong(t *testing.T) {
	h := newHarness(t)
	if code := h.apply(); code != 0 {
		t.Fatal("seed")
	}
	silent := func(when string) {
		t.Helper()
		code, out, errs := h.quietApply()
		if code != 0 || out != "" || errs != "" {
			t.Fatalf("%s: a cron run with nothing wrong: exit %d, stdout %q, stderr %q", when, code, out, errs)
		}
	}
	h.clock = h.clock.Add(16 * time.Minute)
	silent("log backups due")
	if st := h.state(); len(st.LookupDatabase("sales", "Sales").Artifacts) < 2 {
		t.Fatal("the quiet run did not take the log backup that was due")
	}
	h.clock = h.clock.Add(time.Minute)
	silent("nothing due")

	// A DBA's full backup outside drsctl: a warning that lasts.
	if _, err := h.drv.Server("primary").BackupOutOfBandFull(context.Background(), "Sales", filepath.Join(t.TempDir(), "manual.bak")); err != nil {
		t.Fatal(err)
	}
	h.clock = h.clock.Add(time.Minute)
	code, out, errs := h.quietApply()
	if code != 0 || out != "" || strings.Count(errs, "Warning:") != 1 || !strings.Contains(errs, "taken outside drsctl") {
		t.Fatalf("the first run that sees a new warning: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	for i := 0; i < 3; i++ {
		h.clock = h.clock.Add(5 * time.Minute)
		silent("the same warning again")
	}
	// plan still shows it, every time.
	if h.plan(cli.PlanOptions{Refresh: true}); !strings.Contains(h.stdout.String(), "taken outside drsctl") {
		t.Fatalf("plan no longer shows the warning:\n%s", h.stdout.String())
	}

	// A restore on east fails (the primary wrote, so there is a log to
	// restore).
	h.drv.Server("primary").Insert("Sales", 5)
	h.drv.Server("east").FailNext("restore", "Sales", false, errors.New("the log disk of the standby is full"))
	h.clock = h.clock.Add(16 * time.Minute)
	code, out, errs = h.quietApply()
	if code != 1 || !strings.Contains(errs, "Error:") || !strings.Contains(errs, "the log disk of the standby is full") {
		t.Fatalf("a failed restore: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// East's server is down now: nothing can be restored there, and the
	// run says so.
	h.drv.Server("east").SetDown(true)
	h.drv.Server("primary").Insert("Sales", 6)
	h.clock = h.clock.Add(20 * time.Minute)
	code, _, errs = h.quietApply()
	if code == 0 || !strings.Contains(errs, `RPO breach: target "east" database "Sales"`) && !strings.Contains(errs, "Error:") {
		t.Fatalf("a target down past its RPO: exit %d, stderr %q", code, errs)
	}
	t.Logf("cron mail, east down:\n%s", errs)
}

// TestCron_BreachWithNothingToDo: a restore window keeps a target's
// restores waiting while its lag passes the RPO: the cron run has nothing
// it can do, fails nothing, and says the breach, with exit 2.
func TestCron_BreachWithNothingToDo(t *testing.T) {
	h := newHarness(t)
	if code := h.apply(); code != 0 {
		t.Fatal("seed")
	}
	// From now on, east restores only 20:00-21:00 UTC (it is 08:00).
	rewriteConfig(t, h, `  restore_mode = "standby"`, `  restore_mode = "standby"
  restore_window {
    from      = "20:00"
    to        = "21:00"
    time_zone = "UTC"
  }`)
	for i := 0; i < 3; i++ {
		h.clock = h.clock.Add(16 * time.Minute)
		h.quietApply()
	}
	code, out, errs := h.quietApply()
	if code != 2 || out != "" || !strings.Contains(errs, `RPO breach: target "east" database "Sales" of primary "sales"`) || !strings.Contains(errs, "window closed") {
		t.Fatalf("a breach the run cannot fix: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	t.Logf("cron mail, window closed:\n%s", errs)
	if strings.Contains(errs, `target "west"`) {
		t.Errorf("west is within its RPO and is named: %q", errs)
	}
}

// rewriteConfig replaces old with new in the harness's configuration.
func rewriteConfig(t *testing.T, h *harness, old, new string) {
	t.Helper()
	p := filepath.Join(h.dir, "main.drs.hcl")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%q is not in the configuration", old)
	}
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCron_WarningWithAClockInItIsSaidOnce: "restores on target east wait
// for the restore window, which opens at 20:00 UTC (in 11h44m)" says a
// different time every run. Cron mails it once, when it appears, not every
// 5 minutes because the countdown moved on.
func TestCron_WarningWithAClockInItIsSaidOnce(t *testing.T) {
	h := newHarness(t)
	if code := h.apply(); code != 0 {
		t.Fatal("seed")
	}
	rewriteConfig(t, h, `  restore_mode = "standby"`, `  restore_mode = "standby"
  restore_window {
    from      = "20:00"
    to        = "21:00"
    time_zone = "UTC"
  }`)
	rewriteConfig(t, h, `rpo = "30m"`, `rpo = "24h"`) // the window closes for 23h: no warning of the configuration
	h.clock = h.clock.Add(16 * time.Minute)           // a log backup to restore on east
	code, out, errs := h.quietApply()
	if code != 0 || out != "" || strings.Count(errs, "Warning:") != 1 || !strings.Contains(errs, "wait for the restore window") {
		t.Fatalf("the first run that sees east's window closed: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	for i := 0; i < 2; i++ {
		h.clock = h.clock.Add(5 * time.Minute) // still within the RPO
		code, out, errs := h.quietApply()
		if code != 0 || out != "" || errs != "" {
			t.Fatalf("run %d with the same window closed, its countdown moved on: exit %d, stdout %q, stderr %q", i+2, code, out, errs)
		}
	}
}

// quietApplyTarget is a cron run limited to some targets.
func (h *harness) quietApplyTarget(targets ...string) (int, string, string) {
	h.t.Helper()
	env := h.env()
	g := h.globals()
	g.LogLevel = "warn"
	if err := env.Configure(g); err != nil {
		h.t.Fatal(err)
	}
	code := env.Apply(context.Background(), g, cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4, Targets: targets})
	return code, h.stdout.String(), h.stderr.String()
}

// TestCron_MemoryOfWhatWasSaid: the file that remembers what was said
// (drs.state.json.said) in an operator's worst week. A cron job limited
// to one target (apply -target east) does not make the next full run say
// again what it did not look at; a corrupt memory, or one a cleanup job
// deleted, makes the next run say everything once more, never nothing; a
// memory that cannot be written says every run rather than nothing.
func TestCron_MemoryOfWhatWasSaid(t *testing.T) {
	h := newHarness(t)
	if code := h.apply(); code != 0 {
		t.Fatal("seed")
	}
	said := filepath.Join(h.dir, "drs.state.json.said")
	// A warning of the primary, and one of vault's destination only.
	if _, err := h.drv.Server("primary").BackupOutOfBandFull(context.Background(), "Sales", filepath.Join(t.TempDir(), "manual.bak")); err != nil {
		t.Fatal(err)
	}
	rewriteConfig(t, h, `  restore_mode = "standby"`, `  restore_mode = "standby"
  restore_window {
    from      = "20:00"
    to        = "21:00"
    time_zone = "UTC"
  }`)
	rewriteConfig(t, h, `rpo = "30m"`, `rpo = "24h"`)
	h.clock = h.clock.Add(16 * time.Minute)
	once := func(when string, want int) {
		t.Helper()
		code, out, errs := h.quietApply()
		if code != 0 || out != "" || strings.Count(errs, "Warning:") != want {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q, want %d warnings", when, code, out, errs, want)
		}
	}
	once("first run", 2)
	once("second run", 0)

	// -target west sees neither east's window nor... the primary's full.
	h.clock = h.clock.Add(time.Minute)
	code, out, errs := h.quietApplyTarget("west")
	if code != 0 || out != "" || strings.Contains(errs, "restore window") {
		t.Fatalf("-target west: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	h.clock = h.clock.Add(time.Minute)
	once("the full run after a -target run", 0)

	// Corrupt, then deleted: said again, once.
	if err := os.WriteFile(said, []byte("{\"trunc"), 0o600); err != nil {
		t.Fatal(err)
	}
	once("a corrupt memory", 2)
	once("after a corrupt memory", 0)
	os.Remove(said)
	once("a deleted memory", 2)
	once("after a deleted memory", 0)

	// A memory that cannot be written (a directory in its place): every
	// run says, and says why.
	os.Remove(said)
	if err := os.Mkdir(said, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		code, _, errs := h.quietApply()
		if code != 0 || strings.Count(errs, "Warning:") != 2 || !strings.Contains(errs, "drsctl cannot remember what it said") {
			t.Fatalf("run %d with a memory that cannot be written: exit %d, stderr %q", i, code, errs)
		}
	}
}

// TestCron_BreachTheRunFixesAndErrorsEveryTime: the cron host was off for
// 50 minutes (every target past its 30m RPO when the run starts): the run
// that catches up says nothing, exit 0 — the breach is gone when it ends.
// A plan error (a database missing on the primary) is said by every run,
// exit 1, never "once".
func TestCron_BreachTheRunFixesAndErrorsEveryTime(t *testing.T) {
	h := newHarness(t)
	if code := h.apply(); code != 0 {
		t.Fatal("seed")
	}
	h.drv.Server("primary").Insert("Sales", 7)
	h.clock = h.clock.Add(50 * time.Minute)
	if code, _, _ := h.statusCheck(); code != 2 {
		t.Fatalf("status -check before the catch-up run: exit %d, want 2 (a breach)", code)
	}
	code, out, errs := h.quietApply()
	if code != 0 || out != "" || errs != "" {
		t.Fatalf("the run that catches up: exit %d, stdout %q, stderr %q", code, out, errs)
	}

	rewriteConfig(t, h, `["Sales", "O'Brien"]`, `["Sales", "O'Brien", "Gone"]`)
	for i := 0; i < 3; i++ {
		h.clock = h.clock.Add(5 * time.Minute)
		code, out, errs := h.quietApply()
		if code != 1 || out != "" || !strings.Contains(errs, `database "Gone" does not exist on primary "sales"`) {
			t.Fatalf("run %d with a database missing: exit %d, stdout %q, stderr %q", i+1, code, out, errs)
		}
	}
}

// statusCheck is status -check: exit 2 while a target is past its
// RPO.
func (h *harness) statusCheck() (int, string, string) {
	h.t.Helper()
	code := h.env().Status(context.Background(), h.globals(), cli.StatusOptions{Check: true})
	return code, h.stdout.String(), h.stderr.String()
}

// TestCron_JSONIsNotQuieted: apply -json -log-level warn is read by a
// program: it gets the whole stream (every planned action and warning,
// each run), and the memory of what was said is neither read nor written.
func TestCron_JSONIsNotQuieted(t *testing.T) {
	h := newHarness(t)
	if code := h.apply(); code != 0 {
		t.Fatal("seed")
	}
	if _, err := h.drv.Server("primary").BackupOutOfBandFull(context.Background(), "Sales", filepath.Join(t.TempDir(), "manual.bak")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		h.clock = h.clock.Add(16 * time.Minute)
		env := h.env()
		g := h.globals()
		g.LogLevel = "warn"
		if err := env.Configure(g); err != nil {
			t.Fatal(err)
		}
		code := env.Apply(context.Background(), g, cli.ApplyOptions{AutoApprove: true, Refresh: true, JSON: true, Parallelism: 4})
		out := h.stdout.String()
		if code != 0 || !strings.Contains(out, `"type":"planned_action"`) || !strings.Contains(out, "taken outside drsctl") {
			t.Fatalf("run %d, -json -log-level warn: exit %d\n%s\n%s", i+1, code, out, h.stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(h.dir, "drs.state.json.said")); err == nil {
		t.Error("a JSON run wrote the memory of what quiet runs said")
	}
}
