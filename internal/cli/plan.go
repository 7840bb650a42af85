package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/observe"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// PlanOptions are plan's flags.
type PlanOptions struct {
	Out              string
	JSON             bool
	DetailedExitCode bool
	Refresh          bool
	Targets          []string
	LockTimeout      time.Duration
}

// makePlan refreshes (unless told not to) and plans, under the caller's lock.
func (e *Env) makePlan(ctx context.Context, cfg *config.Config, st *state.State, refresh bool, targets []string) (*plan.Plan, error) {
	for _, n := range targets {
		if cfg.TargetByName(n) == nil && cfg.PrimaryByName(n) == nil {
			return nil, fmt.Errorf("-target %q: no target or primary of that name in the configuration", n)
		}
	}
	var obs *plan.Observed
	if refresh {
		obs = observe.Refresh(ctx, cfg, st, observe.Options{Engines: e.Engines, Targets: targets, Now: e.now})
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("refresh interrupted: %w", err)
		}
	}
	return plan.Make(cfg, st, obs, e.now(), plan.Options{Targets: targets, ConfigDigest: configDigest(cfg)}), nil
}

// Plan runs `drsctl plan`.
func (e *Env) Plan(ctx context.Context, g Globals, o PlanOptions) int {
	cfg, ok := e.loadConfig(g)
	if !ok {
		return ExitError
	}
	_, st, release, err := e.lockedState(ctx, cfg, g, "plan", o.LockTimeout)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer release()
	p, err := e.makePlan(ctx, cfg, st, o.Refresh, o.Targets)
	if err != nil {
		return e.errorf("%v", err)
	}
	if o.JSON {
		err = plan.WriteJSON(e.Stdout, p, e.Version)
	} else {
		err = plan.WriteHuman(e.Stdout, p, e.style(g))
	}
	if err != nil {
		return e.errorf("write plan: %v", err)
	}
	if o.Out != "" {
		if err := savePlan(o.Out, p); err != nil {
			return e.errorf("%v", err)
		}
		if !o.JSON {
			fmt.Fprintf(e.Stdout, "\nSaved the plan to %s. To perform exactly these actions, run:\n  drsctl apply %s\n", o.Out, o.Out)
		}
	}
	switch {
	case p.HasErrors():
		return ExitError
	case o.DetailedExitCode && p.HasChanges():
		return ExitChanges
	}
	return ExitOK
}

// savePlan writes a plan file atomically.
func savePlan(path string, p *plan.Plan) error {
	b, err := p.Bytes()
	if err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save plan: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save plan: %w", err)
	}
	return nil
}
