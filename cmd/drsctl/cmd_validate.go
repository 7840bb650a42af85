package main

import (
	"context"

	"github.com/drsctl/drsctl/internal/cli"
)

func init() {
	register("validate", "Check the configuration (no secrets or servers needed)", func(ctx context.Context, env *cli.Env, g cli.Globals, args []string) int {
		fs := newFlags(env, &g, "validate", "validate [-json]", `
Checks the configuration's syntax and meaning: references, durations, URLs,
databases. Every problem is reported at once, with file:line. Environment
variables used for secrets need not be set.`)
		jsonOut := fs.Bool("json", false, "print the result as JSON (Terraform's validate -json shape)")
		pos, code, ok := parse(env, &g, fs, args)
		if !ok {
			return code
		}
		if !noArgs(env, fs, pos) {
			return cli.ExitError
		}
		return env.Validate(g, *jsonOut)
	})
}
