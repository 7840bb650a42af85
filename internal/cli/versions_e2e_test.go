package cli_test

import (
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// TestSQLServer_OlderPrimaryStandbyTarget: a SQL Server 2019 primary and
// a 2022 standby target in restore_mode "standby". SQL Server cannot
// restore an older version's backup WITH STANDBY (3180: the restore
// upgrades the database). apply must say so with what to do, keep the
// server's number and words, and leave the other target (norecovery, on
// 2022 too) protected.
func TestSQLServer_OlderPrimaryStandbyTarget(t *testing.T) {
	h := newSQLHarness(t, func(name string, o *sqlsim.Options) {
		o.MajorVersion = 16
		if name == "primary" {
			o.MajorVersion = 15
		}
	})
	var outs []string
	for i := 0; i < 2; i++ {
		h.stdout.Reset()
		h.stderr.Reset()
		if code := h.apply(); code == 0 {
			t.Fatalf("apply %d succeeded with east unable to restore", i+1)
		}
		outs = append(outs, h.stdout.String()+h.stderr.String())
		waitLogDue()
	}
	for i, out := range outs {
		for _, want := range []string{"3180", `restore_mode = "norecovery"`} {
			if !strings.Contains(out, want) {
				t.Errorf("apply %d says nothing of %q:\n%s", i+1, want, out)
			}
		}
	}
	// Every apply tries east's seed again: it fails at once, with the
	// hint, and west (norecovery on the same version) is unaffected.
	if strings.Count(outs[1], "3180") == 0 || !strings.Contains(outs[1], "→ west: restore log") {
		t.Errorf("the second apply restored nothing on west:\n%s", outs[1])
	}
	_, plan := h.plan()
	t.Logf("plan:\n%s", plan)
}
