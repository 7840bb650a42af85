package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("wal-fetch", "Hand a PostgreSQL standby a shipped WAL segment (its restore_command)", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "wal-fetch", "wal-fetch -dir DIR FILE DEST", `
PostgreSQL runs this as a drsctl standby's restore_command, set up when
drsctl seeds the standby; operators do not run it. It copies the WAL file
FILE (%f) from DIR, where drsctl puts the segments it restores, to DEST
(%p). Exit codes: 0 copied; 1 not there yet (the standby waits and asks
again; drsctl's next restore brings it); 2 an error, said on stderr and in
the standby's log.`)
		dir := fs.String("dir", "", "the standby's WAL inbox, beside its data directory")
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if *dir == "" || len(pos) != 2 {
			fmt.Fprintf(env.Stderr, "Error: wal-fetch needs -dir DIR and two arguments, FILE and DEST (restore_command's %%f and %%p).\n")
			return cli.ExitWALError
		}
		return env.WALFetch(*dir, pos[0], pos[1])
	})
}
