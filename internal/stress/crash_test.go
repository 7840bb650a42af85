package stress

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/state"
)

// trial is what one crash trial did, for the summary.
type trial struct {
	seed    int64
	remote  bool // SMB, S3 and Azure Blob destinations too
	warmups int
	events  []string
	kill    killAt
	killed  bool
	// kill2 is the kill of the first apply after the kill, when the trial
	// kills that one too.
	kill2      killAt
	killed2    bool
	killedAt   string
	rounds     int // applies after the kill until convergence
	unlocks    int
	takeovers  int
	tempFiles  int
	stateTemps int
	took       time.Duration
	failed     bool
	killedCode int
	// errors are the errors of runs to be killed that ended on their own
	// with one, first lines.
	errors []string
	// inFlight is what the killed run was doing when the kill landed.
	inFlight string
	// recovered counts what the applies after the kill recorded instead of
	// doing again: "record" (where a standby stands), "adopt" (a backup).
	recovered map[string]int
}

// TestCrash is the crash harness: every trial builds a fresh world, runs a
// seeded number of clean applies (with rows written, and sometimes a chain
// restart or a DBA's log backup into the backup folder), then one apply
// that is SIGKILLed at a seeded moment, then applies until every target has
// caught up, and checks the invariants (world.check).
func TestCrash(t *testing.T) {
	var seeds []int64
	if *flagSeed != 0 {
		seeds = []int64{*flagSeed}
	} else {
		for i := 0; i < *flagTrials; i++ {
			seeds = append(seeds, *flagFirst+int64(i))
		}
	}
	par := max(*flagParallel, 1)
	sem := make(chan struct{}, par)
	var mu sync.Mutex
	var trials []*trial
	start := time.Now()
	t.Run("trials", func(t *testing.T) {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				t.Parallel()
				sem <- struct{}{}
				defer func() { <-sem }()
				tr := &trial{seed: seed}
				defer func() {
					// Also when the trial ended with t.Fatal.
					tr.failed = tr.failed || t.Failed()
					mu.Lock()
					trials = append(trials, tr)
					mu.Unlock()
				}()
				crashTrial(t, tr)
			})
		}
	})
	summarize(t, trials, time.Since(start), par)
}

// crashTrial runs one trial; a failure reports the seed, the kill and
// every drsctl run's output.
func crashTrial(t *testing.T, tr *trial) {
	seed := tr.seed
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	begin := time.Now()
	defer func() { tr.took = time.Since(begin) }()
	o := worldOptions{FullEvery: "3s", Retention: "2s"}
	// With the test servers up, half the trials ship to SMB, S3 and Azure
	// Blob too (the draw is made either way: a seed means the same trial).
	if rng.IntN(2) == 0 && remote != nil {
		o.Remote, tr.remote = remote, true
	}
	w := newWorld(t, o)
	fail := func(format string, a ...any) {
		t.Helper()
		tr.failed = true
		t.Errorf("seed %d (replay: go test ./internal/stress -run 'TestCrash' -stress.seed %d -v)\n"+
			"remote destinations: %v; warm-up applies: %d; events: %v\nkill: %s; landed: %s\nsecond kill: %s\n%s\n\ndrsctl runs:%s",
			seed, seed, tr.remote, tr.warmups, tr.events, tr.kill, orNone(tr.killedAt), tr.kill2, fmt.Sprintf(format, a...), w.transcriptText())
	}
	writeSome := func() {
		for _, db := range written {
			w.insert(db, rng.IntN(3))
		}
	}

	// Clean applies first: the kill lands in a seed, in log shipping, in a
	// new full backup, in pruning, depending on how many.
	tr.warmups = rng.IntN(4)
	// ref is how long an apply takes here: the kill instant is a seeded
	// fraction of it.
	ref := time.Second
	if *flagRaceBin {
		ref = 2500 * time.Millisecond
	}
	for i := 0; i < tr.warmups; i++ {
		writeSome()
		if i > 0 {
			w.waitLogDue()
		}
		r := w.apply(runOpts{})
		if r.code != 0 {
			fail("warm-up apply %d exited %d", i+1, r.code)
			return
		}
		ref = r.took
	}
	if tr.warmups > 0 {
		if rng.IntN(5) == 0 {
			db := written[rng.IntN(len(written))]
			w.restartChain(db)
			tr.events = append(tr.events, "chain restart of "+db)
		}
		if rng.IntN(5) == 0 {
			db := written[rng.IntN(len(written))]
			w.insert(db, 1)
			if err := w.dbaLogBackup(db, "dba-"+fmt.Sprint(seed)+".trn"); err != nil {
				// After a chain restart there is no log chain until drsctl's full.
				tr.events = append(tr.events, fmt.Sprintf("DBA log backup of %s refused: %v", db, firstLine(err.Error())))
			} else {
				tr.events = append(tr.events, "DBA log backup of "+db+" into the backup folder")
			}
		}
	}
	writeSome()
	if tr.warmups > 0 {
		w.waitLogDue()
	}

	// The apply that is killed, and those after it, are in the transcript
	// in full.
	w.fullTranscript = true
	tr.kill = pickKill(rng, ref)
	r := w.apply(runOpts{Kill: tr.kill})
	tr.killed, tr.killedAt, tr.killedCode = r.killed, r.killedAt, r.code
	tr.inFlight = "(ended before the kill)"
	if r.killed {
		tr.inFlight = inFlight(r.out)
	}
	// Every action the killed run reported done was acknowledged: it
	// must be in the ledger as the run left it, before any other run.
	if st, err := w.ledger(); err != nil {
		fail("the ledger does not read after the kill: %v", err)
		return
	} else if lost := lostAcks(r.out, st); len(lost) > 0 {
		fail("acknowledged actions are not in the ledger after the kill:\n  - %s", strings.Join(lost, "\n  - "))
		return
	}
	if !r.killed && r.code != 0 {
		// An action may fail (the next apply then does it): what matters is
		// that the applies after converge. Reported in the summary.
		tr.errors = append(tr.errors, errorLine(r.out))
	}
	// A quarter of the trials kill the first apply after the kill too: the
	// recovery itself (records, adoptions, a seed again) is interrupted.
	if rng.IntN(4) == 0 {
		w.waitLogDue()
		tr.kill2 = pickKill(rng, ref)
		r := w.apply(runOpts{Kill: tr.kill2})
		tr.killed2 = r.killed
		if !r.killed && r.code != 0 {
			tr.errors = append(tr.errors, errorLine(r.out))
		}
	}
	tr.recovered = map[string]int{}

	// Apply until every target caught up.
	runs, why := w.converge()
	tr.rounds = len(runs)
	for _, r := range runs {
		for _, l := range splitLines(r.out) {
			if v := actionVerb(l); (v == "record" || v == "adopt") && strings.Contains(l, ": done") {
				tr.recovered[v]++
			}
		}
	}
	if why != "" {
		fail("%s", why)
		return
	}
	tr.unlocks, tr.takeovers = w.forceUnlocks, w.takeovers
	probs, fig := w.check()
	tr.tempFiles, tr.stateTemps = fig.tempFiles, fig.stateTemps
	var real []string
	for _, p := range probs {
		real = append(real, p.msg)
	}
	if len(real) > 0 {
		fail("after convergence:\n  - %s", strings.Join(real, "\n  - "))
	} else if *flagShow {
		t.Logf("seed %d, kill: %s; landed: %s\ndrsctl runs:%s", seed, tr.kill, orNone(tr.killedAt), w.transcriptText())
	}
}

// lostAcks returns the actions a run reported done (its output's "done"
// lines: backups with the artifact they made, ships, restores) that st
// does not record.
func lostAcks(out string, st *state.State) []string {
	var lost []string
	pruned := map[string]bool{}
	for _, l := range splitLines(out) {
		if actionVerb(l) == "prune" {
			if f := strings.Fields(l); len(f) > 0 {
				pruned[strings.TrimSuffix(f[len(f)-1], ":")] = true
			}
		}
	}
	// A backup made in the run is "(new full backup)" in the lines of the
	// actions after it, and named in its own done line.
	produced := map[string]string{}
	subject := func(db string, f []string) string {
		if len(f) > 1 && f[0] == "(new" {
			return produced[db+"/"+f[1]]
		}
		return strings.TrimSuffix(f[0], ":")
	}
	for _, l := range splitLines(out) {
		v := actionVerb(l)
		if v == "" || !strings.Contains(l, ": done in ") {
			continue
		}
		head, rest, _ := strings.Cut(strings.TrimPrefix(l, "sales/"), ": ")
		db, target, _ := strings.Cut(head, " → ")
		d := st.LookupDatabase("sales", db)
		if v == "backup full" || v == "backup log" {
			if i, j := strings.LastIndex(l, "("), strings.LastIndex(l, ")"); i >= 0 && j > i {
				produced[db+"/"+strings.TrimPrefix(v, "backup ")] = l[i+1 : j]
			}
		}
		switch v {
		case "backup full", "backup log":
			i, j := strings.LastIndex(l, "("), strings.LastIndex(l, ")")
			if i < 0 || j < i {
				continue
			}
			if id := l[i+1 : j]; d.Artifact(id) == nil {
				lost = append(lost, l)
			}
		case "ship":
			f := strings.Fields(rest)
			id := ""
			if len(f) > 1 {
				id = subject(db, f[1:])
			}
			if id == "" || pruned[id] {
				continue
			}
			if td := st.LookupTargetDatabase(target, db); td == nil || td.Copies[id] == nil {
				lost = append(lost, l)
			}
		case "restore full", "restore log":
			f := strings.Fields(rest)
			if len(f) < 3 || subject(db, f[2:]) == "" {
				continue
			}
			art := d.Artifact(subject(db, f[2:]))
			td := st.LookupTargetDatabase(target, db)
			if art == nil || td == nil || td.Restored == nil || td.Restored.LastLSN.Cmp(art.LastLSN) < 0 {
				lost = append(lost, l)
			}
		}
	}
	return lost
}

// pickKill chooses when a run is killed. Half the kills land a few
// milliseconds after a seeded line of output (the plan is 60 to 90 lines,
// the actions' progress 80 to 200 more), half at a seeded fraction (10% to
// 100%) of ref, the time the latest apply took (refresh and planning take
// the first third or so). A run may still end first: the trial then checks
// a clean run.
func pickKill(rng *rand.Rand, ref time.Duration) killAt {
	k := killAt{Set: true}
	if rng.IntN(2) == 0 {
		k.Lines = 30 + rng.IntN(170)
		k.Delay = time.Duration(rng.IntN(15)) * time.Millisecond
	} else {
		k.Delay = time.Duration(float64(ref) * (0.1 + 0.9*rng.Float64())).Round(time.Millisecond)
	}
	return k
}

// dbaLogBackup takes a log backup outside drsctl into the backup folder,
// where drsctl's layout puts log backups: drsctl must adopt it.
func (w *world) dbaLogBackup(database, file string) error {
	key := blob.ArtifactKey("sales", database, artifact.Log, file)
	p := filepath.Join(w.dir, "share", filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return w.exec(w.primary, "BACKUP LOG "+quoteIdent(database)+" TO DISK = "+quoteString(p)+" WITH INIT")
}

// errorLine is the first "Error:" line of a run's output.
func errorLine(out string) string {
	for _, l := range splitLines(out) {
		if strings.HasPrefix(l, "Error: ") {
			return l
		}
	}
	return "(no error line)"
}

func orNone(s string) string {
	if s == "" {
		return "(the run ended before the kill)"
	}
	return s
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// actionVerb is the kind of action an apply progress line is about
// ("backup log", "ship", "restore full", …), or "".
func actionVerb(line string) string {
	if !strings.HasPrefix(line, "sales/") {
		return ""
	}
	_, rest, ok := strings.Cut(line, ": ")
	if !ok {
		return ""
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return ""
	}
	switch f[0] {
	case "backup", "restore":
		if len(f) > 1 {
			return f[0] + " " + strings.TrimSuffix(f[1], ":")
		}
	}
	return strings.TrimSuffix(f[0], ":")
}

// inFlight says what a killed run was doing: the kinds of the actions it
// had started and not finished, or where it was before or between them.
func inFlight(out string) string {
	started := map[string]string{}
	any := false
	for _, l := range splitLines(out) {
		v := actionVerb(l)
		if v == "" {
			continue
		}
		i := strings.LastIndex(l, ": ")
		key, what := l[:i], l[i+2:]
		switch {
		case what == "started":
			started[key], any = v, true
		case strings.HasPrefix(what, "done"), strings.HasPrefix(what, "failed"), strings.HasPrefix(what, "not started"):
			delete(started, key)
		}
	}
	if !any {
		if strings.Contains(out, "Plan:") {
			return "after the plan, before any action"
		}
		return "refresh or plan"
	}
	var kinds []string
	seen := map[string]bool{}
	for _, v := range started {
		if !seen[v] {
			seen[v] = true
			kinds = append(kinds, v)
		}
	}
	if len(kinds) == 0 {
		return "between actions"
	}
	sort.Strings(kinds)
	return strings.Join(kinds, " + ")
}

// summarize reports the trials' figures.
func summarize(t *testing.T, trials []*trial, took time.Duration, par int) {
	if len(trials) == 0 {
		return
	}
	sort.Slice(trials, func(i, j int) bool { return trials[i].seed < trials[j].seed })
	var killed, killed2, failed, unlocks, takeovers, temps, stateTemps, events, remotes int
	rounds := map[int]int{}
	var errs []string
	phases := map[string]int{}
	recovered := map[string]int{}
	var longest time.Duration
	var sum time.Duration
	for _, tr := range trials {
		if tr.killed {
			killed++
		}
		if tr.killed2 {
			killed2++
		}
		if tr.remote {
			remotes++
		}
		if tr.failed {
			failed++
		}
		if tr.unlocks > 0 {
			unlocks++
		}
		if tr.takeovers > 0 {
			takeovers++
		}
		if len(tr.events) > 0 {
			events++
		}
		temps += tr.tempFiles
		stateTemps += tr.stateTemps
		rounds[tr.rounds]++
		phases[tr.inFlight]++
		for _, e := range tr.errors {
			errs = append(errs, fmt.Sprintf("seed %d: %s", tr.seed, e))
		}
		for k, n := range tr.recovered {
			recovered[k] += n
		}
		sum += tr.took
		longest = max(longest, tr.took)
	}
	var rs []string
	for n := 1; n <= maxConvergeRounds; n++ {
		if rounds[n] > 0 {
			rs = append(rs, fmt.Sprintf("%d×%d", rounds[n], n))
		}
	}
	var ps []string
	for p, n := range phases {
		ps = append(ps, fmt.Sprintf("%s: %d", p, n))
	}
	sort.Strings(ps)
	t.Logf("crash trials: %d (seeds %d..%d), %d killed mid-run, %d ended before the kill; %d failed\n"+
		"  trials whose first apply after the kill was killed too: %d\n"+
		"  trials shipping to SMB, S3 and Azure Blob as well as file://: %d\n"+
		"  where the kills landed (actions in flight): %s\n"+
		"  what the applies after the kills recorded instead of redoing: %d restores (record), %d backups (adopt)\n"+
		"  applies to converge after the kill: %s\n"+
		"  trials with a chain restart or a DBA backup: %d\n"+
		"  locks left by the kill: %d removed with force-unlock, %d taken over by the next apply\n"+
		"  temporary files left behind by killed writes: %d in storage, %d beside the state file\n"+
		"  time: %s in all (%d at once), %s per trial on average, longest %s",
		len(trials), trials[0].seed, trials[len(trials)-1].seed, killed, len(trials)-killed, failed, killed2, remotes,
		strings.Join(ps, "; "), recovered["record"], recovered["adopt"], strings.Join(rs, ", "), events, unlocks, takeovers, temps, stateTemps,
		took.Round(time.Millisecond), par, (sum / time.Duration(len(trials))).Round(time.Millisecond), longest.Round(time.Millisecond))
	if len(errs) > 0 {
		t.Logf("runs to be killed that ended on their own with an error (the applies after converged):\n  %s", strings.Join(errs, "\n  "))
	}
}

// TestLostAcks: the check finds an acknowledged backup, ship and restore
// missing from a ledger, and accepts the ledger that has them.
func TestLostAcks(t *testing.T) {
	out := strings.Join([]string{
		"sales/Sales: backup log: done in 10ms (Sales_log_1.trn)",
		"sales/Sales → east: ship (new log backup): done in 5ms",
		"sales/Sales → east: restore log (new log backup) WITH STANDBY: done in 7ms",
		"sales/O'Brien → vault: ship O'Brien_full_0.bak: done in 3ms",
	}, "\n")
	st := state.New("l")
	if lost := lostAcks(out, st); len(lost) != 4 {
		t.Fatalf("an empty ledger lost %d of 4 acknowledged actions: %v", len(lost), lost)
	}
	st.Database("sales", "Sales").Add(&state.Artifact{ID: "Sales_log_1.trn", Header: artifact.Header{Kind: artifact.Log, LastLSN: "50"}})
	st.Database("sales", "O'Brien").Add(&state.Artifact{ID: "O'Brien_full_0.bak", Header: artifact.Header{Kind: artifact.Full, LastLSN: "9"}})
	st.TargetDatabase("east", "Sales").Copies["Sales_log_1.trn"] = &state.Copy{}
	st.TargetDatabase("east", "Sales").Restored = &state.Restore{Artifact: "Sales_log_1.trn", LastLSN: "50"}
	st.TargetDatabase("vault", "O'Brien").Copies["O'Brien_full_0.bak"] = &state.Copy{}
	if lost := lostAcks(out, st); len(lost) != 0 {
		t.Fatalf("a ledger with every action lost %v", lost)
	}
}
