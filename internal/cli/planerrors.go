package cli

import (
	"fmt"
	"strings"

	"github.com/drsctl/drsctl/internal/plan"
)

// planErrors says on stderr which errors the plan reported, one line each
// with its first line of detail, and returns ExitError. The plan itself
// (stdout) already shows them in full, but cron mails only stderr when
// stdout goes to syslog, and a log that keeps the two apart would otherwise
// show a failed run with no reason: an unreachable primary must reach the
// operator at its first failed run, not when the backup alert fires.
func (e *Env) planErrors(p *plan.Plan, outcome string) int {
	var lines []string
	for _, pr := range p.Problems {
		if pr.Severity != plan.Error {
			continue
		}
		var where []string
		for _, kv := range [][2]string{{"primary", pr.Primary}, {"database", pr.Database}, {"target", pr.Target}} {
			if kv[1] != "" {
				where = append(where, fmt.Sprintf("%s %q", kv[0], kv[1]))
			}
		}
		l := pr.Summary
		if len(where) > 0 {
			l += " (" + strings.Join(where, ", ") + ")"
		}
		if d, _, _ := strings.Cut(strings.TrimSpace(pr.Detail), "\n"); d != "" {
			l += "\n    " + d
		}
		lines = append(lines, l)
	}
	fmt.Fprintf(e.Stderr, "Error: the plan reported %d %s; %s:\n", len(lines), plural(len(lines), "error", "errors"), outcome)
	for _, l := range lines {
		fmt.Fprintf(e.Stderr, "  %s\n", l)
	}
	return ExitError
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
