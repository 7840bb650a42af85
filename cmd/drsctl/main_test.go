package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/enginetest"
	"github.com/drsctl/drsctl/internal/state"
)

const designExample = "../../internal/config/testdata/valid/design_example.drs.hcl"

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testEnv() (*cli.Env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	r := engine.NewRegistry()
	r.Register("sqlserver", enginetest.NewDriver()) // never reached with -refresh=false
	return &cli.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(""),
		Getenv:  func(string) (string, bool) { return "", false }, // DSNs unset, as in CI
		Engines: r, Now: func() time.Time { return now }, Version: "test"}, &out, &errb
}

func TestDesignExample_Validates(t *testing.T) {
	env, out, errb := testEnv()
	if code := run(context.Background(), env, []string{"-config", designExample, "validate"}); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errb)
	}
	if !strings.Contains(out.String(), "Success!") {
		t.Errorf("output: %s", out)
	}
}

func TestDesignExample_PlanWithoutRefreshListsAFullBackupPerDatabase(t *testing.T) {
	env, out, errb := testEnv()
	statePath := filepath.Join(t.TempDir(), "drs.state.json")
	code := run(context.Background(), env, []string{"-config", designExample, "-state", statePath, "plan", "-refresh=false", "-detailed-exitcode"})
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, errb)
	}
	for _, db := range []string{"Sales", "Inventory"} {
		if !strings.Contains(out.String(), `primary "sales" database "`+db+`"`+"\n  + backup full") {
			t.Errorf("no full backup listed for %s:\n%s", db, out)
		}
	}
	if _, err := os.Stat(statePath); !os.IsNotExist(err) {
		t.Error("plan must not write the state")
	}
}

func TestDesignExample_PlanWithNothingDueExitsZero(t *testing.T) {
	env, out, errb := testEnv()
	statePath := filepath.Join(t.TempDir(), "drs.state.json")
	st := state.New(state.NewLineage())
	for i, db := range []string{"Sales", "Inventory"} {
		full := &state.Artifact{ID: db + ".bak", Key: "sales/" + db + "/full/" + db + ".bak", Size: 10, SHA256: "aa",
			Header: artifact.Header{Kind: artifact.Full, FirstLSN: "100", LastLSN: "200", Finish: now.Add(-time.Hour)}}
		log := &state.Artifact{ID: db + ".trn", Key: "sales/" + db + "/log/" + db + ".trn", Size: 10, SHA256: "bb",
			Header: artifact.Header{Kind: artifact.Log, FirstLSN: "150", LastLSN: "300", Finish: now.Add(-5 * time.Minute)}}
		st.Database("sales", db).Add(full)
		st.Database("sales", db).Add(log)
		td := st.TargetDatabase("dr_east", db)
		v := now.Add(-4 * time.Minute)
		for _, a := range []*state.Artifact{full, log} {
			td.Copies[a.ID] = &state.Copy{Key: a.Key, Size: a.Size, SHA256: a.SHA256, ShippedAt: v, VerifiedAt: &v}
		}
		td.SeededFrom = full.ID
		td.Restored = &state.Restore{Artifact: log.ID, Kind: artifact.Log, LastLSN: "300", Mode: "standby", At: v}
		_ = i
	}
	m := state.NewLocal(statePath, state.LocalOptions{})
	if err := m.Write(context.Background(), st); err != nil {
		t.Fatal(err)
	}
	code := run(context.Background(), env, []string{"-config", designExample, "-state", statePath, "plan", "-refresh=false", "-detailed-exitcode"})
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errb)
	}
	if !strings.Contains(out.String(), "No changes.") {
		t.Errorf("output:\n%s", out)
	}
}

func TestEveryCommandHasHelpWithExitCodes(t *testing.T) {
	for name := range commands {
		env, out, _ := testEnv()
		if code := run(context.Background(), env, []string{name, "-help"}); code != 0 {
			t.Errorf("%s -help: exit %d", name, code)
		}
		if !strings.Contains(out.String(), "Exit codes:") || !strings.Contains(out.String(), "Usage: drsctl "+name) {
			t.Errorf("%s -help lacks usage or exit codes:\n%s", name, out)
		}
	}
}

func TestUnknownCommandAndApplyFlags(t *testing.T) {
	env, _, errb := testEnv()
	if code := run(context.Background(), env, []string{"bogus"}); code != 1 || !strings.Contains(errb.String(), `unknown command "bogus"`) {
		t.Errorf("unknown command: %d %s", code, errb)
	}
	env, _, errb = testEnv()
	if code := run(context.Background(), env, []string{"-config", designExample, "apply", "-parallelism", "0"}); code != 1 || !strings.Contains(errb.String(), "-parallelism") {
		t.Errorf("bad parallelism: %d %s", code, errb)
	}
}

func TestFmtCheckExitsThree(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.drs.hcl"), []byte("state {\nurl=\"x.json\"\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env, out, _ := testEnv()
	if code := run(context.Background(), env, []string{"-chdir", dir, "fmt", "-check"}); code != 3 {
		t.Errorf("fmt -check on an unformatted file: exit %d (%s)", code, out)
	}
	env, _, _ = testEnv()
	if code := run(context.Background(), env, []string{"-chdir", dir, "fmt"}); code != 0 {
		t.Errorf("fmt: exit %d", code)
	}
	env, _, _ = testEnv()
	if code := run(context.Background(), env, []string{"-chdir", dir, "fmt", "-check"}); code != 0 {
		t.Errorf("fmt -check after fmt: exit %d", code)
	}
}

func TestLogLevelIsChecked(t *testing.T) {
	env, _, errb := testEnv()
	if code := run(context.Background(), env, []string{"-log-level", "loud", "version"}); code != 1 || !strings.Contains(errb.String(), "-log-level") {
		t.Errorf("bad -log-level: exit %d, %s", code, errb)
	}
}
