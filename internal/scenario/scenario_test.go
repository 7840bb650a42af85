package scenario_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/enginetest"
	"github.com/drsctl/drsctl/internal/observe"
	"github.com/drsctl/drsctl/internal/plan"
)

// defaultHistories is how many histories run unless -scenario.histories
// says otherwise (fewer under the race detector: race_test.go).
var defaultHistories = 200

var (
	histories = flag.Int("scenario.histories", 0, "random histories to run (default 200; 25 under -race)")
	first     = flag.Int64("scenario.first", 1, "seed of the first history")
	only      = flag.Int64("scenario.seed", 0, "run only this history (replay)")
	steps     = flag.Int("scenario.steps", 18, "steps per history (then convergence)")
)

func TestScenarios(t *testing.T) {
	if *only != 0 {
		runHistory(t, *only)
		return
	}
	n := *histories
	if n == 0 {
		n = defaultHistories
	}
	for i := int64(0); i < int64(n); i++ {
		seed := *first + i
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Parallel()
			runHistory(t, seed)
		})
	}
}

var errInjected = errors.New("injected fault")

func runHistory(t *testing.T, seed int64) {
	w := newWorld(t, seed)
	w.verbose = *only != 0 && testing.Verbose()
	for s := 0; s < *steps; s++ {
		w.step()
	}
	w.converge()
}

// step advances time, lets the operator's world do something, runs drsctl
// the way cron would, and checks every invariant.
func (w *world) step() {
	r := w.rng
	// Time passes: often a few minutes, sometimes an idle night.
	d := []time.Duration{time.Minute, 4 * time.Minute, w.logEvery + time.Minute, 2 * w.logEvery, 47 * time.Minute, 3 * time.Hour}[r.Intn(6)]
	w.clock = w.clock.Add(d)
	for _, db := range w.dbs {
		if r.Intn(3) != 0 {
			w.insert(db, 1+r.Intn(3))
		}
	}
	kill, targets := 0, []string(nil)
	faulty := false
	for n := r.Intn(3); n > 0; n-- {
		if w.event() {
			faulty = true
		}
	}
	if w.failovers && w.frng.Intn(4) == 0 && w.failoverEvent() {
		faulty = true
	}
	switch r.Intn(12) {
	case 0:
		kill = 1 + r.Intn(6)
		w.logf("the apply is killed after %d actions start", kill)
		faulty = true
	case 1:
		var present []string
		for _, n := range []string{"east", "west", "vault"} {
			if w.targets[n].present {
				present = append(present, n)
			}
		}
		if len(present) > 0 {
			targets = []string{present[r.Intn(len(present))]}
			w.logf("apply -target %s", targets[0])
		}
	case 2:
		code, out := w.plan()
		w.logf("plan → %d", code)
		if code == 1 && !faulty && !w.situation() {
			w.lastOut = out
			w.fail("plan failed with no fault in the world")
		}
	}
	before := w.snapshot()
	code := w.apply(targets, kill)
	w.logf("apply → %d", code)
	for _, u := range w.undo {
		u()
	}
	w.undo = nil
	if code != 0 && !faulty && !w.situation() && !isInjected(w.lastOut) {
		w.fail("apply failed with no fault in the world")
	}
	w.check(before)
}

// situation reports an operator situation that makes every run fail until
// someone acts (a standby recovered by hand, a database in the way).
func (w *world) situation() bool {
	if w.primaryRestoring() != "" {
		return true // left RESTORING by a switchover: no backup can be taken
	}
	for _, tc := range w.standbys() {
		if !tc.present {
			continue
		}
		for _, db := range w.dbs {
			if _, promoted := w.promoted[tc.name+"/"+db]; promoted {
				continue // promoted by drsctl: left alone, with a warning
			}
			if info, ok := w.server(tc.name).Database(db); ok && (info.State == engine.Online || info.Origin == enginetest.Created || w.foreign[tc.name+"/"+db]) {
				return true
			}
		}
	}
	return false
}

// event lets the operator's world do one thing; it reports whether that is
// a fault that may make this apply fail.
func (w *world) event() bool {
	r := w.rng
	db := w.dbs[r.Intn(len(w.dbs))]
	prim := w.server("primary")
	sb := w.standbys()[r.Intn(2)]
	switch r.Intn(24) {
	case 0:
		after := r.Intn(2) == 0
		prim.FailNext("backup", db, after, errInjected)
		w.logf("the next backup of %s fails (reply lost: %v)", db, after)
		return true
	case 1:
		after := r.Intn(2) == 0
		w.server(sb.name).FailNext("restore", db, after, errInjected)
		w.logf("the next restore of %s on %s fails (reply lost: %v)", db, sb.name, after)
		return true
	case 2:
		w.server(sb.name).TearNextRestore(db)
		w.logf("the next seed of %s on %s is torn midway", db, sb.name)
		return true
	case 3, 4:
		return w.deleteFile(db)
	case 5:
		return w.damageCopy(db)
	case 6:
		name := []string{"share", "east", "west", "vault"}[r.Intn(4)]
		p := w.path(name)
		if err := os.Rename(p, p+".away"); err == nil {
			// A file where the directory was: nothing can be listed, read or
			// written there until it comes back.
			os.WriteFile(p, nil, 0o644)
			w.undo = append(w.undo, func() {
				os.Remove(p)
				if err := os.Rename(p+".away", p); err != nil {
					w.fail("bring %s back: %v", name, err)
				}
			})
			w.logf("%s cannot be reached for one apply", name)
		}
		return true
	case 7:
		tc := w.targets[[]string{"east", "west", "vault"}[r.Intn(3)]]
		if tc.present {
			tc.present, tc.removedAt = false, w.clock
			for _, db := range w.dbs {
				delete(w.promoted, tc.name+"/"+db)
				delete(w.reprotect, tc.name+"/"+db)
			}
			w.logf("target %s removed from the configuration", tc.name)
		} else {
			tc.present = true
			for _, db := range w.dbs {
				w.breaks(tc.name, db, "re-added to the configuration", "")
			}
			w.logf("target %s added back to the configuration", tc.name)
		}
	case 8:
		if info, ok := w.server(sb.name).Database(db); ok && (info.State == engine.Restoring || info.State == engine.Standby) && !info.Torn {
			w.server(sb.name).RecoverByHand(db)
			w.server(sb.name).Insert(db, 1_000_000+w.applies)
			w.logf("%s on %s failed over by hand and written to", db, sb.name)
		}
	case 9:
		if info, ok := w.server(sb.name).Database(db); ok && (info.State == engine.Online || info.Origin == enginetest.Created || w.foreign[sb.name+"/"+db]) {
			w.server(sb.name).Drop(db)
			delete(w.foreign, sb.name+"/"+db)
			delete(w.promoted, sb.name+"/"+db)
			delete(w.reprotect, sb.name+"/"+db)
			w.logf("the operator drops %s on %s to protect it again", db, sb.name)
		}
	case 10:
		// A DBA's log backup, into the backup folder (adopted) or elsewhere (a hole).
		inFolder := r.Intn(2) == 0
		dir := w.path("elsewhere")
		if inFolder {
			dir = w.path("share", "manual")
		}
		os.MkdirAll(dir, 0o755)
		p := filepath.Join(dir, fmt.Sprintf("%s_%d.trn", db, w.clock.Unix()))
		_, statErr := os.Stat(p)
		overwrites := statErr == nil // the DBA's backup replaces an earlier one in the same file
		if h, err := prim.BackupOutOfBand(context.Background(), db, p); err == nil {
			w.logf("a DBA backs up the log of %s to %s (in the folder: %v, LSNs %s-%s)", db, p, inFolder, h.FirstLSN, h.LastLSN)
			if overwrites || (!inFolder && h.FirstLSN.Cmp(h.LastLSN) != 0) {
				for _, tc := range w.standbys() {
					w.breaks(tc.name, db, "a log backup drsctl cannot reach", "")
				}
			}
		}
	case 11:
		prim.SetRecovery(db, "SIMPLE")
		prim.SetRecovery(db, "FULL")
		for _, tc := range w.standbys() {
			w.breaks(tc.name, db, "the recovery model went through SIMPLE", "")
		}
		w.logf("%s switched to SIMPLE and back to FULL", db)
	case 12:
		off := []time.Duration{0, 3 * time.Minute, -3 * time.Minute, 2 * time.Hour, -2 * time.Hour}[r.Intn(5)]
		prim.SetClockOffset(off)
		w.logf("the primary's clock is now off by %s", off)
	case 13:
		shift := []time.Duration{0, time.Hour, -time.Hour}[r.Intn(3)]
		prim.ShiftReportedCreateDate(shift)
		w.logf("create_date is now read with an offset %s off (daylight saving)", shift)
	case 14:
		which := []string{"primary", sb.name}[r.Intn(2)]
		w.server(which).SetDown(true)
		w.undo = append(w.undo, func() { w.server(which).SetDown(false) })
		w.logf("%s is down for one apply", which)
		return true
	case 15:
		which := []string{"primary", sb.name}[r.Intn(2)]
		w.server(which).FailNext("observe", db, false, errInjected)
		w.logf("observing %s on %s fails once", db, which)
		return true
	case 16:
		w.clock = w.clock.Add(w.fullEvery)
		w.logf("a long quiet stretch (%s)", w.fullEvery)
	case 17:
		w.restoreForeign(sb, db)
	}
	return false
}

// restoreForeign is a DBA dropping drsctl's standby and restoring another
// database (the QA team's copy) under the same name, WITH NORECOVERY.
func (w *world) restoreForeign(sb *targetConf, db string) {
	if w.foreign[sb.name+"/"+db] || w.rng.Intn(3) != 0 {
		return
	}
	qa := w.server("qa")
	qa.Create(db, "5000")
	qa.Insert(db, 9_000_000)
	p := w.path("qa-" + db + ".bak")
	if _, err := qa.BackupOutOfBandFull(context.Background(), db, p); err != nil {
		w.fail("qa backup: %v", err)
	}
	w.server(sb.name).Drop(db)
	if err := w.server(sb.name).RestoreByHand(context.Background(), engine.RestoreRequest{Database: db, Kind: artifact.Full, ServerPath: p, Mode: engine.NoRecovery}); err != nil {
		w.logf("a DBA drops %s on %s but cannot restore the QA team's copy: %v", db, sb.name, err)
		return
	}
	w.foreign[sb.name+"/"+db] = true
	delete(w.promoted, sb.name+"/"+db)
	delete(w.reprotect, sb.name+"/"+db) // asked for the promoted database, which is gone
	w.logf("a DBA drops %s on %s and restores the QA team's copy in its place", db, sb.name)
}

// deleteFile is someone's cleanup job deleting a backup from the folder or
// a copy from a destination.
func (w *world) deleteFile(db string) bool {
	where := []string{"share", "east", "west", "vault"}[w.rng.Intn(4)]
	p, h, ok := w.pickFile(where, db)
	if !ok {
		return false
	}
	os.Remove(p)
	w.deleted[p] = true
	w.logf("a cleanup job deletes %s (%s %s-%s)", strings.TrimPrefix(p, w.dir), h.Kind, h.FirstLSN, h.LastLSN)
	w.noteLoss(where, db, h)
	return true
}

// damageCopy flips bytes of a copy at a destination, keeping its size.
func (w *world) damageCopy(db string) bool {
	where := []string{"east", "west", "vault"}[w.rng.Intn(3)]
	p, h, ok := w.pickFile(where, db)
	if !ok {
		return false
	}
	b, err := os.ReadFile(p)
	if err != nil || len(b) < 10 {
		return false
	}
	fi, err := os.Stat(p)
	if err != nil {
		return false
	}
	b[len(b)/2] ^= 0x01
	os.WriteFile(p, b, 0o644)
	// Someone rewrote it, later: a modification time of its own, whatever
	// the file system clock's granularity (drsctl notices rewrites by it).
	later := fi.ModTime().Add(time.Second)
	os.Chtimes(p, later, later)
	w.deleted[p] = true
	w.damaged[p] = sha256.Sum256(b)
	w.logf("a byte flips in %s", strings.TrimPrefix(p, w.dir))
	w.noteLoss(where, db, h)
	return true
}

// pickFile picks one of db's backup files in a storage directory.
func (w *world) pickFile(where, db string) (string, artifact.Header, bool) {
	hs := w.headers(w.path(where))
	var ps []string
	for p, h := range hs {
		if h.Database == db {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return "", artifact.Header{}, false
	}
	sort.Strings(ps)
	p := ps[w.rng.Intn(len(ps))]
	return p, hs[p], true
}

// breaks records that an event may legitimately break a standby's chain:
// it may be seeded again until it is seeded from a full that ends after
// LSN after (by default, where the primary stands now).
func (w *world) breaks(target, db, why string, after artifact.LSN) {
	if after == "" {
		if info, ok := w.server("primary").Database(db); ok {
			after = info.NextLSN
		}
	}
	w.mayReseed[target+"/"+db] = chainBreak{why: why, after: after}
}

// noteLoss marks the standbys whose chain a lost file may have broken: a
// log after where they stand, gone from the folder, or from their own
// destination with no copy left in the folder.
func (w *world) noteLoss(where, db string, h artifact.Header) {
	if h.Kind != artifact.Log {
		return
	}
	for _, tc := range w.standbys() {
		if where != "share" && where != tc.name {
			continue
		}
		info, ok := w.server(tc.name).Database(db)
		if !ok || info.RedoLSN == "" || h.LastLSN.Cmp(info.RedoLSN) > 0 {
			w.breaks(tc.name, db, "a log it needs was deleted or damaged", h.LastLSN)
		}
	}
}

// snapshot is what the harness remembers before an apply.
type snapshot struct {
	audit map[string]int // server → audit entries seen
	files map[string]artifact.Header
}

func (w *world) snapshot() snapshot {
	s := snapshot{audit: map[string]int{}, files: map[string]artifact.Header{}}
	for _, n := range []string{"east", "west"} {
		s.audit[n] = len(w.server(n).Restores())
	}
	for _, d := range []string{"share", "east", "west", "vault"} {
		for p, h := range w.headers(w.path(d)) {
			s.files[p] = h
		}
	}
	return s
}

func isInjected(msg string) bool {
	// A flipped byte (the harness's) is caught by a verify or a restore
	// later: that failure is the fault's, not drsctl's.
	for _, s := range []string{errInjected.Error(), "server unreachable", "context canceled", "is damaged", "backup file unreadable"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// check verifies the invariants after an apply.
func (w *world) check(before snapshot) {
	w.checkRestores(before)
	w.checkNothingNeededPruned(before)
	w.checkLag()
	w.checkPromotions()
}

// checkRestores: never a restore out of order, never a REPLACE over what
// drsctl does not own, never a reseed of a standby whose chain continues.
func (w *world) checkRestores(before snapshot) {
	for _, name := range []string{"east", "west"} {
		evs := w.server(name).Restores()[before.audit[name]:]
		for _, ev := range evs {
			key := name + "/" + ev.Database
			if w.targets[name].window && !inBerlinNight(ev.At) && !w.promoting {
				w.fail("%s: restore of %s %s-%s at %s, outside the target's restore window (22:00-04:00 Europe/Berlin)", key, ev.Kind, ev.FirstLSN, ev.LastLSN, ev.At.In(berlin).Format("Mon 15:04 MST"))
			}
			if ev.Err != "" && !isInjected(ev.Err) {
				w.fail("%s: restore of %s %s-%s refused by the server: %s", key, ev.Kind, ev.FirstLSN, ev.LastLSN, ev.Err)
			}
			if ev.Replace && (ev.ReplacedOrigin == enginetest.Created || w.foreign[key]) {
				w.fail("%s: REPLACE over a database drsctl does not own (%s, %s)", key, ev.ReplacedOrigin, ev.ReplacedState)
			}
			// An online database (failed over by hand, or promoted) is
			// replaced only once `drsctl reprotect` asked for it.
			if ev.Replace && (ev.ReplacedOrigin == enginetest.Recovered || ev.ReplacedState == engine.Online) && !w.reprotect[key] {
				w.fail("%s: REPLACE over an ONLINE database without `drsctl reprotect` (%s, %s)", key, ev.ReplacedOrigin, ev.ReplacedState)
			}
			if p, ok := w.promoted[key]; ok && !w.reprotect[key] {
				w.fail("%s: restore of %s %s-%s over the database promoted (%s) at LSN %s, neither dropped nor reprotected", key, ev.Kind, ev.FirstLSN, ev.LastLSN, p.how, p.lsn)
			}
			if ev.Kind == artifact.Full && (ev.Done || ev.Torn) {
				// The promoted database is gone; a new seed ends the reprotect
				// (one torn midway is restored again WITH REPLACE).
				delete(w.promoted, key)
				if ev.Done {
					delete(w.reprotect, key)
				}
			}
			if ev.Kind == artifact.Full && (ev.ReplacedState == engine.Restoring || ev.ReplacedState == engine.Standby) && !ev.ReplacedTorn {
				why, ok := w.mayReseed[key]
				if !ok || why.why == "" {
					w.fail("%s: a standby whose chain continues was seeded again (no event broke its chain)", key)
				}
				w.logf("%s seeded again (%s)", key, why.why)
			}
			// A seed from a full taken after the break mends it; one from an
			// older full (an interrupted first seed finishing) does not.
			if m, ok := w.mayReseed[key]; ok && ev.Kind == artifact.Full && ev.Done && ev.LastLSN.Cmp(m.after) > 0 {
				delete(w.mayReseed, key)
			}
		}
	}
}

// checkNothingNeededPruned: a file drsctl deleted is never one a standby
// still needs to continue.
func (w *world) checkNothingNeededPruned(before snapshot) {
	after := map[string]artifact.Header{}
	for _, d := range []string{"share", "east", "west", "vault"} {
		for p, h := range w.headers(w.path(d)) {
			after[p] = h
		}
	}
	for p, h := range before.files {
		if _, still := after[p]; still || w.deleted[p] || h.Kind != artifact.Log || h.FirstLSN.Cmp(h.LastLSN) == 0 {
			continue
		}
		if _, err := os.Stat(filepath.Dir(p)); err != nil {
			continue // the directory was away for this apply
		}
		// drsctl pruned p. Was it the next link of a standby that keeps it nowhere else?
		for _, tc := range w.standbys() {
			key := tc.name + "/" + h.Database
			if _, broken := w.mayReseed[key]; !tc.present || broken {
				continue
			}
			inFolder := strings.HasPrefix(p, w.path("share")+string(filepath.Separator))
			atDest := strings.HasPrefix(p, w.path(tc.name)+string(filepath.Separator))
			if !inFolder && !atDest {
				continue
			}
			info, ok := w.server(tc.name).Database(h.Database)
			if !ok || info.Torn || (info.State != engine.Restoring && info.State != engine.Standby) {
				continue
			}
			if h.FirstLSN.Cmp(info.RedoLSN) <= 0 && info.RedoLSN.Cmp(h.LastLSN) < 0 && !w.copyElsewhere(after, p, h, tc.name) {
				w.fail("%s: drsctl pruned %s, the next log the standby at %s needs", key, strings.TrimPrefix(p, w.dir), info.RedoLSN)
			}
		}
	}
}

// copyElsewhere reports whether the backup in p is still in the folder or
// at the target's destination (after: every file there now).
func (w *world) copyElsewhere(after map[string]artifact.Header, p string, h artifact.Header, target string) bool {
	for q, g := range after {
		if q != p && g == h && (strings.HasPrefix(q, w.path("share")+string(filepath.Separator)) || strings.HasPrefix(q, w.path(target)+string(filepath.Separator))) {
			return true
		}
	}
	return false
}

// checkLag: the lag drsctl reports is never less than the true lag. The
// truth is the first row written on the primary that the target lacks.
func (w *world) checkLag() {
	w.writeConfig()
	cfg, diags := config.Load(w.dir, config.LoadOptions{KnownEngines: w.engines.Names(), Getenv: func(string) (string, bool) { return "", false }})
	if len(diags) > 0 {
		w.fail("config: %v", diags)
	}
	st := w.state()
	obs := observe.Refresh(context.Background(), cfg, st, observe.Options{Engines: w.engines, Now: func() time.Time { return w.clock }})
	p := plan.Make(cfg, st, obs, w.clock, plan.Options{})
	for _, r := range p.RPO {
		if r.Unknown != "" || r.Through.IsZero() {
			continue
		}
		var rows []int
		if tc := w.targets[r.Target]; tc.standby {
			info, ok := w.server(r.Target).Database(r.Database)
			if !ok || info.Torn || info.State == engine.Online {
				continue
			}
			rows = info.Rows
		} else {
			rows = w.restorable(w.path(r.Target), r.Database)
		}
		if since, lacks := w.missingSince(r.Database, rows); lacks && r.Through.After(since) {
			w.fail("%s/%s: drsctl reports it current through %s, but it lacks a row written at %s (lag %s reported)",
				r.Target, r.Database, r.Through.Format(time.RFC3339), since.Format(time.RFC3339), r.Lag)
		}
	}
}

// converge stops the faults, resolves what an operator would, and checks
// every target catches up within a bounded number of applies and then has
// nothing more to do.
func (w *world) converge() {
	for _, n := range []string{"primary", "east", "west"} {
		w.server(n).ClearFailures()
		w.server(n).SetDown(false)
	}
	for db := w.primaryRestoring(); db != ""; db = w.primaryRestoring() {
		w.recoverPrimary(db) // every database a switchover left RESTORING
	}
	w.reprotectPromoted()
	for _, tc := range w.standbys() {
		for _, db := range w.dbs {
			if w.reprotect[tc.name+"/"+db] && !w.foreign[tc.name+"/"+db] {
				continue // the next applies replace it
			}
			if info, ok := w.server(tc.name).Database(db); ok && (info.State == engine.Online || info.Origin == enginetest.Created || w.foreign[tc.name+"/"+db]) {
				w.server(tc.name).Drop(db)
				delete(w.foreign, tc.name+"/"+db)
				delete(w.promoted, tc.name+"/"+db)
				w.logf("converge: the operator drops %s on %s to protect it again", db, tc.name)
			}
		}
	}
	w.logf("converge: faults stop")
	// A target with a restore window converges once it opens: start where
	// a whole night of applies is ahead.
	if tc := w.targets["east"]; tc.present && tc.window && (!inBerlinNight(w.clock) || !inBerlinNight(w.clock.Add(3*time.Hour))) {
		w.clock = nextBerlinNight(w.clock)
		w.logf("converge: wait for east's restore window to open")
	}
	const rounds = 8
	advance := true
	for i := 0; ; i++ {
		if i == rounds {
			w.fail("not converged %d applies after the faults stopped", rounds)
		}
		if advance {
			w.clock = w.clock.Add(w.logEvery + time.Minute)
			for _, db := range w.dbs {
				w.insert(db, 1)
			}
		}
		before := w.snapshot()
		code := w.apply(nil, 0)
		w.logf("converge: apply → %d", code)
		if code != 0 {
			w.fail("apply failed after the faults stopped")
		}
		w.check(before)
		if !w.converged() {
			continue
		}
		// Caught up: what is left (prunes the last apply made possible) is
		// done by one more apply at the same time, and then nothing.
		code, out := w.plan()
		if code == 0 {
			return
		}
		if !advance {
			w.lastOut = "plan:\n" + out
			w.fail("a converged world still plans work after a second apply (exit %d)", code)
		}
		advance = false
	}
}

// converged: every standby without a delay holds every row, every delayed
// one continues, every vault can restore every row.
func (w *world) converged() bool {
	for _, name := range []string{"east", "west", "vault"} {
		tc := w.targets[name]
		if !tc.present {
			continue
		}
		for _, db := range w.dbs {
			var rows []int
			if tc.standby {
				if tc.delay > 0 {
					continue // it may rightly wait hours for a full old enough
				}
				info, ok := w.server(name).Database(db)
				if !ok || info.Torn || (info.State != engine.Restoring && info.State != engine.Standby) {
					return false
				}
				rows = info.Rows
			} else {
				rows = w.restorable(w.path(name), db)
			}
			if _, lacks := w.missingSince(db, rows); lacks {
				return false
			}
		}
	}
	return true
}
