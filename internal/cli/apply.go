package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// ApplyOptions are apply's flags.
type ApplyOptions struct {
	PlanFile    string
	AutoApprove bool
	JSON        bool
	Parallelism int
	Targets     []string
	LockTimeout time.Duration
	Refresh     bool
}

// Apply runs `drsctl apply`.
func (e *Env) Apply(ctx context.Context, g Globals, o ApplyOptions) int {
	// The plan file first: `apply q.drs.hcl` from anywhere is told that
	// it is not a saved plan, not that there is no configuration here.
	var saved *plan.Plan
	if o.PlanFile != "" {
		var err error
		if saved, err = loadSavedPlan("apply", o.PlanFile); err != nil {
			return e.errorf("%v", err)
		}
		if len(o.Targets) > 0 {
			return e.errorf("-target cannot be used with a saved plan: the plan already says what to do")
		}
	}
	cfg, ok := e.loadConfig(g)
	if !ok {
		return ExitError
	}
	m, st, release, err := e.lockedState(ctx, cfg, g, "apply", o.LockTimeout)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer release()
	p := saved
	if p != nil {
		if err := p.CheckCurrent(st, configDigest(cfg)); err != nil {
			if !movedOnRoutinely(p, st, configDigest(cfg)) {
				return e.errorf("%s: %v", o.PlanFile, err)
			}
			// Cron ran since the plan was reviewed: its routine part is
			// planned again; what the reviewer approved must still stand.
			now, err := e.makePlan(ctx, cfg, st, p.Refreshed, p.Targets)
			if err != nil {
				return e.errorf("%v", err)
			}
			if diffs := plan.StillApproved(p, now); len(diffs) > 0 {
				return e.errorf("%s: %v: the state moved on (serial %d → %d) and the configuration's changes no longer stand as reviewed:\n  %s\nRun drsctl plan again and review it.",
					o.PlanFile, plan.ErrStale, p.Serial, st.Serial, strings.Join(diffs, "\n  "))
			}
			left := plan.LeaveUnheldPrunes(p, now, st)
			if !o.JSON && !e.quiet {
				fmt.Fprintf(e.Stdout, "The state moved on since %s was made (serial %d → %d: routine runs). The configuration's changes still stand as reviewed; the routine actions are planned again:\n\n", o.PlanFile, p.Serial, st.Serial)
				if len(left) > 0 {
					fmt.Fprintf(e.Stdout, "Left to the next run, as %s did not list them (it deletes nothing its reviewer did not see):\n  %s\n\n", o.PlanFile, strings.Join(left, "\n  "))
				}
			}
			p, saved = now, nil
		}
	} else {
		p, err = e.makePlan(ctx, cfg, st, o.Refresh, o.Targets)
		if err != nil {
			return e.errorf("%v", err)
		}
	}
	switch {
	case o.JSON:
		err = plan.WriteJSON(e.Stdout, p, e.Version)
	case e.quiet:
		e.sayNewWarnings(p, m) // errors are said below, every time
	case saved == nil:
		err = plan.WriteHuman(e.Stdout, p, e.style(g))
	}
	if err != nil {
		return e.errorf("write plan: %v", err)
	}
	if !p.HasChanges() {
		if p.HasErrors() {
			return e.planErrors(p, "nothing else was due")
		}
		return e.quietBreaches(cfg, st, p.Targets)
	}
	if saved == nil && o.PlanFile == "" && !o.AutoApprove {
		if !e.Terminal {
			return e.errorf("apply needs confirmation, and there is no terminal to ask on.\n" +
				"Run `drsctl apply -auto-approve` (CI, cron), or save a plan with `drsctl plan -out FILE` and run `drsctl apply FILE`.")
		}
		fmt.Fprint(e.Stdout, "\nDo you want to perform these actions?\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ")
		line, _ := bufio.NewReader(e.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(e.Stdout, "\nApply cancelled.")
			return ExitError
		}
	}
	if code := e.execute(ctx, cfg, m, st, p, o.Parallelism, o.JSON); code != ExitOK {
		return code
	}
	if p.HasErrors() {
		return e.planErrors(p, "the rest was applied")
	}
	return e.quietBreaches(cfg, st, p.Targets)
}

// quietBreaches: a quiet (cron) run ends by saying the RPO breaches that
// remain, with exit 2; other runs have shown the RPO table already.
func (e *Env) quietBreaches(cfg *config.Config, st *state.State, targets []string) int {
	if !e.quiet {
		return ExitOK
	}
	return e.breachesAfter(cfg, st, targets)
}

// movedOnRoutinely says whether a saved plan was refused only because
// other runs wrote to the ledger since: same ledger, same configuration,
// and a plan that says which of its actions the configuration causes.
func movedOnRoutinely(p *plan.Plan, st *state.State, digest string) bool {
	return p.Review != nil && st != nil && p.Lineage == st.Lineage && p.Serial < st.Serial && p.ConfigDigest == digest
}

// execute runs a plan against the locked state and reports the outcome.
func (e *Env) execute(ctx context.Context, cfg *config.Config, m state.Manager, st *state.State, p *plan.Plan, parallelism int, jsonOut bool) int {
	if st.Lineage == "" {
		st.Lineage = state.NewLineage() // the first write creates the ledger
	}
	var rep apply.Reporter = &apply.Lines{W: e.Stdout, Interval: e.progressInterval, Quiet: e.quiet}
	var bars *Bars
	if jsonOut {
		rep = &apply.JSON{W: e.Stdout}
	} else {
		if !e.quiet {
			fmt.Fprintln(e.Stdout)
		}
		if e.Terminal && !e.quiet { // bars on a terminal; plain lines for logs, CI and cron
			bars = NewBars(e.Stdout, e.color)
			if e.Width > 0 {
				bars.Width = e.Width
			}
			rep = bars
		}
	}
	runner := &apply.Runner{Config: cfg, Engines: e.Engines, State: m, Parallelism: parallelism, Reporter: rep, Now: e.now}
	res, err := runner.Apply(ctx, p, st)
	if bars != nil {
		bars.Close() // before the summary
	}
	done, failed, skipped := res.Count()
	summary := fmt.Sprintf("%s complete: %d done, %d failed, %d not started.", verbOf(p), done, failed, skipped)
	if err != nil {
		summary = fmt.Sprintf("%s failed: %d done, %d failed, %d not started.", verbOf(p), done, failed, skipped)
	}
	if jsonOut {
		(&apply.JSON{W: e.Stdout}).Summary(summary, done, failed, skipped)
	} else if !e.quiet || err != nil {
		fmt.Fprintf(e.Stdout, "\n%s\n", summary)
		if e.debug {
			fmt.Fprintf(e.Stdout, "State: %d changes recorded in %d writes, %s in all.\n", res.StateChanges, res.StateWrites, res.StateTime.Round(time.Millisecond))
		}
	}
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(e.Stderr, "Interrupted: actions in flight were abandoned; the state records everything that completed.")
		}
		return e.errorf("%v", err)
	}
	return ExitOK
}
