package stress

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/failpoint"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/testenv"
)

// fpCase is one failpoint scenario: prepare the world, run drsctl with
// DRSCTL_FAILPOINT until it stops there, check what was left undone in
// the ledger, apply without it until the targets caught up, and check that
// the applies after recorded what had been done instead of doing it again.
type fpCase struct {
	name string // subtest name
	fp   string // DRSCTL_FAILPOINT
	opts worldOptions
	// before brings the world to the point where the next apply reaches
	// the failpoint.
	before func(t *testing.T, w *world)
	// tries is how many applies (a log backup apart) may pass before the
	// failpoint is reached (default 1).
	tries int
	// args is the command that stops (default apply).
	args []string
	// gap checks the world just after the stop: what the server or
	// storage did that the ledger does not record.
	gap func(t *testing.T, w *world, st *state.State)
	// after checks the applies that followed (their output) once the
	// world converged.
	after func(t *testing.T, w *world, runs []run)
	// instead replaces convergence and the generic checks after the stop
	// (a promoted standby no longer follows the primary).
	instead func(t *testing.T, w *world)
	// remote ships to the SMB, S3 and Azure Blob test servers too (the
	// case skips without them, and fails in CI).
	remote bool
}

// TestFailpoints runs every failpoint scenario; together they cover every
// failpoint internal/failpoint names.
func TestFailpoints(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range failpointCases() {
		name, _, _ := strings.Cut(c.fp, "@")
		covered[name] = true
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			runFailpointCase(t, c)
		})
	}
	for _, n := range failpoint.Names() {
		if !covered[n] {
			t.Errorf("failpoint %s has no scenario", n)
		}
	}
}

func runFailpointCase(t *testing.T, c fpCase) {
	if c.remote {
		testenv.Lookup(t, remoteVars...)
		c.opts.Remote = remote
	}
	w := newWorld(t, c.opts)
	dump := func() string { return "\ndrsctl runs:" + w.transcriptText() }
	if c.before != nil {
		c.before(t, w)
	}
	if t.Failed() {
		t.Fatal(dump())
	}
	w.fullTranscript = true
	args := c.args
	if args == nil {
		args = []string{"apply"}
	}
	tries := max(c.tries, 1)
	var stopped run
	for i := 1; ; i++ {
		if args[0] == "apply" {
			stopped = w.apply(runOpts{Failpoint: c.fp})
		} else {
			stopped = w.drsctl(runOpts{Failpoint: c.fp}, args...)
		}
		if stopped.code == failpoint.ExitCode {
			break
		}
		if stopped.code != 0 || i == tries {
			t.Fatalf("drsctl %s did not stop at failpoint %s in %d runs (last exit %d)%s", args[0], c.fp, i, stopped.code, dump())
		}
		w.waitLogDue()
	}
	name, _, _ := strings.Cut(c.fp, "@")
	if !strings.Contains(stopped.out, "stopped at failpoint "+name) {
		t.Fatalf("exit %d without the failpoint's message%s", stopped.code, dump())
	}
	st, err := w.ledger()
	if err != nil {
		t.Fatalf("the ledger does not read after the stop: %v%s", err, dump())
	}
	if c.gap != nil {
		c.gap(t, w, st)
	}
	if c.instead != nil {
		c.instead(t, w)
		if t.Failed() || *flagShow {
			t.Log(dump())
		}
		return
	}
	runs, why := w.converge()
	if why != "" {
		t.Fatalf("%s%s", why, dump())
	}
	if c.after != nil {
		c.after(t, w, runs)
	}
	probs, _ := w.check()
	for _, p := range probs {
		t.Errorf("after convergence: %s", p.msg)
	}
	if t.Failed() || *flagShow {
		t.Log(dump())
	}
}

// did returns the lines of runs that report an action of this verb done
// (e.g. "adopt", "record", "ship", "restore full"), optionally only those
// containing sub.
func did(runs []run, verb, sub string) []string {
	var out []string
	for _, r := range runs {
		for _, l := range splitLines(r.out) {
			if actionVerb(l) == verb && strings.Contains(l, ": done") && strings.Contains(l, sub) {
				out = append(out, l)
			}
		}
	}
	return out
}

// backups counts the primary's backups of a database of a type ("D",
// "L") in its msdb.
func (w *world) backups(database, typ string) int {
	n := 0
	for _, b := range w.primary.BackupHistory() {
		if b.Database == database && b.Type == typ {
			n++
		}
	}
	return n
}

// fullRestores counts the seeds a standby's msdb records per database.
func (w *world) fullRestores(target string) map[string]int {
	n := map[string]int{}
	for _, r := range w.standbys()[target].RestoreHistory() {
		if r.Type == "D" {
			n[r.Database]++
		}
	}
	return n
}

// unrecorded lists the backup files in the backup folder the ledger does
// not have.
func (w *world) unrecorded(t *testing.T, st *state.State) []string {
	files, _, err := scan(filepath.Join(w.dir, "share"))
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, db := range databases {
		if d := st.LookupDatabase("sales", db); d != nil {
			for _, a := range d.Artifacts {
				known[a.Key] = true
			}
		}
	}
	var out []string
	for k := range files {
		if !known[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// uncopied lists the files at a target's destination the ledger records
// no copy of.
func (w *world) uncopied(t *testing.T, st *state.State, target string) []string {
	files, _, err := w.scanTarget(w.target(target))
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	if tg := st.Targets[target]; tg != nil {
		for _, td := range tg.Databases {
			for _, c := range td.Copies {
				recorded[c.Key] = true
			}
		}
	}
	var out []string
	for k := range files {
		if !recorded[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// standsUnrecorded lists the standby databases whose server stands
// somewhere other than the ledger says.
func (w *world) standsUnrecorded(st *state.State) []string {
	var out []string
	for name, s := range w.standbys() {
		for _, db := range databases {
			pos := position(s, db)
			td := st.LookupTargetDatabase(name, db)
			rec := ""
			if td != nil && td.Restored != nil {
				rec = string(td.Restored.LastLSN)
			}
			if pos != rec {
				out = append(out, fmt.Sprintf("%s/%s: server at %q, ledger at %q", name, db, pos, rec))
			}
		}
	}
	slices.Sort(out)
	return out
}

// seedOnce checks that every standby database was seeded exactly want[db]
// times (default 1) in all.
func (w *world) seedOnce(t *testing.T, want map[string]int) {
	t.Helper()
	for _, target := range []string{"east", "west"} {
		got := w.fullRestores(target)
		for _, db := range databases {
			n := 1
			if v, ok := want[db]; ok {
				n = v
			}
			if got[db] != n {
				t.Errorf("%s/%s was seeded %d times, want %d", target, db, got[db], n)
			}
		}
	}
}

// onceEach checks that the primary holds exactly want full backups of
// every database (none taken again).
func (w *world) fullsTaken(t *testing.T, want int) {
	t.Helper()
	for _, db := range databases {
		if n := w.backups(db, "D"); n != want {
			t.Errorf("the primary holds %d full backups of %s, want %d: a backup was taken again", n, db, want)
		}
	}
}

// seeded is a world after one clean apply (every target seeded), with rows.
func seeded(t *testing.T, w *world) {
	w.insert("Sales", 2)
	w.insert("O'Brien", 1)
	if r := w.apply(runOpts{}); r.code != 0 {
		t.Errorf("seeding apply exited %d", r.code)
	}
	w.insert("Sales", 1)
	w.waitLogDue()
}

func failpointCases() []fpCase {
	adopted := func(t *testing.T, w *world, runs []run) {
		if len(did(runs, "adopt", "")) == 0 {
			t.Errorf("no apply adopted the backup whose reply was lost")
		}
	}
	lostBackup := func(t *testing.T, w *world, st *state.State) {
		if len(w.unrecorded(t, st)) == 0 {
			t.Errorf("the stop left no backup file the ledger does not know: the failpoint is not where it says")
		}
	}
	return []fpCase{
		{
			name: "backup full, before the checksum", fp: failpoint.BackupBeforeChecksum,
			gap: lostBackup,
			after: func(t *testing.T, w *world, runs []run) {
				adopted(t, w, runs)
				w.fullsTaken(t, 1)
				w.seedOnce(t, nil)
			},
		},
		{
			name: "backup full, before the ledger write", fp: failpoint.BackupBeforeRecord,
			gap: lostBackup,
			after: func(t *testing.T, w *world, runs []run) {
				adopted(t, w, runs)
				w.fullsTaken(t, 1)
				w.seedOnce(t, nil)
			},
		},
		{
			name: "backup log, before the ledger write", fp: failpoint.BackupBeforeRecord,
			before: func(t *testing.T, w *world) {
				seeded(t, w)
			},
			gap: lostBackup,
			after: func(t *testing.T, w *world, runs []run) {
				adopted(t, w, runs)
				w.fullsTaken(t, 1)
				w.seedOnce(t, nil)
			},
		},
		{
			name: "chain restart, before the full backup", fp: failpoint.RestartBeforeBackup,
			before: func(t *testing.T, w *world) {
				seeded(t, w)
				w.restartChain("Sales")
			},
			gap: func(t *testing.T, w *world, st *state.State) {
				if d := st.LookupDatabase("sales", "Sales"); d == nil || d.Restart == "" {
					t.Errorf("the ledger does not record the restart of Sales's chain")
				}
				if n := w.backups("Sales", "D"); n != 1 {
					t.Errorf("the primary holds %d full backups of Sales after the stop, want 1 (the restart's full not yet taken)", n)
				}
			},
			after: func(t *testing.T, w *world, runs []run) {
				if n := w.backups("Sales", "D"); n != 2 {
					t.Errorf("the primary holds %d full backups of Sales, want 2 (one more for the restart)", n)
				}
				w.seedOnce(t, map[string]int{"Sales": 2})
			},
		},
		{
			name: "chain restart, full taken, before the ledger write", fp: failpoint.BackupBeforeRecord,
			before: func(t *testing.T, w *world) {
				seeded(t, w)
				w.restartChain("Sales")
			},
			gap: lostBackup,
			after: func(t *testing.T, w *world, runs []run) {
				adopted(t, w, runs)
				if n := w.backups("Sales", "D"); n != 2 {
					t.Errorf("the primary holds %d full backups of Sales, want 2 (the restart's, adopted)", n)
				}
				w.seedOnce(t, map[string]int{"Sales": 2})
			},
		},
		{
			name: "adopt, before the ledger write", fp: failpoint.AdoptBeforeRecord,
			before: func(t *testing.T, w *world) {
				seeded(t, w)
				if err := w.dbaLogBackup("Sales", "dba-1.trn"); err != nil {
					t.Errorf("DBA log backup: %v", err)
				}
			},
			gap: lostBackup,
			after: func(t *testing.T, w *world, runs []run) {
				if len(did(runs, "adopt", "dba-1.trn")) != 1 {
					t.Errorf("the DBA's backup was adopted %d times after the stop, want once", len(did(runs, "adopt", "dba-1.trn")))
				}
				w.seedOnce(t, nil)
			},
		},
		shipCase("ship (seed), before the first destination's ledger write", failpoint.ShipBeforeRecord),
		shipCase("ship (seed), first destination recorded, before the second's", failpoint.ShipBeforeRecord+"@2"),
		remoteCase(shipCase("ship (seed) to SMB, S3 and Azure Blob too, before the ledger writes", failpoint.ShipBeforeRecord)),
		remoteCase(fpCase{
			name: "restore log from SMB, before the ledger write", fp: failpoint.RestoreLogBeforeRecord,
			before: func(t *testing.T, w *world) {
				seeded(t, w)
			},
			after: func(t *testing.T, w *world, runs []run) {
				if len(did(runs, "record", "")) == 0 {
					t.Errorf("no apply recorded the restore whose reply was lost")
				}
				w.seedOnce(t, nil)
			},
		}),
		{
			name: "verify, before the ledger write", fp: failpoint.VerifyBeforeRecord,
			gap: func(t *testing.T, w *world, st *state.State) {
				for _, target := range w.targetNames() {
					if tg := st.Targets[target]; tg != nil {
						for db, td := range tg.Databases {
							for id, c := range td.Copies {
								if c.VerifiedAt != nil {
									t.Logf("%s/%s: %s verified before the stop", target, db, id)
								}
							}
						}
					}
				}
				// A restore waits for its copy's verification to be
				// recorded: whatever the standbys restored before the stop
				// was recorded as verified.
				for _, target := range []string{"east", "west"} {
					tg := w.target(target)
					for _, r := range w.standbys()[target].RestoreHistory() {
						rel, _ := filepath.Rel(tg.serverPath(), r.Path)
						var c *state.Copy
						if td := st.LookupTargetDatabase(target, r.Database); td != nil {
							for _, cp := range td.Copies {
								if cp.Key == filepath.ToSlash(rel) {
									c = cp
								}
							}
						}
						if c == nil || c.VerifiedAt == nil {
							t.Errorf("%s restored %s before the ledger recorded its copy as verified", target, filepath.Base(r.Path))
						}
					}
				}
			},
			after: func(t *testing.T, w *world, runs []run) {
				w.fullsTaken(t, 1)
				w.seedOnce(t, nil)
			},
		},
		{
			name: "seed, intent written, before RESTORE", fp: failpoint.SeedBeforeRestore,
			gap: func(t *testing.T, w *world, st *state.State) {
				seeding := 0
				for _, tg := range st.Targets {
					for _, td := range tg.Databases {
						if td.Seeding != "" {
							seeding++
						}
					}
				}
				if seeding == 0 {
					t.Errorf("no seed recorded as started: the failpoint is not where it says")
				}
			},
			after: func(t *testing.T, w *world, runs []run) {
				w.fullsTaken(t, 1)
				w.seedOnce(t, nil)
			},
		},
		{
			name: "seed again (REPLACE), intent written, before RESTORE", fp: failpoint.SeedBeforeRestore,
			before: func(t *testing.T, w *world) {
				seeded(t, w)
				w.restartChain("Sales")
			},
			after: func(t *testing.T, w *world, runs []run) {
				w.seedOnce(t, map[string]int{"Sales": 2})
			},
		},
		{
			name: "restore full, before the ledger write", fp: failpoint.RestoreFullBeforeRecord,
			gap: func(t *testing.T, w *world, st *state.State) {
				if len(w.standsUnrecorded(st)) == 0 {
					t.Errorf("the stop left every standby where the ledger says: the failpoint is not where it says")
				}
			},
			after: func(t *testing.T, w *world, runs []run) {
				if len(did(runs, "record", "")) == 0 {
					t.Errorf("no apply recorded the seed whose reply was lost")
				}
				w.seedOnce(t, nil)
			},
		},
		{
			name: "restore log, before the ledger write", fp: failpoint.RestoreLogBeforeRecord,
			before: func(t *testing.T, w *world) {
				seeded(t, w)
			},
			gap: func(t *testing.T, w *world, st *state.State) {
				if len(w.standsUnrecorded(st)) == 0 {
					t.Errorf("the stop left every standby where the ledger says: the failpoint is not where it says")
				}
			},
			after: func(t *testing.T, w *world, runs []run) {
				if len(did(runs, "record", "")) == 0 {
					t.Errorf("no apply recorded the restore whose reply was lost")
				}
				w.seedOnce(t, nil)
			},
		},
		pruneCase("prune from the backup folder, before the ledger write", worldOptions{FullEvery: "2s", Retention: "1s", DestRetention: "30d"}),
		pruneCase("prune from a destination, before the ledger write", worldOptions{FullEvery: "2s", Retention: "30d", DestRetention: "1s"}),
		{
			name: "promote, before the ledger write", fp: failpoint.PromoteBeforeRecord,
			before: func(t *testing.T, w *world) {
				seeded(t, w)
				if r := w.apply(runOpts{}); r.code != 0 {
					t.Errorf("apply exited %d", r.code)
				}
			},
			args: []string{"promote", "east", "-database", "Sales", "-auto-approve"},
			gap: func(t *testing.T, w *world, st *state.State) {
				if td := st.LookupTargetDatabase("east", "Sales"); td != nil && td.PromotedAt != nil {
					t.Errorf("the ledger records the promotion already")
				}
				if got, err := w.databaseState(w.east, "Sales"); err != nil || got != "ONLINE" {
					t.Errorf("east/Sales is %q after the stop (%v), want ONLINE: the failpoint is not where it says", got, err)
				}
			},
			instead: promoteAgain,
		},
	}
}

// remoteCase makes a case ship to the SMB, S3 and Azure Blob test servers
// too.
func remoteCase(c fpCase) fpCase {
	c.remote = true
	return c
}

// shipCase stops while a new full backup is shipped to the three
// destinations (the seed).
func shipCase(name, fp string) fpCase {
	var left []string // target:key of the copies the stop left unrecorded
	return fpCase{
		name: name, fp: fp,
		gap: func(t *testing.T, w *world, st *state.State) {
			for _, target := range w.targetNames() {
				for _, k := range w.uncopied(t, st, target) {
					left = append(left, target+":"+k)
				}
			}
			if len(left) == 0 {
				t.Errorf("the stop left no copy the ledger does not record: the failpoint is not where it says")
			}
		},
		after: func(t *testing.T, w *world, runs []run) {
			// The copies the stop left are complete (check compares every
			// file under a final name with the backup folder's); the next
			// apply should record them, not copy them again.
			again := 0
			for _, l := range left {
				target, key, _ := strings.Cut(l, ":")
				again += len(did(runs, "ship", "→ "+target+": ship "+filepath.Base(key)))
			}
			if again > 0 {
				t.Errorf("%d of the %d complete copies the stop left unrecorded were shipped again instead of being verified and recorded", again, len(left))
			}
			w.fullsTaken(t, 1)
			w.seedOnce(t, nil)
		},
	}
}

// pruneCase runs applies (a full every 2 s, retention 1 s where set) until
// one prunes, and stops it after its first delete.
func pruneCase(name string, o worldOptions) fpCase {
	var ghosts []string // target:artifact (or folder:artifact) deleted, still in the ledger
	return fpCase{
		name: name, fp: failpoint.PruneBeforeRecord, opts: o, tries: 6,
		before: func(t *testing.T, w *world) {
			seeded(t, w)
		},
		gap: func(t *testing.T, w *world, st *state.State) {
			folder, _, _ := scan(filepath.Join(w.dir, "share"))
			for _, db := range databases {
				if d := st.LookupDatabase("sales", db); d != nil {
					for _, a := range d.Artifacts {
						if _, ok := folder[a.Key]; !ok && a.PrunedAt == nil {
							ghosts = append(ghosts, "folder:"+a.ID)
						}
					}
				}
			}
			for _, target := range []string{"east", "vault"} {
				files, _, _ := w.scanTarget(w.target(target))
				if tg := st.Targets[target]; tg != nil {
					for _, td := range tg.Databases {
						for id, c := range td.Copies {
							if _, ok := files[c.Key]; !ok {
								ghosts = append(ghosts, target+":"+id)
							}
						}
					}
				}
			}
			if len(ghosts) == 0 {
				t.Errorf("the stop left nothing deleted that the ledger still lists: the failpoint is not where it says")
			}
		},
		after: func(t *testing.T, w *world, runs []run) {
			again := 0
			for _, g := range ghosts {
				if target, id, _ := strings.Cut(g, ":"); target != "folder" {
					again += len(did(runs, "ship", "→ "+target+": ship "+id))
				}
			}
			if again > 0 {
				t.Errorf("%d copies pruned before the stop were shipped back to their destination after it", again)
			}
			w.seedOnce(t, nil)
		},
	}
}

// databaseState is sys.databases.state_desc of a database on a server.
func (w *world) databaseState(s *sqlsim.Server, database string) (string, error) {
	db, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		return "", err
	}
	defer db.Close()
	var st string
	err = db.QueryRow("SELECT state_desc FROM sys.databases WHERE name = " + quoteString(database)).Scan(&st)
	return st, err
}

// promoteAgain is what an operator does after a promote that died: promote
// again, then apply. The ledger must end up recording the promotion, and
// nothing may be restored onto the promoted database.
func promoteAgain(t *testing.T, w *world) {
	before := len(w.east.RestoreHistory())
	r := w.drsctl(runOpts{}, "promote", "east", "-database", "Sales", "-auto-approve")
	var msgs []string
	if r.code != 0 {
		msgs = append(msgs, fmt.Sprintf("promote again after the stop exited %d: the operator cannot finish the failover with drsctl", r.code))
	}
	w.waitLogDue()
	a := w.apply(runOpts{})
	st, err := w.ledger()
	if err != nil {
		t.Fatalf("the ledger does not read: %v", err)
	}
	if td := st.LookupTargetDatabase("east", "Sales"); td == nil || td.PromotedAt == nil {
		msgs = append(msgs, fmt.Sprintf("the ledger does not record east/Sales as promoted (promote exit %d, apply exit %d)", r.code, a.code))
	}
	if a.code != 0 {
		msgs = append(msgs, fmt.Sprintf("apply after the promotion exited %d", a.code))
	}
	for _, m := range msgs {
		t.Error(m)
	}
	for _, rec := range w.east.RestoreHistory()[before:] {
		if rec.Database == "Sales" {
			t.Errorf("east/Sales was restored onto after its promotion: %+v", rec)
		}
	}
}
