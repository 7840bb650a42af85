package main

import (
	"database/sql"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
)

// Following the README in a clone leaves it clean: the commands it tells a
// reader to run, against the quickstart, with the state where drsctl puts
// it by default (beside the configuration, in the clone), a saved plan and
// the graph picture, and git status shows nothing to commit. A state file
// committed by accident is a ledger in a public repository.
func TestREADME_CommandsLeaveTheCloneClean(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Fatalf("git is needed to check what a clone would commit: %v", err)
	}
	clone := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gitBin, append([]string{"-C", clone, "-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// A clone as far as ignoring goes: the repository's .gitignore and
	// examples/, committed.
	copyTree(t, "../../.gitignore", filepath.Join(clone, ".gitignore"))
	copyTree(t, "../../examples", filepath.Join(clone, "examples"))
	git("init", "-q")
	git("add", "-A")
	git("commit", "-q", "-m", "clone")

	// make demo's estate, outside the clone.
	demo := t.TempDir()
	for _, d := range []string{"backups", "reporting", "dr", "reporting-data", "dr-data"} {
		if err := os.MkdirAll(filepath.Join(demo, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	vars := map[string]string{"DRS_DEMO_DIR": demo}
	for _, name := range []string{"primary", "reporting", "dr"} {
		srv, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(demo, name+"-sim"), Name: strings.ToUpper(name)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		vars["DRS_"+strings.ToUpper(name)+"_DSN"] = srv.DSN("")
	}
	db, err := sql.Open("sqlserver", vars["DRS_PRIMARY_DSN"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE DATABASE [Shop]"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	getenv := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }

	t.Chdir(clone) // a reader in the clone's top directory
	qs := []string{"-chdir", "examples/quickstart"}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"validate"}, 0},
		{[]string{"fmt", "-check", "-recursive", "../.."}, 0},
		{[]string{"plan", "-detailed-exitcode", "-out", "plan.json"}, 2},
		{[]string{"show", "plan.json"}, 0},
		{[]string{"apply", "plan.json"}, 0},
		{[]string{"apply", "-auto-approve"}, 0},
		{[]string{"drill", "reporting"}, 0},
		{[]string{"status"}, 0},
		{[]string{"graph"}, 0},
		{[]string{"state", "list"}, 0},
		{[]string{"force-unlock"}, 0},
		{[]string{"promote", "dr", "-planned", "-auto-approve"}, 0},
	} {
		code, stdout, stderr := runDrsctl(getenv, append(qs, c.args...)...)
		if code != c.code {
			t.Fatalf("drsctl %s: exit %d, want %d\n%s%s", strings.Join(c.args, " "), code, c.code, stdout, stderr)
		}
		if c.args[0] == "graph" { // drsctl graph | dot -Tsvg > drs.svg
			if err := os.WriteFile("drs.svg", []byte(stdout), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The state went where drsctl puts it by default: into the clone.
	if _, err := os.Stat(filepath.Join(clone, "examples", "quickstart", "drs.state.json")); err != nil {
		t.Fatalf("the default state is not beside the configuration: %v", err)
	}
	if _, err := os.Stat(filepath.Join(clone, "plan.json")); err != nil {
		t.Fatalf("the saved plan is not where the reader ran plan -out: %v", err)
	}
	if status := git("status", "--porcelain", "--untracked-files=all"); status != "" {
		t.Errorf("following the README left files to commit (git-ignore them, or write them elsewhere):\n%s", status)
	}
}

// copyTree copies a file or a directory.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
