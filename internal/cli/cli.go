// Package cli runs drsctl's commands: it loads configuration and state,
// takes the lock, refreshes, plans, applies and renders, all through
// injected readers and writers so every command is testable in-process.
// cmd/drsctl only parses flags and calls in here.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	dblob "github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// Exit codes, as documented in every command's -help.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitChanges = 2 // plan -detailed-exitcode: changes present; status -check: an RPO breach or an alert
	ExitFormat  = 3 // fmt -check: files need formatting
)

// Globals are the options every command takes.
type Globals struct {
	Chdir    string
	Config   string // one file instead of the directory
	State    string // overrides the state block
	NoColor  bool
	LogLevel string
}

// Env is the outside world a command sees.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	// Terminal reports whether stdin and stdout are a terminal (confirmation
	// prompts, colors, progress bars).
	Terminal bool
	Getenv   func(string) (string, bool)
	Engines  *engine.Registry
	Now      func() time.Time
	Version  string

	// FetchWAL copies a WAL file from a PostgreSQL standby's inbox
	// (wal-fetch): found is false when it is not there yet.
	FetchWAL func(dir, name, dest string) (found bool, err error)

	// Width is the terminal's width in columns (0: unknown).
	Width int

	// Set from the global options by Configure.
	quiet            bool          // error, warn: no per-action lines
	configWarnings   []said        // a quiet run's, said once
	progressInterval time.Duration // debug: every progress step
	debug            bool
	color            bool
}

// Configure applies the global options that shape output.
func (e *Env) Configure(g Globals) error {
	e.color = e.Terminal && !g.NoColor
	switch strings.ToLower(g.LogLevel) {
	case "", "info":
	case "error", "warn":
		e.quiet = true
	case "debug":
		e.progressInterval = time.Nanosecond
		e.debug = true
	default:
		return fmt.Errorf("-log-level %q: use error, warn, info or debug", g.LogLevel)
	}
	return nil
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Env) errorf(format string, a ...any) int {
	fmt.Fprintf(e.Stderr, "Error: "+format+"\n", a...)
	return ExitError
}

func (e *Env) style(g Globals) plan.Style { return plan.Style{Color: e.Terminal && !g.NoColor} }

// configPath is where configuration is read from.
func (g Globals) configPath() string {
	if g.Config != "" {
		if g.Chdir != "" && !filepath.IsAbs(g.Config) {
			return filepath.Join(g.Chdir, g.Config)
		}
		return g.Config
	}
	if g.Chdir != "" {
		return g.Chdir
	}
	return "."
}

// loadConfig loads and checks the configuration, rendering diagnostics.
func (e *Env) loadConfig(g Globals) (*config.Config, bool) {
	cfg, diags := config.Load(g.configPath(), config.LoadOptions{KnownEngines: e.Engines.Names(), Getenv: e.Getenv})
	if len(diags) > 0 {
		var files map[string]*hcl.File
		if cfg != nil {
			files = cfg.Files
		}
		if e.quiet && !diags.HasErrors() {
			// A quiet (cron) run says a configuration's warnings once, as
			// the plan's (sayNewWarnings): they last as long as the file.
			for _, d := range diags {
				var b strings.Builder
				config.WriteDiagnostics(&b, files, hcl.Diagnostics{d}, 100, false)
				e.configWarnings = append(e.configWarnings, said{key: "config\x00" + d.Summary + "\x00" + fmt.Sprint(d.Subject), text: strings.TrimSpace(b.String())})
			}
		} else {
			config.WriteDiagnostics(e.Stderr, files, diags, 100, e.Terminal && !g.NoColor)
		}
	}
	if diags.HasErrors() || cfg == nil {
		return nil, false
	}
	return cfg, true
}

// stateManager opens the state the configuration (or -state) names.
func (e *Env) stateManager(cfg *config.Config, g Globals) (state.Manager, error) {
	loc, base := cfg.StateLocation(), cfg.Dir
	if g.State != "" {
		loc, base = g.State, "."
		if g.Chdir != "" {
			base = g.Chdir
		}
	}
	warnf := func(f string, a ...any) { fmt.Fprintf(e.Stderr, "Warning: "+f+"\n", a...) }
	if scheme, _, ok := strings.Cut(loc, "://"); ok {
		switch scheme {
		case "file":
			loc = strings.TrimPrefix(loc, "file://")
		case "s3", "azblob":
			store, err := dblob.OpenStateStore(context.Background(), loc)
			if err != nil {
				return nil, err
			}
			return state.NewRemote(store, state.RemoteOptions{Version: e.Version, Warnf: warnf}), nil
		default:
			return nil, fmt.Errorf("state url %s: use s3://, azblob://, file:// or a path (for a file share, mount it and give its path)", dblob.Redact(loc))
		}
	}
	if !filepath.IsAbs(loc) {
		loc = filepath.Join(base, loc)
	}
	return state.NewLocal(loc, state.LocalOptions{Version: e.Version, Warnf: warnf}), nil
}

// readState reads the ledger; a missing one is a new, empty ledger.
func readState(ctx context.Context, m state.Manager) (*state.State, error) {
	st, err := m.Read(ctx)
	if err != nil {
		return nil, state.NameState("read", m.Describe(), err)
	}
	if st == nil {
		st = state.New("")
	}
	return st, nil
}

// lock takes the state lock, explaining how to proceed when it is held.
// When it has to wait, it says for whom, so that a run that seems to hang
// (cron mail, CI logs) explains itself.
func (e *Env) lock(ctx context.Context, m state.Manager, op string, timeout time.Duration) (state.Lease, error) {
	start := time.Now()
	lease, err := m.Lock(ctx, op, 0)
	var le *state.LockedError
	if errors.As(err, &le) && timeout > 0 {
		fmt.Fprintf(e.Stderr, "Waiting up to %s for the state lock: %s has held it for %s since %s (ID %s).\n",
			timeout, le.Info.Who, le.Info.Operation, le.Info.Created.UTC().Format(time.RFC3339), le.Info.ID)
		lease, err = m.Lock(ctx, op, max(timeout-time.Since(start), time.Nanosecond))
	}
	if err != nil {
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, state.NameState("lock", m.Describe(), err)
	}
	return lease, nil
}

// TestHoldLockEnv names the variable that makes a run hold the state lock,
// just taken, for the duration it gives (time.ParseDuration) before going
// on: for tests that kill or race a holder (cmd/drsctl signal_test.go,
// internal/cli lock_concurrency_test.go). Nothing else reads it.
const TestHoldLockEnv = "DRSCTL_TEST_HOLD_LOCK"

// lockedState opens the state, takes its lock for op and reads it; release
// gives the lock back. The manager it returns writes only while the lease
// is valid (state.GuardWrites): a run that cannot renew its lock records
// nothing more and starts no new action.
func (e *Env) lockedState(ctx context.Context, cfg *config.Config, g Globals, op string, timeout time.Duration) (state.Manager, *state.State, func(), error) {
	m, err := e.stateManager(cfg, g)
	if err != nil {
		return nil, nil, nil, err
	}
	lease, err := e.lock(ctx, m, op, timeout)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := e.testHoldLock(ctx); err != nil {
		unlock(e, lease)
		return nil, nil, nil, err
	}
	st, err := readState(ctx, m)
	if err != nil {
		unlock(e, lease)
		return nil, nil, nil, err
	}
	return state.GuardWrites(m, lease), st, func() { unlock(e, lease) }, nil
}

// testHoldLock waits as TestHoldLockEnv says, if it is set.
func (e *Env) testHoldLock(ctx context.Context) error {
	v, ok := e.getenv(TestHoldLockEnv)
	if !ok || v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", TestHoldLockEnv, v, err)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", TestHoldLockEnv, ctx.Err())
	case <-time.After(d):
		return nil
	}
}

func (e *Env) getenv(k string) (string, bool) {
	if e.Getenv == nil {
		return "", false
	}
	return e.Getenv(k)
}

func unlock(e *Env, lease state.Lease) {
	if err := lease.Unlock(); err != nil {
		fmt.Fprintf(e.Stderr, "Warning: release state lock: %v\n", err)
	}
}

// configDigest identifies the configuration's source bytes.
func configDigest(cfg *config.Config) string {
	src := map[string][]byte{}
	for name, f := range cfg.Files {
		// By name within the configuration's directory: a pull request's
		// checkout and the merge's may be in different places.
		if rel, err := filepath.Rel(cfg.Dir, name); err == nil {
			name = filepath.ToSlash(rel)
		}
		src[name] = f.Bytes
	}
	// And what they say once evaluated: a value read with file() from a
	// file beside them can change while they do not.
	src["\x00settings"] = []byte(plan.SettingsFingerprint(cfg))
	return plan.ConfigDigest(src)
}

// isTerminal reports whether f is a character device.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
