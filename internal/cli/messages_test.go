package cli_test

import (
	"context"
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
