package main

import (
	"context"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("plan", "Show what apply would do and why", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "plan", "plan [options]", `
Compares the configuration with the state file and with what the servers and
storage hold now, and shows every backup, ship, verify, restore and prune that
is due, each with its reason, then each target's RPO.`)
		var o cli.PlanOptions
		var ts targets
		fs.StringVar(&o.Out, "out", "", "save the plan to `FILE` for drsctl apply FILE")
		fs.BoolVar(&o.JSON, "json", false, "print newline-delimited JSON messages")
		fs.BoolVar(&o.DetailedExitCode, "detailed-exitcode", false, "exit 2 when the configuration causes changes (a target to seed, a database no longer protected, backups a shorter retention deletes…), 0 when it causes none, even while routine backups are due")
		fs.StringVar(&o.BaseConfig, "base-config", "", "compare with the configuration in `PATH` (a pull request's base): what the base would plan too is routine")
		fs.BoolVar(&o.Refresh, "refresh", true, "ask the servers and storage first (-refresh=false plans from the state file alone)")
		fs.Var(&ts, "target", "plan only for this target or primary `NAME` (repeatable)")
		lt := lockTimeoutFlag(fs)
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if !noArgs(env, fs, pos) {
			return cli.ExitError
		}
		o.Targets, o.LockTimeout = ts, *lt
		return env.Plan(ctx, g, o)
	})
}
