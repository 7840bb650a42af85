package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("state", "Inspect the state: state list, state show ADDR, state pull, state restore-backup", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "state", "state list | state show ADDR | state pull | state restore-backup", `
state list prints every address in the state (primaries' databases and their
artifacts, targets' databases). state show ADDR prints one of them as JSON,
e.g. drsctl state show 'target.dr_east.database["Sales"]'. state pull prints
the whole ledger as JSON (drsctl stores it as a compact snapshot and a
journal). state restore-backup brings back a local ledger whose state file
was removed, from the .backup and journals beside it.`)
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
		}
		fmt.Fprintln(env.Stderr, "Error: use drsctl state list, state show ADDR, state pull or state restore-backup.")
		return cli.ExitError
	})
}
