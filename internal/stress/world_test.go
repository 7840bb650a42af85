package stress

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/failpoint"
	"github.com/drsctl/drsctl/internal/state"
)

// databases on the primary: one written to often, one with a name that
// needs quoting, one never written to (its log backups are empty).
var databases = []string{"Sales", "O'Brien", "Idle"}

// written are the databases rows are inserted into.
var written = []string{"Sales", "O'Brien"}

// logEvery is log_backup.every: the world waits this long (and a little
// more) whenever it needs a log backup to be due.
const logEvery = time.Second

const worldConfig = `
backup_folder "share" {
  url       = "file://%[1]s/share"
  retention = "%[2]s"
}

primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales", "O'Brien", "Idle"]
  backup_folder = backup_folder.share
  full_backup { every = "%[3]s" }
  log_backup { every = "1s" }
  rpo = "1h"
}
`

// worldOptions shape a world's schedule (durations as in the
// configuration; empty: 24h between fulls, 30d of retention) and where
// its targets' copies live.
type worldOptions struct {
	// FullEvery is full_backup.every.
	FullEvery string
	// Retention is the backup folder's retention; DestRetention the east
	// and vault destinations' (default: Retention).
	Retention, DestRetention string
	// Remote puts west's destination on the SMB test server and adds
	// copy-only targets in the S3 and Azure Blob test servers (east stays
	// file://, as every other target does without it).
	Remote *remoteEnv
}

// target is one target of a world's configuration.
type target struct {
	name string
	// mode is the restore_mode of a standby; "" for a copy-only target.
	mode      string
	dsn       string // the environment variable with its DSN
	url       string
	server    string // server_path ("" when the url says it)
	retention string
	// dir is where the destination's files are on this machine; "" for
	// an object store, which is listed through its URL.
	dir string
}

func (tg target) restores() bool { return tg.mode != "" }

// targetNames lists the world's targets.
func (w *world) targetNames() []string {
	var n []string
	for _, tg := range w.targets {
		n = append(n, tg.name)
	}
	return n
}

func (tg target) config(dir string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\ntarget %q {\n  primary = primary.sales\n", tg.name)
	if tg.restores() {
		fmt.Fprintf(&b, "  connection       = env(%q)\n  restore_mode     = %q\n  disconnect_users = true\n  data_dir         = %q\n",
			tg.dsn, tg.mode, filepath.Join(dir, tg.name+"-data"))
	} else {
		b.WriteString("  kind    = \"copy_only\"\n")
	}
	fmt.Fprintf(&b, "  destination {\n    url = %q\n", tg.url)
	if tg.server != "" {
		fmt.Fprintf(&b, "    server_path = %q\n", tg.server)
	}
	if tg.retention != "" {
		fmt.Fprintf(&b, "    retention = %q\n", tg.retention)
	}
	b.WriteString("  }\n}\n")
	return b.String()
}

// serverPath is where the target's server reads the copies.
func (tg target) serverPath() string {
	if tg.server != "" {
		return tg.server
	}
	return tg.dir
}

// world is one primary, two standbys (STANDBY east, NORECOVERY west) and
// a copy-only vault (two with Remote), all on loopback and in one
// temporary directory, with drsctl run as a subprocess against them.
type world struct {
	t                   testing.TB
	dir                 string
	primary, east, west *sqlsim.Server
	dsns                map[string]string
	targets             []target
	remote              bool

	mu       sync.Mutex
	inserted map[string][]int // database → ids inserted on the primary
	nextID   int
	// restarts counts the log chain restarts the test caused per database
	// (recovery model switched to SIMPLE and back).
	restarts map[string]int
	// transcript is every drsctl run's command line, exit and output.
	transcript strings.Builder
	// forceUnlocks counts locks a killed run left that the world removed
	// with drsctl force-unlock; takeovers, those a run took over itself.
	forceUnlocks, takeovers int
	// fullTranscript keeps every run's whole output in the transcript;
	// until it is set, only each run's command, exit and last line.
	fullTranscript bool
	// lastApply is when the latest apply started (the log backups it took
	// are younger).
	lastApply time.Time
}

func newWorld(t testing.TB, o worldOptions) *world {
	t.Helper()
	if o.FullEvery == "" {
		o.FullEvery = "24h"
	}
	if o.Retention == "" {
		o.Retention = "30d"
	}
	if o.DestRetention == "" {
		o.DestRetention = o.Retention
	}
	dir := t.TempDir()
	w := &world{t: t, dir: dir, inserted: map[string][]int{}, nextID: 1, restarts: map[string]int{}}
	start := func(name string) *sqlsim.Server {
		s, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(dir, name+"-sim"), Name: strings.ToUpper(name),
			LSNBase: "98765432109876543210000"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	w.primary, w.east, w.west = start("primary"), start("east"), start("west")
	w.dsns = map[string]string{"PRIMARY_DSN": w.primary.DSN(""), "EAST_DSN": w.east.DSN(""), "WEST_DSN": w.west.DSN("")}
	for _, d := range []string{"share", "east", "west", "vault", "east-data", "west-data"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	file := func(name string) (string, string) {
		d := filepath.Join(dir, name)
		return "file://" + d, d
	}
	east, west, vault := target{name: "east", mode: "standby", dsn: "EAST_DSN", retention: o.DestRetention},
		target{name: "west", mode: "norecovery", dsn: "WEST_DSN"},
		target{name: "vault", retention: o.DestRetention}
	east.url, east.dir = file("east")
	west.url, west.dir = file("west")
	vault.url, vault.dir = file("vault")
	w.targets = []target{east, west, vault}
	if o.Remote != nil {
		w.remote = true
		w.targets = o.Remote.targets(t, w.targets, o.DestRetention)
	}
	cfg := fmt.Sprintf(worldConfig, dir, o.Retention, o.FullEvery)
	for _, tg := range w.targets {
		cfg += tg.config(dir)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, db := range databases {
		if err := w.exec(w.primary, "CREATE DATABASE "+quoteIdent(db)); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func quoteIdent(s string) string { return "[" + strings.ReplaceAll(s, "]", "]]") + "]" }

func quoteString(s string) string { return "N'" + strings.ReplaceAll(s, "'", "''") + "'" }

// exec runs T-SQL on a simulator.
func (w *world) exec(s *sqlsim.Server, q string) error {
	db, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(q)
	return err
}

// rows reads the ids of a database's probe table.
func (w *world) rows(s *sqlsim.Server, database string) ([]int, error) {
	db, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rs, err := db.Query("SELECT id FROM " + quoteIdent(database) + ".dbo.drs_probe ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", database, err)
	}
	defer rs.Close()
	var ids []int
	for rs.Next() {
		var id int
		if err := rs.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rs.Err()
}

// insert writes n rows into a database on the primary.
func (w *world) insert(database string, n int) {
	w.t.Helper()
	for i := 0; i < n; i++ {
		w.mu.Lock()
		id := w.nextID
		w.nextID++
		w.mu.Unlock()
		if err := w.exec(w.primary, fmt.Sprintf("INSERT INTO %s.dbo.drs_probe (id, note) VALUES (%d, N'row %d')", quoteIdent(database), id, id)); err != nil {
			w.t.Fatalf("insert into %s: %v", database, err)
		}
		w.mu.Lock()
		w.inserted[database] = append(w.inserted[database], id)
		w.mu.Unlock()
	}
}

// restartChain switches a database to SIMPLE recovery and back: its log
// chain restarts and drsctl must begin a new one with a full backup.
func (w *world) restartChain(database string) {
	w.t.Helper()
	for _, m := range []string{"SIMPLE", "FULL"} {
		if err := w.exec(w.primary, "ALTER DATABASE "+quoteIdent(database)+" SET RECOVERY "+m); err != nil {
			w.t.Fatalf("switch %s to %s: %v", database, m, err)
		}
	}
	w.restarts[database]++
}

// run is one drsctl run.
type run struct {
	args     []string
	code     int // exit status; -1 when killed
	out      string
	killed   bool
	killedAt string // where the kill landed, in words
	took     time.Duration
}

// killAt says when a run is killed: after Lines lines of output and then
// Delay (Lines 0: Delay after the start). The zero value never kills.
type killAt struct {
	Lines int
	Delay time.Duration
	// Set is true when the run is to be killed at all.
	Set bool
}

func (k killAt) String() string {
	if !k.Set {
		return "no kill"
	}
	if k.Lines > 0 {
		return fmt.Sprintf("SIGKILL %s after output line %d", k.Delay, k.Lines)
	}
	return fmt.Sprintf("SIGKILL %s after start", k.Delay)
}

// runOpts are a drsctl run's test knobs.
type runOpts struct {
	Failpoint string // DRSCTL_FAILPOINT
	Kill      killAt
}

// drsctl runs the binary in the world's directory with the simulators'
// DSNs in its environment, and records the run in the transcript.
func (w *world) drsctl(o runOpts, args ...string) run {
	w.t.Helper()
	full := append([]string{"-chdir", w.dir, "-no-color"}, args...)
	cmd := exec.Command(drsctlBin, full...)
	env := make([]string, 0, len(os.Environ())+4)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, failpoint.EnvVar+"=") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	for k, v := range w.dsns {
		env = append(env, k+"="+v)
	}
	// A race in drsctl fails the run with a distinctive code.
	env = append(env, "GORACE=exitcode=66 halt_on_error=1")
	if o.Failpoint != "" {
		env = append(env, failpoint.EnvVar+"="+o.Failpoint)
	}
	cmd.Env = env
	pr, pw, err := os.Pipe()
	if err != nil {
		w.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	r := run{args: args}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		w.t.Fatalf("start drsctl: %v", err)
	}
	pw.Close()
	var out strings.Builder
	var outMu sync.Mutex
	lines := make(chan int, 1024)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(lines)
		br := bufio.NewReader(pr)
		n := 0
		for {
			s, err := br.ReadString('\n')
			outMu.Lock()
			out.WriteString(s)
			outMu.Unlock()
			if strings.HasSuffix(s, "\n") {
				n++
				select {
				case lines <- n:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	waitDone := make(chan error, 1)
	go func() { waitDone <- cmd.Wait() }()
	var werr error
	if o.Kill.Set {
		trigger := make(chan struct{})
		go func() {
			if o.Kill.Lines > 0 {
				for n := range lines {
					if n >= o.Kill.Lines {
						break
					}
				}
			}
			time.Sleep(o.Kill.Delay)
			close(trigger)
		}()
		select {
		case werr = <-waitDone:
		case <-trigger:
			outMu.Lock()
			last := lastLine(out.String())
			outMu.Unlock()
			if cmd.Process.Kill() == nil {
				r.killed = true
				r.killedAt = fmt.Sprintf("%s (after %s; last line before the kill: %q)", o.Kill, time.Since(start).Round(time.Millisecond), last)
			}
			werr = <-waitDone
		}
	} else {
		werr = <-waitDone
	}
	<-readDone
	pr.Close()
	r.took = time.Since(start)
	r.out = out.String()
	r.code = cmd.ProcessState.ExitCode()
	if werr != nil && r.code == 0 {
		r.code = -1
	}
	if r.killed && cmd.ProcessState.ExitCode() != -1 {
		// It ended on its own in the instant before the kill.
		r.killed = false
		r.killedAt = ""
	}
	w.mu.Lock()
	fmt.Fprintf(&w.transcript, "\n$ drsctl %s", strings.Join(args, " "))
	if o.Failpoint != "" {
		fmt.Fprintf(&w.transcript, "   [%s=%s]", failpoint.EnvVar, o.Failpoint)
	}
	fmt.Fprintf(&w.transcript, "   → exit %d in %s", r.code, r.took.Round(time.Millisecond))
	if r.killed {
		fmt.Fprintf(&w.transcript, ", KILLED: %s", r.killedAt)
	}
	if w.fullTranscript || r.code != 0 {
		fmt.Fprintf(&w.transcript, "\n%s", indent(r.out))
	} else {
		fmt.Fprintf(&w.transcript, "\n%s", indent("… "+lastLine(r.out)))
	}
	w.mu.Unlock()
	return r
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}

// apply runs drsctl apply -auto-approve. A lock left by a killed run is
// removed with drsctl force-unlock and the apply run again: a SIGKILLed
// holder cannot release its lock, and until a dead holder on the same host
// is taken over at once, its lock would block every apply for its TTL.
func (w *world) apply(o runOpts) run {
	w.t.Helper()
	args := []string{"apply", "-auto-approve", "-parallelism", "4"}
	w.lastApply = time.Now()
	r := w.drsctl(o, args...)
	if strings.Contains(r.out, "taking it over") {
		w.takeovers++
	}
	if r.code == 1 && strings.Contains(r.out, "state is locked") {
		info, err := w.lockInfo()
		if err != nil {
			w.t.Fatalf("apply found the state locked, but the lock cannot be read: %v", err)
		}
		if u := w.drsctl(runOpts{}, "force-unlock", info.ID); u.code != 0 {
			w.t.Fatalf("force-unlock %s: exit %d\n%s", info.ID, u.code, u.out)
		}
		w.forceUnlocks++
		w.lastApply = time.Now()
		r = w.drsctl(o, args...)
	}
	return r
}

func (w *world) statePath() string { return filepath.Join(w.dir, "drs.state.json") }

// lockInfo reads the state's lock file.
func (w *world) lockInfo() (state.LockInfo, error) {
	var info state.LockInfo
	raw, err := os.ReadFile(w.statePath() + ".lock")
	if err != nil {
		return info, err
	}
	err = json.Unmarshal(raw, &info)
	return info, err
}

// ledger reads the state file as drsctl would.
func (w *world) ledger() (*state.State, error) {
	st, err := state.NewLocal(w.statePath(), state.LocalOptions{}).Read(context.Background())
	if err == nil && st == nil {
		return state.New(""), nil
	}
	return st, err
}

// waitLogDue lets log_backup.every pass since the newest backup in the
// backup folder was written, so the next apply takes a log backup of every
// database.
func (w *world) waitLogDue() {
	newest := w.lastApply
	filepath.WalkDir(filepath.Join(w.dir, "share"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == ".drsctl-keep" {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		return nil
	})
	time.Sleep(time.Until(newest.Add(logEvery + 250*time.Millisecond)))
}

// transcriptText is everything drsctl printed in this world.
func (w *world) transcriptText() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.transcript.String()
}

func splitLines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

// maxConvergeRounds bounds the applies after a kill: one recovers and
// catches up, a second may be needed when the first had to seed again
// (a chain restart) or a log backup was not yet due.
const maxConvergeRounds = 5

// converge applies (each time once a log backup is due) until every
// target caught up with the primary (converged), at most
// maxConvergeRounds times. It returns the runs, and why it did not
// converge ("" when it did).
func (w *world) converge() ([]run, string) {
	var runs []run
	why := ""
	for round := 1; round <= maxConvergeRounds; round++ {
		w.waitLogDue()
		r := w.apply(runOpts{})
		runs = append(runs, r)
		if r.code != 0 {
			why = fmt.Sprintf("apply %d exited %d", round, r.code)
			continue
		}
		var ok bool
		if ok, why = w.converged(); ok {
			return runs, ""
		}
	}
	return runs, fmt.Sprintf("no convergence after %d applies: %s", maxConvergeRounds, why)
}
