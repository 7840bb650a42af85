package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// Validate runs `drsctl validate`: syntax and semantics, no secrets needed.
func (e *Env) Validate(g Globals, jsonOut bool) int {
	cfg, diags := config.Load(g.configPath(), config.LoadOptions{KnownEngines: e.Engines.Names(), Getenv: e.Getenv})
	if jsonOut {
		if err := config.ValidateJSON(e.Stdout, cfg.Files, diags); err != nil {
			return e.errorf("%v", err)
		}
	} else if len(diags) > 0 {
		config.WriteDiagnostics(e.Stderr, cfg.Files, diags, 100, e.Terminal && !g.NoColor)
	}
	if diags.HasErrors() {
		return ExitError
	}
	if !jsonOut {
		fmt.Fprintln(e.Stdout, "Success! The configuration is valid.")
	}
	return ExitOK
}

// Fmt runs `drsctl fmt`.
func (e *Env) Fmt(g Globals, check, diff bool) int {
	results, diags := config.Format(g.configPath(), !check, diff)
	if len(diags) > 0 {
		config.WriteDiagnostics(e.Stderr, nil, diags, 100, false)
		if diags.HasErrors() {
			return ExitError
		}
	}
	changed := false
	for _, r := range results {
		if !r.Changed {
			continue
		}
		changed = true
		fmt.Fprintln(e.Stdout, r.Path)
		if diff && r.Diff != "" {
			fmt.Fprintln(e.Stdout, r.Diff)
		}
	}
	if check && changed {
		return ExitFormat
	}
	return ExitOK
}

// Show runs `drsctl show [FILE]`: a saved plan, or the state.
func (e *Env) Show(ctx context.Context, g Globals, file string, jsonOut bool) int {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return e.errorf("%v", err)
		}
		defer f.Close()
		p, err := plan.Load(f)
		if err != nil {
			return e.errorf("%s: %v", file, err)
		}
		if jsonOut {
			err = plan.WriteJSON(e.Stdout, p, e.Version)
		} else {
			err = plan.WriteHuman(e.Stdout, p, e.style(g))
		}
		if err != nil {
			return e.errorf("%v", err)
		}
		return ExitOK
	}
	st, code := e.readOnlyState(ctx, g)
	if st == nil {
		return code
	}
	if jsonOut {
		if err := state.Write(st, e.Stdout); err != nil {
			return e.errorf("%v", err)
		}
		return ExitOK
	}
	if st.Lineage == "" {
		fmt.Fprintln(e.Stdout, "The state is empty: nothing has been applied yet.")
		return ExitOK
	}
	fmt.Fprintf(e.Stdout, "lineage %s, serial %d\n", st.Lineage, st.Serial)
	for _, addr := range state.List(st) {
		fmt.Fprintln(e.Stdout, addr)
	}
	return ExitOK
}

// readOnlyState reads the state without locking (show, state list/show, status).
func (e *Env) readOnlyState(ctx context.Context, g Globals) (*state.State, int) {
	_, st, code := e.configAndState(ctx, g)
	return st, code
}

// configAndState loads the configuration and reads the state without
// locking it, for commands that only look.
func (e *Env) configAndState(ctx context.Context, g Globals) (*config.Config, *state.State, int) {
	cfg, ok := e.loadConfig(g)
	if !ok {
		return nil, nil, ExitError
	}
	m, err := e.stateManager(cfg, g)
	if err != nil {
		return nil, nil, e.errorf("%v", err)
	}
	st, err := readState(ctx, m)
	if err != nil {
		return nil, nil, e.errorf("%v", err)
	}
	return cfg, st, ExitOK
}

// StateList runs `drsctl state list`.
func (e *Env) StateList(ctx context.Context, g Globals) int {
	st, code := e.readOnlyState(ctx, g)
	if st == nil {
		return code
	}
	for _, addr := range state.List(st) {
		fmt.Fprintln(e.Stdout, addr)
	}
	return ExitOK
}

// StateShow runs `drsctl state show ADDR`.
func (e *Env) StateShow(ctx context.Context, g Globals, addr string) int {
	st, code := e.readOnlyState(ctx, g)
	if st == nil {
		return code
	}
	v, err := state.Show(st, addr)
	if err != nil {
		return e.errorf("%v", err)
	}
	enc := json.NewEncoder(e.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return e.errorf("%v", err)
	}
	return ExitOK
}

// ForceUnlock runs `drsctl force-unlock ID`.
func (e *Env) ForceUnlock(ctx context.Context, g Globals, id string) int {
	cfg, ok := e.loadConfig(g)
	if !ok {
		return ExitError
	}
	m, err := e.stateManager(cfg, g)
	if err != nil {
		return e.errorf("%v", err)
	}
	if err := m.ForceUnlock(ctx, id); err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintf(e.Stdout, "The state lock %s was removed. Make sure no other drsctl is running against %s.\n", id, m.Describe())
	return ExitOK
}

// StatusOptions are status's flags.
type StatusOptions struct {
	JSON   bool
	Format string // "" (human) or "prometheus"
	Check  bool
}

// Status runs `drsctl status`: RPO per target database from the ledger
// (fast, no servers asked), for people, monitoring and alerting.
func (e *Env) Status(ctx context.Context, g Globals, o StatusOptions) int {
	cfg, st, code := e.configAndState(ctx, g)
	if st == nil {
		return code
	}
	p := plan.Make(cfg, st, nil, e.now(), plan.Options{})
	breach := false
	for _, r := range p.RPO {
		breach = breach || r.Breach
	}
	switch {
	case o.Format == "prometheus":
		writePrometheus(e, p.RPO)
	case o.Format != "":
		return e.errorf("-format %q: the only format is prometheus", o.Format)
	case o.JSON:
		enc := json.NewEncoder(e.Stdout)
		for _, r := range p.RPO {
			m := plan.NewMessage("info", "rpo", fmt.Sprintf("%s/%s", r.Target, r.Database), e.now())
			m["rpo"] = map[string]any{"target": r.Target, "primary": r.Primary, "database": r.Database, "through": r.Through,
				"artifact": r.Artifact, "lag_seconds": int64(r.Lag / time.Second), "limit_seconds": int64(r.Limit / time.Second), "breach": r.Breach}
			enc.Encode(m)
		}
	default:
		if len(p.RPO) == 0 {
			fmt.Fprintln(e.Stdout, "No targets are configured.")
		}
		fmt.Fprintf(e.Stdout, "%-16s %-20s %-8s %-10s %-7s %s\n", "TARGET", "DATABASE", "RPO", "LAG", "STATUS", "THROUGH")
		for _, r := range p.RPO {
			status, lag, through := "ok", plan.FormatDuration(r.Lag), r.Artifact
			if r.Breach {
				status = "BREACH"
			}
			if r.Through.IsZero() {
				lag, through = "-", "nothing yet"
			}
			fmt.Fprintf(e.Stdout, "%-16s %-20s %-8s %-10s %-7s %s\n", r.Target, r.Database, plan.FormatDuration(r.Limit), lag, status, through)
		}
	}
	if o.Check && breach {
		return ExitChanges
	}
	return ExitOK
}

func writePrometheus(e *Env, rows []plan.RPOStatus) {
	esc := func(s string) string {
		return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
	}
	metric := func(name, help string, val func(plan.RPOStatus) float64) {
		fmt.Fprintf(e.Stdout, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for _, r := range rows {
			fmt.Fprintf(e.Stdout, "%s{target=\"%s\",primary=\"%s\",database=\"%s\"} %g\n", name, esc(r.Target), esc(r.Primary), esc(r.Database), val(r))
		}
	}
	metric("drsctl_rpo_lag_seconds", "Seconds since the finish of the newest backup restored (standby) or shipped (copy_only); -1 when none.", func(r plan.RPOStatus) float64 {
		if r.Through.IsZero() {
			return -1
		}
		return r.Lag.Seconds()
	})
	metric("drsctl_rpo_limit_seconds", "The configured RPO.", func(r plan.RPOStatus) float64 { return r.Limit.Seconds() })
	metric("drsctl_rpo_breach", "1 when the lag exceeds the RPO.", func(r plan.RPOStatus) float64 {
		if r.Breach {
			return 1
		}
		return 0
	})
}

// Graph runs `drsctl graph`: the plan's dependency graph in DOT.
func (e *Env) Graph(ctx context.Context, g Globals, refresh bool) int {
	cfg, st, code := e.configAndState(ctx, g)
	if st == nil {
		return code
	}
	p, err := e.makePlan(ctx, cfg, st, refresh, nil)
	if err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintln(e.Stdout, "digraph drsctl {\n  rankdir = LR;\n  node [shape = box];")
	for _, a := range p.Actions {
		fmt.Fprintf(e.Stdout, "  %q [label = %q];\n", a.ID, a.Target+" "+a.Verb())
	}
	for _, a := range p.Actions {
		for _, d := range a.DependsOn {
			fmt.Fprintf(e.Stdout, "  %q -> %q;\n", d, a.ID)
		}
	}
	fmt.Fprintln(e.Stdout, "}")
	return ExitOK
}
