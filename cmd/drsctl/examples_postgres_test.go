package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/testenv/pgtest"
)

// TestExamples_PostgresDemo runs examples/postgres/demo.sh (make
// demo-postgres) for real, against real PostgreSQL: it must end well, say
// that the rows written after the base backup arrived on the standby and
// that a write there was refused, show drsctl status, and leave no cluster
// running and no directory behind. Like every PostgreSQL test it skips on a
// developer's machine without root or PostgreSQL, and fails in CI.
func TestExamples_PostgresDemo(t *testing.T) {
	bin := pgtest.Bin(t)
	tmp := pgtest.Dir(t) // the demo's mktemp -d goes under it: anything left shows
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(examplesDir, "postgres", "demo.sh"))
	cmd.Env = append(os.Environ(), "PG_BIN="+bin, "TMPDIR="+tmp, "DRSCTL_DEMO_KEEP=")
	// On a timeout, TERM: the demo's trap stops its clusters.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = time.Minute
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("demo.sh:\n%s", out.String())
	if err != nil {
		t.Fatalf("examples/postgres/demo.sh: %v", err)
	}
	for _, want := range []string{
		"demo: all 6 rows, the 3 written after the base backup included, arrived on the standby",
		"read-only transaction", // PostgreSQL's refusal, from psql
		"demo: the write on the standby was refused",
		"TARGET", // drsctl status's table of standbys
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the demo's output does not say %q", want)
		}
	}
	// Cleanup: nothing left under TMPDIR but pgtest's own marker, and no
	// postgres process running from there.
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		if e.Name() != pgtest.OwnerFile {
			t.Errorf("the demo left %s behind", filepath.Join(tmp, e.Name()))
		}
	}
	if ps, err := exec.Command("ps", "-eo", "args").Output(); err == nil {
		for _, line := range strings.Split(string(ps), "\n") {
			if strings.Contains(line, tmp) {
				t.Errorf("a process from the demo still runs: %s", line)
			}
		}
	}
}
