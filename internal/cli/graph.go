package cli

import (
	"context"
	"fmt"
)

// Graph runs `drsctl graph`: the plan's dependency graph in DOT.
func (e *Env) Graph(ctx context.Context, g Globals, refresh bool) int {
	cfg, st, code := e.configAndState(ctx, g)
	if st == nil {
		return code
	}
	p, err := e.makePlan(ctx, cfg, st, refresh, nil)
	if err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintln(e.Stdout, "digraph drsctl {\n  rankdir = LR;\n  node [shape = box];")
	for _, a := range p.Actions {
		fmt.Fprintf(e.Stdout, "  %q [label = %q];\n", a.ID, a.Target+" "+a.Verb())
	}
	for _, a := range p.Actions {
		for _, d := range a.DependsOn {
			fmt.Fprintf(e.Stdout, "  %q -> %q;\n", d, a.ID)
		}
	}
	fmt.Fprintln(e.Stdout, "}")
	return ExitOK
}
