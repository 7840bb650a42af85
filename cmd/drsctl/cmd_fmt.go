package main

import (
	"context"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("fmt", "Rewrite configuration files in the canonical format", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "fmt", "fmt [-check] [-diff]", `
Rewrites *.drs.hcl files in the canonical layout and lists the files it
changed. With -check nothing is written and the exit code is 3 when a file
needs formatting.`)
		check := fs.Bool("check", false, "only check; exit 3 if any file needs formatting")
		diff := fs.Bool("diff", false, "show the changes as a unified diff")
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if !noArgs(env, fs, pos) {
			return cli.ExitError
		}
		return env.Fmt(g, *check, *diff)
	})
}
