package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("promote", "Bring a standby online: failover, or switchover with -planned", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "promote", "promote TARGET [-database DB]… [-planned [-disconnect-users]] [-auto-approve]", `
Failover (default): restores every backup the target can still get — copies
at its destination, and the backup folder if it answers — ignoring
restore_delay, then recovers the databases (RESTORE … WITH RECOVERY). The
primary may be gone; what it wrote after the last backup restored is lost,
and promote prints how much (the RPO achieved).

Switchover (-planned): the primary first takes a tail-log backup WITH
NORECOVERY (its database is left RESTORING, so nobody writes to it any
more); it is shipped, verified and restored, then the target is recovered.
Nothing is lost.

A database already online on the target (failed over by hand) is recorded
as promoted. Promote shows what it will do and asks for confirmation.`)
		var dbs targets
		fs.Var(&dbs, "database", "promote only this database `DB` (repeatable)")
		planned := fs.Bool("planned", false, "switchover: take a tail-log backup on the primary first, lose nothing")
		disconnect := fs.Bool("disconnect-users", false, "with -planned: end the sessions using the primary database before the tail-log backup")
		auto := fs.Bool("auto-approve", false, "do not ask (promotion cannot be undone without reseeding)")
		lt := lockTimeoutFlag(fs)
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if len(pos) != 1 {
			fmt.Fprintln(env.Stderr, "Error: promote takes the target's name.")
			return cli.ExitError
		}
		if *disconnect && !*planned {
			fmt.Fprintln(env.Stderr, "Error: -disconnect-users is for -planned (the tail-log backup on the primary); the target's disconnect_users decides for the target.")
			return cli.ExitError
		}
		return env.Promote(ctx, g, cli.PromoteOptions{Target: pos[0], Databases: dbs, Planned: *planned, DisconnectUsers: *disconnect, AutoApprove: *auto, LockTimeout: *lt})
	})
}
