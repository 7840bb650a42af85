package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Help that was asked for is output (stdout, exit 0), so drsctl -h | less
// works; usage after a mistake is an error (stderr, exit 1), as Terraform
// and Go's own tools do.
func TestHelp_AskedForGoesToStdout(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"-help"}, {"--help"}, {"help"}, {"plan", "-h"}, {"help", "plan"}, {"apply", "--help"}, {"help", "state"}, {"help", "help"}, {"help", "-h"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			env, out, errb := testEnv()
			if code := run(context.Background(), env, args); code != 0 {
				t.Errorf("exit %d, want 0", code)
			}
			if !strings.Contains(out.String(), "Usage: drsctl") || !strings.Contains(out.String(), "Exit codes:") {
				t.Errorf("stdout lacks the usage:\n%s", out)
			}
			if errb.Len() != 0 {
				t.Errorf("stderr is not empty:\n%s", errb)
			}
		})
	}
}

func TestHelp_AfterAWrongFlagGoesToStderr(t *testing.T) {
	for _, args := range [][]string{{"-bogus"}, {"plan", "-bogus"}, {"apply", "-parallelism", "many"}, {}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			env, out, errb := testEnv()
			if code := run(context.Background(), env, args); code != 1 {
				t.Errorf("exit %d, want 1", code)
			}
			if out.Len() != 0 {
				t.Errorf("stdout is not empty:\n%s", out)
			}
			if !strings.Contains(errb.String(), "Usage: drsctl") {
				t.Errorf("stderr lacks the usage:\n%s", errb)
			}
			if len(args) > 0 && !strings.Contains(errb.String(), args[len(args)-1]) {
				t.Errorf("stderr does not name the wrong flag %s:\n%s", args[len(args)-1], errb)
			}
		})
	}
}

func TestVersion_FlagAndCommandAgree(t *testing.T) {
	var want string
	for _, args := range [][]string{{"version"}, {"-version"}, {"--version"}} {
		env, out, errb := testEnv()
		if code := run(context.Background(), env, args); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errb)
		}
		if !strings.HasPrefix(out.String(), "drsctl test (") {
			t.Errorf("%v: %q", args, out)
		}
		if want == "" {
			want = out.String()
		} else if out.String() != want {
			t.Errorf("%v printed %q, drsctl version %q", args, out, want)
		}
	}
}

func TestUnknownCommand_SuggestsTheNearestVerb(t *testing.T) {
	for _, c := range []struct{ typed, want string }{
		{"aply", "apply"},
		{"appyl", "apply"}, // two letters swapped
		{"pln", "plan"},
		{"stauts", "status"},
		{"promte", "promote"},
		{"Plan", "plan"},
		{"valdiate", "validate"},
		{"frmt", "fmt"},
	} {
		env, out, errb := testEnv()
		if code := run(context.Background(), env, []string{c.typed}); code != 1 {
			t.Errorf("%s: exit %d", c.typed, code)
		}
		want := `unknown command "` + c.typed + `". Did you mean "` + c.want + `"?`
		if !strings.Contains(errb.String(), want) || out.Len() != 0 {
			t.Errorf("%s: stderr %q, want %q", c.typed, errb, want)
		}
	}
	// Nothing near: no guess, the list of commands instead.
	for _, typed := range []string{"xyzzy", "backup", "destroy"} {
		env, _, errb := testEnv()
		if code := run(context.Background(), env, []string{typed}); code != 1 {
			t.Errorf("%s: exit %d", typed, code)
		}
		if strings.Contains(errb.String(), "Did you mean") || !strings.Contains(errb.String(), "Commands:") {
			t.Errorf("%s: %s", typed, errb)
		}
	}
	// A state subcommand too.
	env, _, errb := testEnv()
	if code := run(context.Background(), env, []string{"state", "lsit"}); code != 1 || !strings.Contains(errb.String(), `unknown state command "lsit". Did you mean "list"?`) {
		t.Errorf("state lsit: exit %d, %s", code, errb)
	}
	// drsctl help aply is the same typo.
	env, _, errb = testEnv()
	if code := run(context.Background(), env, []string{"help", "aply"}); code != 1 || !strings.Contains(errb.String(), `Did you mean "apply"?`) {
		t.Errorf("help aply: exit %d, %s", code, errb)
	}
}

func TestEditDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"plan", "plan", 0}, {"aply", "apply", 1}, {"paln", "plan", 1}, {"pnal", "plan", 2}, {"", "fmt", 3}, {"kitten", "sitting", 3}, {"état", "etat", 1}} {
		if got := editDistance(c.a, c.b); got != c.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// fmt [PATH…] -recursive, as terraform fmt: files and directories, and
// with -recursive the directories under them; -check and -diff still work.
func TestFmt_PathsAndRecursive(t *testing.T) {
	const messy, tidy = "state {\nurl=\"x.json\"\n}\n", "state {\n  url = \"x.json\"\n}\n"
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		for _, f := range []string{"top.drs.hcl", "a/one.drs.hcl", "a/b/two.drs.hcl", "other/three.drs.hcl", ".git/hidden.drs.hcl", "a/notes.txt"} {
			p := filepath.Join(dir, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(messy), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	formatted := func(t *testing.T, dir string) []string {
		var got []string
		for _, f := range []string{"top.drs.hcl", "a/one.drs.hcl", "a/b/two.drs.hcl", "other/three.drs.hcl", ".git/hidden.drs.hcl", "a/notes.txt"} {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) == tidy {
				got = append(got, f)
			}
		}
		return got
	}
	for _, c := range []struct {
		name string
		args []string
		want []string
	}{
		{"no path: the configuration directory", []string{"fmt"}, []string{"top.drs.hcl"}},
		{"a directory", []string{"fmt", "a"}, []string{"a/one.drs.hcl"}},
		{"a file, whatever its name", []string{"fmt", "a/b/two.drs.hcl", "a/notes.txt"}, []string{"a/b/two.drs.hcl", "a/notes.txt"}},
		{"recursive from the top, hidden directories skipped", []string{"fmt", "-recursive"}, []string{"top.drs.hcl", "a/one.drs.hcl", "a/b/two.drs.hcl", "other/three.drs.hcl"}},
		{"recursive under one directory", []string{"fmt", "-recursive", "a"}, []string{"a/one.drs.hcl", "a/b/two.drs.hcl"}},
		{"flags after paths", []string{"fmt", "other", "a/b", "-recursive"}, []string{"a/b/two.drs.hcl", "other/three.drs.hcl"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := setup(t)
			env, out, errb := testEnv()
			if code := run(context.Background(), env, append([]string{"-chdir", dir}, c.args...)); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, out, errb)
			}
			if got := formatted(t, dir); strings.Join(got, " ") != strings.Join(c.want, " ") {
				t.Errorf("formatted %v, want %v", got, c.want)
			}
			for _, f := range c.want { // fmt lists what it changed
				if !strings.Contains(out.String(), filepath.Join(dir, f)+"\n") {
					t.Errorf("output does not list %s:\n%s", f, out)
				}
			}
		})
	}

	t.Run("check and diff write nothing", func(t *testing.T) {
		dir := setup(t)
		env, out, errb := testEnv()
		if code := run(context.Background(), env, []string{"-chdir", dir, "fmt", "-check", "-diff", "-recursive", "a"}); code != 3 {
			t.Fatalf("exit %d, want 3\n%s%s", code, out, errb)
		}
		if got := formatted(t, dir); len(got) != 0 {
			t.Errorf("-check wrote %v", got)
		}
		for _, want := range []string{"a/one.drs.hcl", "a/b/two.drs.hcl", "+  url = \"x.json\""} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("-diff output lacks %q:\n%s", want, out)
			}
		}
		env, _, _ = testEnv()
		run(context.Background(), env, []string{"-chdir", dir, "fmt", "-recursive", "a"})
		env, out, _ = testEnv()
		if code := run(context.Background(), env, []string{"-chdir", dir, "fmt", "-check", "-recursive", "a"}); code != 0 || out.Len() != 0 {
			t.Errorf("-check after fmt: exit %d, %s", code, out)
		}
	})

	// Naming the wrong place must not pass a -check in CI.
	for _, args := range [][]string{{"fmt", "-check", "nowhere"}, {"fmt", "-check", "-recursive", "empty"}, {"fmt", "-check", "empty"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Mkdir(filepath.Join(dir, "empty"), 0o755); err != nil {
				t.Fatal(err)
			}
			env, _, errb := testEnv()
			if code := run(context.Background(), env, append([]string{"-chdir", dir}, args...)); code != 1 || !strings.Contains(errb.String(), filepath.Join(dir, args[len(args)-1])) {
				t.Errorf("exit %d, want 1 naming the path:\n%s", code, errb)
			}
		})
	}

	t.Run("-config with paths is refused", func(t *testing.T) {
		dir := setup(t)
		env, _, errb := testEnv()
		if code := run(context.Background(), env, []string{"-chdir", dir, "-config", "top.drs.hcl", "fmt", "a"}); code != 1 || !strings.Contains(errb.String(), "-config") {
			t.Errorf("exit %d\n%s", code, errb)
		}
		if got := formatted(t, dir); len(got) != 0 {
			t.Errorf("formatted %v", got)
		}
	})
}

// Flags that contradict each other are refused, naming both, rather than
// one silently winning.
func TestContradictingFlags_AreRefused(t *testing.T) {
	statePath := filepath.Join(t.TempDir(), "drs.state.json")
	planFile := filepath.Join(t.TempDir(), "plan.json")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"status", "-format", "prometheus", "-json"}, []string{"-json and -format prometheus cannot be used together"}},
		{[]string{"status", "-json", "-format=prometheus", "-check"}, []string{"-json and -format prometheus cannot be used together"}},
		{[]string{"apply", planFile, "-refresh=false"}, []string{"-refresh cannot be used with a saved plan", planFile}},
		{[]string{"apply", "-refresh=true", planFile}, []string{"-refresh cannot be used with a saved plan"}},
		{[]string{"graph", "-refresh"}, []string{"-refresh", "-plan"}},
		{[]string{"apply", "-json"}, []string{"-json needs -auto-approve or a saved plan"}},
		{[]string{"promote", "dr_east", "-disconnect-users"}, []string{"-disconnect-users", "-planned"}},
	} {
		t.Run(strings.ReplaceAll(strings.Join(c.args, " "), planFile, "FILE"), func(t *testing.T) {
			env, out, errb := testEnv()
			env.Terminal = true // where apply would ask: the prompt must not go into a JSON stream
			code := run(context.Background(), env, append([]string{"-config", designExample, "-state", statePath}, c.args...))
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s%s", code, out, errb)
			}
			if out.Len() != 0 {
				t.Errorf("stdout: %s", out)
			}
			for _, w := range c.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb)
				}
			}
		})
	}
	if _, err := os.Stat(statePath); !os.IsNotExist(err) {
		t.Error("a refused command wrote the state")
	}
}
