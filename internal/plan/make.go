package plan

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"time"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/state"
)

// Options narrow a plan.
type Options struct {
	// Targets limits the plan to these targets (or all targets of these
	// primaries) and the backups they need. Pruning is skipped when set: a
	// partial view cannot know what other targets still need.
	Targets []string
	// ConfigDigest is stored in the plan.
	ConfigDigest string
	// Promote, when set, plans a failover or switchover of one target
	// instead of routine work (see promote.go).
	Promote *PromoteRequest
}

// clockTolerance is how far apart drsctl's clock and a server's may be
// before planning says so: NTP keeps healthy clocks well within it.
const clockTolerance = time.Minute

// Make plans. It is pure: same inputs, same plan.
func Make(cfg *config.Config, st *state.State, obs *Observed, now time.Time, opts Options) *Plan {
	if st == nil {
		st = state.New("")
	}
	if obs == nil {
		obs = &Observed{}
	}
	b := &builder{
		cfg: cfg, st: st, obs: obs, now: now.UTC(),
		p: &Plan{
			FormatVersion: FormatVersion, CreatedAt: now.UTC(), Lineage: st.Lineage, Serial: st.Serial,
			ConfigDigest: opts.ConfigDigest, Refreshed: obs.Refreshed, Targets: opts.Targets,
			Actions: []*Action{},
		},
		ids: map[string]bool{}, said: map[string]bool{},
	}
	if opts.Promote != nil {
		b.promote = opts.Promote
		opts.Targets = []string{opts.Promote.Target}
		b.p.Targets = opts.Targets
	}
	b.selectTargets(opts.Targets)
	for _, p := range cfg.Primaries {
		if !b.primarySelected(p) {
			continue
		}
		for _, db := range p.Databases {
			b.planDatabase(p, db)
		}
		if b.prune {
			b.planOrphanDatabases(p)
		}
	}
	if b.promote != nil {
		b.promoteProblems()
	}
	return b.p
}

type builder struct {
	cfg      *config.Config
	st       *state.State
	obs      *Observed
	now      time.Time
	p        *Plan
	ids      map[string]bool
	selected map[string]bool // target names; nil = all
	prune    bool
	// said remembers problems already reported once per plan (a folder or
	// server that cannot be observed is one problem, not one per database).
	said map[string]bool
	// promote is set when planning a failover or switchover.
	promote *PromoteRequest
}

func (b *builder) selectTargets(names []string) {
	b.prune = len(names) == 0
	if len(names) == 0 {
		return
	}
	b.selected = map[string]bool{}
	for _, n := range names {
		if t := b.cfg.TargetByName(n); t != nil {
			b.selected[t.Name] = true
		}
		if p := b.cfg.PrimaryByName(n); p != nil {
			for _, t := range b.cfg.TargetsOf(p) {
				b.selected[t.Name] = true
			}
		}
	}
}

func (b *builder) primarySelected(p *config.Primary) bool {
	if b.selected == nil {
		return true
	}
	for _, t := range b.cfg.TargetsOf(p) {
		if b.selected[t.Name] {
			return true
		}
	}
	return false
}

func (b *builder) targetSelected(t *config.Target) bool {
	return b.selected == nil || b.selected[t.Name]
}

func (b *builder) add(a *Action) *Action {
	base := a.ID
	for i := 2; b.ids[a.ID]; i++ {
		a.ID = fmt.Sprintf("%s~%d", base, i)
	}
	b.ids[a.ID] = true
	if p := b.cfg.PrimaryByName(a.Primary); p != nil && p.Engine == config.EnginePostgres {
		a.Engine = p.Engine
	}
	b.p.Actions = append(b.p.Actions, a)
	return a
}

func (b *builder) problem(sev Severity, primary, db, target, summary, detail string) {
	b.p.Problems = append(b.p.Problems, Problem{Severity: sev, Primary: primary, Database: db, Target: target, Summary: summary, Detail: detail})
}

// lasting marks the problem just reported with what stays the same while
// it lasts (Problem.Lasting).
func (b *builder) lasting(key string) {
	b.p.Problems[len(b.p.Problems)-1].Lasting = key
}

// once reports a problem the first time key is seen in this plan.
func (b *builder) once(key string, sev Severity, primary, db, target, summary, detail string) {
	if b.said[key] {
		return
	}
	b.said[key] = true
	b.problem(sev, primary, db, target, summary, detail)
}

// folder returns the listing of a backup folder; known is false when the
// folder was not listed or the listing failed (then the plan says so once)
// or cannot be trusted. reachable is false when drsctl cannot reach it at
// all: then nothing is backed up into it either.
func (b *builder) folder(f *config.BackupFolder) (obs *StorageObservation, known, reachable bool) {
	if !b.obs.Refreshed {
		return nil, true, true // plan from the ledger alone
	}
	so := b.obs.Folders[f.Name]
	switch {
	case so == nil:
		return nil, false, false
	case so.Err != "":
		b.once("folder:"+f.Name, Error, "", "", "", fmt.Sprintf("cannot list backup folder %q", f.Name),
			so.Err+"\nBackups, adoptions, ships from it and prunes in it wait until it can be listed; nothing is read as missing.")
		return nil, false, false
	}
	var keys []string
	for _, p := range b.cfg.Primaries {
		if p.Folder != f || b.st.Primaries[p.Name] == nil {
			continue
		}
		for _, db := range b.st.Primaries[p.Name].Databases {
			for _, a := range db.Artifacts {
				if a.PrunedAt == nil {
					keys = append(keys, a.Key)
				}
			}
		}
	}
	if noneListed(so, keys) {
		b.once("folder:"+f.Name, Error, "", "", "", fmt.Sprintf("backup folder %q lists none of the %d backups the ledger has there, nor drsctl's markers", f.Name, len(keys)),
			"Is it mounted, and does its url name the right place? drsctl does not read such a listing as every backup deleted: nothing is shipped from it, pruned in it or reseeded because of it. "+
				"Backups that are due are still taken: if the folder was really emptied, the next plan sees them (and drsctl's markers) and works from there; if it is not the right place, they fail when drsctl reads them back.")
		return nil, false, true
	}
	return so, true, true
}

// noneListed reports a listing that holds none of several backups the
// ledger has there and none of drsctl's markers beside them: an unmounted
// share or a wrong url, not a cleanup job (which leaves the markers).
func noneListed(so *StorageObservation, keys []string) bool {
	if len(keys) < 2 {
		return false
	}
	for _, k := range keys {
		if _, ok := so.Objects[k]; ok || so.Marked[path.Dir(k)] {
			return false
		}
	}
	return true
}

// destination returns the listing of a target's destination; known is
// false when it was not listed or the listing failed.
func (b *builder) destination(t *config.Target) (obs *StorageObservation, known bool) {
	if !b.obs.Refreshed {
		return nil, true
	}
	so := b.obs.Destinations[t.Name]
	switch {
	case so == nil:
		return nil, false
	case so.Err != "":
		b.once("destination:"+t.Name, Error, t.Primary.Name, "", t.Name, fmt.Sprintf("cannot list target %q's destination", t.Name),
			so.Err+"\nNothing is shipped there, verified, restored from it or pruned in it until it can be listed; its RPO is unknown.")
		return nil, false
	}
	return so, true
}

// planOrphanDatabases prunes, by retention, what the ledger holds of
// databases the primary no longer protects: nothing needs them any more.
func (b *builder) planOrphanDatabases(p *config.Primary) {
	lp := b.st.Primaries[p.Name]
	if lp == nil {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(lp.Databases)) {
		if containsString(p.Databases, name) {
			continue
		}
		led := lp.Databases[name]
		why := fmt.Sprintf("database %q is no longer in the configuration", name)
		if r := p.Folder.Retention; r > 0 {
			if _, known, _ := b.folder(p.Folder); known {
				for _, a := range led.Artifacts {
					if a.PrunedAt == nil && b.now.Sub(a.Finish) >= r {
						b.add(&Action{ID: actionID(Prune, p.Name, name, "", a.ID), Kind: Prune, Primary: p.Name, Database: name,
							Artifact: a.ID, ArtifactKind: a.Kind, Reason: fmt.Sprintf("older than the backup folder's retention (%s); %s", fmtDur(r), why)})
					}
				}
			}
		}
		for _, t := range b.cfg.TargetsOf(p) {
			r := t.Destination.Retention
			td := b.st.LookupTargetDatabase(t.Name, name)
			if r <= 0 || td == nil {
				continue
			}
			if _, known := b.destination(t); !known {
				continue
			}
			for _, a := range led.Artifacts {
				if _, ok := td.Copies[a.ID]; ok && b.now.Sub(a.Finish) >= r {
					b.add(&Action{ID: actionID(Prune, p.Name, name, t.Name, a.ID), Kind: Prune, Primary: p.Name, Database: name, Target: t.Name,
						Artifact: a.ID, ArtifactKind: a.Kind, Reason: fmt.Sprintf("older than the destination's retention (%s); %s", fmtDur(r), why)})
				}
			}
		}
	}
}
