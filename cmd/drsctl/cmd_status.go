package main

import (
	"context"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("status", "Show each target's RPO from the state", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "status", "status [-json] [-format prometheus] [-check]", `
Shows how far behind each target database is (the newest backup restored on a
standby, or shipped to a copy-only target) against the primary's RPO, from the
state file alone: fast enough for monitoring. -check exits 2 on a breach.`)
		var o cli.StatusOptions
		fs.BoolVar(&o.JSON, "json", false, "print newline-delimited JSON")
		fs.StringVar(&o.Format, "format", "", "`prometheus` text exposition format")
		fs.BoolVar(&o.Check, "check", false, "exit 2 when any target breaches its RPO")
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if !noArgs(env, fs, pos) {
			return cli.ExitError
		}
		return env.Status(ctx, g, o)
	})
}
