package scenario_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/enginetest"
	"github.com/drsctl/drsctl/internal/plan"
)

// Failover, switchover and protecting again (README "Failover, switchover
// and protecting again"). Half the histories (drawn from w.frng, a source of
// their own) have an operator who now and then runs `drsctl promote`
// (sometimes with the primary or the backup folder down), `promote
// -planned`, `drsctl reprotect`, drops a promoted database on its target or
// writes to it; a primary left RESTORING by a switchover is brought back
// ONLINE by hand sooner or later (a new recovery fork). Histories without
// them draw exactly what they always drew; in the others every draw of
// w.rng is the same, but what the world does after the first promote
// differs from before this file existed.

// promotion is what the harness saw drsctl promote on a target.
type promotion struct {
	how string       // plan.PromotePlanned, PromoteUnplanned or PromoteRecorded
	lsn artifact.LSN // where the server recovered it (its newest recovery fork begins there)
}

// failoverEvent lets the operator fail over, switch over, protect again or
// use a promoted database. It reports whether something it did may make
// this step's apply fail.
func (w *world) failoverEvent() bool {
	r := w.frng
	if db := w.primaryRestoring(); db != "" {
		// A switchover (or one that failed after its tail-log backup) left
		// the primary database RESTORING.
		if r.Intn(3) != 0 {
			w.recoverPrimary(db)
			return false
		}
	}
	var keys []string
	for k := range w.promoted {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 && r.Intn(3) != 0 {
		key := keys[r.Intn(len(keys))]
		target, db, _ := strings.Cut(key, "/")
		switch r.Intn(5) {
		case 0, 1:
			w.server(target).Insert(db, 2_000_000+w.applies*10+r.Intn(10))
			w.logf("an application writes to %s, promoted on %s", db, target)
		case 2:
			w.server(target).Drop(db)
			delete(w.promoted, key)
			delete(w.reprotect, key)
			w.logf("the operator drops %s, promoted on %s, to protect it again", db, target)
		default:
			w.runReprotect(target, db)
		}
		return false
	}
	var present []*targetConf
	for _, tc := range w.standbys() {
		if tc.present {
			present = append(present, tc)
		}
	}
	if len(present) == 0 {
		return false
	}
	tc := present[r.Intn(len(present))]
	db := w.dbs[r.Intn(len(w.dbs))]
	if info, ok := w.server(tc.name).Database(db); ok && info.State == engine.Online && info.Origin == enginetest.Recovered && !w.foreign[tc.name+"/"+db] && r.Intn(2) == 0 {
		// Failed over by hand earlier: protect it again, or record it.
		if r.Intn(2) == 0 {
			w.runReprotect(tc.name, db)
			return false
		}
	}
	faulty := false
	planned := r.Intn(3) == 0
	if w.primaryRestoring() == db {
		planned = false // promote without -planned restores the tail-log backup too
	}
	if !planned && r.Intn(3) == 0 {
		w.server("primary").SetDown(true)
		w.undo = append(w.undo, func() { w.server("primary").SetDown(false) })
		w.logf("the primary is lost (down for the promote and this step's apply)")
		faulty = true
	}
	if r.Intn(6) == 0 {
		p := w.path("share")
		if st, err := os.Stat(p); err == nil && st.IsDir() && os.Rename(p, p+".away") == nil {
			os.WriteFile(p, nil, 0o644)
			w.undo = append(w.undo, func() {
				os.Remove(p)
				if err := os.Rename(p+".away", p); err != nil {
					w.fail("bring share back: %v", err)
				}
			})
			w.logf("share cannot be reached for the promote and this step's apply")
			faulty = true
		}
	}
	w.runPromote(tc.name, db, planned)
	return faulty
}

// primaryRestoring names a primary database that is not online (left
// RESTORING by a tail-log backup), or "".
func (w *world) primaryRestoring() string {
	for _, db := range w.dbs {
		if info, ok := w.server("primary").Database(db); ok && info.State != engine.Online {
			return db
		}
	}
	return ""
}

// recoverPrimary is the operator bringing the old primary database back
// ONLINE by hand (RESTORE … WITH RECOVERY): it begins a new recovery fork,
// which drsctl may take for another database when the engine reports
// identities (a new log chain: every standby may be seeded again).
func (w *world) recoverPrimary(db string) {
	w.server("primary").RecoverByHand(db)
	for _, tc := range w.standbys() {
		w.breaks(tc.name, db, "the primary was brought back ONLINE by hand after a switchover (a new recovery fork)", "")
	}
	w.logf("the operator brings %s back ONLINE on the primary by hand (RESTORE WITH RECOVERY)", db)
}

func (w *world) runReprotect(target, db string) {
	w.writeConfig()
	var out, errOut bytes.Buffer
	code := (&cli.Env{Stdout: &out, Stderr: &errOut, Stdin: strings.NewReader(""), Getenv: func(string) (string, bool) { return "", false },
		Engines: w.engines, Now: func() time.Time { return w.clock }, Version: "scenario"}).
		Reprotect(context.Background(), w.globals(), cli.ReprotectOptions{Target: target, Databases: []string{db}, AutoApprove: true, LockTimeout: time.Second})
	w.lastOut = out.String() + errOut.String()
	if w.verbose {
		w.t.Logf("reprotect %s -database %s at %s → %d\n%s", target, db, w.clock.Format("01-02 15:04:05"), code, w.lastOut)
	}
	w.logf("drsctl reprotect %s -database %s → %d", target, db, code)
	if code == 0 {
		w.reprotect[target+"/"+db] = true
	}
}

// runPromote runs `drsctl promote TARGET -database DB -auto-approve`
// (-planned for a switchover) and checks what it did.
func (w *world) runPromote(target, db string, planned bool) {
	key := target + "/" + db
	before, existed := w.server(target).Database(db)
	folderUp := false
	if st, err := os.Stat(w.path("share")); err == nil && st.IsDir() {
		folderUp = true
	}
	primaryUp := false
	if s, err := w.drv.Open(context.Background(), w.primaryDSN); err == nil {
		s.Close()
		primaryUp = true
	}
	reach, canReach := w.reach(target, db, folderUp, primaryUp)
	primaryRows := w.primaryRows(db)

	w.writeConfig()
	snap := w.snapshot()
	out := &killer{}
	var errOut bytes.Buffer
	code := w.env(out, &errOut).Promote(context.Background(), w.globals(), cli.PromoteOptions{Target: target, Databases: []string{db},
		Planned: planned, AutoApprove: true, DisconnectUsers: planned && w.frng.Intn(2) == 0, LockTimeout: time.Second})
	w.lastOut = out.buf.String() + errOut.String()
	w.applies++
	verb := "promote"
	if planned {
		verb = "promote -planned"
	}
	if w.verbose {
		w.t.Logf("%s %s -database %s at %s → %d\n%s", verb, target, db, w.clock.Format("01-02 15:04:05"), code, w.lastOut)
	}
	w.logf("drsctl %s %s -database %s → %d (primary up: %v, folder up: %v)", verb, target, db, code, primaryUp, folderUp)
	w.promoting = true
	w.checkRestores(snap)
	w.promoting = false

	after, ok := w.server(target).Database(db)
	if !ok || after.State != engine.Online {
		return
	}
	td := w.state().LookupTargetDatabase(target, db)
	at := after.Forks[len(after.Forks)-1].StartLSN
	if existed && before.State == engine.Online {
		// Failed over by hand before: recorded, not recovered again.
		if len(after.Forks) != len(before.Forks) {
			w.fail("%s: promote recovered a database that was already ONLINE", key)
		}
		if planned && w.primaryRestoring() == db {
			w.fail("%s: a switchover took the tail-log backup (the primary is RESTORING) onto a target already ONLINE, which cannot restore it", key)
		}
		if code == 0 && (before.Origin == enginetest.Created || w.foreign[key]) {
			w.fail("%s: promote recorded as promoted a database drsctl did not seed (%s)", key, before.Origin)
		}
		if code == 0 {
			if td == nil || td.PromotedAt == nil {
				w.fail("%s: promote succeeded on an ONLINE database but the ledger does not record the promotion", key)
			}
			w.promoted[key] = promotion{how: td.PromotedHow, lsn: td.PromotedLSN}
		}
		return
	}
	// This promote recovered it.
	if before.Origin == enginetest.Created || w.foreign[key] {
		w.fail("%s: promote recovered a database drsctl did not seed (%s)", key, before.Origin)
	}
	if td == nil || td.PromotedAt == nil {
		w.fail("%s: promote recovered the database (at LSN %s) but the ledger does not record it", key, at)
	}
	w.logf("%s promoted (%s) at LSN %s; the harness expected at least %s", key, td.PromotedHow, at, reach)
	if canReach && at.Cmp(reach) < 0 {
		w.fail("%s: promote recovered it at LSN %s, short of LSN %s, which verified copies at its destination and the backup folder (reachable: %v, primary up: %v) reach from where it stood (LSN %s)",
			key, at, reach, folderUp, primaryUp, before.RedoLSN)
	}
	if planned {
		if td.PromotedHow != plan.PromotePlanned {
			w.fail("%s: a switchover recorded as %q", key, td.PromotedHow)
		}
		if info, _ := w.server("primary").Database(db); info.State == engine.Online {
			w.fail("%s: the primary database is still ONLINE after a switchover (writes to it would be lost)", key)
		}
	}
	if planned || w.lostNothing(db) {
		for _, r := range primaryRows {
			if !slices.Contains(after.Rows, r) {
				w.fail("%s: row %d, written on the primary at %s before the switchover, is not on the promoted database", key, r, w.inserted[db][r].Format(time.RFC3339))
			}
		}
	}
	w.promoted[key] = promotion{how: td.PromotedHow, lsn: at}
}

// lostNothing: the primary database is RESTORING after a tail-log backup
// (a switchover that failed after it): a failover then restores every
// backup, the tail included, and loses nothing either.
func (w *world) lostNothing(db string) bool { return w.primaryRestoring() == db }

// primaryRows is every row written on the primary (by the harness) that it holds.
func (w *world) primaryRows(db string) []int {
	var out []int
	for _, r := range w.server("primary").Rows(db) {
		if _, ok := w.inserted[db][r]; ok {
			out = append(out, r)
		}
	}
	return out
}

// reach is the LSN a promote must at least bring db on target to: from
// where the standby stands, every log backup in the chain that is a copy
// drsctl shipped and verified to the target's destination (and is still
// intact there), or that is in the backup folder when it answers — every
// backup file there when the primary answers too (drsctl learns of
// backups taken outside it from the primary's history), else those the
// ledger knows. ok is false when the standby is not a database a log can
// be restored onto.
func (w *world) reach(target, db string, folderUp, primaryUp bool) (artifact.LSN, bool) {
	info, ok := w.server(target).Database(db)
	if !ok || info.Torn || (info.State != engine.Restoring && info.State != engine.Standby) || info.RedoLSN == "" {
		return "", false
	}
	st := w.state()
	var hs []artifact.Header
	add := func(in map[string]artifact.Header, p string) {
		if h, ok := in[p]; ok && !w.stillDamaged(p) {
			hs = append(hs, h)
		}
	}
	if td := st.LookupTargetDatabase(target, db); td != nil {
		dest := w.headers(w.path(target))
		for _, c := range td.Copies {
			if c.VerifiedAt != nil {
				add(dest, w.path(target, filepath.FromSlash(c.Key)))
			}
		}
	}
	if folderUp {
		folder := w.headers(w.path("share"))
		if primaryUp {
			for p := range folder {
				add(folder, p)
			}
		} else if led := st.LookupDatabase("sales", db); led != nil {
			for _, a := range led.Artifacts {
				if a != nil && a.PrunedAt == nil {
					add(folder, w.path("share", filepath.FromSlash(a.Key)))
				}
			}
		}
	}
	pos := info.RedoLSN
	for {
		next := artifact.LSN("")
		for _, h := range hs {
			if h.Kind == artifact.Log && h.Database == db && h.FamilyGUID == info.Family && h.FirstLSN.Cmp(pos) <= 0 && h.LastLSN.Cmp(pos) > 0 &&
				(next == "" || h.LastLSN.Cmp(next) > 0) {
				next = h.LastLSN
			}
		}
		if next == "" {
			return pos, true
		}
		pos = next
	}
}

// checkPromotions: the ledger records what the server shows. A promotion
// the harness saw is in the ledger (until the database is dropped or
// replaced), with the way it was done and the LSN the server recovered it
// at.
func (w *world) checkPromotions() {
	st := w.state()
	for _, tc := range w.standbys() {
		for _, db := range w.dbs {
			key := tc.name + "/" + db
			td := st.LookupTargetDatabase(tc.name, db)
			p, known := w.promoted[key]
			if td != nil {
				switch td.PromotedHow {
				case "", plan.PromotePlanned, plan.PromoteUnplanned, plan.PromoteRecorded:
				default:
					w.fail("%s: the ledger says it was promoted %q", key, td.PromotedHow)
				}
				if (td.PromotedAt == nil) != (td.PromotedHow == "") {
					w.fail("%s: the ledger has promoted_at %v but promoted_how %q", key, td.PromotedAt, td.PromotedHow)
				}
			}
			if !known || !tc.present {
				continue
			}
			if td == nil || td.PromotedAt == nil {
				w.fail("%s: promoted (%s at LSN %s), still ONLINE there, but the ledger no longer says so", key, p.how, p.lsn)
			}
			if td.PromotedHow != p.how || (p.how != plan.PromoteRecorded && td.PromotedLSN != p.lsn) {
				w.fail("%s: the ledger says promoted (%s) at LSN %s; the server recovered it (%s) at LSN %s", key, td.PromotedHow, td.PromotedLSN, p.how, p.lsn)
			}
			if info, ok := w.server(tc.name).Database(db); !ok || info.State != engine.Online {
				w.fail("%s: the harness saw it promoted, but it is %s on the server", key, info.State)
			}
		}
	}
}

// reprotectPromoted: before convergence the operator protects each promoted
// database again, half the time with `drsctl reprotect` (which must be
// accepted; the applies then replace it), otherwise by dropping it.
func (w *world) reprotectPromoted() {
	var keys []string
	for k := range w.promoted {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		target, db, _ := strings.Cut(key, "/")
		if !w.targets[target].present || w.reprotect[key] || w.frng.Intn(2) == 0 {
			continue
		}
		w.runReprotect(target, db)
		if !w.reprotect[key] {
			w.fail("converge: `drsctl reprotect %s -database %s` refused a database drsctl promoted", target, db)
		}
	}
}
