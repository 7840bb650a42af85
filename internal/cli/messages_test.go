package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/state"
)

// Issue 12, "messages that say what to do": one test per message seen, each
// asserting the new text.

// `apply q.drs.hcl` (the configuration given where a saved plan goes) used to
// say "read plan: invalid character '#' looking for beginning of value".
func TestMessage_ApplyGivenAConfigurationFileSaysItIsNotASavedPlan(t *testing.T) {
	h := newHarness(t)
	cfgFile := filepath.Join(h.dir, "main.drs.hcl")
	code := h.env().Apply(context.Background(), h.globals(), cli.ApplyOptions{PlanFile: cfgFile, AutoApprove: true, Refresh: true, Parallelism: 1})
	if code == 0 {
		t.Fatalf("apply of a configuration file as a plan exited 0:\n%s%s", &h.stdout, &h.stderr)
	}
	got := h.stderr.String()
	for _, want := range []string{
		cfgFile + " is not a saved plan: it looks like a configuration file.",
		"apply takes a saved plan (drsctl plan -out FILE) or no argument",
		"-chdir DIR reads it from DIR",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("stderr lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "invalid character") {
		t.Errorf("stderr still quotes the JSON decoder:\n%s", got)
	}
	// From a directory with no configuration, the same words (not "No
	// configuration files").
	g := h.globals()
	g.Chdir = t.TempDir()
	h.env().Apply(context.Background(), g, cli.ApplyOptions{PlanFile: cfgFile, AutoApprove: true, Refresh: true, Parallelism: 1})
	if got := h.stderr.String(); !strings.Contains(got, cfgFile+" is not a saved plan: it looks like a configuration file.") {
		t.Errorf("from another directory, stderr lacks what the file is:\n%s", got)
	}
	// The state file is not a plan either, and says what it is.
	if code := h.apply(); code != 0 {
		t.Fatalf("apply exit %d", code)
	}
	statePath := filepath.Join(h.dir, "drs.state.json")
	h.env().Apply(context.Background(), h.globals(), cli.ApplyOptions{PlanFile: statePath, AutoApprove: true, Refresh: true, Parallelism: 1})
	if want := statePath + " is not a saved plan: it is a drsctl state file."; !strings.Contains(h.stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, &h.stderr)
	}
}

// A damaged state file used to be named twice: "read state X: read state X:
// state file is not valid JSON…". Every command that reads it names it once.
func TestMessage_StateErrorsNameTheStateOnce(t *testing.T) {
	h := newHarness(t)
	statePath := filepath.Join(h.dir, "drs.state.json")
	if err := os.WriteFile(statePath, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g := h.globals()
	runs := map[string]func(*cli.Env) int{
		"plan": func(e *cli.Env) int { return e.Plan(ctx, g, cli.PlanOptions{Refresh: true}) },
		"apply": func(e *cli.Env) int {
			return e.Apply(ctx, g, cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 1})
		},
		"status": func(e *cli.Env) int { return e.Status(ctx, g, cli.StatusOptions{}) },
		"show":   func(e *cli.Env) int { return e.Show(ctx, g, "", false) },
	}
	for name, run := range runs {
		if code := run(h.env()); code == 0 {
			t.Errorf("%s: exit 0 on a damaged state\n%s%s", name, &h.stdout, &h.stderr)
			continue
		}
		got := h.stderr.String()
		want := "Error: read state " + statePath + ": state file is not valid JSON"
		if !strings.Contains(got, want) {
			t.Errorf("%s: stderr lacks %q:\n%s", name, want, got)
		}
		if n := strings.Count(got, statePath+":"); n != 1 {
			t.Errorf("%s: the state's path is named %d times before a colon, want once:\n%s", name, n, got)
		}
	}
}

// A lock file left unreadable (a crash or a full disk while it was written)
// used to end in "drsctl force-unlock " with no ID to give. Now the message
// says the lock is unreadable, where it is, when it counts as expired, and
// the command that removes it; that command removes only an unreadable lock,
// never a live run's.
func TestMessage_UnreadableLockSaysWhereAndHowToRemoveIt(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	statePath := filepath.Join(h.dir, "drs.state.json")
	lockPath := statePath + ".lock"
	if err := os.WriteFile(lockPath, []byte("{\"id\": \"tru"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := h.plan(cli.PlanOptions{Refresh: true}); code == 0 {
		t.Fatalf("plan ran under an unreadable lock:\n%s", &h.stdout)
	}
	got := h.stderr.String()
	for _, want := range []string{
		"state is locked by an unreadable lock: the lock file " + lockPath + " is empty or not a drsctl lock, last written at ",
		"It counts as expired at ",
		"To remove it now, if you are sure no other drsctl is running: drsctl force-unlock unreadable",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan: stderr lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "force-unlock \n") || strings.HasSuffix(strings.TrimSpace(got), "force-unlock") {
		t.Errorf("plan still suggests force-unlock with an empty ID:\n%s", got)
	}
	// force-unlock without an ID says the same.
	if code := h.env().ShowLock(ctx, h.globals()); code != 0 || !strings.Contains(h.stdout.String(), "drsctl force-unlock unreadable") {
		t.Errorf("force-unlock without an ID: exit %d\n%s%s", code, &h.stdout, &h.stderr)
	}
	if code := h.env().ForceUnlock(ctx, h.globals(), "unreadable"); code != 0 {
		t.Fatalf("force-unlock unreadable: exit %d\n%s", code, &h.stderr)
	}
	if _, err := os.Stat(lockPath); !os.IsNotExist(err) {
		t.Fatalf("the unreadable lock file is still there: %v", err)
	}
	if code := h.apply(); code != 0 {
		t.Fatalf("apply after force-unlock unreadable: exit %d", code)
	}

	// The worst week: someone runs the command while a live run holds a
	// readable lock. It is refused and the live run's ID is given.
	lease, err := state.NewLocal(statePath, state.LocalOptions{}).Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Unlock()
	if code := h.env().ForceUnlock(ctx, h.globals(), "unreadable"); code == 0 {
		t.Fatal("force-unlock unreadable removed a live run's readable lock")
	}
	if want := "is readable"; !strings.Contains(h.stderr.String(), want) || !strings.Contains(h.stderr.String(), "drsctl force-unlock "+lease.Info().ID) {
		t.Errorf("stderr lacks %q and the holder's ID:\n%s", want, &h.stderr)
	}
	if err := lease.Valid(); err != nil {
		t.Errorf("the live lease was disturbed: %v", err)
	}
}

// An unset env() at plan time used to end in "…while validating" (for an
// argument every command needs) or ": value not known" (for a connection).
// Now both say which variable is not set, where, and which commands need it.
func TestMessage_UnsetEnvironmentVariableAtPlanTime(t *testing.T) {
	h := newHarness(t)
	cfgFile := filepath.Join(h.dir, "main.drs.hcl")
	line := 1 + strings.Count(strings.Split(readFile(t, cfgFile), `env("WEST_DSN")`)[0], "\n")
	unset := func(e *cli.Env) *cli.Env {
		e.Getenv = func(string) (string, bool) { return "", false }
		return e
	}
	// A connection: validate accepts it, plan says what is missing.
	if code := unset(h.env()).Validate(h.globals(), false); code != 0 {
		t.Fatalf("validate with WEST_DSN unset: exit %d\n%s", code, &h.stderr)
	}
	unset(h.env()).Plan(context.Background(), h.globals(), cli.PlanOptions{Refresh: true})
	got := h.stdout.String() + h.stderr.String()
	want := fmt.Sprintf(`target "west" connection: %s:%d: environment variable "WEST_DSN" is not set; plan, apply and the other commands that connect to the server need it (validate does not)`, cfgFile, line)
	if !strings.Contains(got, want) {
		t.Errorf("plan lacks %q:\n%s", want, got)
	}
	if !strings.Contains(got, "restores wait until the connection is set.") {
		t.Errorf("plan does not say restores wait for the connection:\n%s", got)
	}
	if strings.Contains(got, "value not known") {
		t.Errorf("plan still says value not known:\n%s", got)
	}

	// An argument every command needs: plan says to set it, not "while
	// validating".
	b := []byte(readFile(t, cfgFile))
	b = bytes.Replace(b, []byte(`retention = "7d"`), []byte(`retention = env("SHARE_RETENTION")`), 1)
	if err := os.WriteFile(cfgFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := unset(h.env()).Plan(context.Background(), h.globals(), cli.PlanOptions{Refresh: true}); code == 0 {
		t.Fatal("plan ran without the retention")
	}
	got = h.stderr.String()
	for _, want := range []string{
		"Unset environment variable",
		fmt.Sprintf("on %s line 4", cfgFile),
		`environment variable "SHARE_RETENTION" is not set. Set it and run again: every command, validate included, needs "retention".`,
	} {
		if !strings.Contains(strings.Join(strings.Fields(got), " "), want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "while validating") {
		t.Errorf("plan still says while validating:\n%s", got)
	}
}

// A second promote of a target promoted already is reported as "already
// promoted at <time>; nothing to do" and exits 0, planned or not: no
// RESTORE … WITH RECOVERY is sent again (SQL Server answers that with error
// 3153), and no tail-log error for the primary the first switchover left
// RESTORING. The promote that does the work ends with "Promote complete",
// not "Apply complete".
func TestMessage_SecondPromoteSaysAlreadyPromoted(t *testing.T) {
	h := seeded(t)
	for _, c := range []struct {
		db      string
		planned bool
	}{{"Sales", true}, {"O'Brien", false}} {
		o := cli.PromoteOptions{Target: "west", Databases: []string{c.db}, Planned: c.planned, DisconnectUsers: c.planned, AutoApprove: true}
		code, out := h.promote(o)
		if code != 0 {
			t.Fatalf("%s: first promote exit %d\n%s", c.db, code, out)
		}
		if !strings.Contains(out, "\nPromote complete: ") || strings.Contains(out, "Apply complete") {
			t.Errorf("%s: first promote does not end with Promote complete:\n%s", c.db, out)
		}
		at := h.ledger().LookupTargetDatabase("west", c.db).PromotedAt.UTC().Format("2006-01-02 15:04:05Z")
		before := len(restoresOf(h.west, c.db))

		for _, planned := range []bool{c.planned, !c.planned} {
			o.Planned, o.DisconnectUsers = planned, planned
			code, out = h.promote(o)
			if code != 0 {
				t.Errorf("%s: second promote (planned %v) exit %d\n%s", c.db, planned, code, out)
			}
			if want := c.db + " on west: already promoted at " + at + "; nothing to do."; !strings.Contains(out, want) {
				t.Errorf("%s: second promote (planned %v) lacks %q:\n%s", c.db, planned, want, out)
			}
			for _, bad := range []string{"3153", "Error:", "cannot take a tail-log backup", "Apply complete"} {
				if strings.Contains(out, bad) {
					t.Errorf("%s: second promote (planned %v) says %q:\n%s", c.db, planned, bad, out)
				}
			}
		}
		if after := len(restoresOf(h.west, c.db)); after != before {
			t.Errorf("%s: a second promote ran %d more RESTORE statements on west", c.db, after-before)
		}
	}
}
