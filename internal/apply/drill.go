package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// DrillOptions say what to drill.
type DrillOptions struct {
	Target   string
	Database string
	// At, when set, restores to that point in time (STOPAT) instead of the
	// newest backup the destination holds.
	At time.Time
	// Progress, when set, hears each step ("verify …", "restore …").
	Progress func(step string)
}

// DrillOutcome is what one drill did. Drill is what was written to the
// ledger (nil when the drill could not start: nothing was recorded).
type DrillOutcome struct {
	Target, Database string
	// Scratch is the scratch database's name on the target's server.
	Scratch string
	// Backups are the artifact IDs restored (or to be restored), full first.
	Backups []string
	Drill   *state.Drill
	// Left is set when the scratch database could not be dropped.
	Left bool
	// Gap, when set, says why newer copies at the destination were out of
	// the drill's reach.
	Gap string
}

// scratchPrefix begins every drill's scratch database name.
const scratchPrefix = "drsctl_drill_"

// ScratchName is the scratch database a drill of database at now restores
// into: drsctl_drill_<database>_<UTC time>, the database's name cut to
// letters, digits and '_' (at most 64 of them), so it is a plain
// identifier and its files' names stay short. The engine refuses it if it
// exists on the server.
func ScratchName(database string, now time.Time) string {
	var b strings.Builder
	for _, r := range database {
		if b.Len() >= 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return scratchPrefix + b.String() + "_" + now.UTC().Format("20060102T150405Z")
}

// Drill restores the newest chain the target's destination holds for one
// database (or the chain up to a point in time) into a scratch database on
// the target's server, recovers and checks it, drops it, and records the
// result in the ledger (st, under the caller's lock). The standby database
// itself is never touched. Every copy is read again and compared with its
// SHA-256 before the server restores it; a damaged one fails the drill and
// is dropped from the ledger, so the next apply ships it again.
//
// The error is nil only when the drill passed; a failed drill is recorded
// too (DrillOutcome.Drill says how), its error redacted.
func (r *Runner) Drill(ctx context.Context, st *state.State, o DrillOptions) (*DrillOutcome, error) {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Reporter == nil {
		r.Reporter = discard{}
	}
	if !st.Tracked() {
		st.Track()
	}
	x := &execution{r: r, st: st, plan: &plan.Plan{}, produced: map[string]string{}, sessions: map[string]*sessionEntry{},
		buckets: newBuckets(), byID: map[string]*plan.Action{}}
	defer x.close()
	out := &DrillOutcome{Target: o.Target, Database: o.Database}
	t, err := x.drillTarget(o)
	if err != nil {
		return out, err
	}
	start := r.Now().UTC()
	x.mu.Lock()
	chain, err := plan.Drill(st.LookupDatabase(t.Primary.Name, o.Database), st.LookupTargetDatabase(t.Name, o.Database), o.At, start)
	x.mu.Unlock()
	if err != nil {
		return out, fmt.Errorf("drill %q on target %q: %w", o.Database, t.Name, err)
	}
	out.Scratch, out.Gap = ScratchName(o.Database, start), chain.Gap
	for _, a := range chain.Backups {
		out.Backups = append(out.Backups, a.ID)
	}
	if protected(r.Config, out.Scratch) {
		return out, fmt.Errorf("drill %q on target %q: the scratch name %s is a database the configuration protects; nothing was restored", o.Database, t.Name, out.Scratch)
	}
	step := func(s string) {
		if o.Progress != nil {
			o.Progress(s)
		}
	}
	res, derr := x.drill(ctx, t, o, chain, out.Scratch, step)
	out.Left = res.Left
	derr = x.redact(derr)
	d := &state.Drill{At: start, Duration: r.Now().UTC().Sub(start), Artifact: chain.Last().ID, Through: chain.Through,
		StopAt: chain.StopAt, OK: derr == nil, Check: res.Check}
	if derr != nil {
		d.Error = derr.Error()
	}
	out.Drill = d
	if cerr := x.commit(ctx, func(st *state.State) error {
		td := st.TargetDatabase(t.Name, o.Database)
		rec := *d
		td.LastDrill = &rec
		if d.OK {
			at := d.At
			td.DrillOKAt = &at
		}
		return nil
	}); cerr != nil {
		return out, errors.Join(derr, cerr)
	}
	return out, derr
}

// drillTarget checks that the target exists, restores (has a server) and
// protects the database.
func (x *execution) drillTarget(o DrillOptions) (*config.Target, error) {
	t := x.r.Config.TargetByName(o.Target)
	switch {
	case t == nil:
		return nil, fmt.Errorf("drill: no target %q in the configuration", o.Target)
	case !t.Restores():
		return nil, fmt.Errorf("drill: target %q is copy_only: it has no server to restore a drill on", t.Name)
	}
	for _, n := range t.DatabaseNames() {
		if n == o.Database {
			return t, nil
		}
	}
	return nil, fmt.Errorf("drill: target %q does not protect database %q", t.Name, o.Database)
}

// protected reports whether name is a database some primary of the
// configuration has (compared as SQL Server compares names: ignoring case).
func protected(cfg *config.Config, name string) bool {
	for _, p := range cfg.Primaries {
		for _, db := range p.Databases {
			if strings.EqualFold(db, name) {
				return true
			}
		}
	}
	for _, t := range cfg.Targets {
		for _, db := range t.DatabaseNames() {
			if strings.EqualFold(db, name) {
				return true
			}
		}
	}
	return false
}

// drill proves every copy, then has the engine restore, check and drop.
func (x *execution) drill(ctx context.Context, t *config.Target, o DrillOptions, chain *plan.DrillChain, scratch string, step func(string)) (engine.DrillResult, error) {
	var res engine.DrillResult
	req := engine.DrillRequest{Database: scratch, StopAt: chain.StopAt, DataDir: t.DataDir, LogDir: t.LogDir, Credential: t.Destination.Credential}
	for _, art := range chain.Backups {
		step("verify " + art.ID)
		a := &plan.Action{Kind: plan.Verify, Primary: t.Primary.Name, Database: o.Database, Target: t.Name, Artifact: art.ID}
		if err := x.verify(ctx, a); err != nil {
			return res, fmt.Errorf("nothing was restored: %w", err)
		}
		req.Backups = append(req.Backups, engine.DrillBackup{Kind: art.Kind, ServerPath: blob.ServerPath(t.Destination.ServerPath, art.Key), Stripes: art.Stripes, Finish: art.Finish})
	}
	s, err := x.session(ctx, "target", t.Name, t.Primary.Engine, t.Connection, engine.Site{DataDir: t.DataDir})
	if err != nil {
		return res, err
	}
	dr, ok := s.(engine.Driller)
	if !ok {
		return res, fmt.Errorf("target %q: engine %q: %w", t.Name, t.Primary.Engine, engine.ErrNoDrill)
	}
	step(fmt.Sprintf("restore %s through %s into %s", chain.Backups[0].ID, chain.Last().ID, scratch))
	res, err = dr.Drill(ctx, req, engine.ProgressFunc(func(_ int, msg string) { step(msg) }))
	if err != nil && errors.Is(err, engine.ErrDamaged) {
		// The server could not read a copy that was just proven: the next
		// apply proves them again before any restore uses them.
		if cerr := x.commit(ctx, func(st *state.State) error {
			td := st.TargetDatabase(t.Name, o.Database)
			for _, art := range chain.Backups {
				if c := td.Copies[art.ID]; c != nil {
					c.VerifiedAt = nil
				}
			}
			return nil
		}); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}
	return res, err
}
