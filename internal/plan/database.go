package plan

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/state"
)

// dbPlan is the planner's view of one primary database.
type dbPlan struct {
	p    *config.Primary
	name string
	led  *state.Database
	obs  *engine.PrimaryDatabase
	c    chain
	byID map[string]*node
	// folderKnown is false when the backup folder could not be listed:
	// nothing is then read as missing from it.
	folderKnown bool
	canBackup   bool
	// strays are the verify actions that record copies no ship recorded
	// (recordStrayCopies); a prune from the backup folder waits for them.
	strays map[*node][]string
	// restart says why the primary's log chain restarted ("" when it did
	// not): the next full begins a new fork.
	restart string
	// adoptedRestart is set when a full backup adopted in this plan begins
	// the fork of a restart the ledger was waiting for.
	adoptedRestart bool
	// fullWhy is why a full backup is due ("" when not).
	fullWhy string
	newFull *node
	newLog  *node
	// tail is a switchover's tail-log backup, added to the plan by the
	// promote that restores it (see planTailLog).
	tail *Action
	// needed holds the artifacts some target or the newest restorable chain
	// still needs from the backup folder.
	needed map[*node]bool
	// wanted holds, per target, what it still needs at its destination.
	wanted map[string]map[*node]bool
	// adoptions maps adopted artifact IDs to their Adopt actions.
	adoptions map[string]string
}

func (b *builder) planDatabase(p *config.Primary, name string) {
	d := &dbPlan{p: p, name: name, led: b.st.LookupDatabase(p.Name, name), byID: map[string]*node{},
		needed: map[*node]bool{}, wanted: map[string]map[*node]bool{}, canBackup: true, adoptions: map[string]string{}}
	d.c.w = d.words()
	fo, known, reachable := b.folder(p.Folder)
	d.folderKnown = known
	if !reachable {
		d.canBackup = false
	}
	oob := b.observePrimary(d)
	b.buildNodes(d, fo)
	b.adopt(d, fo, oob)
	d.c.index(b.now)
	for _, n := range d.c.nodes {
		if n.id != "" {
			d.byID[n.id] = n
		}
	}
	b.checkClocks(d)
	if b.promote != nil {
		if !b.promoting(name) {
			return
		}
		b.planTailLog(d)
		for _, t := range b.cfg.TargetsOf(p) {
			if b.targetSelected(t) && containsString(t.DatabaseNames(), name) {
				b.planPromote(d, t)
			}
		}
		return
	}
	b.fullDue(d)
	b.planBackups(d)
	if srcFull, links, _, _ := d.seedFor(d.sourceHas, b.now); srcFull != nil {
		// The newest chain the folder can restore is kept for new targets.
		d.needed[srcFull] = true
		for _, n := range links {
			d.needed[n] = true
		}
	}
	for _, t := range b.cfg.TargetsOf(p) {
		if !b.targetSelected(t) || !containsString(t.DatabaseNames(), name) {
			continue
		}
		if t.Restores() {
			b.planStandby(d, t)
		} else {
			b.planCopyOnly(d, t)
		}
	}
	b.recordStrayCopies(d)
	if b.prune {
		b.planPrune(d)
	}
}

// recordStrayCopies proves and records complete copies at a destination
// that the ledger does not know of (a ship whose run was killed after the
// upload, before it wrote it down) of backups the target does not need:
// shipAll does so for what it needs. Otherwise the ledger forgets such a
// backup once it is pruned from the folder, and its copy stays at the
// destination for ever, an orphan no retention removes.
func (b *builder) recordStrayCopies(d *dbPlan) {
	for _, t := range b.cfg.TargetsOf(d.p) {
		if !b.targetSelected(t) || !containsString(t.DatabaseNames(), d.name) {
			continue
		}
		led := b.st.LookupTargetDatabase(t.Name, d.name)
		if led != nil && led.PromotedAt != nil {
			continue
		}
		dest, known := b.destination(t)
		if !known || dest == nil {
			continue
		}
		for _, n := range d.c.nodes {
			if n.art == nil || n.id == "" || n.art.Size <= 0 || (led != nil && led.Copies[n.id] != nil) || !allListed(dest, n.art) {
				continue
			}
			id := actionID(Verify, d.p.Name, d.name, t.Name, n.key())
			if b.ids[id] {
				continue // shipAll proves it already
			}
			b.add(n.ref(&Action{ID: id, Kind: Verify, Primary: d.p.Name, Database: d.name, Target: t.Name,
				Reason: "a copy is already there (its ship was not recorded): prove it matches the backup's SHA-256 and record it"}))
			if d.strays == nil {
				d.strays = map[*node][]string{}
			}
			d.strays[n] = append(d.strays[n], id)
		}
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
		b.once("primary:"+d.p.Name, Error, d.p.Name, "", "", fmt.Sprintf("cannot observe primary %q", d.p.Name),
			po.Err+"\nNo backup is taken until it answers; standbys still receive what was already backed up.")
		return nil
	}
	for _, a := range po.Advice {
		b.once("advice:primary:"+d.p.Name+":"+a.Summary, Warning, d.p.Name, "", "", fmt.Sprintf("primary %q: %s", d.p.Name, a.Summary), a.Detail)
	}
	o := po.Databases[d.name]
	if o == nil || !o.Exists {
		d.canBackup = false
		b.problem(Error, d.p.Name, d.name, "", fmt.Sprintf("database %q does not exist on primary %q", d.name, d.p.Name),
			"Create it, or remove it from the primary's databases.")
		return nil
	}
	d.obs = o
	// A switchover killed after it stopped writes (engine.PrimaryReadOnly)
	// is finished by promote -planned again: the final log backup is taken
	// from the read-only primary.
	retriedSwitchover := b.promote != nil && b.promote.Planned && o.State == engine.PrimaryReadOnly
	if !strings.EqualFold(o.State, "ONLINE") && !retriedSwitchover {
		d.canBackup = false
		detail := "Backups can only be taken of an online database."
		for _, t := range b.cfg.TargetsOf(d.p) {
			if tl := b.st.LookupTargetDatabase(t.Name, d.name); tl != nil && tl.PromotedHow == state.PromotePlanned && tl.PromotedAt != nil {
				w := d.words()
				detail = fmt.Sprintf("It was switched over to target %q at %s (the %s leaves it %s). Reverse the roles in the configuration: %q's server becomes the primary, and this server its target.",
					t.Name, fmtTime(*tl.PromotedAt), w.tail, w.tailPrimary, t.Name)
			}
		}
		b.problem(Error, d.p.Name, d.name, "", fmt.Sprintf("database %q on primary %q is %s, not ONLINE", d.name, d.p.Name, o.State), detail)
	}
	if !strings.EqualFold(o.RecoveryModel, "FULL") {
		d.canBackup = false
		b.problem(Error, d.p.Name, d.name, "", fmt.Sprintf("database %q uses the %s recovery model; log shipping needs FULL", d.name, o.RecoveryModel),
			fmt.Sprintf("Run ALTER DATABASE %s SET RECOVERY FULL on the primary; the next apply then takes a new full backup to start the chain.", quoteIdent(d.name)))
	}
	b.retention(d, o)
	var oob []engine.BackupRecord
	for _, r := range o.Backups {
		if r.CopyOnly || (d.led != nil && known(d.led, d.p.Folder.ServerPath, r)) {
			continue
		}
		oob = append(oob, r)
	}
	return oob
}

// known reports whether the ledger has the backup a history record
// describes: the same kind and LSNs, and — when the server wrote it into
// the backup folder — the same file (an idle database's empty log backups
// all have the same LSNs; one whose reply was lost must still be found).
func known(led *state.Database, folder string, r engine.BackupRecord) bool {
	key, inFolder := keyFromServerPath(folder, r.Path)
	for _, a := range led.Artifacts {
		if a.Kind == r.Kind && a.FirstLSN.Cmp(r.FirstLSN) == 0 && a.LastLSN.Cmp(r.LastLSN) == 0 && (!inFolder || strings.EqualFold(a.Key, key)) {
			return true
		}
	}
	return false
}

// buildNodes turns the ledger's artifacts into nodes, each knowing whether
// the backup folder can still provide it.
func (b *builder) buildNodes(d *dbPlan, fo *StorageObservation) {
	if d.led == nil {
		return
	}
	for _, a := range d.led.Artifacts {
		n := &node{id: a.ID, hdr: a.Header, art: a, completed: a.Completed, newFork: a.NewFork}
		switch {
		case a.PrunedAt != nil:
			n.src = srcPruned
		case a.DamagedAt != nil:
			n.src = srcDamaged
		case !d.folderKnown:
			n.src = srcUnknown
		case fo != nil:
			for _, f := range a.Files() {
				if _, ok := fo.Objects[f.Key]; !ok {
					n.src = srcMissing // a striped backup needs every stripe
				}
			}
		}
		d.c.nodes = append(d.c.nodes, n)
	}
}

// adopt places the backups the primary's history knows and the ledger does
// not: those whose file is in the backup folder are adopted (a log whose
// reply was lost, a DBA's backup written there); a log written elsewhere is
// a hole the chain cannot pass; a full written elsewhere changes nothing (a
// full never breaks the log chain).
func (b *builder) adopt(d *dbPlan, fo *StorageObservation, oob []engine.BackupRecord) {
	var extra []*node
	// A file written twice holds only the later backup (WITH INIT/FORMAT).
	lastTo := map[string]int{}
	for i, r := range oob {
		lastTo[strings.ToLower(r.Path)] = i
	}
	for i, r := range oob {
		key, under := keyFromServerPath(d.p.Folder.ServerPath, r.Path)
		inFolder := false
		if under && fo != nil && r.Stripes >= 0 {
			// A striped backup is there only with every stripe; one striped
			// across files drsctl does not name (Stripes -1) is not.
			inFolder = true
			for _, k := range artifact.StripePaths(key, r.Stripes) {
				if _, ok := fo.Objects[k]; !ok {
					inFolder = false
				}
			}
		}
		overwritten := lastTo[strings.ToLower(r.Path)] != i
		switch {
		case overwritten:
			if r.Kind == artifact.Log {
				extra = append(extra, &node{hdr: r.Header, src: srcHole, path: r.Path, overwritten: true})
			}
		case !d.folderKnown:
			if r.Kind == artifact.Log {
				// Cannot tell whether drsctl can reach it: the chain waits.
				extra = append(extra, &node{hdr: r.Header, src: srcUnknown, path: r.Path})
			}
		case inFolder && d.byIDLookup(path.Base(key)) == nil:
			id := path.Base(key)
			n := &node{id: id, hdr: r.Header}
			what := "log backup taken outside drsctl"
			if r.Kind == artifact.Full {
				what = "full backup not in the ledger"
			}
			a := &Action{ID: actionID(Adopt, d.p.Name, d.name, "", id), Kind: Adopt, Primary: d.p.Name, Database: d.name,
				Artifact: id, ArtifactKind: r.Kind,
				Reason:  fmt.Sprintf("%s at %s is in the backup folder: it joins the chain", what, fmtTime(r.Finish)),
				Adopted: &Adoption{Key: key, Path: r.Path, Header: r.Header}}
			if r.Kind == artifact.Full && d.led != nil && d.led.Restart != "" && !d.adoptedRestart {
				// The full drsctl took to restart the chain, whose reply was lost.
				a.NewFork, n.newFork, d.adoptedRestart = true, true, true
				a.Reason = fmt.Sprintf("full backup at %s is in the backup folder: it begins the new chain (%s)", fmtTime(r.Finish), d.led.Restart)
			}
			b.add(a)
			d.adoptions[id] = a.ID
			extra = append(extra, n)
		case r.Kind == artifact.Log:
			extra = append(extra, &node{hdr: r.Header, src: srcHole, path: r.Path})
		default:
			b.problem(Warning, d.p.Name, d.name, "", fmt.Sprintf("full backup of %q taken outside drsctl at %s", d.name, fmtTime(r.Finish)),
				fmt.Sprintf("Written to %s. A full backup does not break the log chain; drsctl does not use it.", r.Path))
		}
	}
	// Backups taken by others go where their LSNs put them among drsctl's
	// own (the ledger places them the same way once adopted).
	for _, n := range extra {
		i := state.PlaceByLSN(len(d.c.nodes), func(j int) artifact.Header { return d.c.nodes[j].hdr }, n.hdr)
		d.c.nodes = append(d.c.nodes, nil)
		copy(d.c.nodes[i+1:], d.c.nodes[i:])
		d.c.nodes[i] = n
	}
}

func (d *dbPlan) byIDLookup(id string) *node {
	for _, n := range d.c.nodes {
		if n.id == id {
			return n
		}
	}
	return nil
}

// sourceHas says whether the backup folder can provide n.
func (d *dbPlan) sourceHas(n *node) (have, string) {
	switch n.src {
	case srcOK, srcNew:
		return haveShip, ""
	case srcUnknown:
		return haveUnknown, ""
	}
	return haveNone, n.whySourceGone()
}

// have is whether a target can get an artifact.
type have int

const (
	haveNone    have = iota // nowhere it can come from
	haveUnknown             // cannot tell: an observation failed
	haveShip                // from the backup folder
	haveCopy                // an intact copy is at the destination already
)

// seedFor returns the newest full backup of the newest fork from which a
// target can reach the present with what has gives it, preferring the
// newest one finished by cutoff (restore_delay), and the logs after it. When
// none can, why says what is missing from the newest full's chain; wait is
// true when an observation that failed keeps planning from telling.
func (d *dbPlan) seedFor(has func(*node) (have, string), cutoff time.Time) (full *node, links []*node, why string, wait bool) {
	if d.restart != "" {
		return nil, nil, d.restart, false // nothing before the restart leads anywhere
	}
	var fallback *node
	var fallbackLinks []*node
	fulls := d.c.fulls[d.c.newest]
	for i := len(fulls) - 1; i >= 0; i-- {
		f := fulls[i]
		h, w := has(f)
		if h == haveUnknown {
			return nil, nil, "", true
		}
		if h == haveNone {
			if why == "" {
				why = w
			}
			continue
		}
		ls, end := d.c.walk(f)
		if !d.c.reaches(f.fork, end) {
			if why == "" {
				last := f
				if len(ls) > 0 {
					last = ls[len(ls)-1]
				}
				why = d.c.gapAfter(f.fork, last, end)
			}
			continue
		}
		ok := true
		for _, n := range ls {
			h, w := has(n)
			if h == haveUnknown {
				return nil, nil, "", true
			}
			if h == haveNone {
				ok = false
				if why == "" {
					why = w
				}
				break
			}
		}
		if !ok {
			continue
		}
		if !f.late().After(cutoff) {
			return f, ls, "", false
		}
		if fallback == nil {
			fallback, fallbackLinks = f, ls
		}
	}
	if fallback != nil {
		return fallback, fallbackLinks, "", false
	}
	if why == "" {
		why = "there is no full backup"
		if d.c.newest > 0 {
			why = "there is no full backup since " + d.c.forkWhy[d.c.newest]
		}
	}
	return nil, nil, why, false
}

// fullDue decides whether a full backup is due and why.
func (b *builder) fullDue(d *dbPlan) {
	if d.led != nil && d.led.Restart != "" && !d.adoptedRestart {
		d.restart = d.led.Restart
	}
	if o := d.obs; o != nil && len(d.c.nodes) > 0 && d.canBackup && d.restart == "" && !d.adoptedRestart {
		switch {
		case d.led != nil && recreated(d.led, o) != "" && !d.chainCarriesOn(o):
			d.restart = recreated(d.led, o)
		case !o.LogChain && o.NoChainWhy != "":
			d.restart = o.NoChainWhy
		case !o.LogChain:
			d.restart = "the server has no log chain for the database (the recovery model was switched to SIMPLE and back, or the database was restored)"
		}
	}
	switch {
	case d.restart != "":
		d.fullWhy = d.restart
		return
	case len(d.c.fulls[d.c.newest]) == 0:
		d.fullWhy = "no " + d.words().kinds[artifact.Full] + " backup yet"
		if d.c.newest > 0 {
			d.fullWhy = "no full backup since " + d.c.forkWhy[d.c.newest]
		}
		return
	}
	if d.folderKnown {
		if f, _, why, wait := d.seedFor(d.sourceHas, b.now); f == nil && !wait {
			d.fullWhy = "no full backup in the backup folder reaches the present: " + why
			return
		}
	}
	fulls := d.c.fulls[d.c.newest]
	newest := fulls[len(fulls)-1]
	if age := b.now.Sub(newest.late()); age >= d.p.FullBackup.Every || age < -clockTolerance {
		d.fullWhy = fmt.Sprintf("last %s backup %s ago, every %s", d.words().kinds[artifact.Full], fmtDur(age), fmtDur(d.p.FullBackup.Every))
	}
}

// recreated says why the observed database is not the one the ledger knows
// ("" when it is). An identity the engine reports decides; without one, a
// creation time that moved by a whole number of quarter hours within a day
// is a server-local time read with another UTC offset (a daylight saving
// change), not a new database.
// chainCarriesOn reports whether the server's log chain goes on from the
// end of drsctl's although the database's identity changed. Recovering a
// database (RESTORE … WITH RECOVERY: the old primary a switchover's
// tail-log backup left RESTORING, brought back by hand; or one restored
// from drsctl's backups through the newest) begins a new recovery fork
// where its log stopped, and the next log backup begins there: a standby
// standing at that point continues on the new fork (SQL Server's recovery
// paths), so nothing restarts and no standby is seeded again. A database
// recreated, or restored to an older point, has its chain elsewhere.
func (d *dbPlan) chainCarriesOn(o *engine.PrimaryDatabase) bool {
	if !o.LogChain || o.ChainLSN.IsZero() || len(d.c.end) == 0 {
		return false
	}
	end := d.c.end[d.c.newest]
	return !end.IsZero() && o.ChainLSN.Cmp(end) == 0
}

func recreated(led *state.Database, o *engine.PrimaryDatabase) string {
	return Recreated(led.Identity, led.CreatedAt, o)
}

// Recreated is recreated for a database known by its identity and creation
// time (the ledger's, or what a plan observed): apply asks it again right
// before a tail-log backup.
func Recreated(identity string, createdAt time.Time, o *engine.PrimaryDatabase) string {
	if identity != "" && o.Identity != "" {
		if identity != o.Identity {
			return fmt.Sprintf("the database was recreated or restored over on the primary (its identity changed from %s to %s)", identity, o.Identity)
		}
		return ""
	}
	if createdAt.IsZero() || o.CreatedAt.IsZero() {
		return ""
	}
	shift := o.CreatedAt.Sub(createdAt)
	if shift < 0 {
		shift = -shift
	}
	if shift == 0 || (shift <= 14*time.Hour && shift%(15*time.Minute) == 0) {
		return ""
	}
	return fmt.Sprintf("the database was recreated or restored over on the primary (created %s, was %s)", fmtTime(o.CreatedAt), fmtTime(createdAt))
}

func (b *builder) planBackups(d *dbPlan) {
	if !d.canBackup {
		return
	}
	var facts *PrimaryFacts
	if d.obs != nil {
		facts = &PrimaryFacts{RecoveryModel: d.obs.RecoveryModel, CreatedAt: d.obs.CreatedAt, Identity: d.obs.Identity}
	}
	var logAction *Action
	// A log backup is due by age on an intact chain. It goes first: it is
	// quick and keeps every continuing target current while a long full
	// runs, and neither waits on the other's success.
	if d.restart == "" && len(d.c.fulls[d.c.newest]) > 0 && (d.obs == nil || d.obs.LogChain) {
		var last *node
		for _, n := range d.c.nodes {
			if n.fork == d.c.newest && (last == nil || n.at().After(last.at())) {
				last = n
			}
		}
		// A backup dated in the future says only that a clock is wrong.
		if age := b.now.Sub(last.began()); age >= logDue(d.p.LogBackup.Every) || age < -clockTolerance {
			k := d.words().kinds
			reason := fmt.Sprintf("last %s backup %s ago, every %s", k[artifact.Log], fmtDur(age), fmtDur(d.p.LogBackup.Every))
			if last.isFull() {
				reason = fmt.Sprintf("no %s backup since the %s backup %s ago, every %s", k[artifact.Log], k[artifact.Full], fmtDur(age), fmtDur(d.p.LogBackup.Every))
			}
			logAction = b.add(&Action{ID: actionID(BackupLog, d.p.Name, d.name, "", ""), Kind: BackupLog, Primary: d.p.Name, Database: d.name,
				ArtifactKind: artifact.Log, Reason: reason, Observed: facts})
			d.newLog = &node{from: logAction.ID, src: srcNew, fork: d.c.newest,
				hdr: artifact.Header{Kind: artifact.Log, Database: d.name, Start: b.now, Finish: b.now}}
		}
	}
	if d.fullWhy != "" {
		a := &Action{ID: actionID(BackupFull, d.p.Name, d.name, "", ""), Kind: BackupFull, Primary: d.p.Name, Database: d.name,
			ArtifactKind: artifact.Full, Reason: d.fullWhy, Observed: facts, NewFork: d.restart != ""}
		if logAction != nil {
			a.After = []string{logAction.ID} // one backup at a time per database
		}
		b.add(a)
		d.newFull = &node{from: a.ID, src: srcNew, fork: d.c.newest,
			hdr: artifact.Header{Kind: artifact.Full, Database: d.name, Start: b.now, Finish: b.now}}
	}
}

// checkClocks warns when the primary's clock and drsctl's disagree, seen
// from the newest backup: RPO is then measured by drsctl's clock alone.
func (b *builder) checkClocks(d *dbPlan) {
	for i := len(d.c.nodes) - 1; i >= 0; i-- {
		n := d.c.nodes[i]
		if n.src == srcHole || n.src == srcUnknown {
			continue
		}
		var skew time.Duration
		var against string
		if !n.completed.IsZero() {
			skew, against = n.hdr.Finish.Sub(n.completed), "drsctl saw it complete at "+fmtTime(n.completed)
		} else if skew = n.hdr.Finish.Sub(b.now); skew < 0 {
			skew = 0 // an adopted backup may be old; only a finish in the future is wrong
		} else {
			against = "it is " + fmtTime(b.now) + " by drsctl's clock"
		}
		if skew > clockTolerance || skew < -clockTolerance {
			dir := "ahead of"
			if skew < 0 {
				dir, skew = "behind", -skew
			}
			b.problem(Warning, d.p.Name, d.name, "", fmt.Sprintf("primary %q's clock is about %s %s drsctl's", d.p.Name, fmtDur(skew), dir),
				fmt.Sprintf("%s finished at %s by the server's clock, but %s. RPO is measured with drsctl's clock; fix the clock that is wrong (NTP).", n.label(), fmtTime(n.hdr.Finish), against))
			b.lasting(fmt.Sprintf("primary %q's clock is %s drsctl's", d.p.Name, dir))
		}
		return
	}
}

// logDue is how old the last log backup must be for the next to be due:
// a fifth short of the interval. Cron and timers run apply at the
// interval itself, and the backup the last run took completed a little
// after that run started (later on a loaded runner); due only at the full
// interval, every other run would find it a moment short, and log
// backups would come at twice the interval (bench/README.md, PostgreSQL:
// a tenth was not enough under load). Early by a fifth costs a backup
// more now and then, never RPO.
func logDue(every time.Duration) time.Duration { return every - every/5 }
