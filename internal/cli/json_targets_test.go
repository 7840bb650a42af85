package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/cli"
)

// jsonMessages decodes a -json stream, failing the test on a bad line.
func jsonMessages(t *testing.T, out string) []map[string]any {
	t.Helper()
	var msgs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		msgs = append(msgs, m)
	}
	return msgs
}

// A machine reading plan -json or apply -json learns from every message
// about an action which target it concerns: three targets ship the same
// backup, and "sales/Sales: ship (new full backup)" three times over told a
// reader (or a chat notification built from @message) nothing.
func TestJSON_EveryActionMessageNamesItsTarget(t *testing.T) {
	h := newHarness(t)
	if code := h.plan(cli.PlanOptions{JSON: true, Refresh: true}); code != 0 {
		t.Fatalf("plan -json: exit %d\n%s%s", code, &h.stdout, &h.stderr)
	}
	ships := map[string]bool{}
	for _, m := range jsonMessages(t, h.stdout.String()) {
		if m["type"] != "planned_action" {
			continue
		}
		a := m["action"].(map[string]any)
		target, _ := a["target"].(string)
		text := m["@message"].(string)
		if target != "" && !strings.Contains(text, "→ "+target+": ") {
			t.Errorf("planned_action for target %q reads %q", target, text)
		}
		if a["kind"] == "ship" {
			if ships[text] {
				t.Errorf("two planned ships read alike: %q", text)
			}
			ships[text] = true
		}
	}
	if len(ships) != 6 { // 2 databases × 3 targets
		t.Errorf("planned ships: %v", ships)
	}

	code := h.env().Apply(context.Background(), h.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4, JSON: true})
	if code != 0 {
		t.Fatalf("apply -json: exit %d\n%s%s", code, &h.stdout, &h.stderr)
	}
	seen := map[string]int{}
	for _, m := range jsonMessages(t, h.stdout.String()) {
		typ := m["type"].(string)
		if !strings.HasPrefix(typ, "apply_") || typ == "apply_summary" {
			continue
		}
		a, ok := m["action"].(map[string]any)
		if !ok {
			t.Errorf("%s names no action: %v", typ, m)
			continue
		}
		for _, k := range []string{"id", "kind", "primary", "database"} {
			if s, _ := a[k].(string); s == "" {
				t.Errorf("%s: action.%s is empty: %v", typ, k, m)
			}
		}
		if target, _ := a["target"].(string); target != "" {
			seen[typ]++
			if text := m["@message"].(string); !strings.Contains(text, "→ "+target+": ") {
				t.Errorf("%s for target %q reads %q", typ, target, text)
			}
		}
	}
	for _, typ := range []string{"apply_start", "apply_progress", "apply_complete"} {
		if seen[typ] == 0 {
			t.Errorf("no %s message for a target's action (seen %v)", typ, seen)
		}
	}
}
