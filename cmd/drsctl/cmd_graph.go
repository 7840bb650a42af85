package main

import (
	"context"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("graph", "Print the topology, or the plan's dependency graph (DOT)", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "graph", "graph [-plan [-refresh]]", `
Prints in Graphviz DOT, e.g. drsctl graph | dot -Tsvg > drs.svg, the topology
the configuration describes: primaries, backup folders, destinations and
targets, each target database with its RPO state from the state file (ok,
breach, unknown, promoted). It asks no server and works before the first
apply. With -plan it prints the plan's actions and their dependencies
instead, planned from the configuration and the state file alone; -refresh
asks the servers and storage first, as plan does.`)
		var o cli.GraphOptions
		fs.BoolVar(&o.Plan, "plan", false, "the plan's dependency graph instead of the topology")
		// Drawing the graph is no reason to connect to every database and
		// open every bucket (and, for S3, to resolve credentials): that is
		// opt-in, unlike plan's refresh.
		fs.BoolVar(&o.Refresh, "refresh", false, "with -plan: ask the servers and storage first, as plan does")
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if !noArgs(env, fs, pos) {
			return cli.ExitError
		}
		return env.Graph(ctx, g, o)
	})
}
