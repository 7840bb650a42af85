package plan

import (
	"fmt"

	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/state"
)

// planPrune deletes what is older than retention and that nothing needs: no
// target's pending ships or restores, not the newest chain the backup folder
// can restore (a new target is seeded from it), not what a copy-only
// target's destination needs to stay restorable. A prune depends on nothing:
// what it deletes, no action of the plan uses. A backup already gone from
// the folder (deleted outside drsctl, or a prune whose record was lost) is
// pruned all the same: the ledger learns it is gone.
func (b *builder) planPrune(d *dbPlan) {
	if r := d.p.Folder.Retention; r > 0 && d.folderKnown {
		for _, n := range d.c.nodes {
			if n.art == nil || d.needed[n] || b.now.Sub(n.late()) < r {
				continue
			}
			why := fmt.Sprintf("older than the backup folder's retention (%s) and no target needs it", fmtDur(r))
			switch n.src {
			case srcOK:
			case srcMissing:
				why = fmt.Sprintf("already gone from the backup folder and older than its retention (%s): the ledger forgets it", fmtDur(r))
			case srcDamaged:
				why = fmt.Sprintf("damaged and older than the backup folder's retention (%s)", fmtDur(r))
			default:
				continue
			}
			a := n.ref(&Action{ID: actionID(Prune, d.p.Name, d.name, "", n.id), Kind: Prune, Primary: d.p.Name, Database: d.name, Reason: why})
			// A stray copy of it is recorded first: the ledger then keeps
			// the backup while the copy is there, not forgetting it.
			for _, v := range d.strays[n] {
				a.DependsOn = appendUnique(a.DependsOn, v)
			}
			b.add(a)
		}
	}
	for _, t := range b.cfg.TargetsOf(d.p) {
		b.planDestinationPrune(d, t)
	}
}

// planDestinationPrune deletes copies older than the destination's
// retention that the target no longer needs (see destExpired).
func (b *builder) planDestinationPrune(d *dbPlan, t *config.Target) {
	led := b.st.LookupTargetDatabase(t.Name, d.name)
	if led == nil || led.PromotedAt != nil || !b.targetSelected(t) || !containsString(t.DatabaseNames(), d.name) {
		return
	}
	dest, known := b.destination(t)
	if !known {
		return
	}
	expired := b.destExpired(d, t, led, dest)
	for _, n := range d.c.nodes {
		if !expired(n) {
			continue
		}
		b.add(n.ref(&Action{ID: actionID(Prune, d.p.Name, d.name, t.Name, n.id), Kind: Prune, Primary: d.p.Name, Database: d.name, Target: t.Name,
			Reason: fmt.Sprintf("older than the destination's retention (%s) and no longer needed there", fmtDur(t.Destination.Retention))}))
	}
}

// destExpired reports the copies at a target's destination that retention
// removes: older than it and no longer needed there — on a standby, what it
// has restored; on a copy-only target, anything outside the gap-free chain
// it holds and the chain it is building. A copy already missing from the
// destination that has expired is pruned (recorded), not shipped again.
func (b *builder) destExpired(d *dbPlan, t *config.Target, led *state.TargetDatabase, dest *StorageObservation) func(*node) bool {
	r := t.Destination.Retention
	if r <= 0 || led == nil {
		return func(*node) bool { return false }
	}
	keep := map[*node]bool{}
	pos := b.ledgerPosition(d, led)
	if !t.Restores() {
		for _, n := range d.heldChain(b, targetView{t: t, led: led, dest: dest}) {
			keep[n] = true
		}
	}
	wanted := d.wanted[t.Name]
	return func(n *node) bool {
		if n.id == "" || led.Copies[n.id] == nil || keep[n] || wanted[n] || b.now.Sub(n.late()) < r {
			return false
		}
		if t.Restores() {
			// Only what it has restored: nothing restored yet keeps everything.
			return pos != nil && (n.fork < pos.fork || (n.fork == pos.fork && n.hdr.LastLSN.Cmp(pos.hdr.LastLSN) <= 0))
		}
		return true
	}
}
