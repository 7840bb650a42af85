package plan

import (
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
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
}

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
		ids: map[string]bool{},
	}
	b.selectTargets(opts.Targets)
	for _, p := range cfg.Primaries {
		if !b.primarySelected(p) {
			continue
		}
		for _, db := range p.Databases {
			b.planDatabase(p, db)
		}
	}
	b.planPromoted()
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
	b.p.Actions = append(b.p.Actions, a)
	return a
}

func (b *builder) problem(sev Severity, primary, db, target, summary, detail string) {
	b.p.Problems = append(b.p.Problems, Problem{Severity: sev, Primary: primary, Database: db, Target: target, Summary: summary, Detail: detail})
}

// node is one artifact as the planner sees it: recorded in the ledger,
// about to be adopted, or produced by a backup action of this plan.
type node struct {
	id     string // artifact ID; empty for a new one
	from   string // producing action ID for a new one
	hdr    artifact.Header
	art    *state.Artifact // nil unless in the ledger
	pruned bool
}

func (n *node) label() string {
	if n.id != "" {
		return n.id
	}
	return "new " + string(n.hdr.Kind) + " backup"
}

// ref fills an action's artifact reference.
func (n *node) ref(a *Action) *Action {
	a.Artifact, a.From, a.ArtifactKind = n.id, n.from, n.hdr.Kind
	if n.from != "" {
		a.DependsOn = appendUnique(a.DependsOn, n.from)
	}
	return a
}

func (n *node) key() string {
	if n.id != "" {
		return n.id
	}
	return "+" + n.from
}

// dbPlan is the planner's view of one primary database.
type dbPlan struct {
	p      *config.Primary
	name   string
	led    *state.Database
	obs    *engine.PrimaryDatabase
	nodes  []*node // ledger + adopted, ordered
	byID   map[string]*node
	logsBy map[artifact.LSN][]*node // log nodes by FirstLSN

	// The current chain: the newest full and the logs that continue it.
	chain []*node
	// fullReason is why a full backup is due ("" when not); broken tells
	// whether it is due because the chain cannot be continued.
	fullReason string
	broken     bool
	newFull    *node
	newLog     *node
	canBackup  bool
	// needed collects artifacts some target still needs (keys of nodes).
	needed map[string]bool
	// actions of this database, so prune can run after them.
	actions []string
	// adoptions maps adopted artifact IDs to their Adopt actions.
	adoptions map[string]string
}

func (b *builder) planDatabase(p *config.Primary, name string) {
	d := &dbPlan{p: p, name: name, led: b.st.LookupDatabase(p.Name, name), byID: map[string]*node{},
		logsBy: map[artifact.LSN][]*node{}, needed: map[string]bool{}, canBackup: true}
	holes := b.observePrimary(d)
	b.buildNodes(d)
	holes = b.adopt(d, holes)
	b.chainAndDue(d, holes)
	b.planBackups(d)
	for _, t := range b.cfg.TargetsOf(p) {
		if !b.targetSelected(t) || !containsString(t.DatabaseNames(), name) {
			continue
		}
		if tl := b.st.LookupTargetDatabase(t.Name, name); tl != nil && tl.PromotedAt != nil {
			continue // promoted: no more restores, no more copies
		}
		if t.Restores() {
			b.planStandby(d, t)
		} else {
			b.planCopyOnly(d, t)
		}
	}
	if b.prune {
		b.planPrune(d)
	}
}

// observePrimary checks the database can be protected and returns the
// backups the server knows of that the ledger does not (out-of-band).
func (b *builder) observePrimary(d *dbPlan) []engine.BackupRecord {
	if !b.obs.Refreshed {
		return nil
	}
	po := b.obs.Primaries[d.p.Name]
	if po == nil {
		d.canBackup = false
		return nil
	}
	if po.Err != "" {
		d.canBackup = false
		b.problem(Error, d.p.Name, d.name, "", fmt.Sprintf("cannot observe primary %q", d.p.Name), po.Err)
		return nil
	}
	o := po.Databases[d.name]
	if o == nil || !o.Exists {
		d.canBackup = false
		b.problem(Error, d.p.Name, d.name, "", fmt.Sprintf("database %q does not exist on primary %q", d.name, d.p.Name),
			"Create it, or remove it from the primary's databases.")
		return nil
	}
	d.obs = o
	if !strings.EqualFold(o.State, "ONLINE") {
		d.canBackup = false
		b.problem(Error, d.p.Name, d.name, "", fmt.Sprintf("database %q on primary %q is %s, not ONLINE", d.name, d.p.Name, o.State),
			"Backups can only be taken of an online database.")
	}
	if !strings.EqualFold(o.RecoveryModel, "FULL") {
		d.canBackup = false
		b.problem(Error, d.p.Name, d.name, "", fmt.Sprintf("database %q uses the %s recovery model; log shipping needs FULL", d.name, o.RecoveryModel),
			fmt.Sprintf("Run ALTER DATABASE %s SET RECOVERY FULL on the primary; the next apply then takes a new full backup to start the chain.", quoteIdent(d.name)))
	}
	var oob []engine.BackupRecord
	for _, r := range o.Backups {
		if r.CopyOnly || d.led == nil || b.known(d.led, r.Header) {
			continue
		}
		oob = append(oob, r)
	}
	return oob
}

func (b *builder) known(led *state.Database, h artifact.Header) bool {
	for _, a := range led.Artifacts {
		if a.Kind == h.Kind && a.FirstLSN.Cmp(h.FirstLSN) == 0 && a.LastLSN.Cmp(h.LastLSN) == 0 {
			return true
		}
	}
	return false
}

func (b *builder) buildNodes(d *dbPlan) {
	if d.led == nil {
		return
	}
	for _, a := range d.led.Artifacts {
		n := &node{id: a.ID, hdr: a.Header, art: a, pruned: a.PrunedAt != nil}
		d.nodes = append(d.nodes, n)
	}
}

// adopt turns out-of-band log backups whose files are in the backup folder
// into Adopt actions (they join the chain) and returns the ones drsctl
// cannot reach: holes that break the chain.
func (b *builder) adopt(d *dbPlan, oob []engine.BackupRecord) []engine.BackupRecord {
	var holes []engine.BackupRecord
	folder := b.obs.Folders[d.p.Folder.Name]
	for _, r := range oob {
		if r.Kind == artifact.Full {
			b.problem(Warning, d.p.Name, d.name, "", fmt.Sprintf("full backup of %q taken outside drsctl at %s", d.name, fmtTime(r.Finish)),
				fmt.Sprintf("Written to %s. A full backup does not break the log chain; drsctl ignores it.", r.Path))
			continue
		}
		key, ok := keyFromServerPath(d.p.Folder.ServerPath, r.Path)
		if ok && folder != nil && folder.Err == "" {
			if _, found := folder.Objects[key]; found {
				id := path.Base(key)
				if d.byIDLookup(id) != nil {
					holes = append(holes, r)
					continue
				}
				n := &node{id: id, hdr: r.Header}
				a := b.add(&Action{ID: actionID(Adopt, d.p.Name, d.name, "", id), Kind: Adopt, Primary: d.p.Name, Database: d.name,
					Artifact: id, ArtifactKind: r.Kind,
					Reason:  fmt.Sprintf("log backup taken outside drsctl at %s is in the backup folder: it joins the chain", fmtTime(r.Finish)),
					Adopted: &Adoption{Key: key, Path: r.Path, Header: r.Header}})
				d.nodes = append(d.nodes, n)
				d.actions = append(d.actions, a.ID)
				d.adoptedBy(n, a.ID)
				continue
			}
		}
		holes = append(holes, r)
	}
	sort.SliceStable(d.nodes, func(i, j int) bool {
		x, y := d.nodes[i].hdr, d.nodes[j].hdr
		if !x.Finish.Equal(y.Finish) {
			return x.Finish.Before(y.Finish)
		}
		return x.LastLSN.Cmp(y.LastLSN) < 0
	})
	for _, n := range d.nodes {
		d.byID[n.id] = n
		if n.hdr.Kind == artifact.Log {
			d.logsBy[n.hdr.FirstLSN] = append(d.logsBy[n.hdr.FirstLSN], n)
		}
	}
	return holes
}

// adoptedBy remembers the Adopt action of an adopted artifact, so every
// action on it waits for the adoption.
func (d *dbPlan) adoptedBy(n *node, actionID string) {
	if d.adoptions == nil {
		d.adoptions = map[string]string{}
	}
	d.adoptions[n.id] = actionID
}

func (d *dbPlan) byIDLookup(id string) *node {
	for _, n := range d.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// succ returns the log that continues n, or nil.
func (d *dbPlan) succ(h artifact.Header) *node {
	if h.Kind == artifact.Log {
		for _, m := range d.logsBy[h.LastLSN] {
			if ok, _ := artifact.Continues(h, m.hdr); ok {
				return m
			}
		}
		return nil
	}
	var best *node
	for _, m := range d.nodes {
		if m.hdr.Kind != artifact.Log {
			continue
		}
		if ok, _ := artifact.Continues(h, m.hdr); ok && (best == nil || m.hdr.FirstLSN.Cmp(best.hdr.FirstLSN) < 0) {
			best = m
		}
	}
	return best
}

// walk follows the chain from h and returns the logs after it, in order.
func (d *dbPlan) walk(h artifact.Header) []*node {
	var out []*node
	seen := map[*node]bool{}
	for n := d.succ(h); n != nil && !seen[n]; n = d.succ(n.hdr) {
		seen[n] = true
		out = append(out, n)
	}
	return out
}

// chainAndDue finds the current chain and decides whether backups are due.
func (b *builder) chainAndDue(d *dbPlan, holes []engine.BackupRecord) {
	var full *node
	for i := len(d.nodes) - 1; i >= 0; i-- {
		if n := d.nodes[i]; n.hdr.Kind == artifact.Full && !n.hdr.CopyOnly {
			full = n
			break
		}
	}
	if full == nil {
		d.fullReason, d.broken = "no full backup yet", true
		return
	}
	d.chain = append([]*node{full}, d.walk(full.hdr)...)
	end := d.chain[len(d.chain)-1]
	for _, n := range d.nodes {
		if n.hdr.Kind == artifact.Log && n.hdr.LastLSN.Cmp(end.hdr.LastLSN) > 0 {
			_, why := artifact.Continues(end.hdr, n.hdr)
			d.fullReason, d.broken = fmt.Sprintf("the chain is broken after %s: %s cannot follow it (%s)", end.label(), n.label(), why), true
			return
		}
	}
	for _, h := range holes {
		if h.Kind == artifact.Log && h.LastLSN.Cmp(end.hdr.LastLSN) > 0 {
			d.fullReason, d.broken = fmt.Sprintf("the chain is broken: a log backup taken outside drsctl at %s was written to %s, which is not in the backup folder", fmtTime(h.Finish), h.Path), true
			return
		}
	}
	if o := d.obs; o != nil && d.canBackup {
		switch {
		case d.led.RecoveryModel != "" && !strings.EqualFold(d.led.RecoveryModel, o.RecoveryModel):
			d.fullReason, d.broken = fmt.Sprintf("the recovery model changed from %s to %s: the log chain was broken", d.led.RecoveryModel, o.RecoveryModel), true
			return
		case !d.led.CreatedAt.IsZero() && !o.CreatedAt.IsZero() && !d.led.CreatedAt.Equal(o.CreatedAt):
			d.fullReason, d.broken = fmt.Sprintf("the database was recreated or restored on the primary (created %s, was %s)", fmtTime(o.CreatedAt), fmtTime(d.led.CreatedAt)), true
			return
		case !o.LogChain:
			d.fullReason, d.broken = "the server has no log chain for the database (the recovery model was switched, or the database was restored)", true
			return
		}
	}
	if age := b.now.Sub(full.hdr.Finish); age >= d.p.FullBackup.Every {
		d.fullReason = fmt.Sprintf("last full backup %s ago, every %s", fmtDur(age), fmtDur(d.p.FullBackup.Every))
	}
}

func (b *builder) planBackups(d *dbPlan) {
	if !d.canBackup {
		return
	}
	var facts *PrimaryFacts
	if d.obs != nil {
		facts = &PrimaryFacts{RecoveryModel: d.obs.RecoveryModel, CreatedAt: d.obs.CreatedAt}
	}
	if d.fullReason != "" {
		a := b.add(&Action{ID: actionID(BackupFull, d.p.Name, d.name, "", ""), Kind: BackupFull, Primary: d.p.Name, Database: d.name,
			ArtifactKind: artifact.Full, Reason: d.fullReason, Observed: facts})
		d.newFull = &node{from: a.ID, hdr: artifact.Header{Kind: artifact.Full, Database: d.name, Start: b.now, Finish: b.now}}
		d.actions = append(d.actions, a.ID)
	}
	if d.broken || len(d.chain) == 0 {
		return
	}
	end := d.chain[len(d.chain)-1]
	age := b.now.Sub(end.hdr.Finish)
	if age < d.p.LogBackup.Every {
		return
	}
	reason := fmt.Sprintf("last log backup %s ago, every %s", fmtDur(age), fmtDur(d.p.LogBackup.Every))
	if end.hdr.Kind == artifact.Full {
		reason = fmt.Sprintf("no log backup since the full backup %s ago, every %s", fmtDur(age), fmtDur(d.p.LogBackup.Every))
	}
	a := &Action{ID: actionID(BackupLog, d.p.Name, d.name, "", ""), Kind: BackupLog, Primary: d.p.Name, Database: d.name,
		ArtifactKind: artifact.Log, Reason: reason, Observed: facts}
	if d.newFull != nil {
		a.DependsOn = []string{d.newFull.from} // one backup at a time per database
	}
	b.add(a)
	d.newLog = &node{from: a.ID, hdr: artifact.Header{Kind: artifact.Log, Database: d.name, Start: b.now, Finish: b.now}}
	d.actions = append(d.actions, a.ID)
}

// seedChain is what a target not (or no longer) on the chain restores: the
// newest full whose chain reaches the present, and the logs after it.
func (d *dbPlan) seedChain() []*node {
	if d.broken {
		if d.newFull == nil {
			return nil
		}
		return []*node{d.newFull}
	}
	out := append([]*node(nil), d.chain...)
	if d.newLog != nil {
		out = append(out, d.newLog)
	}
	return out
}

// current reports whether a chain walk that ended at last is at the present.
func (d *dbPlan) current(last *node) bool {
	if d.broken || len(d.chain) == 0 {
		return false
	}
	return last == d.chain[len(d.chain)-1]
}

func (b *builder) planStandby(d *dbPlan, t *config.Target) {
	led := b.st.LookupTargetDatabase(t.Name, d.name)
	owned := led != nil && led.SeededFrom != ""
	var pos *artifact.Header // where the standby stands; nil = needs a seed
	var posNode *node
	canRestore := true
	absent := false
	if led != nil && led.Restored != nil {
		pos = &artifact.Header{Kind: led.Restored.Kind, LastLSN: led.Restored.LastLSN}
		if n := d.byID[led.Restored.Artifact]; n != nil {
			pos, posNode = &n.hdr, n
		}
	}
	if b.obs.Refreshed {
		to := b.obs.Targets[t.Name]
		switch {
		case to == nil:
			canRestore = false
		case to.Err != "":
			canRestore = false
			b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("cannot observe target %q", t.Name), to.Err+"\nCopies are still shipped; restores wait until the server answers.")
		default:
			o := to.Databases[d.name]
			state := engine.Absent
			if o != nil {
				state = o.State
			}
			switch {
			case state == engine.Absent:
				absent = true
				if owned {
					b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q is gone from target %q", d.name, t.Name), "It was dropped outside drsctl; it is seeded again.")
				}
				pos, posNode = nil, nil
			case !owned:
				canRestore = false
				b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q already exists on target %q (%s) and drsctl did not seed it", d.name, t.Name, o.RawState),
					"drsctl never restores over a database it did not seed. Drop or rename it on the target, or remove the database from this target.")
			case state == engine.Online:
				canRestore = false
				b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q is ONLINE: it was recovered outside drsctl", d.name, t.Name),
					"No more logs can be restored onto it. If this was a failover, record it with `drsctl promote`; to seed it again, drop it on the target.")
			case state == engine.Other:
				canRestore = false
				b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q is %s", d.name, t.Name, o.RawState), "drsctl restores only onto a RESTORING or STANDBY database.")
			default: // restoring or standby
				if pos == nil || o.RedoLSN.Cmp(pos.LastLSN) != 0 {
					n := d.byLastLSN(o.RedoLSN)
					if n == nil {
						b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q stands at LSN %s, which no backup in the ledger ends at", d.name, t.Name, o.RedoLSN),
							"It was restored outside drsctl; it is seeded again from the newest full backup.")
						pos, posNode = nil, nil
					} else {
						was := "nothing recorded"
						if pos != nil {
							was = "the ledger says LSN " + string(pos.LastLSN)
						}
						a := b.add(&Action{ID: actionID(Record, d.p.Name, d.name, t.Name, n.id), Kind: Record, Primary: d.p.Name, Database: d.name, Target: t.Name,
							Artifact: n.id, ArtifactKind: n.hdr.Kind, Position: &Position{Artifact: n.id, Kind: n.hdr.Kind, LastLSN: n.hdr.LastLSN},
							Reason: fmt.Sprintf("the target stands after %s (LSN %s) but %s: an interrupted apply or a restore by hand", n.id, o.RedoLSN, was)})
						d.actions = append(d.actions, a.ID)
						pos, posNode = &n.hdr, n
					}
				}
			}
		}
	}
	mode := string(t.RestoreMode)
	var restores []*node
	seed := false
	if pos != nil {
		restores = d.walk(*pos)
		last := posNode
		if len(restores) > 0 {
			last = restores[len(restores)-1]
		}
		switch {
		case last != nil && d.current(last):
			if d.newLog != nil {
				restores = append(restores, d.newLog)
			}
		case len(d.chain) == 0 && !d.broken:
			// nothing newer exists
		default:
			seed = true
		}
	} else {
		seed = true
	}
	reason := ""
	if seed {
		restores = d.seedChain()
		switch {
		case pos == nil:
			reason = "seed: the target database has not been restored yet"
		default:
			reason = fmt.Sprintf("seed again: the target's chain cannot reach the present (%s)", d.whyNotCurrent())
		}
		if len(restores) == 0 {
			if !d.canBackup && canRestore {
				b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("target %q cannot be seeded: there is no usable full backup of %q", t.Name, d.name), "")
			}
			b.rpo(d, t, nil)
			return
		}
	}
	// Ship everything the target will restore, now or after its delay.
	prev := ""
	if !canRestore {
		// Ship what it would need once it answers again; restore nothing.
		b.shipAll(d, t, led, append(b.damaged(d, t, led, restores), restores...))
		b.rpo(d, t, posNode)
		return
	}
	cutoff := b.now.Add(-t.RestoreDelay)
	verified := b.shipAll(d, t, led, append(b.damaged(d, t, led, restores), restores...))
	through := posNode
	for i, n := range restores {
		if n.hdr.Finish.After(cutoff) {
			break // restore_delay: this one and all after it wait
		}
		kind, why := RestoreLog, fmt.Sprintf("next in the chain after %s", labelOrPos(through, pos))
		if i == 0 && seed {
			kind, why = RestoreFull, reason
		}
		a := n.ref(&Action{ID: actionID(kind, d.p.Name, d.name, t.Name, n.key()), Kind: kind, Primary: d.p.Name, Database: d.name, Target: t.Name,
			Reason: why, Mode: mode, Seed: kind == RestoreFull})
		if kind == RestoreFull {
			a.Replace = owned && !absent
		}
		if v := verified[n.key()]; v != "" {
			a.DependsOn = appendUnique(a.DependsOn, v)
		}
		if prev != "" {
			a.DependsOn = appendUnique(a.DependsOn, prev)
		}
		b.dependOnAdoption(d, n, a)
		b.add(a)
		d.actions = append(d.actions, a.ID)
		prev = a.ID
		through = n
	}
	b.rpo(d, t, posNode)
}

func labelOrPos(n *node, pos *artifact.Header) string {
	if n != nil {
		return n.label()
	}
	if pos != nil {
		return "LSN " + string(pos.LastLSN)
	}
	return "the seed"
}

func (d *dbPlan) whyNotCurrent() string {
	if d.fullReason != "" && d.broken {
		return d.fullReason
	}
	return "a log backup it needs is missing"
}

func (d *dbPlan) byLastLSN(l artifact.LSN) *node {
	if l.IsZero() {
		return nil
	}
	for i := len(d.nodes) - 1; i >= 0; i-- {
		if d.nodes[i].hdr.LastLSN.Cmp(l) == 0 {
			return d.nodes[i]
		}
	}
	return nil
}

func (b *builder) dependOnAdoption(d *dbPlan, n *node, a *Action) {
	if id, ok := d.adoptions[n.id]; ok && n.id != "" {
		a.DependsOn = appendUnique(a.DependsOn, id)
	}
}

// shipAll plans ship and verify actions so every node in want is at the
// target's destination, proven intact. It returns, per node key, the action
// a restore of it must wait for ("" when the copy is already verified).
func (b *builder) shipAll(d *dbPlan, t *config.Target, led *state.TargetDatabase, want []*node) map[string]string {
	waits := map[string]string{}
	for i, n := range want {
		d.needed[n.key()] = true
		var cp *state.Copy
		if led != nil && n.id != "" {
			cp = led.Copies[n.id]
		}
		shipReason := ""
		switch {
		case cp == nil:
			shipReason = "not at the destination yet"
		default:
			if why := b.copyDrift(t, cp); why != "" {
				shipReason = why
				b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("%s at target %q's destination: %s", n.id, t.Name, why), "It is shipped again and verified before any restore uses it.")
			}
		}
		if shipReason != "" && n.pruned {
			b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("%s is needed by target %q but was pruned from the backup folder", n.id, t.Name),
				"Shorten the gap (apply more often) or lengthen the backup folder's retention; the target is seeded again once a new full backup is taken.")
			return waits
		}
		verifyDeps := []string{}
		if shipReason != "" {
			a := n.ref(&Action{ID: actionID(Ship, d.p.Name, d.name, t.Name, n.key()), Kind: Ship, Primary: d.p.Name, Database: d.name, Target: t.Name,
				Reason: shipReason, Seed: i == 0 && n.hdr.Kind == artifact.Full && (led == nil || led.SeededFrom == "")})
			b.dependOnAdoption(d, n, a)
			b.add(a)
			d.actions = append(d.actions, a.ID)
			verifyDeps = append(verifyDeps, a.ID)
		} else if cp.VerifiedAt != nil {
			continue
		}
		why := "prove the copy matches the backup's SHA-256"
		if shipReason == "" {
			why = "the copy was shipped but never verified"
		}
		v := n.ref(&Action{ID: actionID(Verify, d.p.Name, d.name, t.Name, n.key()), Kind: Verify, Primary: d.p.Name, Database: d.name, Target: t.Name,
			Reason: why, DependsOn: verifyDeps})
		b.dependOnAdoption(d, n, v)
		b.add(v)
		d.actions = append(d.actions, v.ID)
		waits[n.key()] = v.ID
	}
	return waits
}

func (b *builder) planCopyOnly(d *dbPlan, t *config.Target) {
	led := b.st.LookupTargetDatabase(t.Name, d.name)
	var want []*node
	var newest *node
	if led != nil {
		for _, n := range d.nodes {
			if _, ok := led.Copies[n.id]; ok {
				newest = n
			}
		}
	}
	if newest == nil {
		want = d.seedChain()
		if d.newFull != nil && !d.broken {
			want = append(want, d.newFull)
		}
	} else {
		// Copies the ledger has must still be intact; then everything newer.
		want = b.damaged(d, t, led, []*node{newest})
		after := false
		for _, n := range d.nodes {
			if n == newest {
				after = true
			}
			if after {
				want = append(want, n)
			}
		}
		for _, n := range []*node{d.newFull, d.newLog} {
			if n != nil {
				want = append(want, n)
			}
		}
	}
	b.shipAll(d, t, led, want)
	b.rpo(d, t, newest)
}

// damaged returns the artifacts whose copies the ledger holds at the
// target's destination but that storage shows missing or changed, other
// than those in skip (planned anyway): a destination is a backup copy too,
// so a damaged copy is repaired even when no restore needs it now.
func (b *builder) damaged(d *dbPlan, t *config.Target, led *state.TargetDatabase, skip []*node) []*node {
	if led == nil {
		return nil
	}
	planned := map[*node]bool{}
	for _, n := range skip {
		planned[n] = true
	}
	var out []*node
	for _, n := range d.nodes {
		if cp, ok := led.Copies[n.id]; ok && !planned[n] && !n.pruned && b.copyDrift(t, cp) != "" {
			out = append(out, n)
		}
	}
	return out
}

// copyDrift says how the copy at a target's destination differs from what
// the ledger recorded ("" when it does not, or when storage was not asked).
func (b *builder) copyDrift(t *config.Target, cp *state.Copy) string {
	dest := b.obs.Destinations[t.Name]
	if !b.obs.Refreshed || dest == nil || dest.Err != "" {
		return ""
	}
	obj, ok := dest.Objects[cp.Key]
	switch {
	case !ok:
		return "the copy is missing from the destination"
	case obj.Size != cp.Size:
		return fmt.Sprintf("the copy has %d bytes, the ledger says %d", obj.Size, cp.Size)
	case obj.SHA256 != "" && !strings.EqualFold(obj.SHA256, cp.SHA256):
		return "the copy's checksum differs from the ledger's"
	case cp.VerifiedAt != nil && !cp.ModTime.IsZero() && !obj.ModTime.IsZero() && !obj.ModTime.Equal(cp.ModTime):
		return fmt.Sprintf("the copy was modified at %s, after it was verified", fmtTime(obj.ModTime))
	}
	return ""
}

// rpo records how far behind a target database is: the newest backup
// restored there (standby) or shipped there (copy-only).
func (b *builder) rpo(d *dbPlan, t *config.Target, through *node) {
	s := RPOStatus{Target: t.Name, Primary: d.p.Name, Database: d.name, Limit: d.p.RPO}
	if through != nil && !through.hdr.Finish.IsZero() {
		s.Through, s.Artifact = through.hdr.Finish, through.id
		s.Lag = b.now.Sub(through.hdr.Finish)
		s.Breach = s.Lag > d.p.RPO
	} else {
		s.Breach = true
	}
	b.p.RPO = append(b.p.RPO, s)
}

// planPrune deletes artifacts older than retention that nothing needs: not
// the current chain, not any target's pending ships or restores.
func (b *builder) planPrune(d *dbPlan) {
	for _, n := range d.chain {
		d.needed[n.key()] = true
	}
	if r := d.p.Folder.Retention; r > 0 {
		for _, n := range d.nodes {
			if n.art == nil || n.pruned || d.needed[n.key()] || b.now.Sub(n.hdr.Finish) < r {
				continue
			}
			a := n.ref(&Action{ID: actionID(Prune, d.p.Name, d.name, "", n.id), Kind: Prune, Primary: d.p.Name, Database: d.name,
				Reason: fmt.Sprintf("older than the backup folder's retention (%s) and no target needs it", fmtDur(r)), DependsOn: append([]string(nil), d.actions...)})
			b.add(a)
		}
	}
	for _, t := range b.cfg.TargetsOf(d.p) {
		r := t.Destination.Retention
		led := b.st.LookupTargetDatabase(t.Name, d.name)
		if r <= 0 || led == nil || !containsString(t.DatabaseNames(), d.name) {
			continue
		}
		for _, n := range d.nodes {
			if _, ok := led.Copies[n.id]; !ok || d.needed[n.key()] || b.now.Sub(n.hdr.Finish) < r {
				continue
			}
			if t.Restores() && (led.Restored == nil || n.hdr.LastLSN.Cmp(led.Restored.LastLSN) > 0) {
				continue // not restored there yet
			}
			a := n.ref(&Action{ID: actionID(Prune, d.p.Name, d.name, t.Name, n.id), Kind: Prune, Primary: d.p.Name, Database: d.name, Target: t.Name,
				Reason: fmt.Sprintf("older than the destination's retention (%s) and no longer needed there", fmtDur(r)), DependsOn: append([]string(nil), d.actions...)})
			b.add(a)
		}
	}
}

// planPromoted notes promoted targets so the plan says why they are quiet.
func (b *builder) planPromoted() {
	for _, t := range b.cfg.Targets {
		if !b.targetSelected(t) {
			continue
		}
		for _, db := range t.DatabaseNames() {
			if tl := b.st.LookupTargetDatabase(t.Name, db); tl != nil && tl.PromotedAt != nil {
				b.problem(Warning, t.Primary.Name, db, t.Name, fmt.Sprintf("database %q on target %q was promoted at %s", db, t.Name, fmtTime(*tl.PromotedAt)),
					"A promoted database gets no more restores or copies.")
			}
		}
	}
}

func actionID(k ActionKind, primary, db, target, art string) string {
	var sb strings.Builder
	sb.WriteString(k.String())
	sb.WriteString(":")
	sb.WriteString(primary)
	sb.WriteString("/")
	sb.WriteString(db)
	if target != "" {
		sb.WriteString("@")
		sb.WriteString(target)
	}
	if art != "" {
		sb.WriteString("#")
		sb.WriteString(art)
	}
	return sb.String()
}

// keyFromServerPath maps a path the server wrote to (as its history records
// it) back to a key in the backup folder whose server_path is base; ok is
// false when the path is not under the folder. Windows paths compare
// case-insensitively.
func keyFromServerPath(base, p string) (string, bool) {
	if base == "" || p == "" {
		return "", false
	}
	win := strings.Contains(base, `\`) || (len(base) > 1 && base[1] == ':')
	norm := func(s string) string {
		s = strings.ReplaceAll(s, `\`, "/")
		if win {
			s = strings.ToLower(s)
		}
		return strings.TrimRight(s, "/")
	}
	nb := norm(base)
	np := strings.ReplaceAll(p, `\`, "/")
	if !strings.HasPrefix(norm(np), nb+"/") {
		return "", false
	}
	return strings.TrimLeft(np[len(nb):], "/"), true
}

func quoteIdent(s string) string { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }

func containsString(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func appendUnique(xs []string, s string) []string {
	for _, x := range xs {
		if x == s {
			return xs
		}
	}
	return append(xs, s)
}

func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// FormatDuration prints a duration the way the configuration writes them
// (90s, 15m, 2h30m, 7d).
func FormatDuration(d time.Duration) string { return fmtDur(d) }

func fmtDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour:
		d = d.Round(time.Minute)
		h, m := d/time.Hour, (d%time.Hour)/time.Minute
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	case d >= time.Minute:
		d = d.Round(time.Second)
		m, s := d/time.Minute, (d%time.Minute)/time.Second
		if s == 0 {
			return fmt.Sprintf("%dm", m)
		}
		return fmt.Sprintf("%dm%ds", m, s)
	default:
		return fmt.Sprintf("%ds", int(d.Round(time.Second)/time.Second))
	}
}
