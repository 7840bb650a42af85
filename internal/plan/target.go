package plan

import (
	"fmt"
	"path"
	"strings"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/state"
)

// targetView is one target database as planning sees it.
type targetView struct {
	t    *config.Target
	led  *state.TargetDatabase
	dest *StorageObservation // nil without refresh
}

// has says whether the target can get n: an intact copy at its
// destination, or the backup folder's.
func (b *builder) targetHas(d *dbPlan, tv targetView) func(*node) (have, string) {
	return func(n *node) (have, string) {
		if tv.led != nil && n.id != "" {
			if cp := tv.led.Copies[n.id]; cp != nil && b.copyDrift(tv.dest, cp, n.art) == "" {
				return haveCopy, ""
			}
		}
		h, why := d.sourceHas(n)
		if h == haveNone && tv.led != nil && n.id != "" && tv.led.Copies[n.id] != nil {
			why += ", and the copy at the destination is damaged"
		}
		return h, why
	}
}

func (b *builder) planStandby(d *dbPlan, t *config.Target) {
	led := b.st.LookupTargetDatabase(t.Name, d.name)
	dest, destKnown := b.destination(t)
	if !destKnown {
		pos := b.ledgerPosition(d, led)
		b.holdFrom(d, t, pos)
		b.rpo(d, t, pos, "its destination could not be listed")
		return
	}
	tv := targetView{t: t, led: led, dest: dest}
	sv := b.standing(d, t, led)
	if sv.leave {
		return
	}
	pos, reseed, unknownRPO, canRestore := sv.pos, sv.reseed, sv.unknownRPO, sv.canRestore
	cutoff := b.now.Add(-t.RestoreDelay)
	has := b.targetHas(d, tv)
	var seedFull *node
	var links []*node
	if pos != nil && reseed == "" && d.restart != "" {
		reseed = d.restart
	}
	if pos != nil && reseed == "" {
		ls, end := d.c.walk(pos)
		switch {
		case !d.c.reaches(pos.fork, end):
			last := pos
			if len(ls) > 0 {
				last = ls[len(ls)-1]
			}
			reseed = d.c.gapAfter(pos.fork, last, end)
		default:
			for _, n := range ls {
				h, why := has(n)
				if h == haveUnknown {
					b.rpo(d, t, pos, unknownRPO)
					b.need(d, t, ls...)
					return // the folder could not be listed: wait, never reseed
				}
				if h == haveNone {
					reseed = why
					break
				}
			}
		}
		if reseed == "" {
			links = ls
		}
	}
	if pos == nil || reseed != "" {
		f, ls, why, wait := d.seedFor(has, cutoff)
		if wait {
			b.holdFrom(d, t, pos)
			b.rpo(d, t, pos, unknownRPO)
			return
		}
		switch {
		case f != nil:
			seedFull, links = f, ls
		case d.newFull != nil:
			seedFull, links = d.newFull, nil
		default:
			if d.canBackup || !canRestore {
				// A full is due for another reason, or restores wait anyway.
				if d.fullWhy == "" && canRestore {
					b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("target %q cannot be seeded: %s", t.Name, why), "")
				}
			} else {
				b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("target %q cannot be seeded until primary %q can be backed up: %s", t.Name, d.p.Name, why), "")
			}
			b.holdFrom(d, t, pos)
			b.rpo(d, t, pos, unknownRPO)
			return
		}
		if reseed == "" && pos == nil {
			reseed = "the target database has not been restored yet"
		}
	}
	// The new log backup continues the target when the target reaches the
	// present with what it has.
	want := links
	if seedFull != nil {
		want = append([]*node{seedFull}, links...)
	}
	if d.newLog != nil && (seedFull == nil || seedFull != d.newFull) {
		want = append(want, d.newLog)
	}
	b.need(d, t, want...)
	verified := b.shipAll(d, tv, append(b.damaged(d, tv, want), want...), seedFull)
	if !canRestore {
		b.rpo(d, t, pos, unknownRPO)
		return
	}
	mode := string(t.RestoreMode)
	prev := ""
	if sv.record != nil {
		prev = sv.record.ID
	}
	at := pos // where the target stands before each restore
	held := false
	for i, n := range want {
		if n.late().After(cutoff) {
			break // restore_delay: this one and all after it wait
		}
		if !t.RestoreWindows.Open(b.now) {
			// Outside the window nothing is restored, a seed included: a
			// REPLACE disconnects readers as a log restore does, and a
			// first seed is the heaviest restore of all on a server that
			// is serving reports. Ships and verifies above still run, so
			// the window opens onto copies that are ready.
			held = true
			b.waitForWindow(t)
			break
		}
		a := n.ref(&Action{Primary: d.p.Name, Database: d.name, Target: t.Name, Mode: mode})
		if i == 0 && seedFull != nil {
			a.Kind, a.Seed, a.Replace = RestoreFull, true, sv.owned && sv.exists
			if a.Replace {
				a.Assumed = sv.assumed
			}
			a.Reason = "seed: " + reseed
			if pos != nil || led != nil && led.SeededFrom != "" {
				a.Reason = fmt.Sprintf("seed again from %s: %s", n.label(), reseed)
			}
		} else {
			a.Kind = RestoreLog
			a.Reason = "continues after " + at.label()
			if n.src == srcNew {
				a.Continues, a.AfterLog = at.hdr.LastLSN, at.isLog()
			}
		}
		b.addRestore(d, t, a, n, verified, prev)
		prev, at = a.ID, n
	}
	b.rpo(d, t, pos, unknownRPO)
	if held {
		b.p.RPO[len(b.p.RPO)-1].Window = "window closed, opens " + t.RestoreWindows.NextOpenText(b.now)
	}
}

// waitForWindow says, once per target, that its restores wait for its
// restore window, and when that opens.
func (b *builder) waitForWindow(t *config.Target) {
	if b.said["window:"+t.Name] {
		return
	}
	b.once("window:"+t.Name, Warning, t.Primary.Name, "", t.Name,
		fmt.Sprintf("restores on target %q wait for the restore window, which opens at %s", t.Name, t.RestoreWindows.NextOpenText(b.now)),
		fmt.Sprintf("Its restore_window (%s) keeps restores, seeds included, from disconnecting its readers outside those hours. Backups, ships and verifies go on; the first apply after the window opens restores what is due.", t.RestoreWindows))
	b.lasting(fmt.Sprintf("restores on target %q wait for the restore window (%s)", t.Name, t.RestoreWindows))
}

// addRestore adds a restore of n to a target: after the verify of its copy
// in this plan, the restore before it (prev) and its adoption, if any.
func (b *builder) addRestore(d *dbPlan, t *config.Target, a *Action, n *node, verified map[string]string, prev string) {
	a.ID = actionID(a.Kind, d.p.Name, d.name, t.Name, n.key())
	if v := verified[n.key()]; v != "" {
		a.DependsOn = appendUnique(a.DependsOn, v)
	}
	if prev != "" {
		a.DependsOn = appendUnique(a.DependsOn, prev)
	}
	if id := d.adoptions[n.id]; id != "" && n.id != "" {
		a.DependsOn = appendUnique(a.DependsOn, id)
	}
	b.add(a)
}

// standing is where a standby stands, as planning sees it after asking its
// server: the ledger's word, corrected by what the server says.
type standing struct {
	pos *node // nil: nothing drsctl can continue (seed it)
	// owned: drsctl seeded it (or started to); exists: a database is there.
	owned, exists bool
	canRestore    bool
	reseed        string  // why it must be seeded again, when it must
	unknownRPO    string  // why its lag cannot be trusted
	record        *Action // records a position the ledger did not know
	leave         bool    // not drsctl's to touch: reported, nothing planned
	// assumed is what was observed of the database a seed would restore
	// over: apply checks it again right before the REPLACE.
	assumed *Assumption
}

func (b *builder) standing(d *dbPlan, t *config.Target, led *state.TargetDatabase) standing {
	owned := led != nil && (led.SeededFrom != "" || led.Seeding != "")
	pos := b.ledgerPosition(d, led)
	exists := led != nil && (led.Restored != nil || led.Seeding != "")
	canRestore := true
	reseed := "" // why the target must be seeded again, when it must
	unknownRPO := ""
	var record *Action
	recordAt := func(n *node, seed bool, why string) {
		record = b.add(&Action{ID: actionID(Record, d.p.Name, d.name, t.Name, n.id), Kind: Record, Primary: d.p.Name, Database: d.name, Target: t.Name,
			Artifact: n.id, ArtifactKind: n.hdr.Kind, Seed: seed, Position: &Position{Artifact: n.id, Kind: n.hdr.Kind, LastLSN: n.hdr.LastLSN},
			Reason: why})
		if d.adoptions[n.id] != "" {
			record.DependsOn = appendUnique(record.DependsOn, d.adoptions[n.id])
		}
		pos = n
	}
	// A seed started since the promotion (the promoted database was dropped,
	// or reprotect asked to replace it) is drsctl's again: it is placed like
	// any seed, even when it did not complete.
	promoted := led != nil && led.PromotedAt != nil && led.Seeding == ""
	if promoted && !b.obs.Refreshed {
		b.promotedLeft(d, t, led, "")
		return standing{leave: true}
	}
	if b.obs.Refreshed {
		to := b.obs.Targets[t.Name]
		if promoted {
			o := (*engine.StandbyDatabase)(nil)
			if to != nil && to.Err == "" {
				o = to.Databases[d.name]
			}
			switch {
			case to == nil || to.Err != "":
				b.promotedLeft(d, t, led, "")
				return standing{leave: true}
			case o == nil || o.State == engine.Absent:
				b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q was promoted at %s and has been dropped there since", d.name, t.Name, fmtTime(*led.PromotedAt)),
					"The configuration still asks for a standby and there is nothing to lose: it is protected again, seeded from the newest full backup.")
				return standing{canRestore: true, reseed: "the promoted database was dropped on the target: protecting it again"}
			case o.LastRestore != nil && !restoredFromDestination(t, o):
				// Another database was restored under its name since the
				// promotion: not drsctl's, whatever reprotect said.
				b.foreign(d, t, o)
				return standing{leave: true}
			case led.ReprotectAt != nil:
				return standing{owned: true, exists: true, canRestore: true, assumed: &Assumption{State: o.State, RedoLSN: o.RedoLSN},
					reseed: fmt.Sprintf("`drsctl reprotect` asked at %s to replace the promoted database (%s) with a new seed", fmtTime(*led.ReprotectAt), o.RawState)}
			default:
				b.promotedLeft(d, t, led, o.RawState)
				return standing{leave: true}
			}
		}
		switch {
		case to == nil:
			canRestore = false
			unknownRPO = "its server was not observed"
		case to.Err != "":
			canRestore = false
			unknownRPO = "its server could not be observed"
			wait := "the server answers"
			if !t.Connection.IsSet() {
				wait = "the connection is set" // an unset env(): to.Err names it
			}
			b.once("target:"+t.Name, Error, t.Primary.Name, "", t.Name, fmt.Sprintf("cannot observe target %q", t.Name),
				to.Err+"\nCopies are still shipped; restores wait until "+wait+".")
		default:
			for _, a := range to.Advice {
				b.once("advice:target:"+t.Name+":"+a.Summary, Warning, t.Primary.Name, "", t.Name, fmt.Sprintf("target %q: %s", t.Name, a.Summary), a.Detail)
			}
			o := to.Databases[d.name]
			st := engine.Absent
			if o != nil {
				st = o.State
			}
			switch {
			case st == engine.Absent:
				if owned && led.Restored != nil {
					b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q is gone from target %q", d.name, t.Name), "It was dropped outside drsctl; it is seeded again.")
				}
				pos, exists = nil, false
			case st == engine.Online && o.LastRestore != nil && !restoredFromDestination(t, o):
				// Another database restored (and recovered) under its name.
				b.foreign(d, t, o)
				b.rpo(d, t, nil, "the database on the target is ONLINE, not a standby")
				return standing{leave: true}
			case st == engine.Online && owned && led.ReprotectAt != nil:
				// Failed over by hand, then `drsctl reprotect`: replace it.
				return standing{owned: true, exists: true, canRestore: true, assumed: &Assumption{State: o.State, RedoLSN: o.RedoLSN},
					reseed: fmt.Sprintf("`drsctl reprotect` asked at %s to replace the database recovered outside drsctl with a new seed", fmtTime(*led.ReprotectAt))}
			case st == engine.Online:
				if owned {
					b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q is ONLINE: it was recovered outside drsctl", d.name, t.Name),
						fmt.Sprintf("No more logs can be restored onto it, and drsctl leaves it alone: no copies, no restores, and it no longer holds back pruning. If this was a failover, record it with `drsctl promote %s -database %s`; to protect it again, drop it on the target (it is seeded again) or run `drsctl reprotect %s -database %s` (the next apply replaces it).", t.Name, d.name, t.Name, d.name))
				} else {
					b.foreign(d, t, o)
				}
				b.rpo(d, t, nil, "the database on the target is ONLINE, not a standby")
				return standing{leave: true}
			case st == engine.Other:
				canRestore = false
				unknownRPO = "the database on the target is " + o.RawState
				b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q is %s", d.name, t.Name, o.RawState), d.words().restoresOnto)
			default: // restoring or standby
				exists = true
				redo := o.RedoLSN
				switch {
				case !owned:
					if f := d.verifiedFullAt(led, redo); f != nil {
						owned = true
						recordAt(f, true, fmt.Sprintf("the target stands after %s (LSN %s), which drsctl shipped and verified there: a seed whose reply was lost", f.id, d.words().lsn(redo)))
					} else {
						b.foreign(d, t, o)
						b.rpo(d, t, nil, "a database drsctl did not seed is in the way")
						return standing{leave: true}
					}
				case led.Seeding != "":
					switch f := d.byID[led.Seeding]; {
					case f != nil && !redo.IsZero() && redo.Cmp(f.hdr.LastLSN) == 0:
						recordAt(f, true, fmt.Sprintf("the seed from %s completed (the target stands at its LSN %s) but its reply was lost", f.id, d.words().lsn(redo)))
					case redo.IsZero() || restoredFromDestination(t, o):
						// Mid-restore, or still what drsctl restored before.
						pos = nil
						reseed = fmt.Sprintf("the seed from %s did not complete: the database is left mid-restore", led.Seeding)
					default:
						// Someone restored another database there since.
						b.foreign(d, t, o)
						b.rpo(d, t, nil, "a database drsctl did not seed is in the way")
						return standing{leave: true}
					}
				case redo.IsZero():
					// Not a seed of drsctl's in progress: someone's restore
					// was interrupted, or the server's restore history was
					// cleaned up. Nothing is restored over what drsctl cannot
					// place.
					b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q is %s but the server reports no position for it", d.name, t.Name, standbyWords(o)),
						"drsctl restores nothing over a database it cannot place (an interrupted restore by hand, or restore history cleaned up on the server). Drop it on the target to have it seeded again.")
					b.rpo(d, t, nil, "the server reports no position for it")
					return standing{leave: true}
				case pos != nil && redo.Cmp(pos.hdr.LastLSN) == 0:
					// where the ledger says
				default:
					if n := d.nodeAt(redo, pos); n != nil {
						was := "nothing recorded"
						if pos != nil {
							was = "the ledger says " + pos.label()
						}
						recordAt(n, false, fmt.Sprintf("the target stands after %s (LSN %s) but %s: an interrupted apply or a restore by hand", n.label(), d.words().lsn(redo), was))
					} else if !restoredFromDestination(t, o) {
						// Someone restored another database under this name:
						// it is not drsctl's any more, whatever the ledger says.
						b.foreign(d, t, o)
						b.rpo(d, t, nil, "a database drsctl did not seed is in the way")
						return standing{leave: true}
					} else if o.Disagrees() {
						// The server gave two positions (SQL Server: restore
						// history and redo_start_lsn). That alone is no reason
						// to seed again: the next log restore asks the server,
						// which refuses a log it is already past (recorded as
						// restored) and one after a gap.
						if n := d.nodeAt(o.ServerRedoLSN, pos); n != nil && n != pos {
							recordAt(n, false, fmt.Sprintf("the target's server says both LSN %s and LSN %s; the second is where %s ends", d.words().lsn(redo), d.words().lsn(o.ServerRedoLSN), n.label()))
						} else if pos == nil {
							b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q stands at LSN %s or LSN %s, its server says, and no backup drsctl knows ends at either", d.name, t.Name, d.words().lsn(redo), d.words().lsn(o.ServerRedoLSN)),
								"drsctl restores nothing over a database it cannot place. Drop it on the target to have it seeded again.")
							b.rpo(d, t, nil, "the server reports two positions for it")
							return standing{leave: true}
						}
						if pos != nil && pos == b.ledgerPosition(d, led) {
							b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q stands at LSN %s by its restore history and at LSN %s by redo_start_lsn", d.name, t.Name, d.words().lsn(redo), d.words().lsn(o.ServerRedoLSN)),
								fmt.Sprintf("drsctl continues from where the ledger says (%s) and lets the server decide: a log it is already past is recorded as restored, a gap is reported. Nothing is seeded again for this alone.", pos.label()))
						}
					} else {
						b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q stands at LSN %s, which no backup in the ledger ends at", d.name, t.Name, d.words().lsn(redo)),
							"It was restored outside drsctl; it is seeded again.")
						pos = nil
						reseed = fmt.Sprintf("it stands at LSN %s, which no backup drsctl knows ends at", d.words().lsn(redo))
					}
				}
			}
		}
	} else if led != nil && led.Seeding != "" {
		canRestore = false
		b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("a seed of %q on target %q from %s was started and not confirmed", d.name, t.Name, led.Seeding),
			"Plan with refresh (without -refresh=false) so drsctl can see where the target stands.")
	}
	var assumed *Assumption
	if b.obs.Refreshed && exists {
		if to := b.obs.Targets[t.Name]; to != nil && to.Err == "" {
			if o := to.Databases[d.name]; o != nil {
				assumed = &Assumption{State: o.State, RedoLSN: o.RedoLSN}
			}
		}
	}
	return standing{pos: pos, owned: owned, exists: exists, canRestore: canRestore, reseed: reseed, unknownRPO: unknownRPO, record: record, assumed: assumed}
}

// promotedLeft says why a promoted target database gets nothing, and how
// to protect it again.
func (b *builder) promotedLeft(d *dbPlan, t *config.Target, led *state.TargetDatabase, now string) {
	what := fmt.Sprintf("database %q on target %q was promoted at %s", d.name, t.Name, fmtTime(*led.PromotedAt))
	if led.PromotedHow != "" {
		what = fmt.Sprintf("database %q on target %q was promoted (%s) at %s", d.name, t.Name, led.PromotedHow, fmtTime(*led.PromotedAt))
	}
	if now != "" {
		what += "; it is " + now + " there"
	}
	b.problem(Warning, d.p.Name, d.name, t.Name, what, fmt.Sprintf("It gets no restores or copies and holds back no pruning. To protect it again: "+
		"reverse the roles in the configuration (a primary block for %q's server, with the old primary as its target: seeded from the new primary); "+
		"or drop the database on the target (the next apply seeds it again); or run `drsctl reprotect %s -database %s` (the next apply replaces it, and what was written to it is lost).",
		t.Name, t.Name, d.name))
}

// foreign reports a database on a target that drsctl did not seed: it is
// never restored over, gets no copies and holds back no pruning.
func (b *builder) foreign(d *dbPlan, t *config.Target, o *engine.StandbyDatabase) {
	b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q already exists on target %q (%s) and drsctl did not seed it", d.name, t.Name, o.RawState),
		"drsctl never restores over a database it did not seed. Drop or rename it on the target, or remove the database from this target.")
}

// restoredFromDestination reports whether the last restore the target's
// server recorded read a file from the target's destination: what stands
// there came from drsctl's copies, not from somewhere else.
func restoredFromDestination(t *config.Target, o *engine.StandbyDatabase) bool {
	if o.LastRestore == nil {
		return false
	}
	_, under := keyFromServerPath(t.Destination.ServerPath, o.LastRestore.Path)
	return under
}

// ledgerPosition is the node the ledger says a standby restored last.
func (b *builder) ledgerPosition(d *dbPlan, led *state.TargetDatabase) *node {
	if led == nil || led.Restored == nil {
		return nil
	}
	return d.byID[led.Restored.Artifact]
}

// nodeAt finds the backup a standby observed at LSN redo restored last:
// preferably one reached from where the ledger says it stands, then one of
// the newest fork.
func (d *dbPlan) nodeAt(redo artifact.LSN, from *node) *node {
	if from != nil {
		ls, _ := d.c.walk(from)
		for _, n := range ls {
			if n.hdr.LastLSN.Cmp(redo) == 0 {
				return n
			}
		}
	}
	var best *node
	for _, n := range d.c.nodes {
		if n.id == "" || n.empty() || n.hdr.LastLSN.Cmp(redo) != 0 {
			continue
		}
		if best == nil || n.fork >= best.fork {
			best = n
		}
	}
	return best
}

// verifiedFullAt returns the full backup ending at redo that drsctl shipped
// and verified at the target's destination, or nil.
func (d *dbPlan) verifiedFullAt(led *state.TargetDatabase, redo artifact.LSN) *node {
	if led == nil || redo.IsZero() {
		return nil
	}
	for i := len(d.c.nodes) - 1; i >= 0; i-- {
		n := d.c.nodes[i]
		if n.isFull() && n.id != "" && n.hdr.LastLSN.Cmp(redo) == 0 {
			if cp := led.Copies[n.id]; cp != nil && cp.VerifiedAt != nil {
				return n
			}
		}
	}
	return nil
}

// holdFrom keeps in the backup folder what a target standing at pos would
// restore next, when planning cannot go further for it this time.
func (b *builder) holdFrom(d *dbPlan, t *config.Target, pos *node) {
	if pos != nil {
		ls, _ := d.c.walk(pos)
		b.need(d, t, ls...)
	}
}

// need marks artifacts a target still needs: from the backup folder, and
// at its own destination.
func (b *builder) need(d *dbPlan, t *config.Target, ns ...*node) {
	w := d.wanted[t.Name]
	if w == nil {
		w = map[*node]bool{}
		d.wanted[t.Name] = w
	}
	for _, n := range ns {
		d.needed[n] = true
		w[n] = true
	}
}

func (b *builder) planCopyOnly(d *dbPlan, t *config.Target) {
	led := b.st.LookupTargetDatabase(t.Name, d.name)
	dest, destKnown := b.destination(t)
	tv := targetView{t: t, led: led, dest: dest}
	held := d.heldChain(b, tv)
	var cur *node
	if len(held) > 0 {
		cur = held[len(held)-1]
	}
	if !destKnown {
		b.holdFrom(d, t, cur)
		b.rpo(d, t, cur, "its destination could not be listed")
		return
	}
	has := b.targetHas(d, tv)
	anchor, links, why, wait := d.seedFor(has, b.now)
	if wait {
		b.holdFrom(d, t, cur)
		b.rpo(d, t, cur, "")
		return
	}
	var want []*node
	switch {
	case anchor != nil:
		want = append([]*node{anchor}, links...)
		if d.newLog != nil {
			want = append(want, d.newLog)
		}
	case d.newFull == nil:
		if d.canBackup && d.fullWhy == "" {
			b.problem(Error, d.p.Name, d.name, t.Name, fmt.Sprintf("target %q cannot hold a complete chain: %s", t.Name, why), "")
		}
	}
	if d.newFull != nil {
		want = append(want, d.newFull)
	}
	// A vault keeps every backup from the oldest full it holds: a copy that
	// failed to ship once is shipped again, not left as a hole.
	if led != nil {
		inWant := map[*node]bool{}
		for _, n := range want {
			inWant[n] = true
		}
		from := -1
		for i, n := range d.c.nodes {
			if n.fork == d.c.newest && n.isFull() && n.id != "" && led.Copies[n.id] != nil {
				from = i
				break
			}
		}
		r := t.Destination.Retention
		for i := from; i >= 0 && i < len(d.c.nodes); i++ {
			n := d.c.nodes[i]
			if inWant[n] || n.id == "" || n.empty() || n.src != srcOK || n.fork != d.c.newest || (r > 0 && b.now.Sub(n.late()) >= r) {
				continue
			}
			if h, _ := has(n); h == haveShip {
				want = append(want, n)
			}
		}
	}
	b.need(d, t, want...)
	seed := anchor
	if seed == nil {
		seed = d.newFull
	}
	b.shipAll(d, tv, append(b.damaged(d, tv, want), want...), seed)
	b.rpo(d, t, cur, "")
}

// heldChain is the longest gap-free chain a target's destination holds,
// from a full of the newest fork: what it could restore today. Its last
// node is how far that reaches.
func (d *dbPlan) heldChain(b *builder, tv targetView) []*node {
	if tv.led == nil {
		return nil
	}
	held := func(n *node) bool {
		cp := tv.led.Copies[n.id]
		return n.id != "" && cp != nil && cp.VerifiedAt != nil && b.copyDrift(tv.dest, cp, n.art) == ""
	}
	var best []*node
	for _, f := range d.c.fulls[d.c.newest] {
		if !held(f) {
			continue
		}
		ch := []*node{f}
		p := f.hdr.LastLSN
		for m := d.c.next(f, p); m != nil && held(m); m = d.c.next(m, p) {
			ch, p = append(ch, m), m.hdr.LastLSN
		}
		if best == nil || p.Cmp(best[len(best)-1].hdr.LastLSN) >= 0 {
			best = ch
		}
	}
	return best
}

// shipAll plans ship and verify actions so every node in want is at the
// target's destination, proven intact. It returns, per node key, the action
// a restore of it must wait for ("" when the copy is already verified).
func (b *builder) shipAll(d *dbPlan, tv targetView, want []*node, seed *node) map[string]string {
	t, led := tv.t, tv.led
	waits := map[string]string{}
	done := map[*node]bool{}
	for _, n := range want {
		if done[n] {
			continue
		}
		done[n] = true
		var cp *state.Copy
		if led != nil && n.id != "" {
			cp = led.Copies[n.id]
		}
		shipReason := ""
		switch {
		case cp == nil && n.art != nil && tv.dest != nil && allListed(tv.dest, n.art) && n.art.Size > 0:
			// A complete-looking copy the ledger does not record: a ship
			// whose run was killed before it wrote it down. Proving it is
			// cheaper than shipping it again.
			v := n.ref(&Action{ID: actionID(Verify, d.p.Name, d.name, t.Name, n.key()), Kind: Verify, Primary: d.p.Name, Database: d.name, Target: t.Name,
				Reason: "a copy is already there (its ship was not recorded): prove it matches the backup's SHA-256",
				Seed:   n == seed && n.isFull() && (led == nil || led.SeededFrom == "")})
			if id := d.adoptions[n.id]; id != "" && n.id != "" {
				v.DependsOn = appendUnique(v.DependsOn, id)
			}
			b.add(v)
			waits[n.key()] = v.ID
			continue
		case cp == nil:
			shipReason = "not at the destination yet"
		default:
			if why := b.copyDrift(tv.dest, cp, n.art); why != "" {
				shipReason = why
				b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("%s at target %q's destination: %s", n.id, t.Name, why), "It is shipped again and verified before any restore uses it.")
			}
		}
		if shipReason != "" {
			if h, _ := d.sourceHas(n); h != haveShip {
				continue // never planned: a restore of it would have no copy behind it
			}
		}
		verifyDeps := []string{}
		if shipReason != "" {
			a := n.ref(&Action{ID: actionID(Ship, d.p.Name, d.name, t.Name, n.key()), Kind: Ship, Primary: d.p.Name, Database: d.name, Target: t.Name,
				Reason: shipReason, Seed: n == seed && n.isFull() && (led == nil || led.SeededFrom == "")})
			if id := d.adoptions[n.id]; id != "" && n.id != "" {
				a.DependsOn = appendUnique(a.DependsOn, id)
			}
			b.add(a)
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
		if id := d.adoptions[n.id]; id != "" && n.id != "" {
			v.DependsOn = appendUnique(v.DependsOn, id)
		}
		b.add(v)
		waits[n.key()] = v.ID
	}
	return waits
}

// damaged returns the artifacts whose copies the ledger holds at the
// target's destination but that storage shows missing or changed, other
// than those in skip (planned anyway): a destination is a backup copy too,
// so a damaged copy is repaired even when no restore needs it now.
func (b *builder) damaged(d *dbPlan, tv targetView, skip []*node) []*node {
	if tv.led == nil || tv.dest == nil {
		return nil
	}
	planned := map[*node]bool{}
	for _, n := range skip {
		planned[n] = true
	}
	expired := b.destExpired(d, tv.t, tv.led, tv.dest)
	var out []*node
	for _, n := range d.c.nodes {
		if n.id == "" || planned[n] || n.src != srcOK || expired(n) {
			continue // an expired copy is pruned, not repaired
		}
		if cp, ok := tv.led.Copies[n.id]; ok && b.copyDrift(tv.dest, cp, n.art) != "" {
			out = append(out, n)
		}
	}
	return out
}

// allListed reports whether a storage listing holds every file of art
// (each stripe of a striped backup), each of the recorded size.
func allListed(o *StorageObservation, art *state.Artifact) bool {
	for _, f := range art.Files() {
		if obj, ok := o.Objects[f.Key]; !ok || obj.Size != f.Size {
			return false
		}
	}
	return true
}

// copyDrift says how the copy at a destination differs from what the ledger
// recorded ("" when it does not, or when storage was not asked). A striped
// artifact's copy is whole only with every stripe there, of its size: one
// missing or changed is the whole copy missing or changed (shipped again,
// never restored from in part).
func (b *builder) copyDrift(dest *StorageObservation, cp *state.Copy, art *state.Artifact) string {
	if dest == nil {
		return ""
	}
	if art != nil {
		// (Their modification times are not compared: the first file's
		// is, and every stripe is read again before a restore uses them.)
		for i, f := range art.More {
			key := artifact.StripePath(cp.Key, i+2, art.Stripes)
			switch obj, ok := dest.Objects[key]; {
			case !ok:
				return fmt.Sprintf("stripe %s of the copy is missing from the destination", path.Base(key))
			case obj.Size != f.Size:
				return fmt.Sprintf("stripe %s of the copy has %d bytes, the ledger says %d", path.Base(key), obj.Size, f.Size)
			case obj.SHA256 != "" && !strings.EqualFold(obj.SHA256, f.SHA256):
				return fmt.Sprintf("stripe %s of the copy has another checksum than the ledger's", path.Base(key))
			}
		}
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

// rpo records how far behind a target database is, through the newest
// backup restored there (standby) or at the end of the gap-free chain its
// destination holds (copy-only), counting the empty log backups after it
// (an idle database lost nothing). unknown says why the lag cannot be
// trusted.
func (b *builder) rpo(d *dbPlan, t *config.Target, through *node, unknown string) {
	s := RPOStatus{Target: t.Name, Primary: d.p.Name, Database: d.name, Limit: d.p.RPO, Unknown: unknown}
	if through != nil && through.fork != d.c.newest && unknown == "" {
		s.Unknown = "it stands on an older fork of the database: " + d.c.forkWhy[d.c.newest]
	}
	if through != nil && !through.hdr.Finish.IsZero() {
		at := d.c.trailingIdle(through.fork, through.hdr.LastLSN, through.finished())
		s.Through, s.Artifact = at, through.id
		s.Lag = b.now.Sub(at)
		switch {
		case s.Lag < -clockTolerance:
			if s.Unknown == "" {
				s.Unknown = fmt.Sprintf("the backup it stands on finished %s in the future by drsctl's clock: a clock is wrong", fmtDur(-s.Lag))
			}
			s.Lag = 0
		case s.Lag < 0:
			s.Lag = 0
		}
		s.Breach = s.Lag > d.p.RPO
	} else {
		s.Breach = true
	}
	if s.Unknown != "" {
		s.Breach = true
	}
	b.p.RPO = append(b.p.RPO, s)
}

// standbyWords names a target database's state for an operator: a STANDBY
// database is ONLINE to SQL Server (read-only), which alone reads as
// "recovered".
func standbyWords(o *engine.StandbyDatabase) string {
	if o.State == engine.Standby {
		return "in STANDBY (read-only, " + o.RawState + ")"
	}
	return o.RawState
}
