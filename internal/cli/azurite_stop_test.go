package cli_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	_ "gocloud.dev/blob/azureblob"

	"github.com/drsctl/drsctl/internal/apply"
	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/observe"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/testenv"
)

// azurite is a private Azurite the test may stop at will.
type azurite struct {
	t    *testing.T
	bin  string
	dir  string
	port int
	cmd  *exec.Cmd
}

func (a *azurite) start() {
	a.t.Helper()
	a.cmd = exec.Command(a.bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(a.port), "--location", a.dir,
		"--skipApiVersionCheck", "--disableTelemetry", "--silent")
	a.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // node may fork: stop the whole group
	if err := a.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", a.port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	a.t.Fatal("azurite did not start")
}

// stop stops Azurite as an operator would (SIGTERM: it keeps its data)
// and waits for it to exit.
func (a *azurite) stop() {
	if a.cmd != nil && a.cmd.Process != nil {
		syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { a.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		a.cmd = nil
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// killer stops Azurite at the first progress report of the ship to it.
type killer struct {
	apply.Reporter
	once sync.Once
	az   *azurite
	hit  bool
}

func (k *killer) Progress(a *plan.Action, pct int, msg string) {
	if a.Kind == plan.Ship && a.Target == "azvault" && pct < 100 {
		k.once.Do(func() { k.hit = true; k.az.stop() })
	}
	k.Reporter.Progress(a, pct, msg)
}

func TestApply_AzuriteStoppedMidTransfer(t *testing.T) {
	env := testenv.Lookup(t, "DRSCTL_TEST_AZURITE", "DRSCTL_TEST_AZURE_ACCOUNT", "DRSCTL_TEST_AZURE_KEY")
	t.Setenv("AZURE_STORAGE_ACCOUNT", env["DRSCTL_TEST_AZURE_ACCOUNT"])
	t.Setenv("AZURE_STORAGE_KEY", env["DRSCTL_TEST_AZURE_KEY"])
	for _, k := range []string{"AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_DOMAIN"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	az := &azurite{t: t, bin: env["DRSCTL_TEST_AZURITE"], dir: t.TempDir(), port: freePort(t)}
	az.start()
	t.Cleanup(az.stop)
	ctx := context.Background()
	azURL := "azblob://vault/sales?" + url.Values{"protocol": {"http"}, "domain": {fmt.Sprintf("127.0.0.1:%d", az.port)}}.Encode()
	createContainer := func() {
		b, err := dblob.Open(ctx, azURL)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		var c *container.Client
		if !b.As(&c) {
			t.Fatal("no container client")
		}
		c.Create(ctx, nil) // exists after a restart: fine
	}
	createContainer()

	h := newHarness(t)
	cfgText := fmt.Sprintf(`
backup_folder "share" { url = "file://%[1]s/share" }
primary "sales" {
  engine        = "memory"
  connection    = "mem://primary"
  databases     = ["Sales"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "30m"
}
target "east" {
  primary    = primary.sales
  connection = "mem://east"
  destination { url = "file://%[1]s/east" }
}
target "azvault" {
  primary = primary.sales
  kind    = "copy_only"
  destination {
    url         = %[2]q
    part_size   = "5MiB"
    concurrency = 1
  }
}
`, h.dir, azURL)
	os.Remove(filepath.Join(h.dir, "main.drs.hcl"))
	if err := os.WriteFile(filepath.Join(h.dir, "main.drs.hcl"), []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	// A backup of ~45 MB, so the transfer to Azurite takes several parts.
	ids := make([]int, 1_000_000)
	for i := range ids {
		ids[i] = i
	}
	h.drv.Server("primary").Insert("Sales", ids...)

	cfg, diags := config.Load(h.dir, config.LoadOptions{KnownEngines: []string{"memory"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	m := state.NewLocal(filepath.Join(h.dir, "drs.state.json"), state.LocalOptions{})
	run := func(rep apply.Reporter) (*apply.Result, error) {
		st, err := m.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st == nil {
			st = state.New(state.NewLineage())
		}
		obs := observe.Refresh(ctx, cfg, st, observe.Options{Engines: h.engines})
		p := plan.Make(cfg, st, obs, h.clock, plan.Options{})
		r := &apply.Runner{Config: cfg, Engines: h.engines, State: m, Reporter: rep, Now: func() time.Time { return h.clock }}
		return r.Apply(ctx, p, st)
	}

	k := &killer{Reporter: &apply.Lines{W: testWriter{t}}, az: az}
	res, err := run(k)
	if !k.hit {
		t.Fatal("Azurite was never stopped: no progress was reported for the transfer")
	}
	if err == nil {
		t.Fatal("apply succeeded although Azurite was stopped mid-transfer")
	}
	var failedTargets []string
	for _, o := range res.Outcomes {
		if o.Err != nil {
			failedTargets = append(failedTargets, o.Action.Target)
		}
	}
	if fmt.Sprint(failedTargets) != "[azvault]" {
		t.Errorf("failed actions on targets %v, want only azvault's ship", failedTargets)
	}
	st, _ := m.Read(ctx)
	art := st.Primaries["sales"].Databases["Sales"].Artifacts[0]
	if st.Targets["east"].Databases["Sales"].Restored == nil {
		t.Error("the file target must complete while Azurite is down")
	}
	if c := st.Targets["azvault"]; c != nil && c.Databases["Sales"] != nil && c.Databases["Sales"].Copies[art.ID] != nil {
		t.Error("the failed copy must not be in the ledger")
	}

	// Azurite back: nothing partial is visible under the final name, and the
	// next apply ships the copy again.
	az.start()
	var c *container.Client
	b, err := dblob.Open(ctx, azURL)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.As(&c) {
		t.Fatal("no container client")
	}
	if _, err := c.GetProperties(ctx, nil); err != nil {
		t.Fatalf("the container must survive the stop, or the next check proves nothing: %v", err)
	}
	if ok, err := b.Exists(ctx, art.Key); err != nil || ok {
		t.Fatalf("after the failed transfer the key exists=%v (err %v): a partial upload is visible", ok, err)
	}
	if _, err := run(&apply.Lines{W: testWriter{t}}); err != nil {
		t.Fatalf("re-ship apply: %v", err)
	}
	size, sum, err := dblob.Checksum(ctx, b, art.Key)
	if err != nil || size != art.Size || sum != art.SHA256 {
		t.Errorf("re-shipped copy: %d bytes %s (%v), want %d %s", size, sum, err, art.Size, art.SHA256)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }
