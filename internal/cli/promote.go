package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/observe"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// PromoteOptions are promote's flags.
type PromoteOptions struct {
	Target          string
	Databases       []string
	Planned         bool
	DisconnectUsers bool
	AutoApprove     bool
	LockTimeout     time.Duration
}

// Promote runs `drsctl promote TARGET`: a failover (restore every backup
// the target can still get, then recover) or, with Planned, a switchover
// (tail-log backup on the primary first: nothing is lost). It shows the
// plan and asks before doing anything.
func (e *Env) Promote(ctx context.Context, g Globals, o PromoteOptions) int {
	cfg, ok := e.loadConfig(g)
	if !ok {
		return ExitError
	}
	t, dbs, err := standbySelection(cfg, "promote", o.Target, o.Databases)
	if err != nil {
		return e.errorf("%v", err)
	}
	m, st, release, err := e.lockedState(ctx, cfg, g, "promote", o.LockTimeout)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer release()
	obs := observe.Refresh(ctx, cfg, st, observe.Options{Engines: e.Engines, Targets: []string{t.Name}, Now: e.now})
	if err := ctx.Err(); err != nil {
		return e.errorf("refresh interrupted: %v", err)
	}
	p := plan.Make(cfg, st, obs, e.now(), plan.Options{ConfigDigest: configDigest(cfg),
		Promote: &plan.PromoteRequest{Target: t.Name, Databases: dbs, Planned: o.Planned, Disconnect: o.DisconnectUsers}})
	if err := plan.WriteHuman(e.Stdout, p, e.style(g)); err != nil {
		return e.errorf("write plan: %v", err)
	}
	promotes := 0
	for _, a := range p.Actions {
		if a.Kind == plan.Promote {
			promotes++
		}
	}
	if promotes == 0 {
		if p.HasErrors() {
			return e.errorf("nothing can be promoted on target %q (see the problems above)", t.Name)
		}
		e.alreadyPromoted(st, t.Name, dbs)
		return ExitOK
	}
	kind := "failover"
	if o.Planned {
		kind = "switchover"
	}
	if !o.AutoApprove {
		if !e.Terminal {
			return e.errorf("promote (%s to %q) ends log shipping for %s and cannot be undone without reseeding.\nRun it again with -auto-approve to proceed.", kind, t.Name, strings.Join(dbs, ", "))
		}
		fmt.Fprintf(e.Stdout, "\nPromote %d database(s) on %q (%s)? Their log shipping ends; this cannot be undone without reseeding.\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ", promotes, t.Name, kind)
		line, _ := bufio.NewReader(e.Stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			fmt.Fprintln(e.Stdout, "\nPromote cancelled.")
			return ExitError
		}
	}
	code := e.execute(ctx, cfg, m, st, p, 1, false)
	e.promoted(st, p)
	if code == ExitOK && p.HasErrors() {
		return e.errorf("some databases could not be promoted (see the problems above); the rest were")
	}
	return code
}

// promoted says, per database, where each promoted database stands and
// what the failover lost: the RPO actually achieved.
func (e *Env) promoted(st *state.State, p *plan.Plan) {
	any := false
	for _, a := range p.Actions {
		if a.Kind != plan.Promote {
			continue
		}
		td := st.LookupTargetDatabase(a.Target, a.Database)
		if td == nil || td.PromotedAt == nil {
			if a.Mode == plan.PromotePlanned {
				fmt.Fprintf(e.Stdout, promotedWords[a.Engine].notSwitched, a.Database, a.Target, a.Target, a.Database)
				continue
			}
			fmt.Fprintf(e.Stdout, "%s on %s: NOT promoted (see the errors above). Fix what failed and run `drsctl promote %s -database %s` again: it goes on from where the target stands. A copy found damaged or missing is left out: the failover then stops before it, says so, and recovers there.\n",
				a.Database, a.Target, a.Target, a.Database)
			continue
		}
		any = true
		var through *state.Artifact
		if db := st.LookupDatabase(a.Primary, a.Database); db != nil && td.Restored != nil {
			through = db.Artifact(td.Restored.Artifact)
		}
		switch {
		case td.PromotedHow == plan.PromotePlanned:
			fmt.Fprintf(e.Stdout, promotedWords[a.Engine].switched, a.Database, a.Target, plan.LSNText(a.Engine, td.PromotedLSN))
		case through != nil:
			fin := through.Finish
			fmt.Fprintf(e.Stdout, "%s on %s: promoted (%s) at LSN %s, restored through %s (finished %s). RPO achieved: %s; what the primary wrote after that is not on the target.\n",
				a.Database, a.Target, td.PromotedHow, plan.LSNText(a.Engine, td.PromotedLSN), through.ID, fin.UTC().Format(time.RFC3339), plan.FormatDuration(td.PromotedAt.Sub(fin)))
		default:
			fmt.Fprintf(e.Stdout, "%s on %s: promoted (%s) at LSN %s.\n", a.Database, a.Target, td.PromotedHow, plan.LSNText(a.Engine, td.PromotedLSN))
		}
	}
	if !any {
		return
	}
	fmt.Fprintln(e.Stdout, "\nNext: point applications at the target. To protect the new primary, reverse the roles in the configuration (the old primary becomes a target, seeded from the new one).")
}

// promotedWords is what promote says after a switchover, by the primary's
// engine (an action's Engine; "" is SQL Server): where the old primary is
// left, and how to go on when the switchover failed. Each takes the
// database and the target; switched then the LSN, notSwitched the target
// and the database again.
var promotedWords = map[string]struct{ switched, notSwitched string }{
	"": {
		switched:    "%s on %s: promoted (switchover) at LSN %s after the tail-log backup; nothing written on the primary was lost. The primary database is left RESTORING.\n",
		notSwitched: "%s on %s: NOT promoted (see the errors above). Fix what failed and run `drsctl promote %s -database %s -planned` again. If the tail-log backup was taken already (the primary database is RESTORING now), run it without -planned: it restores that tail too, and nothing is lost.\n",
	},
	config.EnginePostgres: {
		switched:    "%s on %s: promoted (switchover) at LSN %s after the primary's final WAL backup; nothing written on the primary was lost. The primary is left read-only (default_transaction_read_only); stop it or make it a standby.\n",
		notSwitched: "%s on %s: NOT promoted (see the errors above). Fix what failed and run `drsctl promote %s -database %s -planned` again. The primary may have been left read-only (default_transaction_read_only): nothing can be written to it meanwhile, and the switchover run again takes its final WAL from it. To give up the switchover instead, make it writable (ALTER SYSTEM RESET default_transaction_read_only; SELECT pg_reload_conf();).\n",
	},
}

// standbySelection checks the standby target and the databases a promote,
// reprotect or drill names (all the target's when none is named).
func standbySelection(cfg *config.Config, verb, target string, databases []string) (*config.Target, []string, error) {
	t := cfg.TargetByName(target)
	if t == nil {
		return nil, nil, fmt.Errorf("%s: no target %q in the configuration", verb, target)
	}
	if !t.Restores() {
		return nil, nil, fmt.Errorf("%s: target %q is copy_only: it has no server that restores", verb, t.Name)
	}
	dbs := databases
	if len(dbs) == 0 {
		dbs = t.DatabaseNames()
	}
	for _, db := range dbs {
		found := false
		for _, n := range t.DatabaseNames() {
			found = found || n == db
		}
		if !found {
			return nil, nil, fmt.Errorf("%s: target %q does not protect database %q", verb, t.Name, db)
		}
	}
	return t, dbs, nil
}

// ReprotectOptions are reprotect's flags.
type ReprotectOptions struct {
	Target      string
	Databases   []string
	AutoApprove bool
	LockTimeout time.Duration
}

// Reprotect runs `drsctl reprotect TARGET`: it allows the next apply to
// replace a promoted (or failed-over-by-hand) database on the target with a
// new seed. It changes nothing on any server itself.
func (e *Env) Reprotect(ctx context.Context, g Globals, o ReprotectOptions) int {
	cfg, ok := e.loadConfig(g)
	if !ok {
		return ExitError
	}
	t, dbs, err := standbySelection(cfg, "reprotect", o.Target, o.Databases)
	if err != nil {
		return e.errorf("%v", err)
	}
	if !o.AutoApprove {
		how := "restore WITH REPLACE over %s on %q"
		if t.Primary.Engine == config.EnginePostgres {
			how = "build a new standby over %s on %q (its data directory is replaced)"
		}
		return e.errorf("reprotect lets the next apply "+how+": what was written there since the promotion is lost.\nRun it again with -auto-approve to proceed.", strings.Join(dbs, ", "), t.Name)
	}
	m, st, release, err := e.lockedState(ctx, cfg, g, "reprotect", o.LockTimeout)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer release()
	now := e.now().UTC()
	for _, db := range dbs {
		td := st.LookupTargetDatabase(t.Name, db)
		if td == nil || (td.SeededFrom == "" && td.Seeding == "" && td.PromotedAt == nil) {
			return e.errorf("reprotect: drsctl never seeded %q on target %q, and it never restores over a database it did not seed. Drop it on the target instead; the next apply seeds it", db, t.Name)
		}
	}
	if st.Lineage == "" {
		st.Lineage = state.NewLineage()
	}
	st.Track() // the write records only these databases
	for _, db := range dbs {
		st.TargetDatabase(t.Name, db).ReprotectAt = &now
	}
	if err := m.Write(ctx, st); err != nil {
		return e.errorf("%v", err)
	}
	for _, db := range dbs {
		fmt.Fprintf(e.Stdout, "%s on %s: the next apply replaces it with a new seed (if it is still promoted or online there).\n", db, t.Name)
	}
	return ExitOK
}

// verbOf names what execute ran, for its summary: "Promote complete: …"
// after a promote, "Apply complete: …" otherwise.
func verbOf(p *plan.Plan) string {
	for _, a := range p.Actions {
		if a.Kind == plan.Promote {
			return "Promote"
		}
	}
	return "Apply"
}

// alreadyPromoted ends a promote that had nothing to do: every database
// asked for was promoted before and still stands on the target.
func (e *Env) alreadyPromoted(st *state.State, target string, dbs []string) {
	fmt.Fprintln(e.Stdout)
	for _, db := range dbs {
		if td := st.LookupTargetDatabase(target, db); td != nil && td.PromotedAt != nil {
			fmt.Fprintf(e.Stdout, "%s on %s: %s.\n", db, target, plan.AlreadyPromoted(*td.PromotedAt))
		}
	}
}
