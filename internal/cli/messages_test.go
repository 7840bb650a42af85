package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/cli"
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
