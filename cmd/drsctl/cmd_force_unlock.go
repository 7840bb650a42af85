package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("force-unlock", "Remove a state lock left by a run that died", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "force-unlock", "force-unlock [ID]", `
Removes the state lock with this ID (shown when a plan or apply finds the
state locked). Only do this when no other drsctl is running: two applies at
once can record conflicting work. Without an ID, shows who holds the lock
and changes nothing. "drsctl force-unlock unreadable" removes a state lock
file that cannot be read (left empty or damaged by a crash), and only such
a file.`)
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if len(pos) == 0 {
			return env.ShowLock(ctx, g)
		}
		if len(pos) != 1 {
			fmt.Fprintln(env.Stderr, "Error: force-unlock takes one lock ID (none: show who holds the lock).")
			return cli.ExitError
		}
		return env.ForceUnlock(ctx, g, pos[0])
	})
}
