package cli_test

// An operator's worst week, end to end: drsctl's commands run in-process
// against the in-memory engine (enginetest), file:// storage and a fake
// clock, through sequences of events an operator really meets — idle
// nights, killed applies, lost replies, torn seeds, cleanup jobs, hand
// failovers, DBAs' own backups, recovery model switches, recreated and
// moved primaries, clock skew, daylight saving, shards, delays and
// retention. Each test asserts what an operator would expect to see.

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/artifact"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine"
	"github.com/drsctl/drsctl/internal/engine/enginetest"
	"github.com/drsctl/drsctl/internal/state"
)

// wwConfig: one primary, two standbys (east in STANDBY mode, west in
// NORECOVERY) and a copy-only vault. {{…}} are filled from wwOpts.
const wwConfig = `
backup_folder "share" {
  url = "file://{{DIR}}/share"
  {{FOLDER}}
}

primary "sales" {
  engine        = "memory"
  connection    = "{{PRIMARY_DSN}}"
  databases     = ["Sales"]
  backup_folder = backup_folder.share
  full_backup { every = "{{FULL}}" }
  log_backup { every = "{{LOG}}" }
  rpo = "{{RPO}}"
}

target "east" {
  primary      = primary.sales
  connection   = "mem://east"
  restore_mode = "standby"
  destination {
    url = "file://{{DIR}}/east"
    {{EASTDEST}}
  }
  {{EAST}}
}

target "west" {
  primary    = primary.sales
  connection = "mem://west"
  destination {
    url = "file://{{DIR}}/west"
    {{WESTDEST}}
  }
}

target "vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination {
    url = "file://{{DIR}}/vault"
    {{VAULTDEST}}
  }
}
`

// wwOpts fill wwConfig; empty fields take defaults (full every 24h, log
// every 15m, rpo 30m, primary mem://primary).
type wwOpts struct {
	full, log, rpo, primaryDSN                  string
	folder, east, eastDest, westDest, vaultDest string
}

func (o wwOpts) render(dir string) string {
	def := func(s, d string) string {
		if s == "" {
			return d
		}
		return s
	}
	return strings.NewReplacer("{{DIR}}", dir, "{{FOLDER}}", o.folder, "{{PRIMARY_DSN}}", def(o.primaryDSN, "mem://primary"),
		"{{FULL}}", def(o.full, "24h"), "{{LOG}}", def(o.log, "15m"), "{{RPO}}", def(o.rpo, "30m"),
		"{{EAST}}", o.east, "{{EASTDEST}}", o.eastDest, "{{WESTDEST}}", o.westDest, "{{VAULTDEST}}", o.vaultDest).Replace(wwConfig)
}

type ww struct {
	*harness
	prim, east, west *enginetest.Server
	rowSeq           int
	out              string // stdout+stderr of the last command
	opts             wwOpts
	// every is the log backup interval, for converge.
	every time.Duration
}

func newWW(t *testing.T, o wwOpts) *ww {
	t.Helper()
	h := &harness{t: t, dir: fastDir(t), drv: enginetest.NewDriver(), clock: time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)}
	h.drv.Now = func() time.Time { return h.clock }
	h.engines = engine.NewRegistry()
	h.engines.Register("memory", h.drv)
	w := &ww{harness: h, prim: h.drv.Server("primary"), east: h.drv.Server("east"), west: h.drv.Server("west")}
	w.writeConfig(o)
	w.prim.Create("Sales", "98765432109876543210000")
	return w
}

// fastDir is a temporary directory on tmpfs when there is one: every apply
// fsyncs its state and files many times, and these tests run hundreds.
func fastDir(t *testing.T) string {
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "drsctl-worstweek-"); err == nil {
			t.Cleanup(func() { os.RemoveAll(d) })
			return d
		}
	}
	return t.TempDir()
}

func (w *ww) writeConfig(o wwOpts) {
	w.t.Helper()
	w.opts = o
	w.every = 15 * time.Minute
	if o.log != "" {
		d, err := time.ParseDuration(o.log)
		if err != nil {
			w.t.Fatal(err)
		}
		w.every = d
	}
	w.writeRaw(o.render(w.dir))
}

func (w *ww) writeRaw(cfg string) {
	w.t.Helper()
	if err := os.WriteFile(filepath.Join(w.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *ww) config() string { return readFile(w.t, filepath.Join(w.dir, "main.drs.hcl")) }

// insert writes n new rows on the primary.
func (w *ww) insert(n int) {
	w.t.Helper()
	for i := 0; i < n; i++ {
		w.rowSeq++
		if err := w.prim.Insert("Sales", w.rowSeq); err != nil {
			w.t.Fatal(err)
		}
	}
}

// run applies with the given targets; it fails the test on nothing and
// returns the exit code, keeping the output in w.out.
func (w *ww) run(targets ...string) int {
	w.t.Helper()
	return w.runCtx(context.Background(), nil, targets...)
}

func (w *ww) runCtx(ctx context.Context, wrap func(io.Writer) io.Writer, targets ...string) int {
	w.t.Helper()
	e := w.env()
	if wrap != nil {
		e.Stdout = wrap(e.Stdout)
	}
	code := e.Apply(ctx, w.globals(), cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4, Targets: targets})
	w.out = w.stdout.String() + w.stderr.String()
	w.t.Logf("apply %v at %s → %d\n%s", targets, w.clock.Format("Jan 2 15:04"), code, w.out)
	return code
}

// mustApply applies and fails the test unless it exits 0.
func (w *ww) mustApply(what string, targets ...string) {
	w.t.Helper()
	if code := w.run(targets...); code != 0 {
		w.t.Fatalf("%s: apply exit %d:\n%s", what, code, w.out)
	}
}

func (w *ww) planOut(o cli.PlanOptions) int {
	w.t.Helper()
	o.Refresh = true
	code := w.plan(o)
	w.out = w.stdout.String() + w.stderr.String()
	return code
}

func (w *ww) status() string {
	w.t.Helper()
	w.env().Status(context.Background(), w.globals(), cli.StatusOptions{})
	return w.stdout.String()
}

// statusRow returns the status line of a target.
func (w *ww) statusRow(target string) string {
	for _, l := range strings.Split(w.status(), "\n") {
		if strings.HasPrefix(l, target+" ") {
			return l
		}
	}
	return ""
}

func (w *ww) tick(d time.Duration) { w.clock = w.clock.Add(d) }

// cron runs n applies every d, a row written before each, as cron would.
func (w *ww) cron(n int, every time.Duration) {
	w.t.Helper()
	for range n {
		w.tick(every)
		w.insert(1)
		w.run()
	}
}

// fullRestores counts full restores requested on a server.
func fullRestores(s *enginetest.Server) int {
	n := 0
	for _, ev := range s.Restores() {
		if ev.Kind == artifact.Full {
			n++
		}
	}
	return n
}

// replaceViolations lists restores WITH REPLACE over a database drsctl did
// not put there (created by someone, or recovered and online).
func replaceViolations(s *enginetest.Server) []string {
	var out []string
	for _, ev := range s.Restores() {
		if !ev.Replace || ev.ReplacedState == engine.Absent {
			continue
		}
		if ev.ReplacedOrigin != enginetest.Restored || ev.ReplacedState == engine.Online {
			out = append(out, fmt.Sprintf("REPLACE over %s (%s, %s) at %s", ev.Database, ev.ReplacedState, ev.ReplacedOrigin, ev.At.Format(time.Kitchen)))
		}
	}
	return out
}

// duplicateLogRestores lists log restores that took effect twice on one
// incarnation of a standby (a full restore starts a new one).
func duplicateLogRestores(s *enginetest.Server) []string {
	seen := map[string]bool{}
	var out []string
	for _, ev := range s.Restores() {
		if ev.Kind == artifact.Full && ev.Done {
			seen = map[string]bool{}
		}
		if ev.Kind != artifact.Log || !ev.Done {
			continue
		}
		k := string(ev.FirstLSN) + "-" + string(ev.LastLSN)
		if seen[k] {
			out = append(out, k)
		}
		seen[k] = true
	}
	return out
}

// failedRestores counts restore requests that failed.
func failedRestores(s *enginetest.Server) int {
	n := 0
	for _, ev := range s.Restores() {
		if ev.Err != "" {
			n++
		}
	}
	return n
}

// converge runs applies a log interval apart until one plans nothing
// beyond backups, failing after max.
func (w *ww) converge(max int) {
	w.t.Helper()
	for i := 0; i < max; i++ {
		w.tick(w.every + time.Minute)
		if code := w.run(); code != 0 {
			continue
		}
		w.tick(time.Minute)
		if code := w.planOut(cli.PlanOptions{DetailedExitCode: true}); code == 0 {
			return
		}
	}
	w.t.Fatalf("no convergence after %d applies; last plan:\n%s", max, w.out)
}

// assertRows checks that a standby holds every row of the primary.
func (w *ww) assertRows(s *enginetest.Server, name string) {
	w.t.Helper()
	want, got := w.prim.Rows("Sales"), s.Rows("Sales")
	if !slices.Equal(want, got) {
		w.t.Errorf("%s rows = %v, primary has %v", name, got, want)
	}
}

// ledgerAgrees checks the ledger's position for a standby against the
// server's truth.
func (w *ww) ledgerAgrees(target string, s *enginetest.Server) {
	w.t.Helper()
	st := w.state()
	td := st.LookupTargetDatabase(target, "Sales")
	info, ok := s.Database("Sales")
	if !ok || td == nil || td.Restored == nil {
		w.t.Errorf("%s: ledger %v, server exists=%v", target, td, ok)
		return
	}
	if td.Restored.LastLSN.Cmp(info.RedoLSN) != 0 {
		w.t.Errorf("%s: ledger says restored through LSN %s, the server stands at %s", target, td.Restored.LastLSN, info.RedoLSN)
	}
}

// cancelAfter wraps stdout so that ctx is cancelled once n actions have
// printed "started" — an operator's Ctrl-C (or cron's timeout) in the
// middle of an apply.
type cancelAfter struct {
	mu     sync.Mutex
	w      io.Writer
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n -= strings.Count(string(p), ": started\n")
	if c.n <= 0 {
		c.cancel()
	}
	return c.w.Write(p)
}

// TestWorst_IdleNightsDailyFullsNoReseed: stretches with writes and
// stretches with none (so log backups are empty), fulls on schedule, cron
// applies every 5 minutes. After the first seed no standby is ever restored
// from a full again; every row arrives; status never says BREACH for a
// standby that is current, and says it for one that is really behind.
// (Time is compressed: a full every hour stands for the daily full.)
func TestWorst_IdleNightsDailyFullsNoReseed(t *testing.T) {
	w := newWW(t, wwOpts{full: "30m", log: "5m", rpo: "15m"})
	w.insert(3)
	w.mustApply("first seed")
	seeds := fullRestores(w.east) + fullRestores(w.west)
	if seeds != 2 {
		t.Fatalf("first apply: %d full restores, want 2", seeds)
	}
	for i := 0; i < 26; i++ {
		w.tick(5 * time.Minute)
		// busy for 20 minutes, idle for 40: idle stretches span fulls.
		if (i%12) < 4 && i%2 == 0 {
			w.insert(1)
		}
		if code := w.run(); code != 0 {
			t.Fatalf("apply at %s exit %d", w.clock, code)
		}
		if n := fullRestores(w.east) + fullRestores(w.west); n != seeds {
			t.Fatalf("at %s: a standby was restored from a full again (%d full restores):\n%s", w.clock, n, w.out)
		}
		if row := w.statusRow("east"); strings.Contains(row, "BREACH") {
			t.Fatalf("at %s east is current yet status says BREACH:\n%s", w.clock, w.status())
		}
	}
	w.converge(3)
	w.assertRows(w.east, "east")
	w.assertRows(w.west, "west")
	w.ledgerAgrees("east", w.east)
	w.ledgerAgrees("west", w.west)
	// A standby really behind: east's server is down for 40 minutes of
	// writes; status must not say ok.
	w.east.SetDown(true)
	w.cron(8, 5*time.Minute)
	if row := w.statusRow("east"); !strings.Contains(row, "BREACH") {
		t.Errorf("east has been down for 40 minutes of writes (rpo 15m), status says:\n%s", w.status())
	}
	w.east.SetDown(false)
	w.converge(3)
	w.assertRows(w.east, "east")
	if n := fullRestores(w.east) + fullRestores(w.west); n != seeds {
		t.Errorf("%d full restores after the outage, want %d", n, seeds)
	}
}

// logBackups counts the log backups drsctl took (the ledger's log artifacts
// that are not out of band).
func (w *ww) logBackups() int {
	n := 0
	for _, a := range w.state().Database("sales", "Sales").Artifacts {
		if a.Kind == artifact.Log && !a.OutOfBand {
			n++
		}
	}
	return n
}

// TestWorst_PrimaryClockBehindStillHonoursRestoreDelay: the primary's clock
// runs 90 minutes slow (a VM restored from a snapshot, NTP blocked). East is
// a delayed standby (restore_delay 2h: the guard against a DROP TABLE
// replicating at once). A row written at drsctl's time t must not reach
// east before t+2h; log backups keep their 15-minute schedule.
func TestWorst_PrimaryClockBehindStillHonoursRestoreDelay(t *testing.T) {
	w := newWW(t, wwOpts{rpo: "3h", east: `restore_delay = "2h"`})
	w.prim.SetClockOffset(-90 * time.Minute)
	written := map[int]time.Time{}
	w.insert(1)
	written[w.rowSeq] = w.clock
	w.mustApply("seed")
	logsBefore := w.logBackups()
	var early []string
	for i := 0; i < 36; i++ { // 3 hours, every 5 minutes
		w.tick(5 * time.Minute)
		w.insert(1)
		written[w.rowSeq] = w.clock
		w.run()
		for _, r := range w.east.Rows("Sales") {
			if age := w.clock.Sub(written[r]); age < 2*time.Hour {
				early = append(early, fmt.Sprintf("row %d written at %s reached east at %s (%s later)", r, written[r].Format(time.Kitchen), w.clock.Format(time.Kitchen), age))
			}
		}
		if len(early) > 0 {
			break
		}
	}
	if len(early) > 0 {
		t.Errorf("restore_delay = 2h not honoured with the primary's clock 90 minutes slow:\n%s", strings.Join(early, "\n"))
	}
	if n := w.logBackups() - logsBefore; n > 3*4+1 {
		t.Errorf("%d log backups in %s with log_backup every 15m (want about %d): the schedule follows the primary's slow clock", n, w.clock.Sub(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)), 12)
	}
}

// TestWorst_PrimaryClockBehindNoFalseBreach: the same slow primary clock;
// west (no delay) is current after every apply, so status must not say
// BREACH for it (the plan warns about the clock).
func TestWorst_PrimaryClockBehindNoFalseBreach(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.prim.SetClockOffset(-45 * time.Minute)
	w.insert(1)
	w.mustApply("seed")
	w.cron(4, 15*time.Minute)
	w.assertRows(w.west, "west")
	if row := w.statusRow("west"); strings.Contains(row, "BREACH") {
		t.Errorf("west holds every row as of a log backup taken just now, yet:\n%s", w.status())
	}
}

// TestWorst_BitRotAtDestinationHeals: west's server is down for a while;
// two log backups are shipped and verified at its destination. One copy
// then rots (a byte flips, the file's time unchanged: the disk, not a
// writer). When west comes back, the restore of that copy fails; drsctl
// must not keep failing on the same copy forever: within a few applies it
// re-verifies, ships the copy again and catches west up.
func TestWorst_BitRotAtDestinationHeals(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(1)
	w.mustApply("seed")
	w.west.SetDown(true)
	w.cron(2, 16*time.Minute)
	// Rot the oldest log copy at west's destination.
	logs, _ := filepath.Glob(filepath.Join(w.dir, "west", "sales", "Sales", "log", "*.trn"))
	slices.Sort(logs)
	if len(logs) == 0 {
		t.Fatal("no log copies at west")
	}
	rot(t, logs[0], true)
	w.west.SetDown(false)
	for i := 0; i < 5; i++ {
		w.tick(time.Minute)
		w.run()
	}
	w.assertRows(w.west, "west")
	if n := failedRestores(w.west); n > 2 {
		t.Errorf("west's restore of the rotten copy failed %d times; drsctl should ship it again after the first failure", n)
	}
}

// rot flips one byte of a file (the first, so the backup cannot be read),
// keeping its modification time when keepTime is set.
func rot(t *testing.T, p string, keepTime bool) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x20
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if keepTime {
		if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
			t.Fatal(err)
		}
	}
}

// folderFiles lists the backup files in the backup folder (keys).
func (w *ww) folderFiles() []string {
	var out []string
	root := filepath.Join(w.dir, "share")
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".bak") || strings.HasSuffix(p, ".trn")) {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

// TestWorst_LostReplyOfFirstFullIsPrunedByRetention: the very first full
// backup's reply is lost (the server wrote it; drsctl never recorded it).
// drsctl takes another and goes on. Days later, retention has passed: the
// orphan must not sit in the backup folder forever (issue 7 §11).
func TestWorst_LostReplyOfFirstFullIsPrunedByRetention(t *testing.T) {
	w := newWW(t, wwOpts{full: "1h", folder: `retention = "2h"`})
	w.insert(1)
	w.prim.FailNext("backup", "Sales", true, fmt.Errorf("connection reset by peer"))
	if code := w.run(); code != 1 {
		t.Fatalf("apply with a lost reply: exit %d", code)
	}
	orphans := w.folderFiles()
	if len(orphans) != 1 {
		t.Fatalf("the server wrote one full backup, the folder holds %v", orphans)
	}
	for i := 0; i < 24; i++ { // 6 hours
		w.tick(15 * time.Minute)
		w.insert(1)
		w.run()
	}
	left := w.folderFiles()
	if slices.Contains(left, orphans[0]) {
		t.Errorf("%s (the full whose reply was lost, 6h old, retention 2h) is still in the backup folder; the plan never mentions it:\n%s", orphans[0], w.out)
	}
	w.assertRows(w.east, "east")
}

// TestWorst_ClockSteppedBackThenLostReplyNoReseed: the primary's clock ran
// an hour fast and NTP steps it back. Then a log backup's reply is lost (the
// server wrote it into the backup folder). The next applies must adopt it
// and continue every standby — not reseed them from a new full.
func TestWorst_ClockSteppedBackThenLostReplyNoReseed(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.prim.SetClockOffset(time.Hour)
	w.insert(1)
	w.mustApply("seed")
	w.tick(16 * time.Minute)
	w.insert(1)
	w.mustApply("a log")
	seeds := fullRestores(w.east) + fullRestores(w.west)
	w.prim.SetClockOffset(0) // NTP
	w.tick(16 * time.Minute)
	w.insert(1)
	w.prim.FailNext("backup", "Sales", true, fmt.Errorf("connection reset by peer"))
	w.run()
	w.cron(4, 16*time.Minute)
	w.assertRows(w.east, "east")
	w.assertRows(w.west, "west")
	if n := fullRestores(w.east) + fullRestores(w.west); n != seeds {
		t.Errorf("the standbys were reseeded (%d full restores, want %d): a lost reply after a clock correction is not a broken chain\n%s", n, seeds, w.out)
	}
}

// TestWorst_TargetRemovedAndReAddedAfterRetention: west is removed from the
// configuration (its standby database is left restoring on its server), the
// backup folder's retention (2h) passes, west is added back. While it is
// gone it holds nothing back in the folder; when it is back it is reseeded
// exactly once, with REPLACE only over its own database, and catches up.
func TestWorst_TargetRemovedAndReAddedAfterRetention(t *testing.T) {
	w := newWW(t, wwOpts{full: "1h", folder: `retention = "2h"`})
	w.insert(1)
	w.mustApply("seed")
	for i := 0; i < 4; i++ {
		w.tick(15 * time.Minute)
		w.insert(1)
		w.mustApply("logs")
	}
	withWest := w.config()
	cfg := withWest[:strings.Index(withWest, `target "west"`)] + withWest[strings.Index(withWest, `target "vault"`):]
	w.writeRaw(cfg)
	for i := 0; i < 24; i++ { // 6 hours
		w.tick(15 * time.Minute)
		w.insert(1)
		w.mustApply("without west")
	}
	for _, k := range w.folderFiles() {
		if strings.Contains(k, "T08") || strings.Contains(k, "T09") {
			t.Errorf("%s is still in the backup folder 5h past retention", k)
		}
	}
	seeds := fullRestores(w.west)
	w.writeRaw(withWest)
	w.converge(4)
	w.assertRows(w.west, "west")
	if n := fullRestores(w.west) - seeds; n != 1 {
		t.Errorf("re-added west: %d full restores, want 1", n)
	}
	if v := replaceViolations(w.west); len(v) > 0 {
		t.Errorf("REPLACE over a database drsctl does not own: %v", v)
	}
	w.ledgerAgrees("west", w.west)
}

// checkInvariants: no REPLACE over what drsctl does not own, no log
// restored twice, the ledger agrees with the standbys.
func (w *ww) checkInvariants() {
	w.t.Helper()
	for name, s := range map[string]*enginetest.Server{"east": w.east, "west": w.west} {
		if v := replaceViolations(s); len(v) > 0 {
			w.t.Errorf("%s: %v", name, v)
		}
		if d := duplicateLogRestores(s); len(d) > 0 {
			w.t.Errorf("%s: log backups restored twice: %v", name, d)
		}
		w.ledgerAgrees(name, s)
		w.assertRows(s, name)
	}
}

// TestWorst_LostReplies: each kind of server work whose reply is lost (the
// server did it, drsctl heard nothing), then cron applies: drsctl converges
// without restoring anything twice, without reseeding a standby that can
// continue, and its ledger agrees with the servers.
func TestWorst_LostReplies(t *testing.T) {
	lost := func() error { return fmt.Errorf("read tcp: connection reset by peer") }
	cases := []struct {
		name string
		// before runs before the faulty apply; full makes a full due in it.
		before func(w *ww)
		full   bool
		// reseeds: full restores allowed after the first seed, per standby.
		reseeds int
	}{
		{name: "log backup", before: func(w *ww) { w.prim.FailNext("backup", "Sales", true, lost()) }},
		{name: "full backup", full: true, before: func(w *ww) {
			// The log goes first (a nil error consumes the failure without
			// failing); the full's reply is lost.
			w.prim.FailNext("backup", "Sales", false, nil)
			w.prim.FailNext("backup", "Sales", true, lost())
		}},
		{name: "log and full backups", full: true, before: func(w *ww) {
			w.prim.FailNext("backup", "Sales", true, lost())
			w.prim.FailNext("backup", "Sales", true, lost())
		}},
		{name: "log restore on west", before: func(w *ww) { w.west.FailNext("restore", "Sales", true, lost()) }},
		{name: "log restore on east", before: func(w *ww) { w.east.FailNext("restore", "Sales", true, lost()) }},
		{name: "observe of east", before: func(w *ww) { w.east.FailNext("observe", "Sales", true, lost()) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWW(t, wwOpts{})
			w.insert(2)
			w.mustApply("seed")
			seeds := fullRestores(w.east) + fullRestores(w.west)
			w.tick(16 * time.Minute)
			w.insert(1)
			w.mustApply("a log")
			w.insert(1)
			if c.full {
				w.tick(24 * time.Hour)
			} else {
				w.tick(16 * time.Minute)
			}
			c.before(w)
			w.run()
			w.insert(1)
			w.converge(4)
			w.checkInvariants()
			if n := fullRestores(w.east) + fullRestores(w.west); n != seeds+c.reseeds {
				t.Errorf("%d full restores, want %d", n, seeds+c.reseeds)
			}
		})
	}
}

// doneFullRestores counts full restores that took effect on a server.
func doneFullRestores(s *enginetest.Server) int {
	n := 0
	for _, ev := range s.Restores() {
		if ev.Kind == artifact.Full && ev.Done {
			n++
		}
	}
	return n
}

// killAt applies, cancelling the context once n actions have started.
func (w *ww) killAt(n int) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	return w.runCtx(ctx, func(out io.Writer) io.Writer { return &cancelAfter{w: out, n: n, cancel: cancel} })
}

// TestWorst_KilledApplyAtEveryPoint: cron's timeout (or an operator's
// Ctrl-C) kills the apply after the n-th action started, for every n, both
// during the first seed and during a day's full + log backups. The next
// applies converge: each standby is seeded exactly once, nothing is restored
// twice, the ledger agrees with the servers.
func TestWorst_KilledApplyAtEveryPoint(t *testing.T) {
	for n := 1; n <= 14; n++ {
		t.Run(fmt.Sprintf("seed/after%d", n), func(t *testing.T) {
			w := newWW(t, wwOpts{})
			w.insert(2)
			w.killAt(n)
			w.insert(1)
			w.converge(4)
			w.checkInvariants()
			if a, b := doneFullRestores(w.east), doneFullRestores(w.west); a != 1 || b != 1 {
				t.Errorf("full restores that took effect: east %d, west %d; want 1 each", a, b)
			}
		})
	}
	for n := 1; n <= 16; n++ {
		t.Run(fmt.Sprintf("daily/after%d", n), func(t *testing.T) {
			w := newWW(t, wwOpts{})
			w.insert(2)
			w.mustApply("seed")
			w.tick(24 * time.Hour)
			w.insert(1)
			w.killAt(n)
			w.insert(1)
			w.converge(4)
			w.checkInvariants()
			if a, b := fullRestores(w.east), fullRestores(w.west); a != 1 || b != 1 {
				t.Errorf("full restores: east %d, west %d; want only the first seed", a, b)
			}
		})
	}
}

// TestWorst_SeedRepliesLostAndTorn: the first seed of west has its reply
// lost; the first seed of east is torn midway (connection dropped during
// the data copy). Then a hand failover of west is undone by the operator
// (drop), and the reseed's reply is lost too. Every time the next applies
// converge without REPLACE over anything drsctl does not own and without a
// needless second restore of a full that took effect.
func TestWorst_SeedRepliesLostAndTorn(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.west.FailNext("restore", "Sales", true, fmt.Errorf("read tcp: connection reset by peer"))
	w.east.TearNextRestore("Sales")
	if code := w.run(); code != 1 {
		t.Fatalf("exit %d", code)
	}
	w.insert(1)
	w.converge(4)
	w.checkInvariants()
	if n := doneFullRestores(w.west); n != 1 {
		t.Errorf("west: %d full restores took effect, want 1 (the seed whose reply was lost)", n)
	}
	if n := doneFullRestores(w.east); n != 1 {
		t.Errorf("east: %d full restores took effect, want 1 after the torn one", n)
	}
	// A failover drill on west, undone: recovered, written to, dropped.
	w.west.RecoverByHand("Sales")
	w.west.Insert("Sales", 1000)
	w.tick(16 * time.Minute)
	w.insert(1)
	if code := w.run(); code != 1 || !strings.Contains(w.out, "recovered outside drsctl") {
		t.Errorf("an online standby must be reported (exit %d):\n%s", code, w.out)
	}
	w.west.Drop("Sales")
	w.west.FailNext("restore", "Sales", true, fmt.Errorf("read tcp: connection reset by peer"))
	w.tick(time.Minute)
	w.run()
	w.insert(1)
	w.converge(4)
	w.checkInvariants()
	if n := doneFullRestores(w.west); n != 2 {
		t.Errorf("west: %d full restores took effect, want 2", n)
	}
}

// unmount makes a storage directory unlistable (moved away, a file in its
// place) and returns a function that puts it back.
func unmount(t *testing.T, dir string) func() {
	t.Helper()
	if err := os.Rename(dir, dir+".away"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir+".away", dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWorst_StorageMishaps: a cleanup job deletes files from the backup
// folder and from a destination, a copy is overwritten (its time changes),
// a destination is unlistable for one apply and comes back. drsctl repairs
// what it can, reseeds only the standby that really lost its chain, never
// claims all is well while a listing fails, and converges.
func TestWorst_StorageMishaps(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	for i := 0; i < 2; i++ {
		w.tick(16 * time.Minute)
		w.insert(1)
		w.mustApply("logs")
	}
	seeds := fullRestores(w.east) + fullRestores(w.west)

	// 1. A cleanup job deletes every log copy at east's destination (east
	// restored them already) and the newest log from the vault.
	eastLogs, _ := filepath.Glob(filepath.Join(w.dir, "east", "sales", "Sales", "log", "*.trn"))
	for _, p := range eastLogs {
		os.Remove(p)
	}
	vaultLogs, _ := filepath.Glob(filepath.Join(w.dir, "vault", "sales", "Sales", "log", "*.trn"))
	slices.Sort(vaultLogs)
	os.Remove(vaultLogs[len(vaultLogs)-1])
	// 2. Someone overwrites west's full copy (its modification time changes).
	westFull, _ := filepath.Glob(filepath.Join(w.dir, "west", "sales", "Sales", "full", "*.bak"))
	rot(t, westFull[0], false)
	w.tick(16 * time.Minute)
	w.insert(1)
	w.mustApply("after the cleanup")
	w.assertRows(w.east, "east")
	w.assertRows(w.west, "west")

	// 3. West's destination cannot be listed for one apply.
	back := unmount(t, filepath.Join(w.dir, "west"))
	w.tick(16 * time.Minute)
	w.insert(1)
	if code := w.planOut(cli.PlanOptions{DetailedExitCode: true}); code != 1 || strings.Contains(w.out, "No changes") || !strings.Contains(w.out, `target "west"'s destination`) {
		t.Errorf("plan with west's destination unlistable: exit %d, want 1 and the destination named:\n%s", code, w.out)
	}
	if strings.Contains(w.out, "backup full") {
		t.Errorf("a destination that cannot be listed must not cause a full backup:\n%s", w.out)
	}
	if code := w.run(); code != 1 {
		t.Errorf("apply with west's destination unlistable: exit %d", code)
	}
	w.assertRows(w.east, "east")
	for _, l := range strings.Split(w.out, "\n") {
		if strings.Contains(l, "west ") && strings.Contains(l, " ok ") {
			t.Errorf("west could not be shipped to; its RPO must not look ok: %s", l)
		}
	}
	back()
	w.converge(4)
	w.checkInvariants()
	if n := fullRestores(w.east) + fullRestores(w.west); n != seeds {
		t.Errorf("%d full restores, want %d: every standby could continue", n, seeds)
	}

	// 4. The cleanup job now deletes a log from the backup folder before it
	// reaches west (west's server is down): west alone is reseeded.
	w.west.SetDown(true)
	w.tick(16 * time.Minute)
	w.insert(1)
	w.run()
	var newest string
	for _, k := range w.folderFiles() {
		if strings.Contains(k, "/log/") && k > newest {
			newest = k
		}
	}
	westCopy := filepath.Join(w.dir, "west", filepath.FromSlash(newest))
	os.Remove(westCopy)
	os.Remove(filepath.Join(w.dir, "share", filepath.FromSlash(newest)))
	w.west.SetDown(false)
	w.insert(1)
	w.converge(5)
	w.checkInvariants()
	if n := fullRestores(w.east); n != 1 {
		t.Errorf("east had every log; it was restored from a full %d times", n)
	}
}

// TestWorst_HandFailoverThenReprotect: east is failed over by hand (a DBA's
// RESTORE … WITH RECOVERY) and written to. drsctl reports it, stops
// shipping to it, never restores over it, and it no longer holds back the
// backup folder's retention. Hours later the operator drops it to protect
// it again: it is seeded once, without REPLACE.
func TestWorst_HandFailoverThenReprotect(t *testing.T) {
	w := newWW(t, wwOpts{full: "1h", folder: `retention = "2h"`})
	w.insert(2)
	w.mustApply("seed")
	w.tick(16 * time.Minute)
	w.insert(1)
	w.mustApply("a log")
	w.east.RecoverByHand("Sales")
	if err := w.east.Insert("Sales", 5000); err != nil {
		t.Fatal(err)
	}
	eastCopies := func() int {
		n, _ := filepath.Glob(filepath.Join(w.dir, "east", "sales", "Sales", "*", "*"))
		return len(n)
	}
	before := eastCopies()
	for i := 0; i < 20; i++ { // 5 hours
		w.tick(15 * time.Minute)
		w.insert(1)
		if code := w.run(); code != 1 {
			t.Errorf("apply with east recovered by hand: exit %d, want 1 (an error to act on)", code)
		}
	}
	if n := eastCopies(); n != before {
		t.Errorf("%d copies shipped to east after it was recovered by hand", n-before)
	}
	for _, k := range w.folderFiles() {
		if strings.Contains(k, "T08") {
			t.Errorf("%s is held in the backup folder for east, which was recovered by hand hours ago", k)
		}
	}
	if rows := w.east.Rows("Sales"); !slices.Contains(rows, 5000) {
		t.Errorf("east was written over: %v", rows)
	}
	w.east.Drop("Sales")
	w.converge(4)
	w.checkInvariants()
	evs := w.east.Restores()
	if n := fullRestores(w.east); n != 2 {
		t.Errorf("east: %d full restores, want 2 (the seed and the reseed after the drop)", n)
	}
	for _, ev := range evs {
		if ev.Kind == artifact.Full && ev.Replace {
			t.Errorf("REPLACE over %s (%s) on east", ev.ReplacedState, ev.ReplacedOrigin)
		}
	}
}

// TestWorst_DBAsOwnBackups: a DBA's log backup written into the backup
// folder is adopted (nobody is reseeded); a copy-only log and a full taken
// elsewhere change nothing; a log taken elsewhere is a hole: each standby
// is reseeded exactly once, from a new full, and never restored past the
// hole.
func TestWorst_DBAsOwnBackups(t *testing.T) {
	w := newWW(t, wwOpts{})
	ctx := context.Background()
	w.insert(2)
	w.mustApply("seed")
	seeds := fullRestores(w.east) + fullRestores(w.west)
	share := filepath.Join(w.dir, "share")
	elsewhere := t.TempDir()

	w.insert(1)
	if _, err := w.prim.BackupOutOfBand(ctx, "Sales", filepath.Join(share, "manual", "Sales_manual_1.trn")); err != nil {
		// the server cannot create directories
		os.MkdirAll(filepath.Join(share, "manual"), 0o755)
		if _, err := w.prim.BackupOutOfBand(ctx, "Sales", filepath.Join(share, "manual", "Sales_manual_1.trn")); err != nil {
			t.Fatal(err)
		}
	}
	w.insert(1)
	if _, err := w.prim.BackupByHand(ctx, engine.BackupRequest{Database: "Sales", Kind: artifact.Log, CopyOnly: true, ServerPath: filepath.Join(elsewhere, "copyonly.trn")}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.prim.BackupOutOfBandFull(ctx, "Sales", filepath.Join(elsewhere, "nightly.bak")); err != nil {
		t.Fatal(err)
	}
	w.tick(16 * time.Minute)
	w.insert(1)
	w.mustApply("after the DBA's backups")
	w.converge(3)
	w.checkInvariants()
	if n := fullRestores(w.east) + fullRestores(w.west); n != seeds {
		t.Errorf("%d full restores, want %d: the DBA's backups did not break the chain drsctl can reach", n, seeds)
	}

	// A log backup to a place drsctl cannot read: a hole.
	w.insert(1)
	if _, err := w.prim.BackupOutOfBand(ctx, "Sales", filepath.Join(elsewhere, "hole.trn")); err != nil {
		t.Fatal(err)
	}
	w.insert(1)
	w.converge(4)
	w.checkInvariants()
	if a, b := fullRestores(w.east), fullRestores(w.west); a != 2 || b != 2 {
		t.Errorf("after the hole: east %d, west %d full restores; want 2 each", a, b)
	}
	for name, s := range map[string]*enginetest.Server{"east": w.east, "west": w.west} {
		for _, ev := range s.Restores() {
			if ev.Err != "" {
				t.Errorf("%s: a restore was refused: %s", name, ev.Err)
			}
		}
	}
	// The vault holds a chain it can restore to the head.
	w.drill("vault")
}

var drillSeq int

// drill restores, on a fresh server, the longest chain the files at a
// target's destination hold (a full, then every log that continues it) and
// checks it holds every row of the primary: what an auditor's restore test
// of a vault does.
func (w *ww) drill(target string) {
	w.t.Helper()
	ctx := context.Background()
	drillSeq++
	name := fmt.Sprintf("drill%d", drillSeq)
	s, err := w.drv.Open(ctx, "mem://"+name)
	if err != nil {
		w.t.Fatal(err)
	}
	defer s.Close()
	type file struct {
		path string
		h    artifact.Header
	}
	var fulls, logs []file
	filepath.WalkDir(filepath.Join(w.dir, target), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".bak") || strings.HasSuffix(p, ".trn")) {
			return nil
		}
		h, err := s.Describe(ctx, p)
		if err != nil {
			return nil // damaged: not part of any chain
		}
		if h.Kind == artifact.Full {
			fulls = append(fulls, file{p, h})
		} else if h.FirstLSN.Cmp(h.LastLSN) != 0 {
			logs = append(logs, file{p, h})
		}
		return nil
	})
	var best []int
	bestFrom := ""
	for _, f := range fulls {
		if err := s.Restore(ctx, engine.RestoreRequest{Database: "Sales", Kind: artifact.Full, ServerPath: f.path, Mode: engine.NoRecovery, Replace: true}, engine.NoProgress); err != nil {
			continue
		}
		redo := f.h.LastLSN
	walk:
		for {
			// Several files may cover redo (another history with the same
			// LSNs): the server refuses the wrong ones.
			for i := range logs {
				l := &logs[i]
				if !(l.h.FirstLSN.Cmp(redo) <= 0 && redo.Cmp(l.h.LastLSN) < 0) {
					continue
				}
				if err := s.Restore(ctx, engine.RestoreRequest{Database: "Sales", Kind: artifact.Log, ServerPath: l.path, Mode: engine.NoRecovery}, engine.NoProgress); err == nil {
					redo = l.h.LastLSN
					continue walk
				}
			}
			break
		}
		rows := w.drv.Server(name).Rows("Sales")
		if len(rows) >= len(best) {
			best, bestFrom = rows, filepath.Base(f.path)
		}
	}
	if want := w.prim.Rows("Sales"); !slices.Equal(best, want) {
		w.t.Errorf("a restore drill from %s's destination (best from %q, %d fulls, %d logs) gives rows %v; the primary has %v", target, bestFrom, len(fulls), len(logs), best, want)
	}
}

// logsFromOtherHistory lists log restores on a standby that the server
// refused because they came from another history (4330: another recovery
// path, 4305/4326: out of order).
func logsFromOtherHistory(s *enginetest.Server) []string {
	var out []string
	for _, ev := range s.Restores() {
		if ev.Kind == artifact.Log && ev.Err != "" {
			out = append(out, ev.Err)
		}
	}
	return out
}

// TestWorst_RecoveryModelSwitchedAndBack: a DBA switches Sales to SIMPLE for
// a bulk load and back to FULL an hour later. drsctl says why it cannot back
// up meanwhile, then takes a new full and reseeds each standby exactly once;
// no log from before the switch is restored after it.
func TestWorst_RecoveryModelSwitchedAndBack(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	w.tick(16 * time.Minute)
	w.insert(1)
	w.mustApply("a log")
	w.prim.SetRecovery("Sales", "SIMPLE")
	w.insert(50)
	for i := 0; i < 4; i++ {
		w.tick(16 * time.Minute)
		if code := w.run(); code != 1 || !strings.Contains(w.out, "SIMPLE") {
			t.Fatalf("apply while SIMPLE: exit %d\n%s", code, w.out)
		}
	}
	w.prim.SetRecovery("Sales", "FULL")
	w.insert(1)
	w.converge(4)
	w.insert(1)
	w.converge(3)
	w.checkInvariants()
	if a, b := fullRestores(w.east), fullRestores(w.west); a != 2 || b != 2 {
		t.Errorf("full restores: east %d, west %d; want 2 each (seed, reseed after the switch)", a, b)
	}
	for name, s := range map[string]*enginetest.Server{"east": w.east, "west": w.west} {
		if bad := logsFromOtherHistory(s); len(bad) > 0 {
			t.Errorf("%s: logs refused by the server: %v", name, bad)
		}
	}
}

// TestWorst_PrimaryRecreated: the application team drops and recreates
// Sales on the primary (same name, LSNs start over) and loads it. Each
// standby is reseeded exactly once from a full of the new database and
// never receives a log of the old one or the new one out of order.
func TestWorst_PrimaryRecreated(t *testing.T) {
	for _, hide := range []bool{false, true} {
		t.Run(fmt.Sprintf("identity-hidden=%v", hide), func(t *testing.T) {
			w := newWW(t, wwOpts{})
			w.prim.HideIdentity(hide)
			w.insert(2)
			w.mustApply("seed")
			for i := 0; i < 3; i++ {
				w.tick(16 * time.Minute)
				w.insert(1)
				w.mustApply("logs")
			}
			w.tick(2 * time.Minute)
			w.prim.Drop("Sales")
			w.prim.Create("Sales", "98765432109876543210000")
			w.rowSeq = 100
			w.insert(5)
			w.converge(4)
			w.insert(1)
			w.converge(3)
			w.checkInvariants()
			if a, b := fullRestores(w.east), fullRestores(w.west); a != 2 || b != 2 {
				t.Errorf("full restores: east %d, west %d; want 2 each", a, b)
			}
			for name, s := range map[string]*enginetest.Server{"east": w.east, "west": w.west} {
				if bad := logsFromOtherHistory(s); len(bad) > 0 {
					t.Errorf("%s: logs refused by the server: %v", name, bad)
				}
			}
			w.drill("vault")
		})
	}
}

// moveTo builds a new primary server from drsctl's backup folder (the full
// and every log, WITH NORECOVERY, then RECOVERY), as a DBA moving Sales to
// new hardware does, and points the configuration at it. upTo limits the
// logs restored (0: all).
func (w *ww) moveTo(name string, upTo int) *enginetest.Server {
	w.t.Helper()
	ctx := context.Background()
	s, err := w.drv.Open(ctx, "mem://"+name)
	if err != nil {
		w.t.Fatal(err)
	}
	defer s.Close()
	st := w.state()
	db := st.Database("sales", "Sales")
	var full *state.Artifact
	for _, a := range db.Artifacts {
		if a.Kind == artifact.Full && a.PrunedAt == nil {
			full = a
		}
	}
	share := filepath.Join(w.dir, "share")
	if err := s.Restore(ctx, engine.RestoreRequest{Database: "Sales", Kind: artifact.Full, ServerPath: filepath.Join(share, filepath.FromSlash(full.Key)), Mode: engine.NoRecovery}, engine.NoProgress); err != nil {
		w.t.Fatal(err)
	}
	redo, n := full.LastLSN, 0
	for _, a := range db.Artifacts {
		if a.Kind != artifact.Log || a.FirstLSN.Cmp(a.LastLSN) == 0 || !(a.FirstLSN.Cmp(redo) <= 0 && redo.Cmp(a.LastLSN) < 0) {
			continue
		}
		if upTo > 0 && n == upTo {
			break
		}
		if err := s.Restore(ctx, engine.RestoreRequest{Database: "Sales", Kind: artifact.Log, ServerPath: filepath.Join(share, filepath.FromSlash(a.Key)), Mode: engine.NoRecovery}, engine.NoProgress); err != nil {
			w.t.Fatal(err)
		}
		redo, n = a.LastLSN, n+1
	}
	if err := s.Recover(ctx, engine.RecoverRequest{Database: "Sales"}); err != nil {
		w.t.Fatal(err)
	}
	w.opts.primaryDSN = "mem://" + name
	w.writeConfig(w.opts)
	w.prim = w.drv.Server(name)
	return w.prim
}

// TestWorst_PrimaryMovedToNewServer: Sales moves to new hardware, rebuilt
// from drsctl's own backups — once with every log (a planned move), once
// missing the newest logs the standbys already hold (the old server died).
// The standbys must never receive a log of the other history; every row
// written on the new server reaches them.
func TestWorst_PrimaryMovedToNewServer(t *testing.T) {
	for _, c := range []struct {
		name string
		upTo int
		hide bool
		// at: minutes after the last apply when the move happens; at 12 the
		// new database's create date is exactly an hour after the old one's
		// (which a daylight-saving rule forgives).
		at int
	}{{"all logs", 0, false, 7}, {"missing logs", 1, false, 7}, {"all logs, no identity", 0, true, 7}, {"missing logs, no identity", 1, true, 7},
		{"all logs, no identity, on the hour", 0, true, 12}, {"missing logs, no identity, on the hour", 1, true, 12}} {
		t.Run(c.name, func(t *testing.T) {
			w := newWW(t, wwOpts{})
			w.insert(2)
			w.mustApply("seed")
			for i := 0; i < 3; i++ {
				w.tick(16 * time.Minute)
				w.insert(1)
				w.mustApply("logs")
			}
			w.tick(time.Duration(c.at) * time.Minute)
			np := w.moveTo("primary2", c.upTo)
			np.HideIdentity(c.hide)
			w.insert(10)
			w.converge(4)
			w.insert(1)
			w.converge(3)
			w.checkInvariants()
			for name, s := range map[string]*enginetest.Server{"east": w.east, "west": w.west} {
				if bad := logsFromOtherHistory(s); len(bad) > 0 {
					t.Errorf("%s: logs of another history were sent to it: %v", name, bad)
				}
			}
			w.drill("vault")
		})
	}
}

// TestWorst_DaylightSavingNoReseed: an engine that reports no identity,
// and a create date that moves by an hour when the clocks change (spring
// forward, then fall back). Nothing is reseeded; no full is taken early.
func TestWorst_DaylightSavingNoReseed(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.prim.HideIdentity(true)
	w.insert(2)
	w.mustApply("seed")
	fulls := func() int {
		n := 0
		for _, a := range w.state().Database("sales", "Sales").Artifacts {
			if a.Kind == artifact.Full {
				n++
			}
		}
		return n
	}
	for _, shift := range []time.Duration{time.Hour, 0, -time.Hour, 30 * time.Minute} {
		w.prim.ShiftReportedCreateDate(shift)
		for i := 0; i < 3; i++ {
			w.tick(16 * time.Minute)
			w.insert(1)
			w.mustApply(fmt.Sprintf("create date shifted %s", shift))
		}
	}
	w.checkInvariants()
	if a, b := fullRestores(w.east), fullRestores(w.west); a != 1 || b != 1 {
		t.Errorf("full restores: east %d, west %d; want only the first seed", a, b)
	}
	if n := fulls(); n != 1 {
		t.Errorf("%d full backups in %s with fulls every 24h", n, 12*16*time.Minute)
	}
}

// TestWorst_ShardsTakeFullsInTurn: the configuration is run as three
// shards from three cron jobs (-target east, -target west, -target vault),
// each every 5 minutes, staggered. Whichever shard comes first takes the
// day's full or the log; no standby is ever reseeded because another shard
// took a full; every row reaches every target.
func TestWorst_ShardsTakeFullsInTurn(t *testing.T) {
	w := newWW(t, wwOpts{full: "1h", log: "10m", rpo: "20m"})
	w.insert(2)
	for _, s := range []string{"east", "west", "vault"} {
		w.mustApply("seed shard "+s, s)
	}
	for i := 0; i < 36; i++ { // 3 hours
		w.tick(time.Duration(3+i%3) * time.Minute)
		if i%4 == 0 {
			w.insert(1)
		}
		shard := []string{"east", "west", "vault"}[i%3]
		w.mustApply("shard "+shard, shard)
	}
	for i := 0; i < 3; i++ {
		w.tick(11 * time.Minute)
		for _, s := range []string{"east", "west", "vault"} {
			w.mustApply("final "+s, s)
		}
	}
	w.checkInvariants()
	if a, b := fullRestores(w.east), fullRestores(w.west); a != 1 || b != 1 {
		t.Errorf("full restores: east %d, west %d; want only the first seed", a, b)
	}
	w.drill("vault")
}

// TestWorst_RestoreDelayLongerThanFullInterval: east lags 3h on purpose
// (restore_delay 3h) and fulls are taken every hour. East is seeded once,
// from a full at least 3h old, and then only takes logs; no row reaches it
// before 3h.
func TestWorst_RestoreDelayLongerThanFullInterval(t *testing.T) {
	w := newWW(t, wwOpts{full: "1h", log: "15m", rpo: "4h", east: `restore_delay = "3h"`})
	written := map[int]time.Time{}
	for i := 0; i < 22; i++ { // 5.5 hours, every 15 minutes
		w.insert(1)
		written[w.rowSeq] = w.clock
		w.mustApply("apply")
		for _, r := range w.east.Rows("Sales") {
			if age := w.clock.Sub(written[r]); age < 3*time.Hour {
				t.Fatalf("row %d written %s ago is on east (restore_delay 3h)", r, age)
			}
		}
		w.tick(15 * time.Minute)
	}
	if n := fullRestores(w.east); n != 1 {
		t.Errorf("east: %d full restores, want 1", n)
	}
	rows := w.east.Rows("Sales")
	if len(rows) == 0 {
		t.Fatalf("east never seeded in 5.5h with restore_delay 3h and fulls every 1h")
	}
	// Every row older than 3h15m (a log interval of slack) is there.
	for r, at := range written {
		if w.clock.Sub(at) > 3*time.Hour+30*time.Minute && !slices.Contains(rows, r) {
			t.Errorf("row %d written %s ago is not on east", r, w.clock.Sub(at))
		}
	}
}

// TestWorst_VaultWithRetentionStaysRestorable: the copy-only vault keeps
// copies for 90 minutes only while fulls are taken every 2 hours and the
// backup folder keeps 3 hours. At every point a restore drill from the
// vault's files reaches the newest log the vault was sent.
func TestWorst_VaultWithRetentionStaysRestorable(t *testing.T) {
	w := newWW(t, wwOpts{full: "2h", log: "15m", folder: `retention = "3h"`, vaultDest: `retention = "90m"`})
	w.insert(2)
	for i := 0; i < 30; i++ { // 7.5 hours
		w.mustApply("apply")
		if i%4 == 3 {
			w.drill("vault")
			if w.t.Failed() {
				t.Fatalf("at %s", w.clock)
			}
		}
		w.tick(15 * time.Minute)
		w.insert(1)
	}
}

// TestWorst_PlanWhileThingsAreDown: `drsctl plan` with the primary down,
// then with the backup folder unlistable: exit 1, an error naming what
// failed, no "No changes" claim, no full backup planned because of it.
func TestWorst_PlanWhileThingsAreDown(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	w.tick(16 * time.Minute)
	w.insert(1)
	w.mustApply("a log")

	w.tick(5 * time.Minute)
	w.prim.SetDown(true)
	code := w.planOut(cli.PlanOptions{DetailedExitCode: true})
	if code != 1 || strings.Contains(w.out, "No changes") || !strings.Contains(w.out, `primary "sales"`) || strings.Contains(w.out, "backup full") {
		t.Errorf("plan with the primary down: exit %d\n%s", code, w.out)
	}
	w.prim.SetDown(false)

	back := unmount(t, filepath.Join(w.dir, "share"))
	w.tick(20 * time.Minute) // a log is due
	code = w.planOut(cli.PlanOptions{DetailedExitCode: true})
	if code != 1 || strings.Contains(w.out, "No changes") || !strings.Contains(w.out, `backup folder "share"`) || strings.Contains(w.out, "backup full") || strings.Contains(w.out, "restore full") {
		t.Errorf("plan with the backup folder unlistable: exit %d\n%s", code, w.out)
	}
	if code := w.run(); code != 1 || strings.Contains(w.out, "backup full") {
		t.Errorf("apply with the backup folder unlistable: exit %d\n%s", code, w.out)
	}
	back()
	w.converge(3)
	w.checkInvariants()
	if n := fullRestores(w.east) + fullRestores(w.west); n != 2 {
		t.Errorf("%d full restores, want 2", n)
	}

	// The destination of east is unlistable and east's server is down at
	// once; the primary is fine: logs are still taken, nothing is reseeded
	// when both come back.
	back = unmount(t, filepath.Join(w.dir, "east"))
	w.east.SetDown(true)
	w.cron(3, 16*time.Minute)
	back()
	w.east.SetDown(false)
	w.converge(3)
	w.checkInvariants()
	if n := fullRestores(w.east); n != 1 {
		t.Errorf("east: %d full restores, want 1", n)
	}
}

// TestWorst_PrimaryClockAheadNeverHealthyWhenBehind: the primary's clock
// runs 2 hours fast; west's server is down for an hour of writes. Its lag
// must show as a breach, not as "ok" or negative.
func TestWorst_PrimaryClockAheadNeverHealthyWhenBehind(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.prim.SetClockOffset(2 * time.Hour)
	w.insert(2)
	w.mustApply("seed")
	w.west.SetDown(true)
	w.cron(4, 16*time.Minute)
	if row := w.statusRow("west"); !strings.Contains(row, "BREACH") {
		t.Errorf("west is 64 minutes behind (rpo 30m):\n%s", w.status())
	}
	if row := w.statusRow("east"); strings.Contains(row, "BREACH") {
		t.Errorf("east is current:\n%s", w.status())
	}
}

// TestWorst_StateFileRestoredFromOldCopy: the host running cron is rebuilt
// and the state file comes back from last night's file backup: hours of
// backups, ships, restores and prunes are missing from it. drsctl must
// find its way from what the servers and storage say: adopt its own
// backups, record where the standbys stand, reseed nobody, REPLACE nothing
// it does not own, and restore nothing twice.
func TestWorst_StateFileRestoredFromOldCopy(t *testing.T) {
	w := newWW(t, wwOpts{full: "1h", folder: `retention = "90m"`})
	w.insert(2)
	w.mustApply("seed")
	w.tick(16 * time.Minute)
	w.insert(1)
	w.mustApply("a log")
	// The nightly file backup copies the state file and its journal (with
	// the journal, the state file alone is the ledger at its last
	// compaction, not at the last apply).
	statePath := filepath.Join(w.dir, "drs.state.json")
	files := []string{statePath, statePath + ".journal"}
	old := map[string][]byte{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		old[f] = raw
	}
	oldLedger := w.state()
	for i := 0; i < 12; i++ { // 3 hours: fulls, logs, prunes
		w.tick(15 * time.Minute)
		w.insert(1)
		w.mustApply("the day goes on")
	}
	for _, f := range files {
		os.Remove(f)
		if old[f] != nil {
			if err := os.WriteFile(f, old[f], 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	os.Remove(statePath + ".backup")
	os.Remove(statePath + ".backup.journal")
	if got := w.state(); got.Serial != oldLedger.Serial {
		t.Fatalf("the state brought back from the old copy reads as serial %d, not the copy's %d: the test lost its point", got.Serial, oldLedger.Serial)
	}
	w.tick(15 * time.Minute)
	w.insert(1)
	w.run()
	w.insert(1)
	w.converge(4)
	w.checkInvariants()
	if a, b := fullRestores(w.east), fullRestores(w.west); a != 1 || b != 1 {
		t.Errorf("full restores: east %d, west %d; want only the first seed", a, b)
	}
}

// TestWorst_LostReplyWithSlowClockStillHonoursRestoreDelay: the primary's
// clock is 90 minutes slow and east is a 2-hour delayed standby; logs every
// 30 minutes. One log backup's reply is lost; drsctl adopts it on the next
// apply. The rows in that log must not reach east before 2 hours either.
func TestWorst_LostReplyWithSlowClockStillHonoursRestoreDelay(t *testing.T) {
	w := newWW(t, wwOpts{log: "30m", rpo: "3h", east: `restore_delay = "2h"`})
	w.prim.SetClockOffset(-90 * time.Minute)
	written := map[int]time.Time{}
	note := func() { written[w.rowSeq] = w.clock }
	w.insert(1)
	note()
	w.mustApply("seed")
	for i := 0; i < 36; i++ { // 3 hours, every 5 minutes
		w.tick(5 * time.Minute)
		w.insert(1)
		note()
		if i == 6 { // the next log backup (at 09:00) loses its reply
			w.prim.FailNext("backup", "Sales", true, fmt.Errorf("read tcp: connection reset by peer"))
		}
		w.run()
		for _, r := range w.east.Rows("Sales") {
			if age := w.clock.Sub(written[r]); age < 2*time.Hour {
				t.Fatalf("row %d written at %s reached east at %s, %s later (restore_delay 2h)", r, written[r].Format(time.Kitchen), w.clock.Format(time.Kitchen), age)
			}
		}
	}
}

// TestWorst_FailingFullDoesNotStopLogs: the day's full backup fails every
// time for two hours (the share refuses big files); log backups keep
// working and the standbys stay current; then the full succeeds.
func TestWorst_FailingFullDoesNotStopLogs(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	w.tick(24 * time.Hour)
	for i := 0; i < 8; i++ {
		w.insert(1)
		// The log goes first (a nil error consumes the failure), then the
		// full fails.
		w.prim.FailNext("backup", "Sales", false, nil)
		w.prim.FailNext("backup", "Sales", false, fmt.Errorf("backup Sales: error 3201: operating system error 112 (not enough space on the disk)"))
		w.run()
		w.tick(16 * time.Minute)
	}
	w.assertRows(w.east, "east")
	w.assertRows(w.west, "west")
	if row := w.statusRow("east"); strings.Contains(row, "BREACH") {
		t.Errorf("east is current while only fulls fail:\n%s", w.status())
	}
	w.converge(3)
	w.checkInvariants()
}

// TestWorst_NewTargetSeededWithoutNewFull: a fourth site is added to the
// configuration at noon; the backup folder keeps only 30 minutes of
// backups, fulls are every 2 hours. North is seeded from the newest full in
// the folder, without a full backup on the primary.
func TestWorst_NewTargetSeededWithoutNewFull(t *testing.T) {
	w := newWW(t, wwOpts{full: "2h", log: "15m", folder: `retention = "30m"`})
	w.insert(2)
	w.mustApply("seed")
	for i := 0; i < 7; i++ {
		w.tick(15 * time.Minute)
		w.insert(1)
		w.mustApply("logs")
	}
	fullsBefore := 0
	for _, a := range w.state().Database("sales", "Sales").Artifacts {
		if a.Kind == artifact.Full {
			fullsBefore++
		}
	}
	w.writeRaw(w.config() + fmt.Sprintf(`
target "north" {
  primary    = primary.sales
  connection = "mem://north"
  destination {
    url = "file://%s/north"
  }
}
`, w.dir))
	w.tick(5 * time.Minute)
	w.mustApply("north added")
	if strings.Contains(w.out, "backup full") {
		t.Errorf("adding a target took a full backup:\n%s", w.out)
	}
	north := w.drv.Server("north")
	if !slices.Equal(north.Rows("Sales"), w.prim.Rows("Sales")) {
		t.Errorf("north rows %v, primary %v", north.Rows("Sales"), w.prim.Rows("Sales"))
	}
}

// TestWorst_BitRotInBackupFolderHeals: west's server is down; meanwhile a
// log backup in the backup folder rots (a byte flips; its time unchanged)
// after east and the vault got good copies. When west is back, shipping
// that log fails its checksum. drsctl must not retry the same rotten file
// forever: it says what is wrong and gets west going again (from a full,
// or from another good copy) within a few applies.
func TestWorst_BitRotInBackupFolderHeals(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	w.west.SetDown(true)
	w.tick(16 * time.Minute)
	w.insert(1)
	w.run()
	// West's destination lost the copy shipped while its server was down
	// (a cleanup job), so the log must come from the folder again.
	logs, _ := filepath.Glob(filepath.Join(w.dir, "share", "sales", "Sales", "log", "*.trn"))
	if len(logs) != 1 {
		t.Fatalf("logs %v", logs)
	}
	rel, _ := filepath.Rel(filepath.Join(w.dir, "share"), logs[0])
	os.Remove(filepath.Join(w.dir, "west", rel))
	rot(t, logs[0], true)
	w.west.SetDown(false)
	w.cron(6, 16*time.Minute)
	w.assertRows(w.west, "west")
}

// TestWorst_SavedPlanDoesNotReplaceAFailedOverStandby: CI saves a plan on a
// pull request (`plan -out`): it reseeds west WITH REPLACE because a DBA's
// log backup went elsewhere. Before the merge applies it, an incident:
// west is failed over by hand and takes production writes. `apply FILE`
// must not restore over the now-online database (DESIGN.md: destructive
// steps are fenced; a standby that is now online is refused).
func TestWorst_SavedPlanDoesNotReplaceAFailedOverStandby(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	w.insert(1)
	if _, err := w.prim.BackupOutOfBand(context.Background(), "Sales", filepath.Join(t.TempDir(), "hole.trn")); err != nil {
		t.Fatal(err)
	}
	w.insert(1)
	w.tick(16 * time.Minute)
	w.mustApply("the hole is seen: a new full")
	// The plan that reseeds: made while west is still a standby. (The
	// apply above may already have reseeded; make another hole.)
	w.insert(1)
	if _, err := w.prim.BackupOutOfBand(context.Background(), "Sales", filepath.Join(t.TempDir(), "hole2.trn")); err != nil {
		t.Fatal(err)
	}
	w.insert(1)
	w.tick(24 * time.Hour) // the full is due too
	planFile := filepath.Join(w.dir, "pr.tfplan")
	w.planOut(cli.PlanOptions{Out: planFile})
	if !strings.Contains(w.out, "WITH NORECOVERY, REPLACE") {
		t.Fatalf("the saved plan should reseed west WITH REPLACE:\n%s", w.out)
	}
	// The incident: west becomes production.
	w.west.RecoverByHand("Sales")
	if err := w.west.Insert("Sales", 777); err != nil {
		t.Fatal(err)
	}
	w.tick(10 * time.Minute)
	code := w.env().Apply(context.Background(), w.globals(), cli.ApplyOptions{PlanFile: planFile})
	w.out = w.stdout.String() + w.stderr.String()
	t.Logf("apply FILE → %d\n%s", code, w.out)
	t.Logf("west rows after apply FILE: %v; primary %v", w.west.Rows("Sales"), w.prim.Rows("Sales"))
	if !slices.Contains(w.west.Rows("Sales"), 777) {
		t.Errorf("apply of the saved plan restored WITH REPLACE over west after it was failed over and written to: production row 777 is gone (exit %d)", code)
	}
	if v := replaceViolations(w.west); len(v) > 0 {
		t.Errorf("west: %v", v)
	}
}

// onLine calls f (once) when a line containing marker is written.
type onLine struct {
	mu     sync.Mutex
	w      io.Writer
	marker string
	f      func()
}

func (o *onLine) Write(p []byte) (int, error) {
	o.mu.Lock()
	if o.f != nil && strings.Contains(string(p), o.marker) {
		o.f()
		o.f = nil
	}
	o.mu.Unlock()
	return o.w.Write(p)
}

// TestWorst_FailoverDuringLongFullIsNotOverwritten: an apply must take a
// new full and reseed west WITH REPLACE (a DBA's log backup went elsewhere).
// The full of a big database runs for hours; meanwhile the primary site
// burns and west is failed over by hand and takes production writes. When
// the full finishes, apply must not restore over west.
func TestWorst_FailoverDuringLongFullIsNotOverwritten(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	w.insert(1)
	if _, err := w.prim.BackupOutOfBand(context.Background(), "Sales", filepath.Join(t.TempDir(), "hole.trn")); err != nil {
		t.Fatal(err)
	}
	w.insert(1)
	w.tick(16 * time.Minute)
	code := w.runCtx(context.Background(), func(out io.Writer) io.Writer {
		return &onLine{w: out, marker: "backup full: started", f: func() {
			w.west.RecoverByHand("Sales")
			w.west.Insert("Sales", 777)
		}}
	})
	if !slices.Contains(w.west.Rows("Sales"), 777) {
		t.Errorf("west was failed over and written to while the full ran; apply then restored WITH REPLACE over it (exit %d): rows %v", code, w.west.Rows("Sales"))
	}
}

// TestWorst_ForeignDatabaseRestoredOverStandbyIsNotReplaced: on the DR
// server, a DBA drops drsctl's standby of Sales and restores, under the
// same name and WITH NORECOVERY, a backup of another database (the QA
// team's Sales, another family) — e.g. to stage a migration. drsctl's
// ledger still says east/Sales is its own. DESIGN.md: never a REPLACE over
// a database drsctl did not seed. The QA copy must survive.
func TestWorst_ForeignDatabaseRestoredOverStandbyIsNotReplaced(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	w.tick(16 * time.Minute)
	w.insert(1)
	w.mustApply("a log")

	ctx := context.Background()
	qa := w.drv.Server("qa")
	qa.Create("Sales", "1000")
	qa.Insert("Sales", 9001, 9002)
	qaBak := filepath.Join(t.TempDir(), "qa_sales.bak")
	if _, err := qa.BackupOutOfBandFull(ctx, "Sales", qaBak); err != nil {
		t.Fatal(err)
	}
	w.east.Drop("Sales")
	s, err := w.drv.Open(ctx, "mem://east")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Restore(ctx, engine.RestoreRequest{Database: "Sales", Kind: artifact.Full, ServerPath: qaBak, Mode: engine.NoRecovery}, engine.NoProgress); err != nil {
		t.Fatal(err)
	}
	s.Close()
	w.tick(16 * time.Minute)
	w.insert(1)
	w.run()
	if rows := w.east.Rows("Sales"); !slices.Contains(rows, 9001) {
		t.Errorf("drsctl restored WITH REPLACE over the QA team's database on east (rows now %v):\n%s", rows, w.out)
	}
}

// TestWorst_DestinationWipedIsRefilled: west's server is down for a
// weekend; the storage team "cleans up" west's share and deletes every
// file on it. The share is mounted and lists fine — just empty. When west
// is back, drsctl must ship what west needs again (or say how to tell it
// the share is really empty) and catch west up; it must not wait forever.
func TestWorst_DestinationWipedIsRefilled(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	w.west.SetDown(true)
	w.cron(3, 16*time.Minute)
	entries, _ := os.ReadDir(filepath.Join(w.dir, "west"))
	for _, e := range entries {
		os.RemoveAll(filepath.Join(w.dir, "west", e.Name()))
	}
	w.west.SetDown(false)
	w.cron(4, 16*time.Minute)
	w.assertRows(w.west, "west")
}

// TestWorst_BackupFolderWipedRecovers: the backup share is replaced by an
// empty one (the storage team migrated it and copied nothing; it is
// mounted, it lists fine, and it is empty). drsctl may stop and say so,
// but there must be a way on: within a few applies it takes a new full,
// the standbys — which hold every log they restored — keep going, and the
// vault is whole again.
func TestWorst_BackupFolderWipedRecovers(t *testing.T) {
	w := newWW(t, wwOpts{})
	w.insert(2)
	w.mustApply("seed")
	for i := 0; i < 2; i++ {
		w.tick(16 * time.Minute)
		w.insert(1)
		w.mustApply("logs")
	}
	share := filepath.Join(w.dir, "share")
	os.RemoveAll(share)
	os.MkdirAll(share, 0o755)
	w.cron(4, 16*time.Minute)
	t.Logf("last apply:\n%s", w.out)
	w.assertRows(w.east, "east")
	w.assertRows(w.west, "west")
	w.drill("vault")
}
