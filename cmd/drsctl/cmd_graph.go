package main

import (
	"context"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("graph", "Print the plan's dependency graph (DOT)", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "graph", "graph [-refresh=false]", `
Prints the actions of the current plan and their dependencies in Graphviz DOT,
e.g. drsctl graph | dot -Tsvg > plan.svg.`)
		refresh := fs.Bool("refresh", true, "ask the servers and storage first")
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
