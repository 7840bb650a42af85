package cli_test

import (
	"strings"
	"testing"
)

// TestSQLServer_RestoreHistoryCleanedOnTheStandby: msdb's history on the
// STANDBY target east is deleted (sp_delete_backuphistory, a maintenance
// plan's History Cleanup Task) and the server leaves redo_start_lsn NULL
// in STANDBY, so the server gives no position. drsctl must neither guess
// one nor REPLACE the database: it says what is wrong and what to do, and
// the database stays readable where it was; the other target goes on.
func TestSQLServer_RestoreHistoryCleanedOnTheStandby(t *testing.T) {
	h := newSQLHarness(t)
	for i := 0; i < 2; i++ {
		if code := h.apply(); code != 0 {
			t.Fatalf("apply %d → %d", i+1, code)
		}
		waitLogDue()
	}
	before := h.east.RestoreHistory()
	h.east.DeleteBackupHistory()
	h.stdout.Reset()
	h.stderr.Reset()
	code, out := h.plan()
	if !strings.Contains(out, `"east" is in STANDBY (read-only, ONLINE) but the server reports no position`) || !strings.Contains(out, "Drop it on the target") {
		t.Errorf("plan (%d) does not say the standby cannot be placed:\n%s", code, out)
	}
	h.stdout.Reset()
	h.stderr.Reset()
	h.apply()
	after := h.east.RestoreHistory()
	for _, r := range after {
		if r.Replace || r.Type == "D" {
			t.Errorf("east got %+v after its history was deleted (before: %d restores)", r, len(before))
		}
		if r.Type == "L" && r.Database == "Sales" {
			t.Errorf("east restored a log onto a database it could not place: %+v", r)
		}
	}
	if rows := h.rows(h.east, "Sales"); rows != nil {
		t.Logf("east still readable: %v", rows)
	}
}
