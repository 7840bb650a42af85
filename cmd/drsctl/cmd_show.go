package main

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("show", "Show a saved plan, or the state", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "show", "show [FILE] [-json]", `
Shows a plan saved with drsctl plan -out FILE, or without FILE the state: its
lineage, serial and every address in it.`)
		jsonOut := fs.Bool("json", false, "print JSON")
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if len(pos) > 1 {
			fmt.Fprintf(env.Stderr, "Error: show takes at most one plan file, got %q.\n", pos)
			return cli.ExitError
		}
		file := ""
		if len(pos) == 1 {
			file = pos[0]
		}
		return env.Show(ctx, g, file, *jsonOut)
	})
}
