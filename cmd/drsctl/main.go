// Command drsctl is declarative log-shipping disaster recovery. This package
// only parses flags and renders exit codes; the work is in internal/cli.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/wiring"
)

// version is set at build time (-ldflags "-X main.version=…").
var version = "dev"

const exitCodes = `
Exit codes:
  0  success
  1  error
  2  the configuration causes changes (plan -detailed-exitcode; routine work
     such as a due log backup is not one), or an RPO breach or alert
     (status -check; apply -log-level warn: a breach the run could not fix)
  3  files need formatting (fmt -check)
`

type command struct {
	summary string
	run     func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int
}

var commands = map[string]command{}

func register(name, summary string, run func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int) {
	commands[name] = command{summary: summary, run: run}
}

func main() {
	os.Exit(mainCode())
}

// mainCode runs drsctl with the process's arguments, outputs and signals and
// returns its exit code.
func mainCode() int {
	ctx, cancel, stop := withSignals()
	defer stop()
	env := &cli.Env{
		Stdout:   &stopOnBrokenPipe{w: os.Stdout, cancel: cancel},
		Stderr:   &stopOnBrokenPipe{w: os.Stderr, cancel: cancel},
		Stdin:    os.Stdin,
		Terminal: cli.IsTerminal(os.Stdin) && cli.IsTerminal(os.Stdout),
		Getenv:   os.LookupEnv, Engines: wiring.Engines(), Version: version, FetchWAL: wiring.FetchWAL,
	}
	if w, _, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
		env.Width = w
	}
	code := run(ctx, env, os.Args[1:])
	if cause := context.Cause(ctx); errors.Is(cause, errOutputClosed) {
		fmt.Fprintf(os.Stderr, "Error: %v.\n", cause) // fails too if stderr is the closed one
		if code == cli.ExitOK {
			code = cli.ExitError
		}
	}
	return code
}

func run(ctx context.Context, env *cli.Env, args []string) int {
	var g cli.Globals
	fs := flag.NewFlagSet("drsctl", flag.ContinueOnError)
	addGlobals(fs, &g)
	showVersion := fs.Bool("version", false, "print the version")
	fs.Usage = func() { usage(fs.Output()) }
	if code, ok := parseFlags(env, fs, args); !ok {
		return code
	}
	rest := fs.Args()
	if *showVersion {
		return commands["version"].run(ctx, env, g, rest)
	}
	if len(rest) == 0 {
		usage(env.Stderr)
		return cli.ExitError
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		if len(rest) > 0 && !slices.Contains([]string{"help", "-h", "-help", "--help"}, rest[0]) {
			name, rest = rest[0], []string{"-help"}
		} else {
			usage(env.Stdout)
			return cli.ExitOK
		}
	}
	c, ok := commands[name]
	if !ok {
		return unknownCommand(env, name)
	}
	return c.run(ctx, env, g, rest)
}

// parseFlags parses args into fs: help asked for (-h, -help) goes to
// stdout with exit 0, a wrong flag and the usage to stderr with exit 1.
func parseFlags(env *cli.Env, fs *flag.FlagSet, args []string) (int, bool) {
	var buf strings.Builder
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(env.Stdout)
		fs.Usage()
		return cli.ExitOK, false
	case err != nil:
		fmt.Fprint(env.Stderr, buf.String())
		return cli.ExitError, false
	}
	fs.SetOutput(env.Stderr)
	return 0, true
}

// configured applies the global options once a verb has parsed its flags.
func configured(env *cli.Env, g cli.Globals) bool {
	if err := env.Configure(g); err != nil {
		fmt.Fprintf(env.Stderr, "Error: %v\n", err)
		return false
	}
	return true
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: drsctl [global options] <command> [options]

drsctl keeps standby databases restored from log backups, as declared in
*.drs.hcl files: plan shows what is due and why, apply does it.

Commands:
`)
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-13s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Global options (before or after the command):
  -chdir DIR      read configuration from DIR (default: the current directory)
  -config FILE    read one configuration file instead of a directory
  -state FILE     use this state file instead of the state block's
  -no-color       no colors in output
  -log-level L    error, warn, info or debug (default info)
  -version        print the version (as drsctl version does)
  -help           print this help

Run "drsctl <command> -help" for a command's options.
`+exitCodes)
}

func addGlobals(fs *flag.FlagSet, g *cli.Globals) {
	fs.StringVar(&g.Chdir, "chdir", g.Chdir, "read configuration from `DIR`")
	fs.StringVar(&g.Config, "config", g.Config, "read one configuration `FILE`")
	fs.StringVar(&g.State, "state", g.State, "use this state `FILE`")
	fs.BoolVar(&g.NoColor, "no-color", g.NoColor, "no colors in output")
	fs.StringVar(&g.LogLevel, "log-level", g.LogLevel, "`level`: error, warn, info, debug")
}

// newFlags makes a verb's flag set with the global options and a -help that
// ends with the exit codes.
func newFlags(env *cli.Env, g *cli.Globals, name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	addGlobals(fs, g)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: drsctl %s\n\n%s\n\nOptions:\n", synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
		fmt.Fprint(w, exitCodes)
	}
	return fs
}

// parse parses a verb's flags; interspersed positional arguments are
// allowed (drsctl apply plan.out -auto-approve).
func parse(env *cli.Env, g *cli.Globals, fs *flag.FlagSet, args []string) ([]string, int, bool) {
	var positional []string
	for {
		if code, ok := parseFlags(env, fs, args); !ok {
			return nil, code, false
		}
		args = fs.Args()
		if len(args) == 0 {
			if !configured(env, *g) {
				return nil, cli.ExitError, false
			}
			return positional, 0, true
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// targets is a repeatable -target flag.
type targets []string

func (t *targets) String() string { return strings.Join(*t, ",") }
func (t *targets) Set(v string) error {
	*t = append(*t, v)
	return nil
}

func lockTimeoutFlag(fs *flag.FlagSet) *time.Duration {
	return durationFlag(fs, "lock-timeout", 0, "wait up to `D` for the state lock (e.g. 5m)")
}

func noArgs(env *cli.Env, fs *flag.FlagSet, pos []string) bool {
	if len(pos) > 0 {
		fmt.Fprintf(env.Stderr, "Error: %s takes no arguments, got %q.\n", fs.Name(), pos)
		return false
	}
	return true
}
