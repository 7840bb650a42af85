package observe_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/enginetest"
	"github.com/drsctl/drsctl/internal/observe"
	"github.com/drsctl/drsctl/internal/state"
)

func setup(t *testing.T) (*config.Config, *engine.Registry, *enginetest.Driver, string) {
	dir := t.TempDir()
	hcl := fmt.Sprintf(`
backup_folder "f" { url = "file://%[1]s/folder" }
primary "p" {
  engine = "memory"
  connection = "mem://p"
  databases = ["A", "B"]
  backup_folder = backup_folder.f
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "30m"
}
target "east" {
  primary = primary.p
  connection = "mem://east"
  databases = ["A"]
  destination { url = "file://%[1]s/east" }
}
target "vault" {
  primary = primary.p
  kind = "copy_only"
  destination { url = "file://%[1]s/vault" }
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "c.drs.hcl"), []byte(hcl), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := config.Load(dir, config.LoadOptions{KnownEngines: []string{"memory"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	drv := enginetest.NewDriver()
	drv.Server("p").Create("A", "100")
	r := engine.NewRegistry()
	r.Register("memory", drv)
	return cfg, r, drv, dir
}

func TestRefresh_ReportsServersAndStorage(t *testing.T) {
	cfg, reg, _, dir := setup(t)
	for _, f := range []string{"folder/p/A/full/A_full.bak", "east/p/A/full/A_full.bak", "east/p/A/full/.drsctl-keep"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		os.WriteFile(filepath.Join(dir, f), []byte("12345"), 0o644)
	}
	o := observe.Refresh(context.Background(), cfg, state.New("l"), observe.Options{Engines: reg})
	if !o.Refreshed {
		t.Fatal("not refreshed")
	}
	p := o.Primaries["p"]
	if p.Err != "" || !p.Databases["A"].Exists || p.Databases["B"].Exists {
		t.Errorf("primary: %+v A=%+v B=%+v", p, p.Databases["A"], p.Databases["B"])
	}
	if got := o.Targets["east"].Databases["A"]; got == nil || got.State != engine.Absent {
		t.Errorf("east A = %+v", got)
	}
	if _, ok := o.Targets["vault"]; ok {
		t.Error("a copy-only target has no server to ask")
	}
	if obj, ok := o.Folders["f"].Objects["p/A/full/A_full.bak"]; !ok || obj.Size != 5 || obj.ModTime.IsZero() {
		t.Errorf("folder objects = %v", o.Folders["f"].Objects)
	}
	if keys := observe.Keys(o.Destinations["east"]); fmt.Sprint(keys) != "[p/A/full/A_full.bak]" {
		t.Errorf("east objects = %v (directory markers must not count)", keys)
	}
	if len(o.Destinations["vault"].Objects) != 0 || o.Destinations["vault"].Err != "" {
		t.Errorf("vault = %+v", o.Destinations["vault"])
	}
}

func TestRefresh_DeadServerFailsOnlyItsOwnObservation(t *testing.T) {
	cfg, reg, drv, _ := setup(t)
	drv.Server("east").SetDown(true)
	start := time.Now()
	o := observe.Refresh(context.Background(), cfg, nil, observe.Options{Engines: reg, Timeout: 5 * time.Second})
	if err := o.Targets["east"].Err; !strings.Contains(err, "unreachable") || strings.Contains(err, "mem://") {
		t.Errorf("east error = %q (must say why, never the connection string)", err)
	}
	if o.Primaries["p"].Err != "" || o.Destinations["east"].Err != "" {
		t.Errorf("the others must still be observed: %+v %+v", o.Primaries["p"], o.Destinations["east"])
	}
	if time.Since(start) > 5*time.Second {
		t.Error("refresh waited for the dead server")
	}
}

func TestRefresh_TargetSelection(t *testing.T) {
	cfg, reg, _, _ := setup(t)
	o := observe.Refresh(context.Background(), cfg, nil, observe.Options{Engines: reg, Targets: []string{"vault"}})
	if _, ok := o.Targets["east"]; ok {
		t.Error("-target vault must not ask east")
	}
	if _, ok := o.Destinations["vault"]; !ok {
		t.Error("vault's destination must be listed")
	}
	if _, ok := o.Primaries["p"]; !ok {
		t.Error("the selected target's primary must be observed")
	}
}
