package main

import (
	"context"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("fmt", "Rewrite configuration files in the canonical format", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "fmt", "fmt [-check] [-diff] [-recursive] [PATH…]", `
Rewrites configuration files in the canonical layout and lists the files it
changed. Each PATH is a file, or a directory whose *.drs.hcl files are
formatted; with -recursive, every directory under it too (hidden ones such
as .git excepted). Without PATH: the configuration (-chdir, -config, or the
current directory). With -check nothing is written and the exit code is 3
when a file needs formatting.`)
		var o cli.FmtOptions
		fs.BoolVar(&o.Check, "check", false, "only check; exit 3 if any file needs formatting")
		fs.BoolVar(&o.Diff, "diff", false, "show the changes as a unified diff")
		fs.BoolVar(&o.Recursive, "recursive", false, "also format the directories under each directory")
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		o.Paths = pos
		return env.Fmt(g, o)
	})
}
