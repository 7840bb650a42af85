package cli

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// GraphOptions are graph's flags.
type GraphOptions struct {
	// Plan draws the plan's dependency graph instead of the topology.
	Plan bool
	// Refresh asks servers and storage before planning (with Plan only).
	Refresh bool
}

// Graph runs `drsctl graph`: the topology in DOT (primaries → backup
// folders → destinations → targets, each target database with its RPO
// state), or with -plan the plan's dependency graph.
func (e *Env) Graph(ctx context.Context, g Globals, o GraphOptions) int {
	if o.Refresh && !o.Plan {
		return e.errorf("graph -refresh: the topology is drawn from the configuration and the state alone; -refresh applies to graph -plan")
	}
	cfg, st, code := e.configAndState(ctx, g)
	if st == nil {
		return code
	}
	if !o.Plan {
		writeTopology(e.Stdout, cfg, st, plan.Make(cfg, st, nil, e.now(), plan.Options{}))
		return ExitOK
	}
	p, err := e.makePlan(ctx, cfg, st, o.Refresh, nil)
	if err != nil {
		return e.errorf("%v", err)
	}
	writePlanGraph(e.Stdout, p)
	return ExitOK
}

// writePlanGraph draws the plan's actions, each labelled with what it does
// and where ("ship (new full backup)" over "sales/Sales → east"), and their
// dependencies. Names are quoted as DOT strings (not Go's %q, whose \u and
// \x escapes DOT does not know).
func writePlanGraph(w io.Writer, p *plan.Plan) {
	fmt.Fprintln(w, "digraph drsctl {\n  rankdir = LR;\n  node [shape = box];")
	for _, a := range p.Actions {
		where := a.Primary + "/" + a.Database
		if a.Target != "" {
			where += " → " + a.Target
		}
		fmt.Fprintf(w, "  %s [label = %s];\n", dotLabel(a.ID), dotLabel(a.Verb(), where))
	}
	for _, a := range p.Actions {
		for _, d := range a.DependsOn {
			fmt.Fprintf(w, "  %s -> %s;\n", dotLabel(d), dotLabel(a.ID))
		}
	}
	fmt.Fprintln(w, "}")
}

// dotEscaper quotes text inside a DOT string: a backslash would otherwise
// start a label escape (\n, \l, \N) and a quote end the string.
var dotEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`)

// dotLabel quotes lines as one DOT string, one line each.
func dotLabel(lines ...string) string {
	for i, l := range lines {
		lines[i] = dotEscaper.Replace(l)
	}
	return `"` + strings.Join(lines, `\n`) + `"`
}

// displayURL is a URL fit for a picture: no user, no query (where
// credentials or their variables' names could be), no fragment.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return "(url not shown)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	return u.String()
}

// rpoState is a target database's RPO state from the ledger: ok, breach,
// unknown (the ledger cannot tell) or promoted.
func rpoState(p *plan.Plan, st *state.State, t *config.Target, db string) (state, detail string) {
	if led := st.LookupTargetDatabase(t.Name, db); led != nil && led.PromotedAt != nil {
		return "promoted", led.PromotedAt.UTC().Format("2006-01-02 15:04Z")
	}
	for _, r := range p.RPO {
		if r.Target != t.Name || r.Database != db {
			continue
		}
		switch {
		case r.Unknown != "":
			return "unknown", r.Unknown
		case r.Through.IsZero():
			return "breach", "nothing yet"
		case r.Breach:
			return "breach", plan.FormatDuration(r.Lag) + " behind"
		}
		return "ok", plan.FormatDuration(r.Lag) + " behind"
	}
	return "unknown", "not measured"
}

// stateColor ranks and colours RPO states; a target node takes its worst.
var stateColor = map[string]struct {
	rank  int
	color string
}{"ok": {0, "darkgreen"}, "promoted": {1, "blue"}, "unknown": {2, "orange"}, "breach": {3, "red"}}

// writeTopology draws what the configuration describes, asking no server:
// it works before the first apply, with an empty ledger.
func writeTopology(w io.Writer, cfg *config.Config, st *state.State, p *plan.Plan) {
	fmt.Fprintln(w, "digraph drsctl {\n  rankdir = LR;\n  node [shape = box];")
	for _, f := range cfg.BackupFolders {
		fmt.Fprintf(w, "  %s [shape = folder, label = %s];\n", dotLabel("backup_folder."+f.Name), dotLabel("backup_folder "+f.Name, displayURL(f.URL)))
	}
	for _, pr := range cfg.Primaries {
		fmt.Fprintf(w, "  %s [label = %s];\n", dotLabel("primary."+pr.Name), dotLabel(
			fmt.Sprintf("primary %s (%s)", pr.Name, pr.Engine), strings.Join(pr.Databases, ", "),
			fmt.Sprintf("full every %s, log every %s, rpo %s", plan.FormatDuration(pr.FullBackup.Every), plan.FormatDuration(pr.LogBackup.Every), plan.FormatDuration(pr.RPO))))
		if pr.Folder != nil {
			fmt.Fprintf(w, "  %s -> %s [label = \"backups\"];\n", dotLabel("primary."+pr.Name), dotLabel("backup_folder."+pr.Folder.Name))
		}
	}
	for _, t := range cfg.Targets {
		dest, node := dotLabel("target."+t.Name+".destination"), dotLabel("target."+t.Name)
		fmt.Fprintf(w, "  %s [shape = folder, label = %s];\n", dest, dotLabel("destination of "+t.Name, displayURL(t.Destination.URL)))
		kind := string(t.Kind)
		if t.Restores() {
			kind = "standby, " + string(t.RestoreMode)
			if t.RestoreDelay > 0 {
				kind += ", delay " + plan.FormatDuration(t.RestoreDelay)
			}
		}
		lines := []string{fmt.Sprintf("target %s (%s)", t.Name, kind)}
		worst := "ok"
		for _, db := range t.DatabaseNames() {
			s, detail := rpoState(p, st, t, db)
			lines = append(lines, fmt.Sprintf("%s: %s (%s)", db, s, detail))
			if stateColor[s].rank > stateColor[worst].rank {
				worst = s
			}
		}
		fmt.Fprintf(w, "  %s [label = %s, color = %s];\n", node, dotLabel(lines...), stateColor[worst].color)
		if t.Primary != nil && t.Primary.Folder != nil {
			fmt.Fprintf(w, "  %s -> %s [label = \"ship\"];\n", dotLabel("backup_folder."+t.Primary.Folder.Name), dest)
		}
		verb := "restore"
		if !t.Restores() {
			verb = "keeps"
		}
		fmt.Fprintf(w, "  %s -> %s [label = %q];\n", dest, node, verb)
	}
	fmt.Fprintln(w, "}")
}
