package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/apply"
	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("apply", "Take, ship and restore the backups that are due", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "apply", "apply [FILE] [options]", `
Plans as drsctl plan does and performs the plan: backups on the primaries,
shipping to every target's destination, verification, restores in order.
With FILE, performs exactly a plan saved by drsctl plan -out, refusing it if
the state or configuration changed since. Without FILE it asks for
confirmation on a terminal and needs -auto-approve elsewhere (CI, cron).
Ctrl-C stops cleanly: work in flight is abandoned, the state stays true.
So does a closed output (drsctl apply | head), with exit code 1.`)
		var o cli.ApplyOptions
		var ts targets
		fs.BoolVar(&o.AutoApprove, "auto-approve", false, "do not ask for confirmation")
		fs.BoolVar(&o.JSON, "json", false, "print newline-delimited JSON messages")
		fs.IntVar(&o.Parallelism, "parallelism", apply.DefaultParallelism, "run up to `N` actions at once")
		fs.BoolVar(&o.Refresh, "refresh", true, "ask the servers and storage before planning")
		fs.Var(&ts, "target", "apply only for this target or primary `NAME` (repeatable)")
		lt := lockTimeoutFlag(fs)
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if len(pos) > 1 {
			fmt.Fprintf(env.Stderr, "Error: apply takes at most one plan file, got %q.\n", pos)
			return cli.ExitError
		}
		if len(pos) == 1 {
			o.PlanFile = pos[0]
			if isSet(fs, "refresh") {
				fmt.Fprintf(env.Stderr, "Error: -refresh cannot be used with a saved plan: %s is applied as it was planned (plan -refresh=false -out FILE plans without refreshing).\n", pos[0])
				return cli.ExitError
			}
		}
		if o.JSON && !o.AutoApprove && o.PlanFile == "" {
			fmt.Fprintln(env.Stderr, "Error: -json needs -auto-approve or a saved plan (drsctl apply FILE): a question cannot be asked inside a JSON stream.")
			return cli.ExitError
		}
		if o.Parallelism < 1 {
			fmt.Fprintln(env.Stderr, "Error: -parallelism must be at least 1.")
			return cli.ExitError
		}
		o.Targets, o.LockTimeout = ts, *lt
		return env.Apply(ctx, g, o)
	})
}
