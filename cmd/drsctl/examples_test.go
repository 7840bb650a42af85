package main

// The examples under examples/ are checked here, so that they keep working
// as drsctl changes: every configuration loads and validates with the real
// loader, every drsctl command line in a workflow, crontab, systemd unit or
// CronJob goes through drsctl's own argument parsing (a renamed flag or verb
// fails here), and each deployment file has what it promises (the workflow's
// triggers and concurrency, the units' Type=oneshot, the CronJob's Forbid).

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/wiring"
)

const (
	repoRoot    = "../.."
	examplesDir = repoRoot + "/examples"
)

// examplesWithConfig are the example directories that hold a configuration;
// a directory moved or added without updating this list fails the test.
var examplesWithConfig = []string{"cron", "github-actions", "kubernetes", "postgres", "quickstart", "two-site"}

// dummyGetenv sets every variable env() asks for, to a value that also
// passes where a path is expected (the quickstart's directory); drsctl's
// own variables (DRSCTL_…, test hooks included) stay unset.
func dummyGetenv(name string) (string, bool) {
	if strings.HasPrefix(name, "DRSCTL_") {
		return "", false
	}
	return "/dummy/" + strings.ToLower(name), true
}

func noGetenv(string) (string, bool) { return "", false }

// runDrsctl runs drsctl's main entry (flags, verbs and all) in-process.
func runDrsctl(getenv func(string) (string, bool), args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	env := &cli.Env{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(""), Getenv: getenv,
		Engines: wiring.Engines(), Version: "test"}
	code = run(context.Background(), env, args)
	return code, out.String(), errb.String()
}

// loadExample loads an example's configuration as drsctl validate does,
// with every env() variable set, and fails on any diagnostic, warnings
// included: an example shows no warning.
func loadExample(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, diags := config.Load(dir, config.LoadOptions{KnownEngines: wiring.Engines().Names(), Getenv: dummyGetenv})
	if len(diags) > 0 {
		var b bytes.Buffer
		config.WriteDiagnostics(&b, cfg.Files, diags, 100, false)
		t.Fatalf("%s: the configuration has diagnostics:\n%s", dir, b.String())
	}
	return cfg
}

// neededEnv lists the variables an example's deployment must provide: those
// its configuration reads with env(), and the storage credentials its URLs
// need (as the examples give them: S3 keys, the SMB password).
func neededEnv(t *testing.T, dir string) []string {
	t.Helper()
	seen := map[string]bool{}
	_, diags := config.Load(dir, config.LoadOptions{KnownEngines: wiring.Engines().Names(),
		Getenv: func(name string) (string, bool) { seen[name] = true; return dummyGetenv(name) }})
	if diags.HasErrors() {
		t.Fatalf("%s: %s", dir, diags.Error())
	}
	cfg := loadExample(t, dir)
	urls := []string{cfg.StateLocation()}
	for _, f := range cfg.BackupFolders {
		urls = append(urls, f.URL)
	}
	for _, tg := range cfg.Targets {
		urls = append(urls, tg.Destination.URL)
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			continue // a path
		}
		switch u.Scheme {
		case "s3":
			seen["AWS_ACCESS_KEY_ID"], seen["AWS_SECRET_ACCESS_KEY"] = true, true
		case "smb":
			if v := u.Query().Get("password_env"); v != "" {
				seen[v] = true
			} else {
				seen["DRSCTL_SMB_PASSWORD"] = true
			}
		case "azblob":
			seen["AZURE_STORAGE_ACCOUNT"] = true
		}
	}
	var names []string
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestExamples_ConfigurationsValidate(t *testing.T) {
	var found []string
	err := filepath.WalkDir(examplesDir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, config.FileSuffix) {
			rel, _ := filepath.Rel(examplesDir, filepath.Dir(p))
			if !slices.Contains(found, rel) {
				found = append(found, rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(found)
	if !slices.Equal(found, examplesWithConfig) {
		t.Fatalf("example configurations in %v, the test expects %v: update examplesWithConfig", found, examplesWithConfig)
	}
	for _, name := range found {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(examplesDir, name)
			cfg := loadExample(t, dir)
			if code, out, errs := runDrsctl(dummyGetenv, "-chdir", dir, "validate"); code != 0 || !strings.Contains(out, "Success!") {
				t.Errorf("drsctl validate: exit %d\n%s%s", code, out, errs)
			}
			if code, out, errs := runDrsctl(noGetenv, "-chdir", dir, "fmt", "-check"); code != 0 {
				t.Errorf("drsctl fmt -check: exit %d (run drsctl -chdir examples/%s fmt)\n%s%s", code, name, out, errs)
			}
			// Validate needs no secrets (the workflow validates pull
			// requests from forks, which get none); the quickstart's and
			// the PostgreSQL example's paths come from their demos.
			if name != "quickstart" && name != "postgres" {
				if code, out, errs := runDrsctl(noGetenv, "-chdir", dir, "validate"); code != 0 {
					t.Errorf("drsctl validate without secrets: exit %d\n%s%s", code, out, errs)
				}
			}
			// The planner takes it too: a first plan from an empty state
			// (-refresh=false asks no server) backs up every database.
			before := dirNames(t, dir)
			statePath := filepath.Join(t.TempDir(), "drs.state.json")
			code, out, errs := runDrsctl(dummyGetenv, "-chdir", dir, "-state", statePath, "plan", "-refresh=false", "-detailed-exitcode")
			full := "+ backup full"
			if name == "postgres" {
				full = "+ base backup" // PostgreSQL's words
			}
			if code != cli.ExitChanges || !strings.Contains(out, full) {
				t.Errorf("drsctl plan -refresh=false: exit %d, want %d with full backups\n%s%s", code, cli.ExitChanges, out, errs)
			}
			if after := dirNames(t, dir); !slices.Equal(before, after) {
				t.Errorf("plan left files in the example: %v, then %v", before, after)
			}
			// Trying an example must not leave a ledger in the clone: its
			// state lives elsewhere, or where git ignores it.
			loc := cfg.StateLocation()
			if !strings.Contains(loc, "://") {
				abs, _ := filepath.Abs(loc)
				root, _ := filepath.Abs(repoRoot)
				if strings.HasPrefix(abs, root+string(filepath.Separator)) {
					for _, suffix := range []string{"", ".lock", ".backup", ".lock.takeover", ".tmp-123", ".journal"} {
						if !gitIgnored(t, abs+suffix) {
							t.Errorf("the state %s is in the clone and git does not ignore it: add it to .gitignore, or put the state elsewhere", abs+suffix)
						}
					}
				}
			}
		})
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func gitIgnored(t *testing.T, p string) bool {
	t.Helper()
	cmd := exec.Command("git", "-C", repoRoot, "check-ignore", "-q", "--no-index", p)
	err := cmd.Run()
	if err == nil {
		return true
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		return false
	}
	t.Fatalf("git check-ignore %s: %v (the test needs git and a clone)", p, err)
	return false
}

// drsctlLine is a drsctl command line from an example, accepted by
// drsctl's own argument parsing.
type drsctlLine struct {
	verb       string
	flags      map[string]string // every flag given, "true" for a bare boolean
	positional []string
	cmd        simpleCommand
}

var usageFlag = regexp.MustCompile(`(?m)^  -([A-Za-z][\w-]*)( \S+)?`)

// parseDrsctl runs drsctl's real argument parsing on a command line (argv[0]
// is drsctl) without running the command: "-h" is appended, so the verb
// parses every flag, prints its usage and returns. An unknown verb or flag,
// or a bad value, fails the test.
func parseDrsctl(t *testing.T, where string, cmd simpleCommand) drsctlLine {
	t.Helper()
	args := cmd.argv[1:]
	for _, a := range args {
		if strings.ContainsAny(a, "$`") {
			t.Fatalf("%s: drsctl argument %q depends on the shell's expansion, which this test does not do: write the value out", where, a)
		}
	}
	var g cli.Globals
	top := flag.NewFlagSet("drsctl", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	addGlobals(top, &g)
	if err := top.Parse(args); err != nil || top.NArg() == 0 {
		t.Fatalf("%s: %q: no drsctl command after the global options (%v)", where, cmd.argv, err)
	}
	verb := top.Arg(0)
	code, help, stderr := runDrsctl(noGetenv, append(slices.Clone(args), "-h")...)
	if code != 0 || !strings.Contains(help, "Usage: drsctl "+verb) {
		t.Fatalf("%s: drsctl refuses %q (exit %d):\n%s%s", where, cmd.argv, code, help, stderr)
	}
	valueFlags := map[string]bool{}
	for _, m := range usageFlag.FindAllStringSubmatch(help, -1) {
		valueFlags[m[1]] = m[2] != ""
	}
	l := drsctlLine{verb: verb, flags: map[string]string{}, cmd: cmd}
	top.Visit(func(f *flag.Flag) { l.flags[f.Name] = f.Value.String() })
	rest := top.Args()[1:]
	for i := 0; i < len(rest); i++ {
		a := rest[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			l.positional = append(l.positional, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		switch {
		case hasValue:
		case valueFlags[name] && i+1 < len(rest):
			i++
			value = rest[i]
		default:
			value = "true"
		}
		l.flags[name] = value
	}
	return l
}

// drsctlCommands parses shell source and returns its drsctl command lines.
func drsctlCommands(t *testing.T, where, src string) []drsctlLine {
	t.Helper()
	cmds, err := shellCommands(src)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var ls []drsctlLine
	for _, c := range cmds {
		if path.Base(c.argv[0]) == "drsctl" {
			ls = append(ls, parseDrsctl(t, where, c))
		}
	}
	return ls
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustDuration(t *testing.T, where, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	return d
}

// ---- GitHub Actions ----

type ghWorkflow struct {
	Name string `yaml:"name"`
	On   struct {
		PullRequest      *ghTrigger `yaml:"pull_request"`
		Push             *ghTrigger `yaml:"push"`
		WorkflowDispatch *struct{}  `yaml:"workflow_dispatch"`
	} `yaml:"on"`
	Permissions map[string]string `yaml:"permissions"`
	Env         map[string]string `yaml:"env"`
	Defaults    struct {
		Run struct {
			WorkingDirectory string `yaml:"working-directory"`
			Shell            string `yaml:"shell"`
		} `yaml:"run"`
	} `yaml:"defaults"`
	Concurrency *ghConcurrency    `yaml:"concurrency"`
	Jobs        map[string]*ghJob `yaml:"jobs"`
}

type ghTrigger struct {
	Types    []string `yaml:"types"`
	Branches []string `yaml:"branches"`
	Paths    []string `yaml:"paths"`
}

type ghConcurrency struct {
	Group            string `yaml:"group"`
	CancelInProgress *bool  `yaml:"cancel-in-progress"`
}

type ghJob struct {
	If             string            `yaml:"if"`
	RunsOn         string            `yaml:"runs-on"`
	TimeoutMinutes int               `yaml:"timeout-minutes"`
	Permissions    map[string]string `yaml:"permissions"`
	Environment    string            `yaml:"environment"`
	Concurrency    *ghConcurrency    `yaml:"concurrency"`
	Env            map[string]string `yaml:"env"`
	Steps          []ghStep          `yaml:"steps"`
}

type ghStep struct {
	Name             string            `yaml:"name"`
	ID               string            `yaml:"id"`
	If               string            `yaml:"if"`
	Uses             string            `yaml:"uses"`
	With             map[string]any    `yaml:"with"`
	Run              string            `yaml:"run"`
	Env              map[string]string `yaml:"env"`
	Shell            string            `yaml:"shell"`
	WorkingDirectory string            `yaml:"working-directory"`
}

// loadWorkflow decodes the workflow strictly: a misspelt key (concurency:,
// cancel-in-progres:) is an error rather than a setting GitHub ignores.
func loadWorkflow(t *testing.T, p string) *ghWorkflow {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, p)))
	dec.KnownFields(true)
	var wf ghWorkflow
	if err := dec.Decode(&wf); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return &wf
}

func modulePath(t *testing.T) (module, goVersion string) {
	t.Helper()
	for _, line := range strings.Split(readFile(t, repoRoot+"/go.mod"), "\n") {
		if v, ok := strings.CutPrefix(line, "module "); ok {
			module = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(line, "go "); ok {
			goVersion = strings.TrimSpace(v)
		}
	}
	return module, goVersion
}

// literalPrefix is a name up to its first expansion ($VAR, ${{ … }}): the
// part on which two steps that spell the same name differently (the upload
// with ${{ github.event.pull_request.head.sha }}, the download with $head)
// must agree.
func literalPrefix(s string) string {
	if i := strings.Index(s, "$"); i >= 0 {
		return s[:i]
	}
	return s
}

// ghArtifact is an artifact a step uploads or downloads: its name as
// written, and the workspace path of its file (upload) or directory
// (download).
type ghArtifact struct{ name, path string }

// ghDownloads returns the artifacts a step downloads: an
// actions/download-artifact step, or gh run download in its shell (stepWD
// is the step's working directory within the workspace).
func ghDownloads(t *testing.T, where, stepWD string, st ghStep) []ghArtifact {
	t.Helper()
	var out []ghArtifact
	if strings.HasPrefix(st.Uses, "actions/download-artifact@") {
		name, _ := st.With["name"].(string)
		dir, _ := st.With["path"].(string)
		out = append(out, ghArtifact{name: name, path: path.Clean(dir)})
	}
	cmds, err := shellCommands(st.Run)
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	for _, c := range cmds {
		if len(c.argv) < 3 || c.argv[0] != "gh" || c.argv[1] != "run" || c.argv[2] != "download" {
			continue
		}
		a := ghArtifact{path: stepWD}
		for i := 3; i+1 < len(c.argv); i++ {
			switch c.argv[i] {
			case "-n", "--name":
				i++
				a.name = c.argv[i]
			case "-D", "--dir":
				i++
				a.path = path.Join(stepWD, c.argv[i])
			}
		}
		if a.name == "" {
			t.Errorf("%s: gh run download %q names no artifact (-n NAME): it downloads every artifact of the run, each in a directory of its own", where, c.argv[3:])
		}
		out = append(out, a)
	}
	return out
}

func TestExamples_GitHubActionsWorkflow(t *testing.T) {
	dir := filepath.Join(examplesDir, "github-actions")
	p := filepath.Join(dir, "drsctl.yml")
	wf := loadWorkflow(t, p)

	if wf.On.PullRequest == nil {
		t.Error("no pull_request trigger: pull requests are not planned")
	}
	// Merges are applied on the push to main, or on the pull request's
	// closed event (then the jobs must tell a merge from a plan).
	onPush := wf.On.Push != nil && slices.Contains(wf.On.Push.Branches, "main")
	onMerged := wf.On.PullRequest != nil && slices.Contains(wf.On.PullRequest.Types, "closed")
	if !onPush && !onMerged {
		t.Error("neither a push trigger on main nor pull_request types [closed]: merges are not applied")
	}
	wd := wf.Defaults.Run.WorkingDirectory
	if wd == "" {
		t.Fatal("defaults.run.working-directory is not set: the workflow must say where the configuration is")
	}
	for _, tr := range []*ghTrigger{wf.On.PullRequest, wf.On.Push} {
		if tr != nil && len(tr.Paths) > 0 && !slices.Contains(tr.Paths, wd+"/**") {
			t.Errorf("the trigger's paths %q leave out the configuration (%s/**)", tr.Paths, wd)
		}
	}
	// Every variable the configuration and its storage need comes from a
	// secret; every repository variable the workflow reads is in the
	// README.
	for _, name := range neededEnv(t, dir) {
		if v := wf.Env[name]; !strings.Contains(v, "${{ secrets.") {
			t.Errorf("env %s is %q: set it from a repository secret (${{ secrets.… }})", name, v)
		}
	}
	readme := readFile(t, filepath.Join(dir, "README.md"))
	for _, m := range regexp.MustCompile(`\$\{\{\s*vars\.(\w+)\s*\}\}`).FindAllStringSubmatch(readFile(t, p), -1) {
		if !strings.Contains(readme, "`"+m[1]+"`") {
			t.Errorf("the workflow reads the repository variable %s, which README.md does not name (`%s`)", m[1], m[1])
		}
	}

	module, goVersion := modulePath(t)
	var planJob, applyJob string
	var planOuts, baseConfigs []string // workspace paths, in the plan job
	uploads := map[string][]ghArtifact{}
	// reviewedApply are the saved plans a job applies that it did not
	// write: each must be downloaded from what the plan job uploaded.
	type reviewedApply struct {
		where, file string
		downloads   []ghArtifact // downloaded by then, in the job
		fallback    bool         // the step then plans -out and applies that
		grepsStale  bool
	}
	var reviewed []reviewedApply
	for name, job := range wf.Jobs {
		var lines []drsctlLine
		var downloads []ghArtifact
		installed, validated := false, false
		for i, st := range job.Steps {
			where := name + " step " + strconv.Itoa(i+1) + " " + st.Name
			stepWD := wd
			if st.WorkingDirectory != "" {
				stepWD = st.WorkingDirectory
			}
			if st.Uses != "" && strings.HasPrefix(st.Uses, "actions/setup-go@") {
				if v, _ := st.With["go-version"].(string); v == "" || !strings.HasPrefix(goVersion, v) {
					t.Errorf("%s: go-version %q does not give Go %s, which go.mod needs", where, v, goVersion)
				}
			}
			if strings.HasPrefix(st.Uses, "actions/upload-artifact@") {
				n, _ := st.With["name"].(string)
				f, _ := st.With["path"].(string)
				uploads[name] = append(uploads[name], ghArtifact{name: n, path: path.Clean(f)})
			}
			cmds, err := shellCommands(st.Run)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			for _, c := range cmds {
				if c.argv[0] == "go" && len(c.argv) > 2 && c.argv[1] == "install" {
					if !strings.HasPrefix(c.argv[2], module+"/cmd/drsctl@") {
						t.Errorf("%s: installs %q, drsctl is %s/cmd/drsctl@VERSION", where, c.argv[2], module)
					}
					if v := strings.TrimPrefix(c.argv[2], module+"/cmd/drsctl@"); v == "${DRSCTL_VERSION}" && wf.Env["DRSCTL_VERSION"] == "" {
						t.Errorf("%s: DRSCTL_VERSION is not set", where)
					}
					installed = true
				}
			}
			if dl := ghDownloads(t, where, stepWD, st); len(dl) > 0 {
				if job.Permissions["actions"] != "read" && job.Permissions["actions"] != "write" {
					t.Errorf("%s: downloads an artifact of another run, but job %s's permissions give no actions: read", where, name)
				}
				if strings.Contains(st.Run, "gh ") && st.Env["GH_TOKEN"] == "" && job.Env["GH_TOKEN"] == "" && wf.Env["GH_TOKEN"] == "" {
					t.Errorf("%s: runs gh without GH_TOKEN", where)
				}
				downloads = append(downloads, dl...)
			}
			stepLines := drsctlCommands(t, where, st.Run)
			for li, l := range stepLines {
				if !installed {
					t.Errorf("%s: drsctl %s runs before drsctl is installed", where, l.verb)
				}
				switch l.verb {
				case "validate":
					validated = true
				case "plan":
					if l.flags["detailed-exitcode"] == "true" {
						planJob = name
						// Exit 2 (changes) must not fail the step.
						if l.cmd.next != "||" {
							t.Errorf("%s: plan -detailed-exitcode exits 2 when there are changes, which fails the step: follow it with || code=$?", where)
						}
						if l.cmd.stdout == "" {
							t.Errorf("%s: the plan's output is not saved for the comment", where)
						} else if !slices.ContainsFunc(job.Steps[i+1:], func(s ghStep) bool {
							script, _ := s.With["script"].(string)
							return strings.HasPrefix(s.Uses, "actions/github-script@") && strings.Contains(script, path.Join(stepWD, l.cmd.stdout)) ||
								strings.Contains(s.Run, "gh pr comment") && strings.Contains(s.Run, l.cmd.stdout)
						}) {
							t.Errorf("%s: no later step posts %s as a pull-request comment", where, path.Join(stepWD, l.cmd.stdout))
						}
						if out := l.flags["out"]; out == "" {
							t.Errorf("%s: the reviewed plan is not saved (-out FILE) for the merge to apply", where)
						} else {
							planOuts = append(planOuts, path.Join(stepWD, out))
						}
						if bc := l.flags["base-config"]; bc != "" {
							baseConfigs = append(baseConfigs, path.Join(stepWD, bc))
						}
					}
				case "apply":
					applyJob = name
					if len(l.positional) != 1 {
						t.Fatalf("%s: apply %q: CI applies a saved plan file", where, l.positional)
					}
					if _, ok := l.flags["auto-approve"]; ok {
						t.Errorf("%s: apply of a saved plan needs no -auto-approve", where)
					}
					// The fallback on a stale plan matches drsctl's message.
					greps, grepsStale := false, false
					for _, c := range cmds {
						if path.Base(c.argv[0]) == "grep" {
							greps = true
							grepsStale = grepsStale || slices.ContainsFunc(c.argv[1:], func(a string) bool { return strings.Contains(a, plan.ErrStale.Error()) })
						}
					}
					if greps && !grepsStale {
						t.Errorf("%s: greps for a stale plan, but drsctl says %q", where, plan.ErrStale.Error())
					}
					file := l.positional[0]
					if slices.ContainsFunc(lines, func(p drsctlLine) bool { return p.verb == "plan" && p.flags["out"] == file }) {
						break
					}
					// Not planned here: the reviewed plan, downloaded; on a
					// stale refusal, the step plans and applies instead.
					r := reviewedApply{where: where, file: path.Join(stepWD, file), downloads: slices.Clone(downloads), grepsStale: grepsStale}
					for _, pl := range stepLines[li+1:] {
						if pl.verb == "plan" && pl.flags["out"] != "" && slices.ContainsFunc(stepLines[li+1:], func(a drsctlLine) bool {
							return a.verb == "apply" && slices.Equal(a.positional, []string{pl.flags["out"]})
						}) {
							r.fallback = true
						}
					}
					reviewed = append(reviewed, r)
				}
				if l.verb == "plan" || l.verb == "apply" {
					if l.flags["lock-timeout"] == "" {
						t.Errorf("%s: %s without -lock-timeout fails at once while a cron run holds the lock", where, l.verb)
					}
					if !validated {
						t.Errorf("%s: %s before drsctl validate", where, l.verb)
					}
				}
				lines = append(lines, l)
			}
		}
	}
	if planJob == "" {
		t.Fatal("no job runs drsctl plan -detailed-exitcode")
	}
	pj := wf.Jobs[planJob]
	if !strings.Contains(pj.If, "github.event_name == 'pull_request'") {
		t.Errorf("job %s plans but does not run on pull requests only (if: %q)", planJob, pj.If)
	}
	if onMerged && !strings.Contains(pj.If, "closed") {
		t.Errorf("job %s plans on a pull request's closed event too (if: %q): a merged pull request is applied, not planned", planJob, pj.If)
	}
	if pj.Permissions["pull-requests"] != "write" {
		t.Errorf("job %s cannot comment: permissions pull-requests is %q", planJob, pj.Permissions["pull-requests"])
	}

	// The plan job checks out the pull request, then its base beside it
	// (a checkout cleans the workspace it is given, so the base comes
	// second), and compares with the base's configuration.
	head, base, baseDir := -1, -1, ""
	for i, st := range pj.Steps {
		if !strings.HasPrefix(st.Uses, "actions/checkout@") {
			continue
		}
		ref, _ := st.With["ref"].(string)
		dir, _ := st.With["path"].(string)
		switch {
		case dir == "" && ref == "":
			head = i
		case dir != "" && strings.Contains(ref, "github.event.pull_request.base.sha"):
			base, baseDir = i, path.Clean(dir)
		}
	}
	switch {
	case head < 0:
		t.Errorf("job %s does not check out the pull request (actions/checkout without ref or path)", planJob)
	case base < 0:
		t.Errorf("job %s does not check out the pull request's base (actions/checkout with ref: ${{ github.event.pull_request.base.sha }} and a path)", planJob)
	case base < head:
		t.Errorf("job %s checks out the base (step %d) before the pull request (step %d), whose checkout cleans the workspace", planJob, base+1, head+1)
	}
	if len(baseConfigs) == 0 {
		t.Errorf("job %s never plans with -base-config: routine work due anyway counts as the change's", planJob)
	}
	for _, bc := range baseConfigs {
		if baseDir != "" && bc != path.Join(baseDir, wd) {
			t.Errorf("job %s: plan -base-config is %s in the workspace, the base's configuration is %s", planJob, bc, path.Join(baseDir, wd))
		}
	}
	// The reviewed plan is kept: uploaded, per pull-request head.
	var kept []ghArtifact
	for _, out := range planOuts {
		i := slices.IndexFunc(uploads[planJob], func(a ghArtifact) bool { return a.path == out })
		if i < 0 {
			t.Errorf("job %s: the plan it saves (%s) is not uploaded (actions/upload-artifact with path: %s): the merge cannot apply what was reviewed", planJob, out, out)
			continue
		}
		a := uploads[planJob][i]
		if !strings.Contains(a.name, "github.event.pull_request.head.sha") || literalPrefix(a.name) == "" {
			t.Errorf("job %s: the plan's artifact is named %q: name it after the pull request's head (a prefix and ${{ github.event.pull_request.head.sha }}), so that the merge finds the plan of what it merges", planJob, a.name)
		}
		kept = append(kept, a)
	}

	if applyJob == "" {
		t.Fatal("no job runs drsctl apply")
	}
	aj := wf.Jobs[applyJob]
	if onPush && !strings.Contains(aj.If, "refs/heads/main") {
		t.Errorf("job %s applies but is not limited to main (if: %q)", applyJob, aj.If)
	}
	if !onPush && !strings.Contains(aj.If, "github.event.pull_request.merged == true") {
		t.Errorf("job %s applies on a closed pull request that may not be merged (if: %q)", applyJob, aj.If)
	}
	if aj.Environment == "" {
		t.Errorf("job %s applies outside an environment: no place for required reviewers and production secrets", applyJob)
	}
	c := aj.Concurrency
	if c == nil {
		c = wf.Concurrency
	}
	if c == nil || c.Group == "" || strings.Contains(c.Group, "${{") {
		t.Errorf("job %s: no fixed concurrency group: two applies could run at once", applyJob)
	} else if c.CancelInProgress == nil || *c.CancelInProgress {
		t.Errorf("job %s: concurrency cancel-in-progress must be false: an apply is never cut short for the next", applyJob)
	}
	// The merge applies the reviewed plan, downloaded from the plan job's
	// artifact; refused as stale, it plans and applies main instead.
	if len(reviewed) == 0 {
		t.Errorf("job %s never applies the reviewed plan: every apply is of a plan made at merge time", applyJob)
	}
	for _, r := range reviewed {
		from := slices.IndexFunc(r.downloads, func(d ghArtifact) bool {
			return slices.ContainsFunc(kept, func(k ghArtifact) bool {
				return literalPrefix(d.name) == literalPrefix(k.name) && strings.Contains(d.name, "$") &&
					path.Join(d.path, path.Base(k.path)) == r.file
			})
		})
		if from < 0 {
			t.Errorf("%s: applies %s, which no earlier plan -out in this job wrote and no earlier step downloaded from the artifact the plan job uploaded (%v; downloaded: %v)", r.where, r.file, kept, r.downloads)
		}
		if !r.grepsStale {
			t.Errorf("%s: applies the reviewed plan, and a refusal as stale (%q) fails the merge: grep for it and fall back", r.where, plan.ErrStale.Error())
		}
		if !r.fallback {
			t.Errorf("%s: no fallback after the reviewed plan: the step must plan -out FILE and apply FILE when it is refused as stale", r.where)
		}
	}
}

// ---- cron and systemd ----

var cronField = regexp.MustCompile(`^(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*$`)

// cronEntry is a line of an /etc/cron.d file.
type cronEntry struct {
	line     int
	schedule []string
	user     string
	command  string
}

var cronLine = regexp.MustCompile(`^(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(.+)$`)

func parseCronD(t *testing.T, p string) []cronEntry {
	t.Helper()
	var es []cronEntry
	sc := bufio.NewScanner(strings.NewReader(readFile(t, p)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if name, _, ok := strings.Cut(line, "="); ok && isAssignment(strings.TrimSpace(name)+"=") && !strings.ContainsAny(name, " \t*") {
			continue // SHELL=, PATH=, MAILTO=
		}
		m := cronLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s:%d: not a cron.d entry (five time fields, a user, a command)", p, n)
		}
		e := cronEntry{line: n, schedule: m[1:6], user: m[6], command: m[7]}
		for _, f := range e.schedule {
			if !cronField.MatchString(f) {
				t.Errorf("%s:%d: cron field %q", p, n, f)
			}
		}
		if strings.Contains(e.command, "%") {
			t.Errorf("%s:%d: cron turns %% into a newline: escape it as \\%%", p, n)
		}
		es = append(es, e)
	}
	return es
}

// envFileValues reads an env file the way the cron entry does (sh's ".",
// with set -a) and returns the variables it sets.
func envFileValues(t *testing.T, p string) map[string]string {
	t.Helper()
	cmd := exec.Command("sh", "-c", `set -a; . "$1"; set +a; env -0`, "sh", p)
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("sh . %s: %v", p, err)
	}
	vals := map[string]string{}
	for _, kv := range strings.Split(string(out), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vals[k] = v
		}
	}
	return vals
}

// systemdEnvValues reads an env file as systemd's EnvironmentFile= does, for
// the simple forms NAME=value, NAME='value' and NAME="value".
func systemdEnvValues(t *testing.T, p string) map[string]string {
	t.Helper()
	vals := map[string]string{}
	for _, line := range strings.Split(readFile(t, p), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: %q is not NAME=value", p, line)
		}
		if len(v) >= 2 && (v[0] == '\'' || v[0] == '"') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vals[strings.TrimSpace(k)] = v
	}
	return vals
}

func TestExamples_Cron(t *testing.T) {
	dir := filepath.Join(examplesDir, "cron")
	p := filepath.Join(dir, "drsctl.cron")
	entries := parseCronD(t, p)
	var verbs []string
	envFile := ""
	for _, e := range entries {
		where := p + ":" + strconv.Itoa(e.line)
		if e.user == "root" {
			t.Errorf("%s: runs as root; run drsctl as its own user", where)
		}
		cmds, err := shellCommands(e.command)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		for _, c := range cmds {
			if c.argv[0] == "." {
				envFile = c.argv[1]
			}
		}
		lines := drsctlCommands(t, where, e.command)
		if len(lines) == 0 {
			t.Errorf("%s: runs no drsctl", where)
		}
		for _, l := range lines {
			verbs = append(verbs, l.verb)
			// Cron mails what a job prints: stdout (the plan, progress)
			// goes to syslog, stderr (errors, warnings) to the mail.
			if !l.cmd.piped && l.cmd.stdout == "" {
				t.Errorf("%s: drsctl's stdout goes to cron's mail on every run: pipe it to logger", where)
			}
			if l.cmd.stderr != "" {
				t.Errorf("%s: drsctl's stderr is redirected (%s): its errors would never reach the mail", where, l.cmd.stderr)
			}
			if l.verb == "apply" {
				if l.flags["auto-approve"] != "true" {
					t.Errorf("%s: apply without -auto-approve refuses to run from cron", where)
				}
				interval, ok := strings.CutPrefix(e.schedule[0], "*/")
				n, err := strconv.Atoi(interval)
				if !ok || err != nil || strings.Join(e.schedule[1:], " ") != "* * * *" {
					t.Fatalf("%s: schedule %q: the test expects */N * * * *", where, e.schedule)
				}
				lt := mustDuration(t, where, l.flags["lock-timeout"])
				if lt <= 0 || lt >= time.Duration(n)*time.Minute {
					t.Errorf("%s: -lock-timeout %v must be set and under the %d-minute interval, so runs cannot pile up", where, lt, n)
				}
			}
			if l.verb == "status" && l.flags["check"] != "true" {
				t.Errorf("%s: status without -check never reports a breach", where)
			}
		}
	}
	slices.Sort(verbs)
	if !slices.Equal(verbs, []string{"apply", "status"}) {
		t.Errorf("the crontab runs drsctl %q, want apply and status", verbs)
	}
	if path.Base(envFile) != "drsctl.env" {
		t.Fatalf("the crontab sources %q, want the secrets file …/drsctl.env", envFile)
	}
	checkEnvFile(t, dir)
}

// checkEnvFile checks that drsctl.env.example sets every variable the
// configuration needs, to the same value for sh (cron) and systemd.
func checkEnvFile(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "drsctl.env.example")
	sh, sd := envFileValues(t, p), systemdEnvValues(t, p)
	for _, name := range neededEnv(t, dir) {
		if sh[name] == "" || sd[name] == "" {
			t.Errorf("%s does not set %s (sh reads %q, systemd %q)", p, name, sh[name], sd[name])
		} else if sh[name] != sd[name] {
			t.Errorf("%s: %s is %q for sh (cron) and %q for systemd: quote the value", p, name, sh[name], sd[name])
		}
	}
}

// parseINI reads a systemd unit: section → key → values in order.
func parseINI(t *testing.T, p string) map[string]map[string][]string {
	t.Helper()
	ini := map[string]map[string][]string{}
	section := ""
	for n, line := range strings.Split(readFile(t, p), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if ini[section] != nil {
				t.Errorf("%s:%d: section [%s] twice", p, n+1, section)
			}
			ini[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: %q is not Key=value in a section", p, n+1, line)
			}
			k = strings.TrimSpace(k)
			ini[section][k] = append(ini[section][k], strings.TrimSpace(v))
		}
	}
	return ini
}

func one(t *testing.T, ini map[string]map[string][]string, p, section, key string) string {
	t.Helper()
	vs := ini[section][key]
	if len(vs) != 1 {
		t.Errorf("%s: [%s] %s= is set %d times, want once", p, section, key, len(vs))
		return ""
	}
	return vs[0]
}

func TestExamples_SystemdTimer(t *testing.T) {
	dir := filepath.Join(examplesDir, "cron")
	svcPath, timerPath := filepath.Join(dir, "drsctl-apply.service"), filepath.Join(dir, "drsctl-apply.timer")
	svc, timer := parseINI(t, svcPath), parseINI(t, timerPath)

	if v := one(t, svc, svcPath, "Service", "Type"); v != "oneshot" {
		t.Errorf("%s: Type=%s, want oneshot (the timer then never starts a run while one is active)", svcPath, v)
	}
	exec := one(t, svc, svcPath, "Service", "ExecStart")
	lines := drsctlCommands(t, svcPath+" ExecStart", strings.TrimLeft(exec, "-@:+!"))
	if len(lines) != 1 || lines[0].verb != "apply" {
		t.Fatalf("%s: ExecStart=%s: want one drsctl apply", svcPath, exec)
	}
	if !path.IsAbs(lines[0].cmd.argv[0]) {
		t.Errorf("%s: ExecStart names %s: systemd needs an absolute path", svcPath, lines[0].cmd.argv[0])
	}
	if lines[0].flags["auto-approve"] != "true" || lines[0].flags["lock-timeout"] == "" {
		t.Errorf("%s: apply needs -auto-approve and -lock-timeout: %v", svcPath, lines[0].flags)
	}
	ef := one(t, svc, svcPath, "Service", "EnvironmentFile")
	if strings.HasPrefix(ef, "-") || path.Base(ef) != "drsctl.env" {
		t.Errorf("%s: EnvironmentFile=%s: want the secrets file …/drsctl.env, required (no leading -)", svcPath, ef)
	}
	if u := one(t, svc, svcPath, "Service", "User"); u == "" || u == "root" {
		t.Errorf("%s: User=%s: run drsctl as its own user", svcPath, u)
	}
	for k, want := range map[string]string{"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes"} {
		if v := one(t, svc, svcPath, "Service", k); v != want {
			t.Errorf("%s: %s=%s, want %s", svcPath, k, v, want)
		}
	}
	// ProtectSystem=strict leaves only StateDirectory= writable: the state
	// must be there.
	sd := one(t, svc, svcPath, "Service", "StateDirectory")
	cfg := loadExample(t, dir)
	if loc := cfg.StateLocation(); !strings.HasPrefix(loc, "/var/lib/"+sd+"/") {
		t.Errorf("the state %s is outside StateDirectory=%s (/var/lib/%s), the only place ProtectSystem=strict lets drsctl write", loc, sd, sd)
	}

	if v := one(t, timer, timerPath, "Timer", "OnCalendar"); v == "" {
		t.Errorf("%s: no OnCalendar=", timerPath)
	}
	if u := timer["Timer"]["Unit"]; len(u) > 0 && u[0] != filepath.Base(svcPath) {
		t.Errorf("%s: Unit=%s, want %s", timerPath, u[0], filepath.Base(svcPath))
	}
	if strings.TrimSuffix(filepath.Base(timerPath), ".timer") != strings.TrimSuffix(filepath.Base(svcPath), ".service") {
		t.Errorf("the timer and the service must share a name")
	}
	if v := one(t, timer, timerPath, "Install", "WantedBy"); v != "timers.target" {
		t.Errorf("%s: WantedBy=%s, want timers.target", timerPath, v)
	}
	systemdVerify(t, svcPath, timerPath, lines[0].cmd.argv[0])
}

// systemdVerify runs systemd-analyze verify on the units when the machine
// has it (CI containers may not), in a root of its own holding the system's
// unit files, the units and a stand-in for the drsctl binary ExecStart names.
func systemdVerify(t *testing.T, svcPath, timerPath, binary string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the units were checked as INI only")
		return
	}
	root := t.TempDir()
	sys := filepath.Join(root, "usr/lib/systemd/system")
	for _, d := range []string{sys, filepath.Join(root, "etc/systemd/system"), filepath.Join(root, filepath.Dir(binary))} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The system's own units (targets and all), without their aliases,
	// which point outside the root.
	var units []os.DirEntry
	for _, d := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		if units, err = os.ReadDir(d); err == nil {
			for _, u := range units {
				if u.Type().IsRegular() {
					b, err := os.ReadFile(filepath.Join(d, u.Name()))
					if err == nil {
						err = os.WriteFile(filepath.Join(sys, u.Name()), b, 0o644)
					}
					if err != nil {
						t.Fatal(err)
					}
				}
			}
			break
		}
	}
	if err := os.WriteFile(filepath.Join(root, binary), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{svcPath, timerPath} {
		if err := os.WriteFile(filepath.Join(root, "etc/systemd/system", filepath.Base(p)), []byte(readFile(t, p)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(analyze, "verify", "--root="+root, filepath.Base(svcPath), filepath.Base(timerPath))
	out, err := cmd.CombinedOutput()
	// verify exits 0 on unknown keys and bad values, which it only
	// prints: any output is a failure.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// ---- Kubernetes ----

func TestExamples_KubernetesCronJob(t *testing.T) {
	dir := filepath.Join(examplesDir, "kubernetes")
	manifests := filepath.Join(dir, "cronjob.yaml")
	docs := decodeYAMLDocs(t, manifests)

	var cm, cj map[string]any
	for _, d := range docs {
		switch d["kind"] {
		case "ConfigMap":
			cm = d
		case "CronJob":
			cj = d
		}
	}
	if cm == nil || cj == nil {
		t.Fatalf("%s: want a ConfigMap and a CronJob", manifests)
	}
	// The ConfigMap carries the configuration validated above, verbatim.
	hcl, _ := dig(cm, "data", "drs.drs.hcl").(string)
	if want := readFile(t, filepath.Join(dir, "drs.drs.hcl")); hcl != want {
		t.Errorf("the ConfigMap's drs.drs.hcl differs from drs.drs.hcl beside it: make them the same")
	}
	pod := dig(cj, "spec", "jobTemplate", "spec", "template", "spec")
	containers, _ := dig(pod, "containers").([]any)
	if len(containers) != 1 {
		t.Fatalf("%s: want one container, got %d", manifests, len(containers))
	}
	ct := containers[0]
	var argv []string
	for _, k := range []string{"command", "args"} {
		vs, _ := dig(ct, k).([]any)
		for _, v := range vs {
			s, _ := v.(string)
			argv = append(argv, s)
		}
	}
	if len(argv) == 0 || path.Base(argv[0]) != "drsctl" {
		t.Fatalf("%s: the container runs %q, not drsctl", manifests, argv)
	}
	l := parseDrsctl(t, manifests, simpleCommand{argv: argv})
	if l.verb != "apply" || l.flags["auto-approve"] != "true" || l.flags["lock-timeout"] == "" {
		t.Errorf("%s: want apply -auto-approve -lock-timeout D, got %q", manifests, argv)
	}
	mounts, _ := dig(ct, "volumeMounts").([]any)
	if !slices.ContainsFunc(mounts, func(m any) bool { return dig(m, "mountPath") == l.flags["chdir"] }) {
		t.Errorf("%s: -chdir %s is not where a volume is mounted", manifests, l.flags["chdir"])
	}
	var envNames []string
	envs, _ := dig(ct, "env").([]any)
	for _, e := range envs {
		n, _ := dig(e, "name").(string)
		envNames = append(envNames, n)
	}
	for _, name := range neededEnv(t, dir) {
		if !slices.Contains(envNames, name) {
			t.Errorf("%s: the container has no variable %s, which the configuration needs", manifests, name)
		}
	}
	// The image the Dockerfile beside it builds runs this command as this
	// user.
	df := readFile(t, filepath.Join(dir, "Dockerfile"))
	if !strings.Contains(df, `ENTRYPOINT ["`+argv[0]+`"]`) {
		t.Errorf("the Dockerfile's ENTRYPOINT is not %s", argv[0])
	}
	if uid := dig(pod, "securityContext", "runAsUser"); !strings.Contains(df, "USER "+strconv.Itoa(asInt(uid))+":") {
		t.Errorf("the Dockerfile's USER is not runAsUser %v", uid)
	}

	checkManifests(t, dir)
}

func asInt(v any) int {
	n, _ := v.(int)
	return n
}

func decodeYAMLDocs(t *testing.T, p string) []map[string]any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(readFile(t, p)))
	var docs []map[string]any
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if err == io.EOF {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		docs = append(docs, d)
	}
}

// dig follows keys through nested YAML maps; nil when one is missing.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// checkManifests builds examples/kubernetes/check (its own module, with
// k8s.io/api) and runs it on the manifests, then on copies each broken in
// one way, which it must refuse with the reason.
func checkManifests(t *testing.T, dir string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build the manifest check: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "check")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Dir = filepath.Join(dir, "check")
	build.Env = append(os.Environ(), "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the manifest check (examples/kubernetes/check): %v\n%s", err, out)
	}
	var verbs []string
	for v := range commands {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	var valueFlags []string
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	addGlobals(fs, new(cli.Globals))
	fs.VisitAll(func(f *flag.Flag) {
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !b.IsBoolFlag() {
			valueFlags = append(valueFlags, f.Name)
		}
	})
	check := func(files ...string) (string, error) {
		args := append([]string{"-verbs", strings.Join(verbs, ","), "-value-flags", strings.Join(valueFlags, ",")}, files...)
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	cronJob, secret := filepath.Join(dir, "cronjob.yaml"), filepath.Join(dir, "secret.yaml")
	if out, err := check(cronJob, secret); err != nil || !strings.Contains(out, "manifests valid") {
		t.Fatalf("the manifest check refuses the examples: %v\n%s", err, out)
	}

	// Each case breaks the real manifest in one way.
	orig := readFile(t, cronJob)
	cases := []struct{ name, old, new, want string }{
		{"concurrencyPolicy Allow", "concurrencyPolicy: Forbid", "concurrencyPolicy: Allow", `concurrencyPolicy is "Allow": it must be Forbid`},
		{"a second concurrencyPolicy", "concurrencyPolicy: Forbid", "concurrencyPolicy: Forbid\n  concurrencyPolicy: Allow", `key "concurrencyPolicy" already set`},
		{"an unknown field", "      backoffLimit: 1", "      backoffLimit: 1\n      backofLimit: 3", `unknown field "spec.jobTemplate.spec.backofLimit"`},
		{"a misspelt container field", "              resources:", "              resource:", `unknown field "spec.jobTemplate.spec.template.spec.containers[0].resource"`},
		{"no startingDeadlineSeconds", "  startingDeadlineSeconds: 240\n", "", "startingDeadlineSeconds is not set"},
		{"a secret key the Secret lacks", "key: DRS_SALES_DR_DSN", "key: DRS_SALES_DR_DNS", "Secret drs/drsctl-secrets has no key DRS_SALES_DR_DNS"},
		{"no drsctl verb", `"apply", "-auto-approve"`, `"aply", "-auto-approve"`, `"aply" is not a drsctl command`},
		{"root", "runAsNonRoot: true", "runAsNonRoot: false", "runAsNonRoot is not true"},
		{"no version tag", "drsctl:v0.1.0", "drsctl:latest", "has no version tag"},
		{"no memory request", "                  memory: 128Mi\n", "", "resources.requests.memory is not set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if strings.Count(orig, c.old) != 1 {
				t.Fatalf("cronjob.yaml holds %q %d times, want once: update this case", c.old, strings.Count(orig, c.old))
			}
			broken := filepath.Join(t.TempDir(), "cronjob.yaml")
			if err := os.WriteFile(broken, []byte(strings.Replace(orig, c.old, c.new, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := check(broken, secret)
			if err == nil {
				t.Fatalf("the check accepted the manifest with %s:\n%s", c.name, out)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("the check refused the manifest with %s, but not for that:\n%s\nwant %q", c.name, out, c.want)
			}
		})
	}
}

// TestExamples_READMEsNameWhatToSet: each example's README names every
// variable (or, for the workflow, every repository secret) an operator
// must set, so that a variable added to a configuration is documented.
func TestExamples_READMEsNameWhatToSet(t *testing.T) {
	secret := regexp.MustCompile(`\$\{\{\s*secrets\.(\w+)\s*\}\}`)
	for _, name := range examplesWithConfig {
		if name == "quickstart" {
			continue // make demo sets its variables
		}
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(examplesDir, name)
			readme := readFile(t, filepath.Join(dir, "README.md"))
			want := neededEnv(t, dir)
			if name == "github-actions" {
				want = nil
				for _, v := range loadWorkflow(t, filepath.Join(dir, "drsctl.yml")).Env {
					if m := secret.FindStringSubmatch(v); m != nil {
						want = append(want, m[1])
					}
				}
			}
			for _, v := range want {
				if !strings.Contains(readme, "`"+v+"`") {
					t.Errorf("examples/%s/README.md does not name `%s`, which must be set", name, v)
				}
			}
		})
	}
}

// ghWorld is a repository and its GitHub for the workflow's steps, run as
// GitHub runs them (bash -eo pipefail, in the step's working directory,
// ${{ … }} evaluated, outputs read back from $GITHUB_OUTPUT), with the real
// drsctl against SQL Server simulators and a stand-in for gh that serves
// the artifacts the plan job uploaded, as GitHub would. The cron host
// applies the configuration deployed to it (etc/), every few minutes.
type ghWorld struct {
	t         *testing.T
	wf        *ghWorkflow
	s         *sims
	root      string
	tools     string // drsctl and gh
	artifacts string // artifacts/NAME/FILE
	// main is main's configuration, what the cron host runs; pr adds the
	// vault, a copy-only target.
	main, pr string
	headSHA  string
}

const ghPRHead = "0123456789abcdef0123456789abcdef01234567"

func newGHWorld(t *testing.T) *ghWorld {
	t.Helper()
	w := &ghWorld{t: t, wf: loadWorkflow(t, filepath.Join(examplesDir, "github-actions", "drsctl.yml")),
		s: startSims(t, 0, "Sales"), root: t.TempDir(), tools: t.TempDir(), headSHA: ghPRHead}
	w.artifacts = filepath.Join(w.root, "artifacts")
	// Log backups every second: each cron run has routine work to do,
	// and moves the state on.
	cfg := strings.Replace(readFile(t, filepath.Join(w.s.dir, "main.drs.hcl")), `log_backup { every = "15m" }`, `log_backup { every = "1s" }`, 1)
	if !strings.Contains(cfg, `every = "1s"`) {
		t.Fatal("the simulators' configuration no longer has log_backup { every = \"15m\" }")
	}
	w.main = fmt.Sprintf("state {\n  url = \"file://%s/drs.state.json\"\n}\n", filepath.ToSlash(w.root)) + cfg
	w.pr = w.main + fmt.Sprintf(`
target "vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = "file://%s/vault" }
}
`, filepath.ToSlash(w.root))
	w.deploy(w.main)
	gh := `#!/bin/sh
# gh, as far as the workflow uses it: the pull request a commit merged, its
# run and the run's artifacts.
echo "gh $*" >> "$TOOLS/gh.log"
case "$1 $2" in
"api repos/$GITHUB_REPOSITORY/commits/$GITHUB_SHA/pulls") printf '%s\n' "$GH_PR_HEAD" ;;
"run list")
  case " $* " in *" --workflow drsctl.yml "*) ;; *) echo "gh stand-in: runs of another workflow: gh $*" >&2; exit 2 ;; esac
  case " $* " in *" --event pull_request "*) ;; *) echo "gh stand-in: runs of any event: gh $*" >&2; exit 2 ;; esac
  if [ -n "$GH_PR_HEAD" ]; then
    case " $* " in *" --commit $GH_PR_HEAD "*) echo 4242 ;; esac
  fi ;;
"run download")
  shift 2; run=$1; shift; name=; dir=.
  while [ $# -gt 0 ]; do
    case $1 in -n|--name) name=$2; shift ;; -D|--dir) dir=$2; shift ;; esac
    shift
  done
  if [ "$run" != 4242 ] || [ -z "$name" ] || [ ! -d "$ARTIFACTS/$name" ]; then
    echo "no valid artifacts found to download" >&2; exit 1
  fi
  cp -R "$ARTIFACTS/$name/." "$dir/" ;;
*) echo "gh stand-in: unexpected gh $*" >&2; exit 2 ;;
esac
`
	if err := os.WriteFile(filepath.Join(w.tools, "gh"), []byte(gh), 0o755); err != nil {
		t.Fatal(err)
	}
	// drsctl, and a cron run just before the apply of $CRON_BEFORE_APPLY.
	wrapper := `#!/bin/sh
if [ -n "$CRON_BEFORE_APPLY" ] && [ "$1 $2" = "apply $CRON_BEFORE_APPLY" ] && [ ! -e "$TOOLS/cron-ran" ]; then
  : > "$TOOLS/cron-ran"
  sleep 1.1
  "$DRSCTL_BIN" -chdir "$CRON_DIR" apply -auto-approve -lock-timeout 1m -no-color > "$TOOLS/cron.log" 2>&1 || echo "the cron run failed" >&2
fi
exec "$DRSCTL_BIN" "$@"
`
	if err := os.WriteFile(filepath.Join(w.tools, "drsctl"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

// checkout writes a workspace: the configuration in drs/ (and a base in
// base/drs/ when given).
func (w *ghWorld) checkout(name, cfg, base string) string {
	w.t.Helper()
	ws := filepath.Join(w.root, name)
	for d, c := range map[string]string{"drs": cfg, "base/drs": base} {
		if c == "" {
			continue
		}
		if err := os.MkdirAll(filepath.Join(ws, d), 0o755); err != nil {
			w.t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ws, d, "main.drs.hcl"), []byte(c), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	return ws
}

// deploy puts a configuration on the cron host, as the merge job's last
// step does.
func (w *ghWorld) deploy(cfg string) {
	w.t.Helper()
	w.checkout("etc", cfg, "")
}

// cron is one run of the cron host's entry (drsctl apply -auto-approve on
// the deployed configuration).
func (w *ghWorld) cron() string {
	w.t.Helper()
	time.Sleep(1100 * time.Millisecond) // a log backup falls due
	code, stdout, stderr := w.s.run(w.t, drsctlBinary(w.t), nil, "-chdir", filepath.Join(w.root, "etc", "drs"), "apply", "-auto-approve", "-lock-timeout", "1m", "-no-color")
	if code != 0 {
		w.t.Fatalf("the cron run failed (exit %d):\n%s%s", code, stdout, stderr)
	}
	return stdout
}

var ghExpr = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// eval replaces ${{ … }} with what the test's GitHub gives it; an
// expression it does not know fails the test, rather than running the step
// with a value GitHub would not give.
func (w *ghWorld) eval(s string, outputs map[string]string) string {
	w.t.Helper()
	return ghExpr.ReplaceAllStringFunc(s, func(m string) string {
		e := ghExpr.FindStringSubmatch(m)[1]
		switch {
		case e == "github.event.pull_request.head.sha":
			return w.headSHA
		case e == "github.token":
			return "gh-token"
		case strings.HasPrefix(e, "steps."):
			return outputs[strings.Replace(strings.TrimPrefix(e, "steps."), ".outputs.", ".", 1)]
		}
		w.t.Fatalf("the test does not know the workflow's expression %s", m)
		return ""
	})
}

// runJob runs the steps of a job that have `want` in their shell (and
// emulates its actions/upload-artifact steps) in a workspace, and returns
// the last step's exit code and everything the steps printed. A step that
// fails ends the job, as on GitHub.
func (w *ghWorld) runJob(ws string, want func(ghStep) bool, env ...string) (int, string, map[string]string) {
	w.t.Helper()
	var job *ghJob
	for _, j := range w.wf.Jobs {
		if slices.ContainsFunc(j.Steps, want) {
			job = j
		}
	}
	if job == nil {
		w.t.Fatal("no job has the steps the test runs")
	}
	outputs := map[string]string{}
	var all strings.Builder
	for i, st := range job.Steps {
		if strings.HasPrefix(st.Uses, "actions/upload-artifact@") {
			name, file := w.eval(st.With["name"].(string), outputs), st.With["path"].(string)
			dst := filepath.Join(w.artifacts, name)
			if err := os.MkdirAll(dst, 0o755); err != nil {
				w.t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, path.Base(file)), []byte(readFile(w.t, filepath.Join(ws, file))), 0o644); err != nil {
				w.t.Fatal(err)
			}
			continue
		}
		if st.Run == "" || !want(st) {
			continue
		}
		dir := w.wf.Defaults.Run.WorkingDirectory
		if st.WorkingDirectory != "" {
			dir = st.WorkingDirectory
		}
		stepFile := filepath.Join(w.t.TempDir(), "step.sh")
		outFile := filepath.Join(w.t.TempDir(), "github_output")
		for f, b := range map[string]string{stepFile: st.Run, outFile: ""} {
			if err := os.WriteFile(f, []byte(b), 0o644); err != nil {
				w.t.Fatal(err)
			}
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", stepFile)
		cmd.Dir = filepath.Join(ws, dir)
		cmd.Env = append(os.Environ(), "PATH="+w.tools+string(os.PathListSeparator)+os.Getenv("PATH"),
			"TOOLS="+w.tools, "ARTIFACTS="+w.artifacts, "GITHUB_OUTPUT="+outFile,
			"DRSCTL_BIN="+drsctlBinary(w.t), "CRON_DIR="+filepath.Join(w.root, "etc", "drs"),
			"GITHUB_REPOSITORY=acme/drs", "GITHUB_SHA=fedcba9876543210fedcba9876543210fedcba98", "GH_PR_HEAD="+w.headSHA,
			"PRIMARY_DSN="+w.s.primary.DSN(""), "EAST_DSN="+w.s.east.DSN(""))
		for k, v := range st.Env {
			cmd.Env = append(cmd.Env, k+"="+w.eval(v, outputs))
		}
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		all.Write(out)
		code, sig := exitOf(w.t, err)
		if sig != "" {
			w.t.Fatalf("step %d %s was killed by %s:\n%s", i+1, st.Name, sig, all.String())
		}
		for _, line := range strings.Split(readFile(w.t, outFile), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && st.ID != "" {
				outputs[st.ID+"."+k] = v
			}
		}
		if code != 0 {
			return code, all.String(), outputs
		}
	}
	return 0, all.String(), outputs
}

// planPR runs the pull request's plan job: its plan step and the upload.
func (w *ghWorld) planPR(name, cfg string) (string, map[string]string) {
	w.t.Helper()
	ws := w.checkout(name, cfg, w.main)
	code, out, outputs := w.runJob(ws, func(s ghStep) bool { return strings.Contains(s.Run, "drsctl plan -base-config") })
	if code != 0 {
		w.t.Fatalf("the pull request's plan step failed (exit %d):\n%s", code, out)
	}
	return readFile(w.t, filepath.Join(ws, "drs", "plan.txt")), outputs
}

// merge runs the merge's apply job on main's new configuration: the
// download of the reviewed plan and the apply.
func (w *ghWorld) merge(name, cfg string, env ...string) (int, string) {
	w.t.Helper()
	ws := w.checkout(name, cfg, "")
	code, out, _ := w.runJob(ws, func(s ghStep) bool {
		return strings.Contains(s.Run, "gh run download") || strings.Contains(s.Run, "drsctl apply")
	}, env...)
	return code, out
}

// vaultFulls counts the full backups shipped to the vault (their .bak
// files; each has a manifest beside it).
func (w *ghWorld) vaultFulls() int {
	w.t.Helper()
	n := 0
	filepath.WalkDir(filepath.Join(w.root, "vault"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), "_full_") && strings.HasSuffix(d.Name(), ".bak") {
			n++
		}
		return nil
	})
	return n
}

// The pull-request workflow from end to end: a pull request adds the
// vault; its plan says so (exit 2) apart from the routine work, and is kept;
// cron applies main meanwhile; the merge applies the reviewed plan, and
// the cron host, given the configuration after it, does nothing twice.
func TestExamples_GitHubActionsWorkflow_reviewedPlanAppliesAfterCron(t *testing.T) {
	w := newGHWorld(t)
	w.cron()

	// A pull request that changes nothing drsctl does, while a log backup
	// is due: exit 0.
	time.Sleep(1100 * time.Millisecond)
	txt, outputs := w.planPR("pr-comment", w.main+"\n# a comment\n")
	if outputs["plan.exitcode"] != "0" || !strings.Contains(txt, "backup log") {
		t.Errorf("a pull request that changes nothing, with a log backup due: exit code %q, want 0:\n%s", outputs["plan.exitcode"], txt)
	}

	w.headSHA = ghPRHead
	txt, outputs = w.planPR("pr", w.pr)
	if outputs["plan.exitcode"] != "2" {
		t.Errorf("the pull request adding the vault: exit code %q, want 2:\n%s", outputs["plan.exitcode"], txt)
	}
	t.Logf("plan.txt:\n%s", txt)
	for _, want := range []string{"Changes the configuration causes:", `target "vault" is added`, `target "vault":`} {
		if !strings.Contains(txt, want) {
			t.Errorf("the pull request's plan does not say %q:\n%s", want, txt)
		}
	}
	saved := readFile(t, filepath.Join(w.artifacts, "drsctl-plan-"+ghPRHead, "plan.json"))
	for _, secret := range []string{w.s.primary.DSN(""), w.s.east.DSN(""), "sa:sqlsim"} {
		if strings.Contains(saved, secret) {
			t.Errorf("the plan kept as an artifact (readable by anyone who reads the repository) holds a connection string")
		}
	}

	// Cron runs main twice before the merge.
	w.cron()
	w.cron()

	code, out := w.merge("merge", w.pr)
	if code != 0 || !strings.Contains(out, "still stand as reviewed") || strings.Contains(out, "::warning") || strings.Contains(out, "main.json") {
		t.Fatalf("the merge did not apply the reviewed plan after cron ran (exit %d):\n%s", code, out)
	}
	if n := w.vaultFulls(); n != 1 {
		t.Errorf("%d full backups in the vault after the merge, want 1:\n%s", n, out)
	}
	// The configuration reaches the cron host after the apply: its runs
	// go on with routine work only.
	w.deploy(w.pr)
	w.cron()
	if n := w.vaultFulls(); n != 1 {
		t.Errorf("%d full backups in the vault after cron ran the merged configuration, want 1", n)
	}
}

// The merge when the reviewed plan no longer stands: drsctl refuses it as
// stale, the job says why in a warning and applies main instead; nothing
// is done twice. Any other failure fails the job.
func TestExamples_GitHubActionsWorkflow_mergeFallsBack(t *testing.T) {
	t.Run("cron got the merged configuration first", func(t *testing.T) {
		w := newGHWorld(t)
		w.cron()
		w.planPR("pr", w.pr)
		w.deploy(w.pr) // a cron host that pulls main itself
		w.cron()
		if n := w.vaultFulls(); n != 1 {
			t.Fatalf("cron did not seed the vault: %d full backups there", n)
		}
		code, out := w.merge("merge", w.pr)
		if code != 0 {
			t.Fatalf("the merge failed (exit %d):\n%s", code, out)
		}
		for _, want := range []string{"::warning", plan.ErrStale.Error(), "reviewed, and no longer planned", "Saved the plan to main.json"} {
			if !strings.Contains(out, want) {
				t.Errorf("the merge's output does not say %q:\n%s", want, out)
			}
		}
		if n := w.vaultFulls(); n != 1 {
			t.Errorf("%d full backups in the vault, want 1: the seed was done twice:\n%s", n, out)
		}
	})
	t.Run("another merge came between", func(t *testing.T) {
		w := newGHWorld(t)
		w.cron()
		w.planPR("pr", w.pr)
		w.cron()
		// main is the pull request and another change (rpo).
		code, out := w.merge("merge", strings.Replace(w.pr, `rpo = "1h"`, `rpo = "2h"`, 1))
		if code != 0 {
			t.Fatalf("the merge failed (exit %d):\n%s", code, out)
		}
		for _, want := range []string{"::warning", "the configuration changed since the plan was made", "Saved the plan to main.json"} {
			if !strings.Contains(out, want) {
				t.Errorf("the merge's output does not say %q:\n%s", want, out)
			}
		}
		if n := w.vaultFulls(); n != 1 {
			t.Errorf("%d full backups in the vault after the fallback, want 1:\n%s", n, out)
		}
	})
	t.Run("a cron run between the fallback's plan and its apply", func(t *testing.T) {
		w := newGHWorld(t)
		w.cron()
		w.planPR("pr", w.pr)
		code, out := w.merge("merge", strings.Replace(w.pr, `rpo = "1h"`, `rpo = "2h"`, 1), "CRON_BEFORE_APPLY=main.json")
		if code != 0 || !strings.Contains(out, "Saved the plan to main.json") || !strings.Contains(out, "The state moved on since main.json was made") {
			t.Fatalf("the fallback with a cron run before its apply: exit %d\n%s", code, out)
		}
		if log := readFile(t, filepath.Join(w.tools, "cron.log")); !strings.Contains(log, "Apply complete") {
			t.Fatalf("the cron run between did nothing, so the test no longer tests the race:\n%s", log)
		}
		if n := w.vaultFulls(); n != 1 {
			t.Errorf("%d full backups in the vault, want 1:\n%s", n, out)
		}
	})
	t.Run("a push not merged from a pull request", func(t *testing.T) {
		w := newGHWorld(t)
		w.cron()
		code, out := w.merge("merge", w.pr, "GH_PR_HEAD=")
		if code != 0 || !strings.Contains(out, "::notice::") || !strings.Contains(out, "Saved the plan to main.json") || w.vaultFulls() != 1 {
			t.Fatalf("a direct push: exit %d, vault fulls %d, want main planned and applied:\n%s", code, w.vaultFulls(), out)
		}
	})
	t.Run("a reviewed plan that cannot be read", func(t *testing.T) {
		w := newGHWorld(t)
		w.cron()
		w.planPR("pr", w.pr)
		if err := os.WriteFile(filepath.Join(w.artifacts, "drsctl-plan-"+ghPRHead, "plan.json"), []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
		code, out := w.merge("merge", w.pr)
		if code != 1 || strings.Contains(out, "main.json") {
			t.Fatalf("the merge exited %d, want 1 without planning main: only a stale plan falls back:\n%s", code, out)
		}
	})
}

// The crontab's entries run as cron runs them (sh -c, the output collected
// for the mail), with the real drsctl against simulators and a stand-in for
// logger that keeps what it is given: a good run mails nothing, and a run
// that fails mails why.
func TestExamples_CronEntries_mailOnlyWhatIsWrong(t *testing.T) {
	entries := parseCronD(t, filepath.Join(examplesDir, "cron", "drsctl.cron"))
	bin := drsctlBinary(t)
	s := startSims(t, 0, "Sales")
	etc := t.TempDir() // /etc/drsctl: the configuration and the secrets
	if err := os.WriteFile(filepath.Join(etc, "main.drs.hcl"), []byte(readFile(t, filepath.Join(s.dir, "main.drs.hcl"))), 0o644); err != nil {
		t.Fatal(err)
	}
	secrets := "PRIMARY_DSN='" + s.primary.DSN("") + "'\nEAST_DSN='" + s.east.DSN("") + "'\n"
	if err := os.WriteFile(filepath.Join(etc, "drsctl.env"), []byte(secrets), 0o600); err != nil {
		t.Fatal(err)
	}
	tools := t.TempDir()
	for name, body := range map[string]string{
		"drsctl": `exec "$DRSCTL_BIN" "$@"`,
		"logger": `cat >> "$TOOLS/syslog"`,
	} {
		if err := os.WriteFile(filepath.Join(tools, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// runAll runs every entry once, as cron would at */5, and returns what
	// cron would mail.
	runAll := func() string {
		t.Helper()
		var mail strings.Builder
		for _, e := range entries {
			cmd := exec.Command("sh", "-c", strings.ReplaceAll(e.command, "/etc/drsctl", etc))
			cmd.Dir = t.TempDir()
			cmd.Env = []string{"PATH=" + tools + ":/usr/bin:/bin", "HOME=" + cmd.Dir, "TOOLS=" + tools, "DRSCTL_BIN=" + bin}
			out, _ := cmd.CombinedOutput() // cron ignores the exit status: the mail is all there is
			mail.Write(out)
		}
		return mail.String()
	}
	syslog := func() string {
		b, _ := os.ReadFile(filepath.Join(tools, "syslog"))
		return string(b)
	}

	if mail := runAll(); mail != "" {
		t.Fatalf("a good run mails:\n%s\nsyslog:\n%s", mail, syslog())
	}
	// The apply prints nothing when nothing is wrong (-log-level warn), not
	// even to syslog; status's table shows that it did its work.
	if log := syslog(); strings.Contains(log, "Apply complete") || !strings.Contains(log, "Sales_full_") {
		t.Errorf("syslog after a good run: want status's table and no word from the apply:\n%s", log)
	}
	if mail := runAll(); mail != "" {
		t.Fatalf("a run with nothing due mails:\n%s", mail)
	}
	// The primary's server is gone: the operator hears of it.
	s.primary.Close()
	if mail := runAll(); !strings.Contains(mail, "Error:") {
		t.Errorf("a run that cannot reach the primary mails no error:\n%q\nsyslog:\n%s", mail, syslog())
	} else {
		t.Logf("the mail when the primary is down:\n%s", mail)
	}
}
