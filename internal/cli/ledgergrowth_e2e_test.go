package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
)

// TestLedger_doesNotGrowWithoutBound: ten days of applies (a full a day,
// a log every run, retention of 1 day in the folder and at every
// destination). The ledger forgets a backup once it is pruned from the
// folder and no target holds it, so what it holds after ten days is what
// it held after three, not three times as much.
func TestLedger_doesNotGrowWithoutBound(t *testing.T) {
	h := newHarness(t)
	cfg := strings.ReplaceAll(fmt.Sprintf(e2eConfig, h.dir), `retention = "7d"`, `retention = "1d"`)
	for _, tn := range []string{"east", "west", "vault"} {
		cfg = strings.Replace(cfg, fmt.Sprintf(`url = "file://%s/%s"`, h.dir, tn), fmt.Sprintf(`url = "file://%s/%s"
    retention = "1d"`, h.dir, tn), 1)
	}
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	count := func() (arts, copies int) {
		st := h.state()
		for _, db := range st.Primaries["sales"].Databases {
			arts += len(db.Artifacts)
		}
		for _, tg := range st.Targets {
			for _, td := range tg.Databases {
				copies += len(td.Copies)
			}
		}
		return
	}
	var day5Arts, day5Copies int
	for day := 1; day <= 10; day++ {
		for step := 0; step < 8; step++ { // every 3 hours: a log is due every run
			h.clock = h.clock.Add(3 * time.Hour)
			if code := h.env().Apply(t.Context(), h.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4}); code != 0 {
				t.Fatalf("day %d: apply exit %d\n%s%s", day, code, h.stdout.String(), h.stderr.String())
			}
		}
		if day == 3 {
			day5Arts, day5Copies = count()
		}
	}
	arts, copies := count()
	t.Logf("ledger after 3 days: %d artifacts, %d copies; after 10: %d, %d", day5Arts, day5Copies, arts, copies)
	if arts > day5Arts*12/10 || copies > day5Copies*12/10 {
		t.Fatalf("the ledger grew from %d artifacts and %d copies after 3 days to %d and %d after 10: it does not forget what was pruned", day5Arts, day5Copies, arts, copies)
	}
}
