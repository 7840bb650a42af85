package plan

import (
	"fmt"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
)

// PromoteRequest asks Make for a failover or a switchover of one target's
// databases, the way SQL Server's own log shipping (and dbatools'
// Invoke-DbaDbLogShipRecovery) does it: run the copy and the restore job one
// last time, then recover.
//
//   - Unplanned (failover): the primary may be gone. Every backup the target
//     can still get (a copy at its destination, or the backup folder when it
//     answers) is shipped, verified and restored in order, ignoring
//     restore_delay and restore windows; then the database is recovered.
//     Whatever the primary wrote after the last of them is lost, and the
//     plan says how much.
//   - Planned (switchover): the primary takes a tail-log backup WITH
//     NORECOVERY (it is left RESTORING, so nobody writes to it any more),
//     which is shipped, verified and restored after everything before it;
//     then the target is recovered. Nothing is lost.
//
// A database already online on the target (failed over by hand) is recorded
// as promoted rather than refused.
type PromoteRequest struct {
	Target    string
	Databases []string // empty: all the target's databases
	Planned   bool
	// Disconnect ends the sessions using the primary database before the
	// tail-log backup (it needs the database alone).
	Disconnect bool
}

// promoting reports whether database name is one the promote is for.
func (b *builder) promoting(name string) bool {
	return len(b.promote.Databases) == 0 || containsString(b.promote.Databases, name)
}

// promoteProblems adjusts the plan's problems to a failover: the primary and
// its backup folder being unreachable is why one fails over, not an error.
func (b *builder) promoteProblems() {
	if b.promote.Planned {
		// Nor, for a database promoted already, is its primary: a second
		// promote -planned finds it RESTORING since the first one's tail.
		for i, pr := range b.p.Problems {
			if pr.Severity == Error && pr.Target == "" && pr.Database != "" {
				if led := b.st.LookupTargetDatabase(b.promote.Target, pr.Database); led != nil && led.PromotedAt != nil {
					b.p.Problems[i].Severity = Warning
				}
			}
		}
		return
	}
	for i, pr := range b.p.Problems {
		if pr.Severity == Error && pr.Target == "" {
			b.p.Problems[i].Severity = Warning
			b.p.Problems[i].Detail = strings.TrimSpace(pr.Detail + "\nA failover does not need it: the target gets what it can still reach.")
		}
	}
}

// planTailLog plans the tail-log backup of a planned switchover.
func (b *builder) planTailLog(d *dbPlan) {
	w := d.words()
	if !b.promote.Planned {
		if b.obs.Refreshed && d.obs != nil && d.canBackup {
			b.problem(Warning, d.p.Name, d.name, "", fmt.Sprintf("primary %q answers and %q is online there", d.p.Name, d.name),
				"A failover loses what the primary wrote after the last backup the target restores. A planned switchover (promote -planned) takes a "+w.tail+" first and loses nothing.")
		}
		return
	}
	if led := b.st.LookupTargetDatabase(b.promote.Target, d.name); led != nil && led.PromotedAt != nil {
		// Promoted already (a second promote -planned): planPromote says so,
		// or why it cannot; no tail-log backup is due, and the primary
		// being RESTORING since the first one is no reason for an error.
		return
	}
	why := ""
	switch {
	case !b.obs.Refreshed:
		why = "the primary was not asked (plan with refresh)"
	case d.obs != nil && strings.EqualFold(d.obs.State, "RESTORING"):
		why = "the database is RESTORING there: a tail-log backup was taken already (an earlier switchover whose reply was lost?); promote without -planned restores every backup, that one included"
	case !d.canBackup:
		why = "the primary cannot take a backup now (see the problems above)"
	case d.restart != "":
		why = d.restart
	case len(d.c.fulls[d.c.newest]) == 0 || d.obs == nil || !d.obs.LogChain:
		why = "the database has no log chain to continue"
	}
	if why != "" {
		b.problem(Error, d.p.Name, d.name, "", fmt.Sprintf("cannot take a %s of %q on primary %q: %s", w.tail, d.name, d.p.Name, why),
			"A planned switchover needs the primary. If it is lost, fail over without -planned: the target gets every backup it can still reach.")
		return
	}
	facts := &PrimaryFacts{RecoveryModel: d.obs.RecoveryModel, CreatedAt: d.obs.CreatedAt, Identity: d.obs.Identity}
	// Added to the plan only once planPromote knows the target can take the
	// tail: a tail-log backup leaves the primary RESTORING, and must never
	// be taken for a switchover that cannot happen.
	a := (&Action{ID: actionID(BackupLog, d.p.Name, d.name, "", "tail"), Kind: BackupLog, Primary: d.p.Name, Database: d.name,
		ArtifactKind: artifact.Log, TailLog: true, Disconnect: b.promote.Disconnect, Observed: facts,
		Reason: w.tailReason})
	d.tail = a
	d.newLog = &node{from: a.ID, src: srcNew, fork: d.c.newest, hdr: artifact.Header{Kind: artifact.Log, Database: d.name, Start: b.now, Finish: b.now}}
}

// tailTaken reports whether the primary database stopped at the end of n:
// it answers RESTORING, it is still the database the ledger knows (same
// identity, or creation date where the engine reports no identity), and the newest backup its server recorded of it is n, a log
// backup. That is a tail-log backup taken WITH NORECOVERY (a switchover's):
// nothing was written to the database after it.
func (b *builder) tailTaken(d *dbPlan, n *node) bool {
	o := d.obs
	if o == nil || n == nil || !n.isLog() || !strings.EqualFold(o.State, "RESTORING") || len(o.Backups) == 0 {
		return false
	}
	known := d.led != nil && (d.led.Identity != "" && o.Identity != "" || !d.led.CreatedAt.IsZero() && !o.CreatedAt.IsZero())
	if !known || recreated(d.led, o) != "" {
		return false
	}
	last := o.Backups[len(o.Backups)-1]
	return last.Kind == artifact.Log && !last.CopyOnly && last.LastLSN.Cmp(n.hdr.LastLSN) == 0
}

// dropTail takes the tail-log backup of a switchover out of the plan when
// the switchover of that database cannot go through.
func (b *builder) dropTail(d *dbPlan) {
	if d.newLog == nil || d.newLog.from == "" {
		return
	}
	id := d.newLog.from
	kept := b.p.Actions[:0]
	for _, a := range b.p.Actions {
		if a.ID != id {
			kept = append(kept, a)
		}
	}
	b.p.Actions = kept
	d.newLog = nil
}

// planPromote plans the last restores and the recovery of one database on
// the target being promoted.
func (b *builder) planPromote(d *dbPlan, t *config.Target) {
	led := b.st.LookupTargetDatabase(t.Name, d.name)
	w := d.words()
	// A switchover that cannot bring this database online must not take
	// its tail-log backup: that leaves the primary database RESTORING, and
	// nobody could use it anywhere. Every return below that plans no
	// recovery of the tail drops it.
	fail := func(summary, detail string) {
		b.problem(Error, d.p.Name, d.name, t.Name, summary, detail)
		b.dropTail(d)
	}
	if !t.Restores() {
		fail(fmt.Sprintf("target %q is copy_only: it has no database to bring online", t.Name), "")
		return
	}
	if led != nil && led.PromotedAt != nil {
		// Promoted before: nothing to do, if what stands there is still
		// what was promoted. Replaced since (a copy restored under its
		// name) or dropped, "already promoted" would tell the operator in
		// a failover that the database is there when it is not.
		to := b.obs.Targets[t.Name]
		if to == nil || to.Err != "" {
			// The ledger alone cannot say the database still stands there.
			fail(fmt.Sprintf("database %q on target %q was promoted at %s, but its server did not answer: whether it is still there is unknown", d.name, t.Name, fmtTime(*led.PromotedAt)),
				"Run promote again once the target's server answers.")
			return
		}
		if b.obs.Refreshed {
			switch o := to.Databases[d.name]; {
			case o == nil || o.State == engine.Absent:
				fail(fmt.Sprintf("cannot promote %q on target %q: it was promoted at %s and has been dropped there since", d.name, t.Name, fmtTime(*led.PromotedAt)),
					"There is no database to bring online. The next apply seeds it again as a standby, as the configuration asks.")
				return
			case o.LastRestore != nil && !restoredFromDestination(t, o):
				b.foreign(d, t, o)
				b.dropTail(d)
				return
			}
		}
		b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("database %q on target %q: %s", d.name, t.Name, AlreadyPromoted(*led.PromotedAt)), "")
		b.dropTail(d)
		return
	}
	if !b.obs.Refreshed {
		fail(fmt.Sprintf("cannot promote %q on target %q without asking its server", d.name, t.Name), "Promote always refreshes; this is a bug.")
		return
	}
	owned := led != nil && (led.SeededFrom != "" || led.Seeding != "")
	if to := b.obs.Targets[t.Name]; to != nil && to.Err == "" {
		if o := to.Databases[d.name]; o != nil && o.State == engine.Online {
			// Its last restore read no copy of drsctl's: another database was
			// restored under the name (and recovered) since drsctl seeded it.
			if !owned || (o.LastRestore != nil && !restoredFromDestination(t, o)) {
				b.foreign(d, t, o)
				b.dropTail(d)
				return
			}
			if b.promote.Planned {
				// The tail of the log cannot be restored onto it: a switchover
				// would leave the primary RESTORING and lose what it holds.
				fail(fmt.Sprintf("cannot switch over %q to target %q: it is already ONLINE there (recovered outside drsctl)", d.name, t.Name),
					fmt.Sprintf("%s Record the failover with `drsctl promote %s -database %s` (without -planned), or protect it again (drop it on the target, or `drsctl reprotect`) and switch over once it is seeded.", w.tailOnline, t.Name, d.name))
				return
			}
			at := ""
			if led.Restored != nil {
				at = " after " + led.Restored.Artifact
			}
			b.add(&Action{ID: actionID(Promote, d.p.Name, d.name, t.Name, ""), Kind: Promote, Primary: d.p.Name, Database: d.name, Target: t.Name,
				Mode: PromoteRecorded, Assumed: &Assumption{State: engine.Online},
				Reason: fmt.Sprintf("already ONLINE on the target (recovered outside drsctl%s): recorded as promoted", at)})
			return
		}
	}
	dest, destKnown := b.destination(t)
	if !destKnown {
		if b.promote.Planned && d.newLog != nil {
			fail(fmt.Sprintf("cannot switch over %q to target %q: its destination cannot be listed, so %s could not be shipped there", d.name, t.Name, w.ofTail),
				"No "+w.tail+" is taken (it would leave the primary database "+w.tailPrimary+" with nowhere to go). Bring the destination back and switch over again.")
			return
		}
		dest = nil // restore only what the ledger says is there; each copy is proven before it is used
	}
	tv := targetView{t: t, led: led, dest: dest}
	sv := b.standing(d, t, led)
	switch {
	case sv.leave:
		b.dropTail(d)
		return // standing said why
	case !sv.canRestore:
		fail(fmt.Sprintf("cannot promote %q on target %q: %s", d.name, t.Name, sv.unknownRPO), "Nothing can be restored or recovered until the target's server answers.")
		return
	case sv.pos == nil || sv.reseed != "":
		why := sv.reseed
		if why == "" {
			why = "it has not been seeded yet"
		}
		fail(fmt.Sprintf("cannot promote %q on target %q: %s", d.name, t.Name, why), "There is no standby database to bring online.")
		return
	}
	has := b.targetHas(d, tv)
	ls, _ := d.c.walk(sv.pos)
	var want []*node
	var stop string // why the restores stop before the newest backup drsctl knows
	for _, n := range ls {
		if h, why := has(n); h != haveCopy && h != haveShip {
			stop = fmt.Sprintf("%s cannot be reached: %s", n.label(), why)
			break
		}
		want = append(want, n)
	}
	if b.promote.Planned {
		if d.newLog == nil {
			return // planTailLog said why
		}
		if stop != "" {
			fail(fmt.Sprintf("cannot switch over %q to target %q without loss: %s", d.name, t.Name, stop),
				"A switchover restores every backup up to "+w.ofTail+". Fix the missing backup, or fail over without -planned and accept the loss.")
			return
		}
		want = append(want, d.newLog)
		b.add(d.tail)
		// Readers never block a PostgreSQL standby's replay or promotion.
		if t.RestoreMode == config.RestoreStandby && !t.DisconnectUsers && !w.pg {
			b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("readers of %q on target %q would block the switchover after the primary has stopped", d.name, t.Name),
				"The tail-log backup leaves the primary RESTORING first; restoring the tail and recovering then need the STANDBY database alone, and the target does not set disconnect_users. End the readers' sessions before you answer yes, or set disconnect_users = true. If it stops there, promote again (without -planned) once they are gone: nothing is lost.")
		}
	}
	b.need(d, t, want...)
	verified := b.shipAll(d, tv, append(b.damaged(d, tv, want), want...), nil)
	prev := ""
	if sv.record != nil {
		prev = sv.record.ID
	}
	at, delayed := sv.pos, 0
	cutoff := b.now.Add(-t.RestoreDelay)
	for _, n := range want {
		if n.src != srcNew && n.late().After(cutoff) {
			delayed++
		}
		a := n.ref(&Action{Primary: d.p.Name, Database: d.name, Target: t.Name, Mode: string(t.RestoreMode), Kind: RestoreLog,
			Reason: "continues after " + at.label() + " (before the promotion)"})
		if n.src == srcNew {
			a.Continues, a.AfterLog = at.hdr.LastLSN, at.isLog()
			a.Reason = w.ofTail + ", after " + at.label()
			if prev != "" {
				// The tail-log backup stops the primary: it waits until the
				// target has caught up with everything before it, so a
				// restore that fails (readers holding the standby, a damaged
				// copy) leaves the primary online, not stopped for a
				// switchover that cannot finish.
				for _, ta := range b.p.Actions {
					if ta.ID == n.from {
						ta.DependsOn = appendUnique(ta.DependsOn, prev)
					}
				}
			}
		}
		b.addRestore(d, t, a, n, verified, prev)
		prev, at = a.ID, n
	}
	if delayed > 0 {
		b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("restore_delay (%s) is ignored for the promotion: %d backup(s) it held back are restored", fmtDur(t.RestoreDelay), delayed),
			fmt.Sprintf("The target is brought forward through %s, finished %s. If a delay was there to protect against a mistake on the primary (a dropped table), stop now and restore to a point in time instead.", at.label(), fmtTime(at.finished())))
	}
	mode, reason := PromoteUnplanned, ""
	switch {
	case b.promote.Planned:
		mode, reason = PromotePlanned, "switchover: "+w.recover+" after "+w.ofTail+"; nothing written on the primary is lost"
	case at.src == srcNew:
		reason = "failover: " + w.recover
	case b.tailTaken(d, at):
		// A switchover whose tail-log backup was taken and not restored
		// (its ship failed, or its reply was lost): restoring that tail
		// finishes it, and nothing is lost.
		mode, reason = PromotePlanned, fmt.Sprintf("switchover: %s after %s, %s: the primary database is %s since it was taken, so nothing written on it is lost", w.recover, at.label(), w.ofTail, w.tailPrimary)
	default:
		reason = fmt.Sprintf("failover: %s after %s (finished %s, %s ago): what the primary wrote after it is not on the target",
			w.recover, at.label(), fmtTime(at.finished()), fmtDur(b.now.Sub(at.finished())))
	}
	if !destKnown && len(want) > 0 {
		b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("the failover of %q restores %d backup(s) from target %q's destination, which cannot be listed", d.name, len(want), t.Name),
			fmt.Sprintf("Each copy is read back and proven before it is restored; if the destination does not answer, nothing is restored and %q is not recovered. If it stays unreachable and the database is needed now: recover it where it stands by hand (%s on the target; what those backups hold is lost), then run `drsctl promote %s -database %s` again to record it.", d.name, w.recoverByHand, t.Name, d.name))
	}
	if stop != "" {
		b.problem(Warning, d.p.Name, d.name, t.Name, fmt.Sprintf("the failover of %q stops at %s", d.name, at.label()), stop+
			"\nWhat the primary wrote after it is lost unless that backup can be found again (restore it by hand before promoting, or bring the backup folder back).")
	}
	a := &Action{ID: actionID(Promote, d.p.Name, d.name, t.Name, ""), Kind: Promote, Primary: d.p.Name, Database: d.name, Target: t.Name,
		Mode: mode, Reason: reason}
	if at.src != srcNew {
		a.Position = &Position{Artifact: at.id, Kind: at.hdr.Kind, LastLSN: at.hdr.LastLSN}
	}
	if prev != "" {
		a.DependsOn = []string{prev}
	}
	b.add(a)
}

// AlreadyPromoted is what promote says of a database promoted before, still
// standing on the target: "already promoted at 2026-12-03 13:31:58Z;
// nothing to do".
func AlreadyPromoted(at time.Time) string {
	return fmt.Sprintf("already promoted at %s; nothing to do", fmtTime(at))
}
