package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/wiring"
)

// wal-fetch speaks restore_command's language: 0 restored, 1 not there yet
// (the standby waits and asks again), 2 an error said on stderr; never 126
// or more, which would end the standby's recovery.
func TestWALFetch_ExitCodes(t *testing.T) {
	dir, dest := t.TempDir(), t.TempDir()
	const seg = "000000010000000000000003"
	if err := os.WriteFile(filepath.Join(dir, seg), []byte("wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		env := &cli.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(""), Getenv: noGetenv,
			Engines: wiring.Engines(), Version: "test", FetchWAL: wiring.FetchWAL}
		return run(context.Background(), env, args), out.String() + errb.String()
	}
	if code, out := run("wal-fetch", "-dir", dir, seg, filepath.Join(dest, "RECOVERYXLOG")); code != 0 {
		t.Errorf("a segment in the inbox: exit %d, %s", code, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "RECOVERYXLOG")); string(b) != "wal" {
		t.Errorf("restored %q", b)
	}
	if code, out := run("wal-fetch", "-dir", dir, "000000010000000000000004", filepath.Join(dest, "RECOVERYXLOG")); code != 1 || out != "" {
		t.Errorf("a segment not there yet: exit %d %q, want 1 and nothing said", code, out)
	}
	if code, out := run("wal-fetch", "-dir", dir, "../../etc/passwd", filepath.Join(dest, "x")); code != 2 || !strings.Contains(out, "neither a WAL segment") {
		t.Errorf("a bad name: exit %d %q, want 2 and why", code, out)
	}
	if code, out := run("wal-fetch", seg); code != 2 || !strings.Contains(out, "needs -dir") {
		t.Errorf("no -dir: exit %d %q", code, out)
	}
}
