package main

import (
	"context"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("graph", "Print the plan's dependency graph (DOT)", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "graph", "graph [-refresh]", `
Prints the actions of the plan and their dependencies in Graphviz DOT,
e.g. drsctl graph | dot -Tsvg > plan.svg. It plans from the configuration and
the state file alone, touching no server or storage; -refresh asks them first,
as plan does.`)
		// Drawing the graph is no reason to connect to every database and
		// open every bucket (and, for S3, to resolve credentials): that is
		// opt-in, unlike plan's refresh.
		refresh := fs.Bool("refresh", false, "ask the servers and storage first, as plan does")
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if !noArgs(env, fs, pos) {
			return cli.ExitError
		}
		return env.Graph(ctx, g, *refresh)
	})
}
