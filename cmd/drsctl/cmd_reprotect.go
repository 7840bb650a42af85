package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("reprotect", "Let the next apply replace a promoted database with a new seed", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "reprotect", "reprotect TARGET [-database DB]… -auto-approve", `
After a failover, a promoted database that is still online on the target is
left alone: it may be serving applications. reprotect records that the
operator wants it protected again: the next apply restores a new seed WITH
REPLACE over it (what was written there is lost). A promoted database that
was dropped on the target needs no reprotect: it is seeded again anyway.
Nothing is changed on any server by this command.`)
		var dbs targets
		fs.Var(&dbs, "database", "only this database `DB` (repeatable)")
		auto := fs.Bool("auto-approve", false, "confirm: the database on the target will be replaced")
		lt := lockTimeoutFlag(fs)
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if len(pos) != 1 {
			fmt.Fprintln(env.Stderr, "Error: reprotect takes the target's name.")
			return cli.ExitError
		}
		return env.Reprotect(ctx, g, cli.ReprotectOptions{Target: pos[0], Databases: dbs, AutoApprove: *auto, LockTimeout: *lt})
	})
}
