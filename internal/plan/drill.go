package plan

import (
	"errors"
	"fmt"
	"time"

	"github.com/drsctl/drsctl/internal/state"
)

// DrillChain is what a restore drill restores: a full backup and the log
// backups that continue it without a gap, every one a verified copy at the
// target's destination.
type DrillChain struct {
	Backups []*state.Artifact // the full first, then logs in LSN order
	// Through is when the newest backup restored finished (by the chain
	// model's trusted clock): how recent the data the drill proves is.
	Through time.Time
	// StopAt is the point in time asked for (zero: the whole chain); the
	// last log is restored WITH STOPAT at it.
	StopAt time.Time
	// Gap, when set, says why newer backups held at the destination are
	// not part of the chain (a copy missing or not verified between them):
	// the drill proves less than the destination seems to hold.
	Gap string
}

// Last is the newest backup the drill restores.
func (d *DrillChain) Last() *state.Artifact { return d.Backups[len(d.Backups)-1] }

// ErrNothingToDrill means the target's destination holds no verified chain
// to restore.
var ErrNothingToDrill = errors.New("nothing to drill")

// Drill chooses what a drill of one database on a target restores, from
// the ledger alone (db: the primary's artifacts; held: the target's). It
// follows the planner's chain model: logs continue a full by LSN, empty
// logs are skipped, nothing crosses a fork. Only copies at the target's
// destination that drsctl verified count.
//
// Without a point in time (at zero), it is the chain of the newest fork
// that reaches furthest, from the newest full that gets there. With one,
// it is the newest full that finished by then, and its logs up to the
// first whose finish passes it; a chain that ends before the point is an
// error, never a drill of something older than asked.
func Drill(db *state.Database, held *state.TargetDatabase, at, now time.Time) (*DrillChain, error) {
	c := &chain{}
	if db != nil {
		for _, a := range db.Artifacts {
			c.nodes = append(c.nodes, &node{id: a.ID, hdr: a.Header, art: a, completed: a.Completed, newFork: a.NewFork})
		}
	}
	c.index(now)
	has := func(n *node) bool {
		if held == nil || n.id == "" {
			return false
		}
		cp := held.Copies[n.id]
		return cp != nil && cp.VerifiedAt != nil
	}
	// walk follows a held full along held logs; with a point in time it
	// stops at the first log whose finish passes it.
	walk := func(f *node) ([]*node, bool) {
		out := []*node{f}
		if !at.IsZero() && !f.finished().Before(at) {
			return out, true
		}
		p := f.hdr.LastLSN
		for m := c.next(f, p); m != nil && has(m); m = c.next(m, p) {
			out, p = append(out, m), m.hdr.LastLSN
			if !at.IsZero() && !m.finished().Before(at) {
				return out, true
			}
		}
		return out, at.IsZero()
	}
	var best []*node
	var heldFull bool
	if at.IsZero() {
		for _, f := range c.fulls[c.newest] {
			if !has(f) {
				continue
			}
			heldFull = true
			ch, _ := walk(f)
			if best == nil || ch[len(ch)-1].hdr.LastLSN.Cmp(best[len(best)-1].hdr.LastLSN) >= 0 {
				best = ch
			}
		}
	} else {
		// Newest fork first, newest full first: the shortest chain that
		// reaches the point.
		var reach []*node // the furthest chain found, for the message
		for fk := len(c.fulls) - 1; fk >= 0 && best == nil; fk-- {
			for i := len(c.fulls[fk]) - 1; i >= 0; i-- {
				f := c.fulls[fk][i]
				if !has(f) {
					continue
				}
				heldFull = true
				if f.finished().After(at) {
					continue
				}
				ch, ok := walk(f)
				if ok {
					best = ch
					break
				}
				if reach == nil || ch[len(ch)-1].finished().After(reach[len(reach)-1].finished()) {
					reach = ch
				}
			}
		}
		if best == nil && reach != nil {
			last := reach[len(reach)-1]
			return nil, fmt.Errorf("%w: the verified chain at the destination ends with %s, finished %s, before %s; drill a point no later than that, or apply first so newer log backups are shipped",
				ErrNothingToDrill, last.label(), fmtTime(last.finished()), fmtTime(at))
		}
		if best == nil && heldFull {
			return nil, fmt.Errorf("%w: every verified full backup at the destination finished after %s: no chain there reaches back that far", ErrNothingToDrill, fmtTime(at))
		}
	}
	if best == nil {
		why := "no verified full backup of the primary's current chain is at the target's destination"
		if !heldFull && held != nil && len(held.Copies) > 0 {
			why += " (the copies there are of an older chain or not verified yet)"
		}
		return nil, fmt.Errorf("%w: %s; apply first", ErrNothingToDrill, why)
	}
	d := &DrillChain{StopAt: at}
	for _, n := range best {
		d.Backups = append(d.Backups, n.art)
	}
	last := best[len(best)-1]
	d.Through = last.finished()
	if at.IsZero() {
		d.Gap = gapBefore(c, last, has)
	}
	if !at.IsZero() && d.Through.After(at) {
		d.Through = at
	}
	return d, nil
}

// gapBefore explains why held logs newer than last (the end of a drill's
// chain) are out of its reach: the first log after last that the
// destination does not hold verified ("" when no newer log is held).
func gapBefore(c *chain, last *node, has func(*node) bool) string {
	p := last.hdr.LastLSN
	var newest, missing *node
	for _, m := range c.logs[last.fork] {
		if m.empty() || m.hdr.LastLSN.Cmp(p) <= 0 {
			continue
		}
		if has(m) && (newest == nil || m.hdr.LastLSN.Cmp(newest.hdr.LastLSN) > 0) {
			newest = m
		}
		if !has(m) && (missing == nil || m.hdr.FirstLSN.Cmp(missing.hdr.FirstLSN) < 0) {
			missing = m
		}
	}
	if newest == nil {
		return ""
	}
	if missing == nil {
		return fmt.Sprintf("the destination's chain breaks after %s: newer log backups there (through %s) do not continue it", last.label(), newest.label())
	}
	return fmt.Sprintf("the destination's chain breaks after %s: %s is not there as a verified copy, so newer log backups there (through %s) cannot be restored; a new full backup shipped to the target starts a complete chain again",
		last.label(), missing.label(), newest.label())
}
