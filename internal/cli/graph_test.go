package cli_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/state"
)

// The topology is drawn before the first apply (no ledger, nothing asked:
// every server is down) and then shows each target database's RPO state
// from the ledger: ok, breach, promoted.
func TestGraph_TopologyAndRPOStates(t *testing.T) {
	h := newHarness(t)
	for _, s := range []string{"primary", "east", "west"} {
		h.drv.Server(s).SetDown(true)
	}
	ctx := context.Background()
	if code := h.env().Graph(ctx, h.globals(), cli.GraphOptions{}); code != 0 {
		t.Fatalf("graph before any apply: exit %d\n%s", code, h.stderr.String())
	}
	out := h.stdout.String()
	for _, want := range []string{
		`"backup_folder.share" [shape = folder, label = "backup_folder share\nfile://` + h.dir + `/share"];`,
		`"primary.sales" [label = "primary sales (memory)\nSales, O'Brien\nfull every 24h, log every 15m, rpo 30m"];`,
		`"target.east" [label = "target east (standby, standby)\nSales: breach (nothing yet)\nO'Brien: breach (nothing yet)", color = red];`,
		`"target.vault" [label = "target vault (copy_only)\nSales: breach (nothing yet)\nO'Brien: breach (nothing yet)", color = red];`,
		`"backup_folder.share" -> "target.west.destination" [label = "ship"];`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("graph lacks %s\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(h.dir, "drs.state.json")); !os.IsNotExist(err) {
		t.Errorf("graph wrote a state: %v", err)
	}

	for _, s := range []string{"primary", "east", "west"} {
		h.drv.Server(s).SetDown(false)
	}
	if code := h.apply(); code != 0 {
		t.Fatal("apply failed")
	}
	h.clock = h.clock.Add(10 * time.Minute)
	m := state.NewLocal(filepath.Join(h.dir, "drs.state.json"), state.LocalOptions{})
	st, err := m.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := h.clock
	st.TargetDatabase("west", "Sales").PromotedAt = &at
	if err := m.Write(ctx, st); err != nil {
		t.Fatal(err)
	}
	h.env().Graph(ctx, h.globals(), cli.GraphOptions{})
	out = h.stdout.String()
	for _, want := range []string{
		`"target.east" [label = "target east (standby, standby)\nSales: ok (10m behind)\nO'Brien: ok (10m behind)", color = darkgreen];`,
		`"target.west" [label = "target west (standby, norecovery)\nSales: promoted (2026-11-25 08:10Z)\nO'Brien: ok (10m behind)", color = blue];`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("graph lacks %s\n%s", want, out)
		}
	}
	h.clock = h.clock.Add(time.Hour)
	h.env().Graph(ctx, h.globals(), cli.GraphOptions{})
	if want := `O'Brien: breach (1h10m behind)", color = red];`; !strings.Contains(h.stdout.String(), want) {
		t.Errorf("graph lacks %s\n%s", want, h.stdout.String())
	}
}
