package main

import (
	"context"
	"fmt"
	"time"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("drill", "Prove a target's backups restore: restore, check and drop a scratch copy", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "drill", "drill TARGET [-database DB]… [-at TIME] [-json]", `
Restores the newest chain of verified copies at the target's destination
(or, with -at, the chain up to that point in time, the last log WITH STOPAT)
into a scratch database on the target's server WITH RECOVERY, checks it
(DBCC CHECKDB on SQL Server), drops it and records the result and its
duration in the state. The standby database itself is not touched. Exits 1
when a drill fails.`)
		var dbs targets
		fs.Var(&dbs, "database", "drill only this database `DB` (repeatable)")
		at := fs.String("at", "", "restore to this point in `TIME` (RFC 3339, or 2006-01-02T15:04:05 in UTC)")
		jsonOut := fs.Bool("json", false, "print one JSON object per database")
		lt := lockTimeoutFlag(fs)
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if len(pos) != 1 {
			fmt.Fprintln(env.Stderr, "Error: drill takes the target's name.")
			return cli.ExitError
		}
		var stop time.Time
		if *at != "" {
			var err error
			if stop, err = parseAt(*at); err != nil {
				fmt.Fprintf(env.Stderr, "Error: -at %q: %v\n", *at, err)
				return cli.ExitError
			}
		}
		return env.Drill(ctx, g, cli.DrillOptions{Target: pos[0], Databases: dbs, At: stop, JSON: *jsonOut, LockTimeout: *lt})
	})
}

// parseAt reads -at: RFC 3339 with a zone, or a bare date and time in UTC.
func parseAt(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("use RFC 3339 (2026-12-03T03:45:00Z) or 2026-12-03T03:45:00 in UTC")
}
