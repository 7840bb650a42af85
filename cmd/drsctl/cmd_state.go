package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("state", "Inspect the state (state list, show ADDR, pull), or bring a lost one back (state restore-backup, rebuild)", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "state", "state list | state show ADDR | state pull | state restore-backup | state rebuild", `
state list prints every address in the state (primaries' databases and their
artifacts, targets' databases). state show ADDR prints one of them as JSON,
e.g. drsctl state show 'target.dr_east.database["Sales"]'. state pull prints
the whole ledger as JSON (drsctl stores it as a compact snapshot and a
journal).

state restore-backup brings back a local ledger whose state file was
removed, from the .backup and journals beside it.

state rebuild writes a new state when it was lost, from what the servers
and storage hold: drsctl's backups in the backup folders (described by the
primaries' backup history or their headers), the copies at the
destinations (each read back and recorded only when it matches the backup
byte for byte), and the standbys (adopted only when their server's restore
history shows drsctl seeded them from one of its own full backups; any
other database is left alone and never restored over). It refuses when a
state exists: move that aside first. Every server and storage place must
answer; nothing is written otherwise. It reads every backup and every copy
once, to hash it: on a large estate that takes about as long as shipping
them all.`)
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		switch {
		case len(pos) == 1 && pos[0] == "list":
			return env.StateList(ctx, g)
		case len(pos) == 2 && pos[0] == "show":
			return env.StateShow(ctx, g, pos[1])
		case len(pos) == 1 && pos[0] == "pull":
			return env.StatePull(ctx, g)
		case len(pos) == 1 && pos[0] == "restore-backup":
			return env.StateRestoreBackup(ctx, g)
		case len(pos) == 1 && pos[0] == "rebuild":
			return env.StateRebuild(ctx, g)
		}
		if len(pos) > 0 {
			if s := nearest(pos[0], []string{"list", "show", "pull", "restore-backup", "rebuild"}); s != "" && s != pos[0] {
				fmt.Fprintf(env.Stderr, "Error: unknown state command %q. Did you mean %q?\n", pos[0], s)
				return cli.ExitError
			}
		}
		fmt.Fprintln(env.Stderr, "Error: use drsctl state list, state show ADDR, state pull, state restore-backup or state rebuild.")
		return cli.ExitError
	})
}
