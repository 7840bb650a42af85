package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/state"
)

// statusJSON runs status -json -check and returns its exit code and the
// rows by "target/database" (rpo messages) and "primary/database" (backup
// messages).
func (h *harness) statusJSON() (int, map[string]map[string]any) {
	h.t.Helper()
	code := h.env().Status(context.Background(), h.globals(), cli.StatusOptions{JSON: true, Check: true})
	rows := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(h.stdout.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			h.t.Fatalf("status -json: %v\n%s", err, line)
		}
		typ := m["type"].(string)
		row := m[typ].(map[string]any)
		if typ == "backup" {
			rows["backup:"+row["primary"].(string)+"/"+row["database"].(string)] = row
		} else {
			rows[row["target"].(string)+"/"+row["database"].(string)] = row
		}
	}
	return code, rows
}

// editLedger changes the ledger as another command (drill, promote) would.
func (h *harness) editLedger(f func(st *state.State)) {
	h.t.Helper()
	m := state.NewLocal(filepath.Join(h.dir, "drs.state.json"), state.LocalOptions{})
	st, err := m.Read(context.Background())
	if err != nil || st == nil {
		h.t.Fatalf("read state: %v", err)
	}
	f(st)
	if err := m.Write(context.Background(), st); err != nil {
		h.t.Fatal(err)
	}
}

// Thresholds trip status -check on their own, before any RPO breach:
// a primary not backed up, then a standby that stops restoring while its
// primary goes on; a failed drill and a promoted database are shown.
func TestStatus_AlertsTripCheck(t *testing.T) {
	h := newHarness(t)
	cfg := readFile(t, filepath.Join(h.dir, "main.drs.hcl"))
	cfg = strings.Replace(cfg, `log_backup { every = "15m" }`, "log_backup {\n    every       = \"15m\"\n    alert_after = \"20m\"\n  }", 1)
	cfg = strings.Replace(cfg, `restore_mode = "standby"`, "restore_mode = \"standby\"\n  restore_alert_after = \"20m\"", 1)
	cfg = strings.Replace(cfg, `connection = env("WEST_DSN")`, "connection = env(\"WEST_DSN\")\n  drill_alert_after = \"1d\"", 1)
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := h.apply(); code != 0 {
		t.Fatal("apply failed")
	}
	start := h.clock
	h.editLedger(func(st *state.State) {
		west := st.TargetDatabase("west", "Sales")
		ok := start.Add(-time.Hour)
		west.LastDrill = &state.Drill{At: start.Add(-10 * time.Minute), Duration: 95 * time.Second, Artifact: "x.trn", OK: false, Error: "row count 3, want 4"}
		west.DrillOKAt = &ok
		wob := st.TargetDatabase("west", "O'Brien")
		wob.LastDrill = &state.Drill{At: start.Add(-time.Hour), Duration: time.Minute, OK: true, Check: "4 rows"}
		wob.DrillOKAt = &wob.LastDrill.At
	})
	if code, rows := h.statusJSON(); code != 0 {
		t.Fatalf("right after apply: exit %d\n%s%v", code, h.stderr.String(), rows)
	}

	// 25 minutes without an apply: both databases past alert_after (20m),
	// the RPO (30m) not yet breached.
	h.clock = start.Add(25 * time.Minute)
	code, rows := h.statusJSON()
	if code != 2 || !strings.Contains(h.stderr.String(), "status -check: 2 log backup alerts.") {
		t.Errorf("25m without a backup: exit %d, stderr %q", code, h.stderr.String())
	}
	if b := rows["backup:sales/Sales"]; b["alert"] != true || b["age_seconds"] != float64(1500) || b["alert_after_seconds"] != float64(1200) {
		t.Errorf("backup row: %v", b)
	}
	if r := rows["east/Sales"]; r["breach"] != false || r["restore"].(map[string]any)["alert"] != false {
		t.Errorf("east is current: %v", r)
	}

	// east's server goes away; the primary goes on writing and backing up.
	h.drv.Server("east").SetDown(true)
	for i := 0; i < 2; i++ {
		h.drv.Server("primary").Insert("Sales", 100+i)
		h.apply() // fails for east
		h.clock = h.clock.Add(16 * time.Minute)
	}
	// Now 57m after the seed: the first log east could not restore (taken at
	// 25m) has waited 32m; the primary was backed up 16m ago.
	code, rows = h.statusJSON()
	restore := rows["east/Sales"]["restore"].(map[string]any)
	if code != 2 || restore["alert"] != true || restore["overdue_seconds"] != float64(32*60) {
		t.Errorf("east stopped restoring: exit %d, restore %v", code, restore)
	}
	// O'Brien had no writes, but its first log after the full holds the
	// full's tail, so east needs it too; its RPO is long gone as well.
	if got := h.stderr.String(); got != "status -check: 2 RPO breaches, 2 restore alerts.\n" {
		t.Errorf("stderr: %q", got)
	}
	if r := rows["west/O'Brien"]["restore"].(map[string]any); r["alert"] != false || r["overdue_seconds"] != float64(0) {
		t.Errorf("west restored everything: %v", r)
	}
	drill := rows["west/Sales"]["drill"].(map[string]any)
	last := drill["last"].(map[string]any)
	if last["ok"] != false || last["error"] != "row count 3, want 4" || last["duration_seconds"] != float64(95) || drill["alert"] != false {
		t.Errorf("west drill: %v", drill)
	}

	// Promoted: shown as such, no RPO, never alerted.
	h.editLedger(func(st *state.State) {
		at := h.clock
		st.TargetDatabase("east", "Sales").PromotedAt = &at
		st.TargetDatabase("east", "Sales").PromotedHow = state.PromoteUnplanned
	})
	h.env().Status(context.Background(), h.globals(), cli.StatusOptions{})
	out := h.stdout.String()
	for _, want := range []string{
		"PRIMARY          DATABASE             LAST BACKUP  ALERT AFTER  STATUS\n",
		"sales            Sales                16m ago      20m          ok\n",
		"promoted 0s ago (unplanned)",
		"FAILED 1h7m ago",
		"ok 1h57m ago",
		"\nFailed drills:\n  target \"west\" database \"Sales\", 1h7m ago: row count 3, want 4\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "east ") && strings.Contains(l, "Sales ") && (strings.Contains(l, "ALERT") || strings.Contains(l, "BREACH")) {
			t.Errorf("a promoted database is not alerted: %s", l)
		}
	}
	// A day later west's last good drill is older than drill_alert_after.
	h.clock = h.clock.Add(24 * time.Hour)
	h.env().Status(context.Background(), h.globals(), cli.StatusOptions{Check: true})
	if !strings.Contains(h.stderr.String(), "2 drill alerts") {
		t.Errorf("drill_alert_after 1d: %q", h.stderr.String())
	}
}
