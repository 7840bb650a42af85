package scenario_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	_ "time/tzdata"

	_ "gocloud.dev/blob/fileblob"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/enginetest"
	"github.com/drsctl/drsctl/internal/state"
)

// world is one history: the servers, the storage, the configuration an
// operator keeps changing, and what the harness knows to be true.
type world struct {
	t    testing.TB
	seed int64
	rng  *rand.Rand
	dir  string

	drv     *enginetest.Driver
	engines *engine.Registry
	clock   time.Time

	// The configuration, rewritten before every command.
	dbs        []string
	targets    map[string]*targetConf // every target the history knows
	fullEvery  time.Duration
	logEvery   time.Duration
	rpo        time.Duration
	retention  time.Duration // backup folder
	primaryDSN string

	// What the harness did, for the oracle.
	events    []string
	inserted  map[string]map[int]time.Time // database → row → when written (drsctl's clock)
	nextRow   int
	mayReseed map[string]chainBreak // target/db → the event that may break its chain
	deleted   map[string]bool       // storage paths the harness deleted or damaged
	foreign   map[string]bool       // target/db: a database a DBA restored from elsewhere
	damaged   map[string][32]byte   // path → its SHA-256 once damaged
	undo      []func()              // faults that last one step
	// Failover (failover_test.go): events drawn from frng, a source of their
	// own, so a history without them is the one its seed always replayed.
	frng      *rand.Rand
	failovers bool                 // this history promotes, reprotects and switches over
	promoted  map[string]promotion // target/db → what drsctl promoted there (until dropped or replaced)
	reprotect map[string]bool      // target/db: `drsctl reprotect` was asked and no seed has replaced it yet
	promoting bool                 // checking the restores of a promote (which ignores restore windows)
	lastOut   string
	// replaced: a history that moved or recreated the primary: its old
	// chain is legitimately gone for everyone.
	applies int
	verbose bool // replaying one history: print every apply
	hdrs    map[string]cachedHeader
}

type cachedHeader struct {
	ino  uint64 // drsctl replaces files by rename: a new inode
	size int64
	mod  time.Time
	hdr  artifact.Header
	ok   bool
}

// tempDir is a directory for one history, in memory when the machine has
// /dev/shm: drsctl fsyncs every file it writes, and a history writes
// hundreds.
func tempDir(t testing.TB) string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "drsctl-scenario-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

// chainBreak is an event that may break a standby's chain.
type chainBreak struct {
	why   string
	after artifact.LSN
}

type targetConf struct {
	name      string
	standby   bool
	mode      string // standby | norecovery
	delay     time.Duration
	destRet   time.Duration
	present   bool
	removedAt time.Time
	// window is a nightly restore_window (22:00 to 04:00 in Berlin, across
	// the night the clocks change in the first hours of every history);
	// restores on the target must happen only inside it.
	window bool
}

// berlinNight is the scenario's restore window, read independently of
// drsctl's implementation: 22:00 to 04:00 Berlin wall-clock time.
const berlinNight = `  restore_window {
    from      = "22:00"
    to        = "04:00"
    time_zone = "Europe/Berlin"
  }
`

var berlin = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	return loc
}()

func inBerlinNight(t time.Time) bool {
	h := t.In(berlin).Hour()
	return h >= 22 || h < 4
}

// nextBerlinNight is when the window next opens after t, to the minute.
func nextBerlinNight(t time.Time) time.Time {
	t = t.Truncate(time.Minute)
	for !inBerlinNight(t) || inBerlinNight(t.Add(-time.Minute)) {
		t = t.Add(time.Minute)
	}
	return t
}

func (tc *targetConf) dsn() string { return "mem://" + tc.name }

func newWorld(t testing.TB, seed int64) *world {
	rng := rand.New(rand.NewSource(seed))
	w := &world{t: t, seed: seed, rng: rng, dir: tempDir(t), drv: enginetest.NewDriver(), hdrs: map[string]cachedHeader{},
		clock:    time.Date(2026, 3, 28, 22, 0, 0, 0, time.UTC).Add(time.Duration(rng.Intn(3600)) * time.Second),
		inserted: map[string]map[int]time.Time{}, mayReseed: map[string]chainBreak{}, deleted: map[string]bool{}, foreign: map[string]bool{}, damaged: map[string][32]byte{},
		targets: map[string]*targetConf{}, primaryDSN: "mem://primary",
		promoted: map[string]promotion{}, reprotect: map[string]bool{}}
	w.drv.Now = func() time.Time { return w.clock }
	w.engines = engine.NewRegistry()
	w.engines.Register("memory", w.drv)
	w.dbs = []string{"Sales"}
	if rng.Intn(3) == 0 {
		w.dbs = append(w.dbs, "Ledger")
	}
	w.fullEvery = []time.Duration{2 * time.Hour, 6 * time.Hour, 24 * time.Hour}[rng.Intn(3)]
	w.logEvery = []time.Duration{5 * time.Minute, 15 * time.Minute}[rng.Intn(2)]
	w.retention = []time.Duration{0, 3 * time.Hour, 8 * time.Hour}[rng.Intn(3)]
	modes := []string{"standby", "norecovery"}
	w.targets["east"] = &targetConf{name: "east", standby: true, mode: modes[rng.Intn(2)], present: true}
	w.targets["west"] = &targetConf{name: "west", standby: true, mode: modes[rng.Intn(2)], present: rng.Intn(4) != 0,
		delay: []time.Duration{0, 0, 30 * time.Minute, 7 * time.Hour}[rng.Intn(4)]}
	w.rpo = 4*w.logEvery + w.targets["west"].delay // a delay must stay below the RPO (validate says so)
	// Drawn from a stream of its own, so every other history stays the
	// one its seed always replayed.
	w.targets["east"].window = rand.New(rand.NewSource(seed^0x77696e646f77)).Intn(3) == 0
	if w.targets["east"].window {
		// The window is closed 18h a day: a shorter RPO is a configuration
		// validate warns about, which is not what these histories test.
		w.rpo = max(w.rpo, 20*time.Hour)
	}
	w.frng = rand.New(rand.NewSource(seed ^ 0x70726f6d6f7465))
	w.failovers = w.frng.Intn(2) == 0
	w.targets["vault"] = &targetConf{name: "vault", present: rng.Intn(3) != 0,
		destRet: []time.Duration{0, 0, 4 * time.Hour}[rng.Intn(3)]}
	for _, d := range []string{"share", "east", "west", "vault"} {
		if err := os.MkdirAll(filepath.Join(w.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	prim := w.drv.Server("primary")
	for i, db := range w.dbs {
		prim.Create(db, fmt.Sprintf("%d000000000000000000%d", 9+i, 1+rng.Intn(9)))
		w.inserted[db] = map[int]time.Time{}
	}
	prim.HideIdentity(rng.Intn(2) == 0) // half the histories plan from create_date alone
	w.logf("config: databases %v, full every %s, log every %s, folder retention %s; east %s; west %s delay %s present %v; vault present %v retention %s",
		w.dbs, w.fullEvery, w.logEvery, w.retention, w.targets["east"].mode, w.targets["west"].mode, w.targets["west"].delay,
		w.targets["west"].present, w.targets["vault"].present, w.targets["vault"].destRet)
	if w.targets["east"].window {
		w.logf("config: east restores only from 22:00 to 04:00 Europe/Berlin")
	}
	if w.failovers {
		w.logf("config: the operator promotes, switches over and protects again in this history")
	}
	return w
}

func (w *world) logf(format string, a ...any) {
	w.events = append(w.events, fmt.Sprintf("[%s] ", w.clock.Format("01-02 15:04:05"))+fmt.Sprintf(format, a...))
}

// fail stops the history with everything needed to replay it.
func (w *world) fail(format string, a ...any) {
	w.t.Helper()
	w.t.Fatalf("seed %d: %s\n\nevents:\n  %s\n\nlast output:\n%s\n\nreplay: go test ./internal/scenario -run TestScenarios -scenario.seed=%d -v",
		w.seed, fmt.Sprintf(format, a...), strings.Join(w.events, "\n  "), w.lastOut, w.seed)
}

func (w *world) path(parts ...string) string {
	return filepath.Join(append([]string{w.dir}, parts...)...)
}

func (w *world) writeConfig() {
	var b strings.Builder
	fmt.Fprintf(&b, "backup_folder \"share\" {\n  url = \"file://%s\"\n", w.path("share"))
	if w.retention > 0 {
		fmt.Fprintf(&b, "  retention = %q\n", fmtDur(w.retention))
	}
	fmt.Fprintf(&b, "}\n\nprimary \"sales\" {\n  engine = \"memory\"\n  connection = %q\n  databases = [", w.primaryDSN)
	for i, db := range w.dbs {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", db)
	}
	fmt.Fprintf(&b, "]\n  backup_folder = backup_folder.share\n  full_backup { every = %q }\n  log_backup { every = %q }\n  rpo = %q\n}\n",
		fmtDur(w.fullEvery), fmtDur(w.logEvery), fmtDur(w.rpo))
	for _, name := range []string{"east", "west", "vault"} {
		tc := w.targets[name]
		if !tc.present {
			continue
		}
		fmt.Fprintf(&b, "\ntarget %q {\n  primary = primary.sales\n", name)
		if tc.standby {
			fmt.Fprintf(&b, "  connection = %q\n  restore_mode = %q\n", tc.dsn(), tc.mode)
			if tc.delay > 0 {
				fmt.Fprintf(&b, "  restore_delay = %q\n", fmtDur(tc.delay))
			}
			if tc.window {
				b.WriteString(berlinNight)
			}
		} else {
			b.WriteString("  kind = \"copy_only\"\n")
		}
		fmt.Fprintf(&b, "  destination {\n    url = \"file://%s\"\n", w.path(name))
		if tc.destRet > 0 {
			fmt.Fprintf(&b, "    retention = %q\n", fmtDur(tc.destRet))
		}
		b.WriteString("  }\n}\n")
	}
	if err := os.WriteFile(w.path("main.drs.hcl"), []byte(b.String()), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d%time.Minute == 0:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// killer cancels the apply once n actions have started: a runner killed
// midway.
type killer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	n      int
	cancel func()
}

func (k *killer) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.buf.Write(p)
	if k.n > 0 {
		k.n -= bytes.Count(p, []byte(": started\n"))
		if k.n <= 0 {
			k.cancel()
		}
	}
	return len(p), nil
}

func (w *world) env(out *killer, errOut *bytes.Buffer) *cli.Env {
	return &cli.Env{Stdout: out, Stderr: errOut, Stdin: strings.NewReader(""),
		Getenv: func(string) (string, bool) { return "", false }, Engines: w.engines,
		Now: func() time.Time { return w.clock }, Version: "scenario"}
}

func (w *world) globals() cli.Globals { return cli.Globals{Chdir: w.dir, NoColor: true} }

// apply runs `drsctl apply -auto-approve`, killed after killAfter started
// actions when killAfter > 0.
func (w *world) apply(targets []string, killAfter int) int {
	w.writeConfig()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &killer{n: killAfter, cancel: cancel}
	var errOut bytes.Buffer
	code := w.env(out, &errOut).Apply(ctx, w.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 1,
		Targets: targets, LockTimeout: time.Second})
	w.lastOut = out.buf.String() + errOut.String()
	w.applies++
	if w.verbose {
		w.t.Logf("apply %d at %s → %d\n%s", w.applies, w.clock.Format("01-02 15:04:05"), code, w.lastOut)
	}
	return code
}

// plan runs `drsctl plan -detailed-exitcode`.
func (w *world) plan() (int, string) {
	w.writeConfig()
	out := &killer{}
	var errOut bytes.Buffer
	code := w.env(out, &errOut).Plan(context.Background(), w.globals(), cli.PlanOptions{Refresh: true, DetailedExitCode: true, LockTimeout: time.Second})
	return code, out.buf.String() + errOut.String()
}

func (w *world) state() *state.State {
	st, err := state.NewLocal(w.path("drs.state.json"), state.LocalOptions{}).Read(context.Background())
	if err != nil {
		w.fail("the ledger cannot be read: %v", err)
	}
	if st == nil {
		return state.New("")
	}
	return st
}

func (w *world) server(name string) *enginetest.Server { return w.drv.Server(name) }

func (w *world) standbys() []*targetConf {
	var out []*targetConf
	for _, n := range []string{"east", "west"} {
		out = append(out, w.targets[n])
	}
	return out
}

// insert writes rows on the primary.
func (w *world) insert(db string, n int) {
	for i := 0; i < n; i++ {
		w.nextRow++
		if err := w.server("primary").Insert(db, w.nextRow); err != nil {
			return // not writable (moved, restoring): nothing written
		}
		w.inserted[db][w.nextRow] = w.clock
	}
}

// headers reads every backup file under a storage directory.
func (w *world) headers(dir string) map[string]artifact.Header {
	out := map[string]artifact.Header{}
	sess, err := w.drv.Open(context.Background(), "mem://oracle")
	if err != nil {
		w.fail("oracle: %v", err)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") || strings.HasSuffix(p, ".tmp") || strings.HasSuffix(p, ".attrs") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		var ino uint64
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ino = st.Ino
		}
		c, ok := w.hdrs[p]
		if !ok || c.ino != ino || c.size != fi.Size() || !c.mod.Equal(fi.ModTime()) {
			c = cachedHeader{ino: ino, size: fi.Size(), mod: fi.ModTime()}
			c.hdr, err = sess.Describe(context.Background(), p)
			c.ok = err == nil
			w.hdrs[p] = c
		}
		if c.ok {
			out[p] = c.hdr
		}
		return nil
	})
	return out
}

// restorable restores, on a scratch server, the newest chain the files in
// dir hold (a full and every log the engine accepts after it) and returns
// the rows that gives, or nil when no full restores.
func (w *world) restorable(dir, db string) []int {
	hs := w.headers(dir)
	var fulls, logs []string
	for p, h := range hs {
		if h.Database != db || w.stillDamaged(p) {
			continue // a damaged copy is no copy (drsctl checks SHA-256 too)
		}
		if h.Kind == artifact.Full {
			fulls = append(fulls, p)
		} else if h.FirstLSN.Cmp(h.LastLSN) != 0 {
			logs = append(logs, p)
		}
	}
	sort.Slice(fulls, func(i, j int) bool { return hs[fulls[i]].LastLSN.Cmp(hs[fulls[j]].LastLSN) > 0 })
	sort.Slice(logs, func(i, j int) bool { return hs[logs[i]].FirstLSN.Cmp(hs[logs[j]].FirstLSN) < 0 })
	var best []int
	bestLSN := artifact.LSN("")
	for i, f := range fulls {
		if i == 3 {
			break
		}
		scratch := fmt.Sprintf("scratch-%d", w.rng.Int63())
		sess, _ := w.drv.Open(context.Background(), "mem://"+scratch)
		ctx := context.Background()
		if err := sess.Restore(ctx, engine.RestoreRequest{Database: db, Kind: artifact.Full, ServerPath: f, Mode: engine.NoRecovery}, engine.NoProgress); err != nil {
			continue
		}
		redo := hs[f].LastLSN
		for progress := true; progress; {
			progress = false
			for _, l := range logs {
				h := hs[l]
				if h.FirstLSN.Cmp(redo) > 0 || h.LastLSN.Cmp(redo) <= 0 {
					continue
				}
				if err := sess.Restore(ctx, engine.RestoreRequest{Database: db, Kind: artifact.Log, ServerPath: l, Mode: engine.NoRecovery}, engine.NoProgress); err == nil {
					redo, progress = h.LastLSN, true
				}
			}
		}
		if redo.Cmp(bestLSN) > 0 {
			bestLSN = redo
			best = w.server(scratch).Rows(db)
		}
	}
	return best
}

// stillDamaged reports a file the harness damaged that nobody rewrote since
// (by content: a rewrite within the file system's clock tick keeps the
// modification time).
func (w *world) stillDamaged(p string) bool {
	sum, ok := w.damaged[p]
	if !ok {
		return false
	}
	b, err := os.ReadFile(p)
	return err == nil && sha256.Sum256(b) == sum
}

// missingSince is the time of the first row written on the primary that
// rows lacks: the standby (or vault) holds everything written before it.
// ok is false when it lacks nothing.
func (w *world) missingSince(db string, rows []int) (time.Time, bool) {
	have := map[int]bool{}
	for _, r := range rows {
		have[r] = true
	}
	var first time.Time
	found := false
	for _, r := range w.server("primary").Rows(db) {
		at, ok := w.inserted[db][r]
		if !ok || have[r] {
			continue
		}
		if !found || at.Before(first) {
			first, found = at, true
		}
	}
	return first, found
}
