package cli

import (
	"context"
	"encoding/json"
	"fmt"

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

// Show runs `drsctl show [FILE]`: a saved plan, or the state.
func (e *Env) Show(ctx context.Context, g Globals, file string, jsonOut bool) int {
	if file != "" {
		p, err := loadSavedPlan("show", file)
		if err != nil {
			return e.errorf("%v", err)
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

// ForceUnlock runs `drsctl force-unlock [ID]`.
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
	if id == state.UnreadableLockID {
		fmt.Fprintf(e.Stdout, "The unreadable state lock file was removed. Make sure no other drsctl is running against %s.\n", m.Describe())
		return ExitOK
	}
	fmt.Fprintf(e.Stdout, "The state lock %s was removed. Make sure no other drsctl is running against %s.\n", id, m.Describe())
	return ExitOK
}
