package apply

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/plan"
	"github.com/drsctl/drsctl/internal/state"
)

// fenceTailLog asks the primary again, right before the tail-log backup of
// a switchover (which leaves the database RESTORING, refusing writes):
// the database must be online and the one the plan saw, not another
// database restored or created under its name since.
func (x *execution) fenceTailLog(ctx context.Context, s engine.Session, p *config.Primary, a *plan.Action) error {
	dbs, err := s.ObservePrimary(ctx, []string{a.Database}, x.r.Now())
	if err != nil {
		return fmt.Errorf("ask primary %q about %q again before the tail-log backup (nothing was changed): %w", p.Name, a.Database, err)
	}
	refuse := func(why string) error {
		return fmt.Errorf("refused to take the tail-log backup of %q on primary %q: %s; nothing was changed. Plan the switchover again", a.Database, p.Name, why)
	}
	for _, d := range dbs {
		if d.Name != a.Database {
			continue
		}
		switch {
		case !d.Exists:
			return refuse("it no longer exists")
		case d.State == engine.PrimaryReadOnly:
			// A switchover killed after it stopped writes (see the
			// planner's retriedSwitchover): the final log is taken again.
		case !strings.EqualFold(d.State, "ONLINE"):
			return refuse("it is " + d.State + ", not ONLINE")
		}
		if o := a.Observed; o != nil {
			if why := plan.Recreated(o.Identity, o.CreatedAt, &d); why != "" {
				return refuse("it is not the database the plan saw: " + why)
			}
		}
		return nil
	}
	return refuse("the server did not describe it")
}

// fencePrune checks, right before a backup or a copy is deleted, that the
// world is still what the plan relied on:
//   - the object under the key is the backup drsctl recorded (same size):
//     a file someone else wrote there since is not drsctl's to delete;
//   - every standby the ledger says has restored past it still stands past
//     it: one that stands before its end on drsctl's chain (restored back
//     by hand from an older backup) may still need it. A database that is
//     not on that chain at all (someone else's restored in its place: the
//     plan reports it and never restores onto it) needs none of drsctl's
//     backups, and does not hold the folder's retention back for ever.
func (x *execution) fencePrune(ctx context.Context, p *config.Primary, a *plan.Action, art *state.Artifact, b blobBucket, where string) error {
	refuse := func(why string) error {
		return fmt.Errorf("refused to prune %s from %s: %s; nothing was deleted", art.ID, where, why)
	}
	attrs, err := b.Attributes(ctx, art.Key)
	switch {
	case blob.IsNotExist(err):
		return nil // already gone: only the ledger is left to update
	case err != nil:
		return fmt.Errorf("look at %s in %s before pruning it (nothing was deleted): %w", art.Key, where, err)
	case art.Size > 0 && attrs.Size != art.Size:
		return refuse(fmt.Sprintf("the file there is %d bytes, and the backup drsctl recorded is %d: something else wrote under its name", attrs.Size, art.Size))
	}
	for _, t := range x.r.Config.TargetsOf(p) {
		if !t.Restores() || (a.Target != "" && a.Target != t.Name) || !slices.Contains(t.DatabaseNames(), a.Database) {
			continue
		}
		td := x.lookupTarget(t.Name, a.Database)
		if td == nil || td.PromotedAt != nil || td.Restored == nil || td.Restored.LastLSN.Cmp(art.LastLSN) < 0 {
			continue // the plan did not rely on this target being past it
		}
		// A standby whose server does not answer cannot be asked; nobody
		// can restore it back by hand through a server that is down
		// either. The plan relied on the ledger for it, as it does for
		// every target it cannot observe, and so does the fence: refusing
		// would stop the backup folder's retention for every target as
		// long as one server is down, until the folder fills and no
		// backup can be taken at all.
		s, err := x.session(ctx, "target", t.Name, t.Primary.Engine, t.Connection, engine.Site{DataDir: t.DataDir})
		if err != nil {
			x.r.Reporter.Progress(a, 0, fmt.Sprintf("target %q cannot be asked where %q stands (%v): pruning on the ledger's word that it restored past %s", t.Name, a.Database, err, art.ID))
			continue
		}
		d, err := observeOne(ctx, s, a.Database)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("ask target %q where %q stands before pruning %s (nothing was deleted): %w", t.Name, a.Database, art.ID, err)
			}
			x.r.Reporter.Progress(a, 0, fmt.Sprintf("target %q cannot be asked where %q stands (%v): pruning on the ledger's word that it restored past %s", t.Name, a.Database, err, art.ID))
			continue
		}
		if (d.State == engine.Restoring || d.State == engine.Standby) && !d.RedoLSN.IsZero() && d.RedoLSN.Cmp(art.LastLSN) < 0 && x.onChain(p, a.Database, d) {
			return refuse(fmt.Sprintf("target %q stands at LSN %s, before its end (%s), though the ledger says it restored through LSN %s: it may still need it. Plan again", t.Name, d.RedoLSN, art.LastLSN, td.Restored.LastLSN))
		}
	}
	return nil
}

// onChain reports whether a standby stands on drsctl's chain of the
// database: where a backup the ledger knows ends, or after a restore from
// a file the ledger knows (the planner's rule for telling drsctl's standby
// from someone else's database restored in its place).
func (x *execution) onChain(p *config.Primary, database string, d engine.StandbyDatabase) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	db := x.st.LookupDatabase(p.Name, database)
	if db == nil {
		return true // nothing to compare with: refuse, as before
	}
	last := ""
	if d.LastRestore != nil {
		last = strings.ReplaceAll(d.LastRestore.Path, "\\", "/")
	}
	for _, o := range db.Artifacts {
		if o.LastLSN.Cmp(d.RedoLSN) == 0 || (last != "" && o.Key != "" && strings.HasSuffix(last, "/"+o.Key)) {
			return true
		}
	}
	return false
}
