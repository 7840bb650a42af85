package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/plan"
)

// StatusOptions are status's flags.
type StatusOptions struct {
	JSON   bool
	Format string // "" (human) or "prometheus"
	Check  bool
}

// Status runs `drsctl status`: RPO per target database from the ledger
// (fast, no servers asked), for people, monitoring and alerting.
func (e *Env) Status(ctx context.Context, g Globals, o StatusOptions) int {
	cfg, st, code := e.configAndState(ctx, g)
	if st == nil {
		return code
	}
	p := plan.Make(cfg, st, nil, e.now(), plan.Options{})
	breach := false
	for _, r := range p.RPO {
		breach = breach || r.Breach
	}
	switch {
	case o.Format == "prometheus":
		writePrometheus(e, p.RPO)
	case o.Format != "":
		return e.errorf("-format %q: the only format is prometheus", o.Format)
	case o.JSON:
		enc := json.NewEncoder(e.Stdout)
		for _, r := range p.RPO {
			m := plan.NewMessage("info", "rpo", fmt.Sprintf("%s/%s", r.Target, r.Database), e.now())
			m["rpo"] = map[string]any{"target": r.Target, "primary": r.Primary, "database": r.Database, "through": r.Through,
				"artifact": r.Artifact, "lag_seconds": int64(r.Lag / time.Second), "limit_seconds": int64(r.Limit / time.Second), "breach": r.Breach}
			enc.Encode(m)
		}
	default:
		if len(p.RPO) == 0 {
			fmt.Fprintln(e.Stdout, "No targets are configured.")
		}
		fmt.Fprintf(e.Stdout, "%-16s %-20s %-8s %-10s %-7s %s\n", "TARGET", "DATABASE", "RPO", "LAG", "STATUS", "THROUGH")
		for _, r := range p.RPO {
			status, lag, through := "ok", plan.FormatDuration(r.Lag), r.Artifact
			if r.Breach {
				status = "BREACH"
			}
			if r.Through.IsZero() {
				lag, through = "-", "nothing yet"
			}
			fmt.Fprintf(e.Stdout, "%-16s %-20s %-8s %-10s %-7s %s\n", r.Target, r.Database, plan.FormatDuration(r.Limit), lag, status, through)
		}
	}
	if o.Check && breach {
		return ExitChanges
	}
	return ExitOK
}

func writePrometheus(e *Env, rows []plan.RPOStatus) {
	esc := func(s string) string {
		return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
	}
	metric := func(name, help string, val func(plan.RPOStatus) float64) {
		fmt.Fprintf(e.Stdout, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for _, r := range rows {
			fmt.Fprintf(e.Stdout, "%s{target=\"%s\",primary=\"%s\",database=\"%s\"} %g\n", name, esc(r.Target), esc(r.Primary), esc(r.Database), val(r))
		}
	}
	metric("drsctl_rpo_lag_seconds", "Seconds since the finish of the newest backup restored (standby) or shipped (copy_only); -1 when none.", func(r plan.RPOStatus) float64 {
		if r.Through.IsZero() {
			return -1
		}
		return r.Lag.Seconds()
	})
	metric("drsctl_rpo_limit_seconds", "The configured RPO.", func(r plan.RPOStatus) float64 { return r.Limit.Seconds() })
	metric("drsctl_rpo_breach", "1 when the lag exceeds the RPO.", func(r plan.RPOStatus) float64 {
		if r.Breach {
			return 1
		}
		return 0
	})
}
