package cli_test

import (
	"database/sql"
	"slices"
	"testing"
)

// TestSQLServer_RunnerKilledInsideTheDisconnectingBatch: east (standby,
// disconnect_users) is left as a runner killed inside the batch leaves
// it: SINGLE_USER and parked RESTORING (after RESTORE … WITH
// NORECOVERY, before the log); then as one killed after the STANDBY
// restore, before MULTI_USER. Each time the next apply leaves it
// readable, MULTI_USER and at the primary's rows, with no reseed.
func TestSQLServer_RunnerKilledInsideTheDisconnectingBatch(t *testing.T) {
	h := newSQLHarness(t)
	if code := h.apply(); code != 0 {
		t.Fatalf("seed → %d", code)
	}
	fulls := func() (n int) {
		for _, r := range h.east.RestoreHistory() {
			if r.Database == "Sales" && r.Type == "D" {
				n++
			}
		}
		return n
	}
	seeds := fulls()
	killed := []string{
		"ALTER DATABASE [Sales] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; RESTORE DATABASE [Sales] WITH NORECOVERY",
		"ALTER DATABASE [Sales] SET SINGLE_USER WITH ROLLBACK IMMEDIATE",
	}
	for i, batch := range killed {
		if err := h.exec(h.primary, "INSERT INTO [Sales].dbo.drs_probe(id, note) VALUES ("+string(rune('1'+i))+", N'x')"); err != nil {
			t.Fatal(err)
		}
		if err := h.exec(h.east, batch); err != nil {
			t.Fatalf("%s: %v", batch, err)
		}
		waitLogDue()
		if code := h.apply(); code != 0 {
			t.Fatalf("apply after %q → %d", batch, code)
		}
		db, err := sql.Open("sqlserver", h.east.DSN(""))
		if err != nil {
			t.Fatal(err)
		}
		var access string
		if err := db.QueryRow("SELECT user_access_desc FROM sys.databases WHERE name = N'Sales'").Scan(&access); err != nil {
			t.Fatal(err)
		}
		db.Close()
		if access != "MULTI_USER" {
			t.Fatalf("after %q and an apply east is %s", batch, access)
		}
		if got, want := h.rows(h.east, "Sales"), h.rows(h.primary, "Sales"); !slices.Equal(got, want) {
			t.Fatalf("after %q and an apply east has %v, the primary %v", batch, got, want)
		}
	}
	if n := fulls(); n != seeds {
		t.Fatalf("east was seeded again (%d full restores, %d before)", n, seeds)
	}
}
