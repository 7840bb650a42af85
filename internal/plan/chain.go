package plan

import (
	"fmt"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/state"
)

// The chain model. Per database, log backups are intervals of log sequence
// numbers [FirstLSN, LastLSN) and full backups are entry points into that
// sequence; every target stands at a position (an LSN). A position p
// continues with the non-empty log whose FirstLSN <= p < LastLSN, whichever
// full came last: a full backup never breaks the chain. Empty logs
// (FirstLSN == LastLSN, what an idle database writes) are never restored;
// the chain simply continues after them. The same model fits PostgreSQL:
// WAL segments are the intervals, base backups the entry points, timelines
// the forks.
//
// A fork is a stretch of the database's history inside which LSNs only grow.
// A new fork starts where drsctl saw the primary's chain restart (a full
// recorded with NewFork: recreated, restored over, recovery model switched)
// or where LSNs went backwards (a primary moved to another server, restored
// from an older backup). Nothing links across forks: a standby on an older
// fork can never continue, however its LSN compares.

// source is where an artifact stands at the backup folder.
type source int

const (
	srcOK      source = iota // in the folder (or, without refresh, in the ledger)
	srcNew                   // produced by a backup action of this plan
	srcPruned                // pruned by drsctl
	srcMissing               // the ledger has it, the folder listing does not
	srcHole                  // taken outside drsctl to a place drsctl cannot read
	srcDamaged               // its file no longer matches its SHA-256
	srcUnknown               // the folder could not be listed
)

// node is one backup as the planner sees it: recorded in the ledger, about
// to be adopted, produced by a backup action of this plan, or known only
// from the primary's history (a hole).
type node struct {
	id   string // artifact ID; empty for a new one and for a hole
	from string // producing action ID for a new one
	hdr  artifact.Header
	art  *state.Artifact // nil unless in the ledger
	src  source
	// path is where the server wrote a hole (for messages); overwritten
	// says a later backup to the same file replaced it.
	path        string
	overwritten bool
	fork        int
	// completed is drsctl's clock when the backup was reported done.
	completed time.Time
	// newFork marks a backup after which the chain restarted (from the
	// ledger, or a full adopted as the start of a pending restart).
	newFork bool
	// bound replaces the finish time of a backup drsctl did not take when
	// that time contradicts its neighbours' (a server clock that was wrong):
	// the backup before it is the latest it can be trusted to hold.
	bound time.Time
	// upper is, with bound, the latest it can have been taken: when the
	// next backup drsctl took completed, or the time of planning.
	upper time.Time
}

func (n *node) label() string {
	switch {
	case n.id != "":
		return n.id
	case n.src == srcHole:
		return fmt.Sprintf("the log backup taken outside drsctl at %s", fmtTime(n.hdr.Finish))
	}
	return "the new " + string(n.hdr.Kind) + " backup"
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

func (n *node) isLog() bool  { return n.hdr.Kind == artifact.Log }
func (n *node) isFull() bool { return n.hdr.Kind == artifact.Full }

// empty reports a log backup that holds no log records: never restored.
func (n *node) empty() bool { return n.isLog() && n.hdr.FirstLSN.Cmp(n.hdr.LastLSN) == 0 }

// finished is when the backup finished, for RPO: never later than the
// data it holds. The server's finish time is trusted while it agrees with
// drsctl's clock (Completed, when drsctl took the backup); when the two
// disagree, a clock is wrong, and drsctl's own clock at the start of the
// backup is used: the backup holds at least what was there then.
func (n *node) finished() time.Time {
	if n.completed.IsZero() && !n.bound.IsZero() {
		return n.bound
	}
	return trustedFinish(n.completed, n.hdr.Start, n.hdr.Finish)
}

// trustedFinish is finished's rule for one backup, also used by Health:
// completed is drsctl's clock (zero when drsctl did not take it), start
// and finish the server's.
func trustedFinish(completed, start, finish time.Time) time.Time {
	if completed.IsZero() {
		return finish
	}
	skew := finish.Sub(completed)
	if skew <= 0 && skew >= -clockTolerance {
		return finish
	}
	return completed.Add(-finish.Sub(start))
}

// at is when the backup was taken by drsctl's clock when drsctl knows it,
// else the earliest it can have been: schedules count from it.
func (n *node) at() time.Time {
	if !n.completed.IsZero() {
		return n.completed
	}
	return n.finished()
}

// began is when the backup began by drsctl's clock: its completion less
// the time it took by the server's (a difference, which no clock offset or
// time zone moves); at() when either is unknown. A schedule counts from
// it, as cron fires: counted from completion, each interval would grow by
// the backup's own duration.
func (n *node) began() time.Time {
	took := n.hdr.Finish.Sub(n.hdr.Start)
	if n.completed.IsZero() || took <= 0 || took > 24*time.Hour {
		return n.at()
	}
	return n.completed.Add(-took)
}

// late is the latest the backup can have been taken: restore_delay and
// retention count from it, so neither acts early on a server's wrong clock.
func (n *node) late() time.Time {
	switch {
	case !n.completed.IsZero():
		return n.completed
	case !n.bound.IsZero():
		return n.upper
	}
	return n.hdr.Finish
}

// whySourceGone says why the backup folder cannot provide n ("" when it can).
func (n *node) whySourceGone() string {
	switch n.src {
	case srcPruned:
		return n.label() + " was pruned from the backup folder"
	case srcMissing:
		return n.label() + " is missing from the backup folder (deleted outside drsctl)"
	case srcDamaged:
		return n.label() + " is damaged in the backup folder (it no longer matches its SHA-256)"
	case srcHole:
		if n.overwritten {
			return fmt.Sprintf("%s was written to %s, and a later backup to the same file replaced it", n.label(), n.path)
		}
		return fmt.Sprintf("%s was written to %s, which is not in the backup folder", n.label(), n.path)
	}
	return ""
}

// chain indexes one database's nodes for walking.
type chain struct {
	nodes []*node // taken order
	// newest is the index of the newest fork; forkWhy[i] says why fork i
	// began ("" for the first).
	newest  int
	forkWhy []string
	// logs of each fork, with an index of the non-empty ones by FirstLSN.
	logs    [][]*node
	byFirst []map[artifact.LSN]*node
	// end[i] is the furthest LastLSN any log of fork i reaches ("" if none).
	end []artifact.LSN
	// fulls of each fork, oldest first.
	fulls [][]*node
	// w names LSNs in the engine's way (nil: SQL Server's).
	w *words
}

func (c *chain) lsn(l artifact.LSN) string {
	if c.w == nil {
		return string(l)
	}
	return c.w.lsn(l)
}

// index assigns forks and builds the lookup tables. nodes must be in taken
// order; now is the time of planning.
func (c *chain) index(now time.Time) {
	fork := 0
	var maxLast artifact.LSN
	var prevLog *node
	c.forkWhy = []string{""}
	for i, n := range c.nodes {
		why := ""
		switch {
		case i > 0 && n.newFork:
			why = fmt.Sprintf("the primary's log chain restarted before %s", n.label())
		case !maxLast.IsZero() && n.hdr.LastLSN.Cmp(maxLast) < 0:
			why = fmt.Sprintf("LSNs went backwards: %s ends at LSN %s, before LSN %s that earlier backups reached (the database was restored or moved on the primary)", n.label(), c.lsn(n.hdr.LastLSN), c.lsn(maxLast))
		case n.isLog() && prevLog != nil && n.hdr.FirstLSN.Cmp(prevLog.hdr.LastLSN) < 0:
			why = fmt.Sprintf("LSNs went backwards: %s begins at LSN %s, before %s ends at %s (the database was restored or moved on the primary)", n.label(), c.lsn(n.hdr.FirstLSN), prevLog.label(), c.lsn(prevLog.hdr.LastLSN))
		}
		if why != "" {
			fork++
			c.forkWhy = append(c.forkWhy, why)
			maxLast, prevLog = "", nil
		}
		n.fork = fork
		if n.hdr.LastLSN.Cmp(maxLast) > 0 {
			maxLast = n.hdr.LastLSN
		}
		if n.isLog() {
			prevLog = n
		}
	}
	c.newest = fork
	// A backup drsctl did not take has only the server's word for when it
	// finished. Where that word contradicts its neighbours in the fork, or
	// the drsctl backups around it show the server's clock was wrong, the
	// backup before it is the latest it can be trusted to hold.
	skewed := func(m *node) bool {
		d := m.hdr.Finish.Sub(m.completed)
		return d > clockTolerance || d < -clockTolerance
	}
	for i, n := range c.nodes {
		if !n.completed.IsZero() || i == 0 {
			continue
		}
		lower, upper := c.nodes[i-1].finished(), now
		distrust := n.hdr.Finish.Before(lower) || n.hdr.Finish.After(now)
		for j := i - 1; j >= 0 && c.nodes[j].fork == n.fork; j-- {
			if m := c.nodes[j]; !m.completed.IsZero() {
				distrust = distrust || skewed(m)
				break
			}
		}
		for _, m := range c.nodes[i+1:] {
			if m.fork == n.fork && !m.completed.IsZero() {
				distrust = distrust || skewed(m) || n.hdr.Finish.After(m.completed)
				upper = m.completed
				break
			}
		}
		if distrust {
			n.bound, n.upper = lower, upper
		}
	}
	c.logs = make([][]*node, fork+1)
	c.fulls = make([][]*node, fork+1)
	c.byFirst = make([]map[artifact.LSN]*node, fork+1)
	c.end = make([]artifact.LSN, fork+1)
	for _, n := range c.nodes {
		f := n.fork
		if n.isFull() {
			if !n.hdr.CopyOnly {
				c.fulls[f] = append(c.fulls[f], n)
			}
			continue
		}
		c.logs[f] = append(c.logs[f], n)
		if n.hdr.LastLSN.Cmp(c.end[f]) > 0 {
			c.end[f] = n.hdr.LastLSN
		}
		if n.empty() {
			continue
		}
		if c.byFirst[f] == nil {
			c.byFirst[f] = map[artifact.LSN]*node{}
		}
		if _, dup := c.byFirst[f][n.hdr.FirstLSN]; !dup {
			c.byFirst[f][n.hdr.FirstLSN] = n
		}
	}
}

// next returns the non-empty log of fork f that continues a target standing
// at LSN p after backup at (FirstLSN <= p < LastLSN, same recovery path).
func (c *chain) next(at *node, p artifact.LSN) *node {
	f := at.fork
	if m := c.byFirst[f][p]; m != nil && c.sameFamily(at, m) && p.Cmp(m.hdr.LastLSN) < 0 {
		return m
	}
	for _, m := range c.logs[f] {
		if m.empty() || !c.sameFamily(at, m) {
			continue
		}
		if m.hdr.FirstLSN.Cmp(p) <= 0 && p.Cmp(m.hdr.LastLSN) < 0 {
			return m
		}
	}
	return nil
}

func (c *chain) sameFamily(a, b *node) bool {
	x, y := a.hdr.FamilyGUID, b.hdr.FamilyGUID
	return x == "" || y == "" || equalFold(x, y)
}

// walk follows the chain from a position (the node a target restored last)
// and returns the logs after it, in order, and the LSN the walk ends at.
func (c *chain) walk(at *node) ([]*node, artifact.LSN) {
	var out []*node
	p := at.hdr.LastLSN
	for m := c.next(at, p); m != nil; m = c.next(m, p) {
		out = append(out, m)
		p = m.hdr.LastLSN
		if len(out) > len(c.nodes) {
			break // cannot happen: LSNs strictly grow along a walk
		}
	}
	return out, p
}

// reaches reports whether a walk from a node of fork f that ended at LSN p
// is at the present: on the newest fork, with no log beyond it.
func (c *chain) reaches(f int, p artifact.LSN) bool {
	return f == c.newest && p.Cmp(c.end[f]) >= 0
}

// gapAfter explains why a walk from fork f ending at p does not reach the
// present (the walk's last node is last, nil when it is the position).
func (c *chain) gapAfter(f int, last *node, p artifact.LSN) string {
	if f != c.newest {
		return c.forkWhy[c.newest]
	}
	// The log that comes after p but does not continue it.
	var nxt *node
	for _, m := range c.logs[f] {
		if m.hdr.LastLSN.Cmp(p) > 0 && (nxt == nil || m.hdr.FirstLSN.Cmp(nxt.hdr.FirstLSN) < 0) {
			nxt = m
		}
	}
	what := "LSN " + c.lsn(p)
	if last != nil {
		what = last.label()
	}
	if nxt == nil {
		return "the chain ends at " + what
	}
	if nxt.src == srcHole {
		return nxt.whySourceGone()
	}
	return fmt.Sprintf("the chain is broken after %s: %s begins at LSN %s, not at %s (a gap)", what, nxt.label(), c.lsn(nxt.hdr.FirstLSN), c.lsn(p))
}

// trailingIdle returns the newest finish time of empty logs of fork f that
// stand at LSN p: a target at p holds everything they hold, so it is
// current through them too.
func (c *chain) trailingIdle(f int, p artifact.LSN, since time.Time) time.Time {
	t := since
	if f < 0 || f >= len(c.logs) {
		return t
	}
	for _, m := range c.logs[f] {
		if m.empty() && m.hdr.LastLSN.Cmp(p) == 0 && m.finished().After(t) {
			t = m.finished()
		}
	}
	return t
}
