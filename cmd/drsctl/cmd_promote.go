package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("promote", "Bring a standby online (failover)", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "promote", "promote TARGET [-database DB]… -auto-approve", `
Recovers the target's databases (RESTORE … WITH RECOVERY): they become
writable and drsctl restores nothing more onto them. Run drsctl apply first
to restore everything already shipped.`)
		var dbs targets
		fs.Var(&dbs, "database", "promote only this database `DB` (repeatable)")
		auto := fs.Bool("auto-approve", false, "do it (promotion cannot be undone without reseeding)")
		lt := lockTimeoutFlag(fs)
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if len(pos) != 1 {
			fmt.Fprintln(env.Stderr, "Error: promote takes the target's name.")
			return cli.ExitError
		}
		return env.Promote(ctx, g, cli.PromoteOptions{Target: pos[0], Databases: dbs, AutoApprove: *auto, LockTimeout: *lt})
	})
}
