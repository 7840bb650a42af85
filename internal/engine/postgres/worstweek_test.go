package postgres

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/engine"
)

// TestStandbyStalePIDFileAfterAReboot: the standby's host went down hard
// (the cluster stopped with -m immediate stands in for the power cut) and
// came back with postmaster.pid still there, naming a PID that now belongs
// to some other process — PIDs are reused after a reboot. That process is
// not the standby's postmaster: the standby is reported stopped, and the
// next log restore starts it and replays, instead of waiting for a server
// that is not there.
func TestStandbyStalePIDFileAfterAReboot(t *testing.T) {
	ctx := testCtx(t)
	p := newPrimary(t, ctx)
	full := p.full(ctx)
	tg := newTarget(t, ctx)
	tg.mustRestore(ctx, artifact.Full, full)
	p.insert(ctx, 1)
	log1, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log1)

	pidFile := filepath.Join(tg.dataDir, "postmaster.pid")
	saved, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	if out := tg.pgctl("stop", "-m", "immediate", "-w"); !strings.Contains(out, "stopped") {
		t.Fatalf("pg_ctl stop -m immediate: %s", out)
	}
	// Another process now has a PID; the crash left postmaster.pid naming it.
	other := exec.Command("sleep", "600")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	_, rest, _ := strings.Cut(string(saved), "\n")
	if err := os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n%s", other.Process.Pid, rest)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := tg.sess.(*session).chownFile(pidFile); err != nil {
		t.Fatal(err)
	}

	d := tg.observe(ctx)
	if d.State != engine.Restoring || !strings.Contains(d.RawState, "stopped") {
		t.Fatalf("standby whose postmaster.pid names another process: %s (%s); want restoring (stopped)", d.State, d.RawState)
	}
	p.insert(ctx, 2)
	log2, _ := p.log(ctx)
	tg.mustRestore(ctx, artifact.Log, log2)
	tg.wantRows(ctx, 1, 2)
	if err := syscall.Kill(other.Process.Pid, 0); err != nil {
		t.Fatalf("the unrelated process named by the stale postmaster.pid was harmed: %v", err)
	}
}
