package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("status", "Show RPO, backup and restore alerts and drills from the state", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "status", "status [-json] [-format prometheus] [-check]", `
From the state file alone (fast enough for monitoring; no server is asked):
when each primary database was last backed up, how far behind each target
database is (the newest backup restored on a standby, or shipped to a
copy-only target) against the primary's RPO, when it last received a backup
and its last restore drill. Alerts, like SQL Server log shipping's: no backup
within log_backup's alert_after (default 3 intervals), a backup waiting for a
target longer than its restore_alert_after (same default), no passing drill
within drill_alert_after (off by default). -check exits 2 on an RPO breach or
any alert.`)
		var o cli.StatusOptions
		fs.BoolVar(&o.JSON, "json", false, "print newline-delimited JSON")
		fs.StringVar(&o.Format, "format", "", "`prometheus` text exposition format")
		fs.BoolVar(&o.Check, "check", false, "exit 2 when any target breaches its RPO or any alert is raised")
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if !noArgs(env, fs, pos) {
			return cli.ExitError
		}
		if o.JSON && o.Format != "" {
			fmt.Fprintf(env.Stderr, "Error: -json and -format %s cannot be used together: choose one output.\n", o.Format)
			return cli.ExitError
		}
		return env.Status(ctx, g, o)
	})
}
