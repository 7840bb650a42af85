package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("version", "Print the version", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "version", "version", "Prints drsctl's version and the engines it supports.")
		if _, code, ok := parse(env, &g, fs, args); !ok {
			return code
		}
		fmt.Fprintf(env.Stdout, "drsctl %s (%s, %s/%s)\nengines: %v\n", env.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH, env.Engines.Names())
		return cli.ExitOK
	})
}
