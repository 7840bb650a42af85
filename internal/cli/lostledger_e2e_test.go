package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
)

// TestLostLedger is the state file removed by mistake, tried as a new user
// would: status, plan and apply refuse to start a new ledger and name the
// way back (never "nothing has been applied yet", never a needless full
// or a new ledger over the old one's backup); state restore-backup brings
// it back whole, and the next plan takes no full and reseeds nothing.
func TestLostLedger(t *testing.T) {
	h := newHarness(t)
	if code := h.apply(); code != 0 {
		t.Fatalf("first apply: %d", code)
	}
	h.clock = h.clock.Add(20 * time.Minute)
	if code := h.apply(); code != 0 {
		t.Fatalf("second apply: %d", code)
	}
	before := summarize(h.state())
	path := filepath.Join(h.dir, "drs.state.json")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(what string, code int) {
		t.Helper()
		out := h.stdout.String() + h.stderr.String()
		if code == 0 || !strings.Contains(out, "drsctl state restore-backup") || strings.Contains(out, "nothing has been applied") {
			t.Fatalf("%s with the state file removed: exit %d, want a refusal naming restore-backup:\n%s", what, code, out)
		}
	}
	check("status", h.env().Status(ctx, h.globals(), cli.StatusOptions{}))
	check("plan", h.env().Plan(ctx, h.globals(), cli.PlanOptions{Refresh: true}))
	check("apply", h.env().Apply(ctx, h.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true}))
	if _, err := os.Stat(path); err == nil {
		t.Fatal("a refused apply wrote a new state file")
	}

	if code := h.env().StateRestoreBackup(ctx, h.globals()); code != 0 {
		t.Fatalf("state restore-backup: %d\n%s%s", code, h.stdout.String(), h.stderr.String())
	}
	if after := summarize(h.state()); !reflect.DeepEqual(before, after) {
		t.Fatalf("the restored ledger differs:\n%+v\nwant:\n%+v", after, before)
	}
	h.clock = h.clock.Add(time.Minute)
	if code := h.apply(); code != 0 {
		t.Fatalf("apply after restore-backup: %d", code)
	}
	after := summarize(h.state())
	for db, kinds := range after.Artifacts {
		if fulls := strings.Count(strings.Join(kinds, " "), "full"); fulls != strings.Count(strings.Join(before.Artifacts[db], " "), "full") {
			t.Errorf("%s: the apply after restore-backup took a full backup: %v", db, kinds)
		}
	}
	if !reflect.DeepEqual(before.Seeded, after.Seeded) {
		t.Errorf("seeds changed after restore-backup: %v, was %v", after.Seeded, before.Seeded)
	}
}
