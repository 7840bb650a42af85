package plan

import (
	"fmt"

	"github.com/drsctl/drsctl/internal/config"
)

// planPrune deletes what is older than retention and that nothing needs: no
// target's pending ships or restores, not the newest chain the backup folder
// can restore (a new target is seeded from it), not what a copy-only
// target's destination needs to stay restorable. A prune depends on nothing:
// what it deletes, no action of the plan uses.
func (b *builder) planPrune(d *dbPlan) {
	if r := d.p.Folder.Retention; r > 0 && d.folderKnown {
		for _, n := range d.c.nodes {
			if n.art == nil || n.src != srcOK || d.needed[n] || b.now.Sub(n.late()) < r {
				continue
			}
			b.add(n.ref(&Action{ID: actionID(Prune, d.p.Name, d.name, "", n.id), Kind: Prune, Primary: d.p.Name, Database: d.name,
				Reason: fmt.Sprintf("older than the backup folder's retention (%s) and no target needs it", fmtDur(r))}))
		}
	}
	for _, t := range b.cfg.TargetsOf(d.p) {
		b.planDestinationPrune(d, t)
	}
}

// planDestinationPrune deletes copies older than the destination's
// retention that the target no longer needs: on a standby, what it has
// restored; on a copy-only target, anything outside the gap-free chain it
// holds and the chain it is building.
func (b *builder) planDestinationPrune(d *dbPlan, t *config.Target) {
	r := t.Destination.Retention
	led := b.st.LookupTargetDatabase(t.Name, d.name)
	if r <= 0 || led == nil || led.PromotedAt != nil || !b.targetSelected(t) || !containsString(t.DatabaseNames(), d.name) {
		return
	}
	dest, known := b.destination(t)
	if !known {
		return
	}
	keep := map[*node]bool{}
	pos := b.ledgerPosition(d, led)
	if t.Restores() {
		if pos == nil {
			return // nothing restored yet: everything there may still be needed
		}
	} else {
		for _, n := range d.heldChain(b, targetView{t: t, led: led, dest: dest}) {
			keep[n] = true
		}
	}
	for _, n := range d.c.nodes {
		if n.id == "" || led.Copies[n.id] == nil || keep[n] || d.needed[n] || b.now.Sub(n.late()) < r {
			continue
		}
		if t.Restores() && (n.fork > pos.fork || (n.fork == pos.fork && n.hdr.LastLSN.Cmp(pos.hdr.LastLSN) > 0)) {
			continue // not restored there yet
		}
		b.add(n.ref(&Action{ID: actionID(Prune, d.p.Name, d.name, t.Name, n.id), Kind: Prune, Primary: d.p.Name, Database: d.name, Target: t.Name,
			Reason: fmt.Sprintf("older than the destination's retention (%s) and no longer needed there", fmtDur(r))}))
	}
}
