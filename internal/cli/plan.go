package cli

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/hcl/v2"

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
	// BaseConfig is the configuration before the change under review: the
	// actions its plan has too are routine.
	BaseConfig string
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
	p := plan.Make(cfg, st, obs, e.now(), plan.Options{Targets: targets, ConfigDigest: configDigest(cfg)})
	plan.Classify(p, st)
	return p, nil
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
	if o.BaseConfig != "" {
		base, diags := config.Load(o.BaseConfig, config.LoadOptions{KnownEngines: e.Engines.Names(), Getenv: e.Getenv})
		if diags.HasErrors() || base == nil {
			var files map[string]*hcl.File
			if base != nil {
				files = base.Files
			}
			config.WriteDiagnostics(e.Stderr, files, diags, 100, e.Terminal && !g.NoColor)
			return e.errorf("-base-config %s: the base configuration does not load (above), and the plan is compared with it.\n"+
				"Fix it on the base branch, or plan without -base-config: the change's actions are then told from the ledger alone (settings changed are not listed).", o.BaseConfig)
		}
		// -target names what the change may add: the base plans those it
		// has, and nothing when it has none of them.
		var baseTargets []string
		for _, n := range o.Targets {
			if base.TargetByName(n) != nil || base.PrimaryByName(n) != nil {
				baseTargets = append(baseTargets, n)
			}
		}
		bp := &plan.Plan{}
		if len(o.Targets) == 0 || len(baseTargets) > 0 {
			if bp, err = e.makePlan(ctx, base, st, o.Refresh, baseTargets); err != nil {
				return e.errorf("-base-config %s: %v", o.BaseConfig, err)
			}
		}
		plan.ClassifyAgainst(p, st, cfg, bp, base)
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
			fmt.Fprintf(e.Stdout, "\nSaved the plan to %s. To perform these actions, run:\n  drsctl apply %s\n"+
				"If other runs (cron) move the state on meanwhile, apply plans the routine actions again and performs\n"+
				"the configuration's changes only if they still stand as shown here.\n", o.Out, o.Out)
		}
	}
	switch {
	case p.HasErrors():
		return ExitError
	case o.DetailedExitCode && p.HasConfigChanges():
		// What a reviewer asks of a configuration change: routine work (a
		// log backup is nearly always due) is not a change.
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
