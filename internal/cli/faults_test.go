package cli_test

// Faults, end to end: drsctl's apply against SQL Server simulators on
// loopback while servers go away, hang or run out of disk. Each fault must
// give a clear error for the actions it affects and only those, keep the
// ledger true, never repeat or skip a restore (the simulators' msdb restore
// history proves it), and the next apply, the fault gone, must converge.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gblob "gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/drsctl/drsctl/internal/blob"
	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/config"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/wiring"
)

// faultTimeouts go into every DSN: a server that does not answer a login or
// a short statement for 2 s is hung, and a BACKUP or RESTORE silent for 2 s
// gets a liveness check.
const faultTimeouts = "connection+timeout=2&command+timeout=2"

const faultConfig = `
backup_folder "share" {
  url         = "{{FOLDER_URL}}"
  server_path = "{{FOLDER_PATH}}"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = ["Sales"]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "1s" }
  rpo = "1h"
}
target "east" {
  primary          = primary.sales
  connection       = env("EAST_DSN")
  restore_mode     = "standby"
  disconnect_users = true
  data_dir         = "{{DIR}}/east-data"
  destination {
    url         = "{{EAST_URL}}"
    server_path = "{{EAST_PATH}}"
  }
}
target "west" {
  primary      = primary.sales
  connection   = env("WEST_DSN")
  restore_mode = "norecovery"
  data_dir     = "{{DIR}}/west-data"
  destination { url = "file://{{DIR}}/west" }
}
target "vault" {
  primary = primary.sales
  kind    = "copy_only"
  destination { url = "file://{{DIR}}/vault" }
}
`

// faultWorld is a primary and two standbys (east in STANDBY, west in
// NORECOVERY) as simulators that can be stopped and started again on the
// same address with the same data, and a copy-only vault.
type faultWorld struct {
	t    *testing.T
	dir  string
	sims map[string]*sqlsim.Server // "primary", "east", "west"; closed ones stay
	addr map[string]string
	// Where the backup folder and east's destination are: directories under
	// dir unless a test puts them on a small disk.
	folder, east string
	folderURL    string
	eastURL      string
	rows         int // rows inserted on the primary
}

func newFaultWorld(t *testing.T) *faultWorld {
	w := &faultWorld{t: t, dir: t.TempDir(), sims: map[string]*sqlsim.Server{}, addr: map[string]string{}}
	w.folder, w.east = filepath.Join(w.dir, "share"), filepath.Join(w.dir, "east")
	w.folderURL, w.eastURL = "file://"+w.folder, "file://"+w.east
	for _, d := range []string{"share", "east", "west", "vault", "east-data", "west-data"} {
		if err := os.MkdirAll(filepath.Join(w.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"primary", "east", "west"} {
		w.start(n)
	}
	w.sql("primary", "CREATE DATABASE [Sales]")
	w.writeConfig()
	return w
}

func (w *faultWorld) writeConfig() {
	w.t.Helper()
	cfg := strings.NewReplacer("{{DIR}}", w.dir, "{{FOLDER_URL}}", w.folderURL, "{{FOLDER_PATH}}", w.folder,
		"{{EAST_URL}}", w.eastURL, "{{EAST_PATH}}", w.east).Replace(faultConfig)
	if err := os.WriteFile(filepath.Join(w.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// start starts a simulator, on its old address and data when it ran before.
func (w *faultWorld) start(name string) {
	w.t.Helper()
	addr := w.addr[name]
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var s *sqlsim.Server
	var err error
	for try := 0; try < 50; try++ { // the old port may take a moment to free
		s, err = sqlsim.Start(sqlsim.Options{Addr: addr, DataDir: filepath.Join(w.dir, name+"-sim"), Name: strings.ToUpper(name),
			LSNBase: "98765432109876543210000"})
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { s.Close() })
	w.sims[name], w.addr[name] = s, s.Addr()
}

// stop takes a server away: its listener and every connection close.
func (w *faultWorld) stop(name string) { w.sims[name].Close() }

func (w *faultWorld) dsn(name string) string {
	return "sqlserver://sa:sqlsim@" + w.addr[name] + "?encrypt=disable&" + faultTimeouts
}

// run is one apply's outcome.
type faultRun struct {
	code int
	out  string
	took time.Duration
}

// apply runs `drsctl apply -auto-approve`; it is safe to call from a
// goroutine other than the test's.
func (w *faultWorld) apply() faultRun {
	var out bytes.Buffer
	sw := &syncWriter{w: &out}
	dsns := map[string]string{"PRIMARY_DSN": w.dsn("primary"), "EAST_DSN": w.dsn("east"), "WEST_DSN": w.dsn("west")}
	e := &cli.Env{Stdout: sw, Stderr: sw, Stdin: strings.NewReader(""), Engines: wiring.Engines(), Version: "test",
		Getenv: func(k string) (string, bool) { v, ok := dsns[k]; return v, ok }}
	start := time.Now()
	code := e.Apply(context.Background(), cli.Globals{Chdir: w.dir, NoColor: true}, cli.ApplyOptions{AutoApprove: true, Refresh: true, Parallelism: 4})
	return faultRun{code: code, out: out.String(), took: time.Since(start)}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// applyOK applies and fails the test unless it exits 0.
func (w *faultWorld) applyOK(what string) faultRun {
	w.t.Helper()
	r := w.apply()
	w.t.Logf("%s: apply → %d in %s\n%s", what, r.code, r.took.Round(time.Millisecond), r.out)
	if r.code != 0 {
		w.t.Fatalf("%s: apply exit %d", what, r.code)
	}
	return r
}

// applyDuring applies while act runs once the server named stalls
// something: act makes the fault happen mid-statement.
func (w *faultWorld) applyDuring(name string, act func()) faultRun {
	w.t.Helper()
	srv := w.sims[name]
	srv.SetStall(sqlsim.StallLongOps)
	done := make(chan faultRun, 1)
	go func() { done <- w.apply() }()
	deadline := time.After(30 * time.Second)
	for srv.Stalled() == 0 {
		select {
		case r := <-done:
			srv.SetStall(sqlsim.StallNone)
			w.t.Fatalf("apply ended before %s ran a BACKUP or RESTORE: exit %d\n%s", name, r.code, r.out)
		case <-deadline:
			w.t.Fatalf("%s never ran a BACKUP or RESTORE", name)
		case <-time.After(10 * time.Millisecond):
		}
	}
	act()
	select {
	case r := <-done:
		return r
	case <-time.After(60 * time.Second):
		w.t.Fatalf("apply still running 60 s after the fault on %s", name)
		return faultRun{}
	}
}

func (w *faultWorld) sql(name, q string) {
	w.t.Helper()
	db, err := sql.Open("sqlserver", w.sims[name].DSN(""))
	if err != nil {
		w.t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		w.t.Fatalf("%s on %s: %v", q, name, err)
	}
}

// insert writes a row on the primary and lets a log backup fall due.
func (w *faultWorld) insert() {
	w.t.Helper()
	w.rows++
	w.sql("primary", fmt.Sprintf("INSERT INTO [Sales].dbo.drs_probe (id, note) VALUES (%d, N'row %d')", w.rows, w.rows))
	waitLogDue()
}

// lastRestore is the newest restore of Sales in a server's msdb.
func lastRestore(s *sqlsim.Server) *sqlsim.RestoreRecord {
	var last *sqlsim.RestoreRecord
	for _, r := range s.RestoreHistory() {
		if r.Database == "Sales" {
			last = &r
		}
	}
	return last
}

// lsnCompare compares decimal LSNs (numeric(25,0): never int64).
func lsnCompare(a, b string) int {
	x, _ := new(big.Int).SetString(a, 10)
	y, _ := new(big.Int).SetString(b, 10)
	if x == nil || y == nil {
		return strings.Compare(a, b)
	}
	return x.Cmp(y)
}

// restoredInOrder checks a standby's msdb restore history of Sales: each
// log restored continues the one before (the first after a full covers its
// end), so none was repeated and none skipped.
func (w *faultWorld) restoredInOrder(name string) {
	w.t.Helper()
	var prev *sqlsim.RestoreRecord
	for _, r := range w.sims[name].RestoreHistory() {
		if r.Database != "Sales" {
			continue
		}
		switch {
		case r.Type == "D":
		case prev == nil:
			w.t.Errorf("%s: log %s..%s restored before any full", name, r.FirstLSN, r.LastLSN)
		case prev.Type == "D" && !(lsnCompare(r.FirstLSN, prev.LastLSN) <= 0 && lsnCompare(prev.LastLSN, r.LastLSN) < 0),
			prev.Type == "L" && r.FirstLSN != prev.LastLSN:
			what := "skipped"
			if lsnCompare(r.FirstLSN, prev.LastLSN) < 0 {
				what = "repeated"
			}
			w.t.Errorf("%s: log %s..%s restored after %s..%s: a restore was %s", name, r.FirstLSN, r.LastLSN, prev.FirstLSN, prev.LastLSN, what)
		}
		prev = &r
	}
}

// ledgerTrue checks that the ledger reads, that every artifact it lists is
// in the backup folder, and that each standby's position in it is where the
// server says it stands.
func (w *faultWorld) ledgerTrue() *state.State {
	w.t.Helper()
	st, err := state.NewLocal(filepath.Join(w.dir, "drs.state.json"), state.LocalOptions{}).Read(context.Background())
	if err != nil || st == nil {
		w.t.Fatalf("the ledger does not read: %v", err)
	}
	for _, a := range st.LookupDatabase("sales", "Sales").Artifacts {
		if _, err := os.Stat(filepath.Join(w.folder, filepath.FromSlash(a.Key))); err != nil {
			w.t.Errorf("the ledger lists %s, which is not in the backup folder: %v", a.Key, err)
		}
	}
	for _, name := range []string{"east", "west"} {
		td := st.LookupTargetDatabase(name, "Sales")
		last := lastRestore(w.sims[name])
		switch {
		case td == nil || td.Restored == nil:
			if last != nil {
				w.t.Errorf("%s: the ledger has no restore, the server restored %s..%s", name, last.FirstLSN, last.LastLSN)
			}
		case last == nil:
			w.t.Errorf("%s: the ledger says restored through %s, the server restored nothing", name, td.Restored.LastLSN)
		case string(td.Restored.LastLSN) != last.LastLSN:
			w.t.Errorf("%s: the ledger says restored through %s, the server through %s", name, td.Restored.LastLSN, last.LastLSN)
		}
	}
	return st
}

// converged checks, after an apply that exited 0, that both standbys stand
// at the primary's newest log backup, restored in order, and that east
// (readable, STANDBY) holds every row.
func (w *faultWorld) converged() {
	w.t.Helper()
	for _, name := range []string{"east", "west"} {
		w.restoredInOrder(name)
		w.standsAtNewest(name)
	}
	w.ledgerTrue()
	var want []int
	for i := 1; i <= w.rows; i++ {
		want = append(want, i)
	}
	if got := faultRows(w.t, w.sims["east"]); !slices.Equal(got, want) {
		w.t.Errorf("east rows %v, want %v", got, want)
	}
}

// standsAtNewest checks that a standby's last restore is the primary's
// newest log backup.
func (w *faultWorld) standsAtNewest(name string) {
	w.t.Helper()
	var newest string
	for _, b := range w.sims["primary"].BackupHistory() {
		if b.Database == "Sales" && b.Type == "L" && !b.Restored {
			newest = b.LastLSN
		}
	}
	if last := lastRestore(w.sims[name]); last == nil || last.LastLSN != newest {
		w.t.Errorf("%s stands at %+v, the newest log backup ends at %s", name, last, newest)
	}
}

func faultRows(t *testing.T, s *sqlsim.Server) []int {
	t.Helper()
	db, err := sql.Open("sqlserver", s.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rs, err := db.Query("SELECT id FROM [Sales].dbo.drs_probe ORDER BY id")
	if err != nil {
		t.Fatalf("read Sales: %v", err)
	}
	defer rs.Close()
	var ids []int
	for rs.Next() {
		var id int
		rs.Scan(&id)
		ids = append(ids, id)
	}
	return ids
}

// lockReleased checks that no run holds the state lock.
func (w *faultWorld) lockReleased() {
	w.t.Helper()
	if _, err := os.Stat(filepath.Join(w.dir, "drs.state.json.lock")); err == nil {
		w.t.Error("the state lock was left behind")
	}
}

// failedOnly checks a failed apply's output: exit 1, each want in it, and
// for every name in fine, no failure line of its actions.
func failedOnly(t *testing.T, r faultRun, want []string, fine ...string) {
	t.Helper()
	if r.code != 1 {
		t.Errorf("apply exit %d, want 1", r.code)
	}
	for _, s := range want {
		if !strings.Contains(r.out, s) {
			t.Errorf("the output does not say %q", s)
		}
	}
	for _, l := range strings.Split(r.out, "\n") {
		for _, f := range fine {
			if strings.Contains(l, "→ "+f+":") && (strings.Contains(l, "failed") || strings.Contains(l, "not started")) {
				t.Errorf("%s's actions were not affected, yet: %s", f, l)
			}
		}
	}
}

// TestFault_ServersGoAway: a standby is down for a whole apply, then the
// primary goes away in the middle of a log backup. Each time only the
// actions that need the missing server fail, with its address in the
// error; what does not need it (shipping to the down standby's destination,
// restoring on the standby that came back) is done; and the next apply
// converges without repeating or skipping a restore.
func TestFault_ServersGoAway(t *testing.T) {
	w := newFaultWorld(t)
	w.insert()
	w.applyOK("seed")

	// West is unreachable from the start.
	w.stop("west")
	w.insert()
	r := w.apply()
	t.Logf("west down: apply → %d\n%s", r.code, r.out)
	failedOnly(t, r, []string{`target "west"`, w.addr["west"]}, "east", "vault")
	w.ledgerTrue()
	w.standsAtNewest("east")
	st := w.ledgerTrue()
	westBefore := st.LookupTargetDatabase("west", "Sales").Restored.LastLSN
	w.lockReleased()

	// West is back; the primary goes away while it takes the next log.
	w.start("west")
	w.insert()
	artifacts := len(st.LookupDatabase("sales", "Sales").Artifacts)
	r = w.applyDuring("primary", func() { w.stop("primary") })
	t.Logf("primary gone mid-backup: apply → %d in %s\n%s", r.code, r.took.Round(time.Millisecond), r.out)
	failedOnly(t, r, []string{"sales/Sales: backup log", w.addr["primary"], "server unreachable"})
	st = w.ledgerTrue()
	if n := len(st.LookupDatabase("sales", "Sales").Artifacts); n != artifacts {
		t.Errorf("the ledger holds %d artifacts, %d before: the failed backup was recorded", n, artifacts)
	}
	if got := st.LookupTargetDatabase("west", "Sales").Restored.LastLSN; got == westBefore {
		t.Error("west did not restore the log shipped while it was down: the primary's failure stopped it")
	}
	w.lockReleased()

	w.start("primary")
	w.insert()
	w.applyOK("all back")
	w.converged()
}

// TestFault_StandbyGoesAwayMidRestore: east stops in the middle of a log
// restore. Its restore fails naming it; west restores and the vault gets
// its copy; the next apply restores east from where it stands, once.
func TestFault_StandbyGoesAwayMidRestore(t *testing.T) {
	w := newFaultWorld(t)
	w.insert()
	w.applyOK("seed")
	w.insert()
	r := w.applyDuring("east", func() { w.stop("east") })
	t.Logf("east gone mid-restore: apply → %d in %s\n%s", r.code, r.took.Round(time.Millisecond), r.out)
	failedOnly(t, r, []string{"sales/Sales → east: restore log", w.addr["east"], "server unreachable"}, "west", "vault")
	w.ledgerTrue()
	w.lockReleased()
	w.start("east")
	w.insert()
	w.applyOK("east back")
	w.converged()
}

// TestFault_HungServers: a server that accepts connections and answers
// nothing, from the start or from the middle of a BACKUP or RESTORE. Apply
// ends within seconds naming the server, only what needs it fails, the lock
// is released, and once the server answers again the next apply converges.
// A server that is merely silent during a long RESTORE while it answers
// everyone else is left to finish.
func TestFault_HungServers(t *testing.T) {
	w := newFaultWorld(t)
	w.insert()
	w.applyOK("seed")
	const bound = 20 * time.Second // 2 s timeouts, a few waits each

	t.Run("primary frozen from the start", func(t *testing.T) {
		w.t = t
		w.insert()
		w.sims["primary"].SetStall(sqlsim.StallAll)
		r := w.apply()
		w.sims["primary"].SetStall(sqlsim.StallNone)
		t.Logf("apply → %d in %s\n%s", r.code, r.took.Round(time.Millisecond), r.out)
		failedOnly(t, r, []string{`primary "sales"`, w.addr["primary"], "connection timeout"}, "east", "west", "vault")
		if r.took > bound {
			t.Errorf("apply took %s", r.took)
		}
		w.lockReleased()
		w.ledgerTrue()
	})
	t.Run("primary hangs mid-backup", func(t *testing.T) {
		w.t = t
		w.insert()
		r := w.applyDuring("primary", func() { w.sims["primary"].SetStall(sqlsim.StallAll) })
		w.sims["primary"].SetStall(sqlsim.StallNone)
		t.Logf("apply → %d in %s\n%s", r.code, r.took.Round(time.Millisecond), r.out)
		failedOnly(t, r, []string{"sales/Sales: backup log", w.addr["primary"], "stopped answering"})
		if r.took > bound {
			t.Errorf("apply took %s", r.took)
		}
		w.lockReleased()
		w.ledgerTrue()
	})
	t.Run("standby hangs mid-restore", func(t *testing.T) {
		w.t = t
		w.insert()
		r := w.applyDuring("east", func() { w.sims["east"].SetStall(sqlsim.StallRequests) })
		w.sims["east"].SetStall(sqlsim.StallNone)
		t.Logf("apply → %d in %s\n%s", r.code, r.took.Round(time.Millisecond), r.out)
		failedOnly(t, r, []string{"sales/Sales → east: restore log", w.addr["east"], "stopped answering"}, "west", "vault")
		if r.took > bound {
			t.Errorf("apply took %s", r.took)
		}
		w.lockReleased()
		w.ledgerTrue()
	})
	t.Run("standby answers logins, then nothing", func(t *testing.T) {
		w.t = t
		w.insert()
		w.sims["west"].SetStall(sqlsim.StallRequests)
		r := w.apply()
		w.sims["west"].SetStall(sqlsim.StallNone)
		t.Logf("apply → %d in %s\n%s", r.code, r.took.Round(time.Millisecond), r.out)
		failedOnly(t, r, []string{`target "west"`, w.addr["west"], "command timeout"}, "east", "vault")
		if r.took > bound {
			t.Errorf("apply took %s", r.took)
		}
		w.standsAtNewest("east")
		w.lockReleased()
		w.ledgerTrue()
	})
	t.Run("answering again", func(t *testing.T) {
		w.t = t
		w.insert()
		w.applyOK("all answer")
		w.converged()
	})
	t.Run("silent restore on a live server", func(t *testing.T) {
		w.t = t
		w.insert()
		r := w.applyDuring("east", func() {
			// Seven times the connection timeout (and the command
			// timeout) without a word, as a real server zeroing a large
			// log file: liveness checks pass, nothing is cut.
			time.Sleep(15 * time.Second)
			w.sims["east"].SetStall(sqlsim.StallNone)
		})
		t.Logf("apply → %d in %s\n%s", r.code, r.took.Round(time.Millisecond), r.out)
		if r.code != 0 {
			t.Fatalf("a restore silent for 15 s on a live server failed (exit %d)", r.code)
		}
		w.converged()
	})
}

// ---- full disks ----

// faultDisk is a small disk a test fills and frees: a real tmpfs when the
// machine lets the test mount one (it runs as root), otherwise a stand-in
// with the same effect (see quotaDisk and sqlsim's LimitSpace). Setting
// DRSCTL_TEST_NO_MOUNT forces the stand-in.
type faultDisk struct {
	t     *testing.T
	root  string // the mount point
	dir   string // the folder or destination on it
	tmpfs bool
	quota *quotaDisk // stand-in for a destination
	// limit sets the stand-in's free bytes (< 0: no limit): a quotaDisk's
	// for a destination, the simulator's LimitSpace for a backup folder.
	limit func(free int64)
}

func newFaultDisk(t *testing.T, root, name string) *faultDisk {
	t.Helper()
	d := &faultDisk{t: t, root: root, dir: filepath.Join(root, name)}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("DRSCTL_TEST_NO_MOUNT") != "" {
		t.Log("DRSCTL_TEST_NO_MOUNT is set: a fault-injecting stand-in fills the disk")
	} else {
		out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", root).CombinedOutput()
		if err == nil {
			d.tmpfs = true
			t.Cleanup(func() {
				if out, err := exec.Command("umount", root).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v: %s", root, err, out)
					exec.Command("umount", "-l", root).Run()
				}
			})
		} else {
			t.Logf("cannot mount a tmpfs (%v: %s): a fault-injecting stand-in fills the disk", err, bytes.TrimSpace(out))
		}
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *faultDisk) ballast() string { return filepath.Join(d.root, "ballast") }

// fill leaves no free space.
func (d *faultDisk) fill() {
	d.t.Helper()
	if !d.tmpfs {
		d.limit(0)
		return
	}
	f, err := os.Create(d.ballast())
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	for _, n := range []int{1 << 20, 4096, 1} {
		buf := make([]byte, n)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					d.t.Fatal(err)
				}
				break
			}
		}
	}
}

// free makes room again.
func (d *faultDisk) free() {
	d.t.Helper()
	if !d.tmpfs {
		d.limit(-1)
		return
	}
	if err := os.Remove(d.ballast()); err != nil {
		d.t.Fatal(err)
	}
}

// files lists the regular files under dir by slash-separated key.
func faultFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:])
		return nil
	})
	return out
}

// noPartialFiles checks that every file at a destination is whole (the
// same bytes as the backup folder's file of that name) and that no
// temporary file is left.
func (w *faultWorld) noPartialFiles(dest string) {
	w.t.Helper()
	src := faultFiles(w.t, w.folder)
	for key, sum := range faultFiles(w.t, dest) {
		switch {
		case strings.HasSuffix(key, ".attrs"):
		case strings.Contains(filepath.Base(key), ".tmp"):
			w.t.Errorf("temporary file left at the destination: %s", key)
		case src[key] == "":
			w.t.Errorf("%s at the destination is not in the backup folder", key)
		case src[key] != sum:
			w.t.Errorf("%s at the destination differs from the backup folder's: a partial file under its final name", key)
		}
	}
}

// TestFault_DestinationFull: east's destination (a file:// directory)
// runs out of space. The ship to east fails saying so and naming the
// destination; nothing partial is left under a final name and no temporary
// file stays; west and the vault get their copies and west its restore;
// once space is freed the next apply ships and restores east in order.
func TestFault_DestinationFull(t *testing.T) {
	w := newFaultWorld(t)
	d := newFaultDisk(t, filepath.Join(w.dir, "disk-east"), "east")
	w.east, w.eastURL = d.dir, "file://"+d.dir
	if !d.tmpfs {
		d.quota = newQuotaDisk(t, d.dir)
		d.limit = d.quota.limit
		w.eastURL = d.quota.url
	}
	w.writeConfig()
	w.insert()
	w.applyOK("seed")

	d.fill()
	w.insert()
	r := w.apply()
	t.Logf("east's destination full: apply → %d\n%s", r.code, r.out)
	failedOnly(t, r, []string{"sales/Sales → east: ship", `no space left on device at ` + w.eastURL + ` (target "east"'s destination)`}, "west", "vault")
	w.noPartialFiles(w.east)
	w.noPartialFiles(filepath.Join(w.dir, "vault"))
	w.standsAtNewest("west")
	w.ledgerTrue()
	w.lockReleased()

	d.free()
	w.insert()
	w.applyOK("space freed")
	w.noPartialFiles(w.east)
	w.converged()
}

// TestFault_BackupFolderFull: the primary's BACKUP fails for lack of space
// in the backup folder (SQL Server 3202, operating system error 112).
// drsctl reports the server's words and the file, records no artifact and
// marks nothing done; once space is freed the next apply converges.
func TestFault_BackupFolderFull(t *testing.T) {
	w := newFaultWorld(t)
	d := newFaultDisk(t, filepath.Join(w.dir, "disk-share"), "share")
	w.folder, w.folderURL = d.dir, "file://"+d.dir
	d.limit = func(free int64) { w.sims["primary"].LimitSpace(d.dir, free) }
	w.writeConfig()
	w.insert()
	w.applyOK("seed")
	// A log backup while there is space: drsctl has made the log folder
	// (it writes a marker there), so only the server writes now.
	w.insert()
	w.applyOK("first log")
	before := w.ledgerTrue()

	d.fill()
	w.insert()
	r := w.apply()
	t.Logf("backup folder full: apply → %d\n%s", r.code, r.out)
	failedOnly(t, r, []string{"sales/Sales: backup log", "SQL Server error 3202", "There is not enough space on the disk", d.dir})
	after := w.ledgerTrue()
	if a, b := len(after.LookupDatabase("sales", "Sales").Artifacts), len(before.LookupDatabase("sales", "Sales").Artifacts); a != b {
		t.Errorf("the ledger holds %d artifacts, %d before the failed backup", a, b)
	}
	if !strings.Contains(r.out, "Apply failed: 0 done") {
		t.Error("an apply whose only backup failed reports something done")
	}
	w.lockReleased()

	d.free()
	w.insert()
	w.applyOK("space freed")
	w.converged()
}

// ---- the destination stand-in ----

// quotaDisk stands in for a small disk under a destination where a test
// cannot mount one: a gocloud.dev bucket over drsctl's own file:// bucket
// (so reads, listings and commits are the product's) whose writes fail with
// ENOSPC, as a full disk's do, once the free bytes run out. It is reached
// as quotafile://<name>, a scheme the test adds to the configuration's.
type quotaDisk struct {
	url  string
	dir  string
	mu   sync.Mutex
	free int64 // < 0: no limit
}

var (
	quotaMu      sync.Mutex
	quotaDisks   = map[string]*quotaDisk{}
	quotaOnce    sync.Once
	quotaCounter int
)

func newQuotaDisk(t *testing.T, dir string) *quotaDisk {
	quotaOnce.Do(func() { gblob.DefaultURLMux().RegisterBucket("quotafile", quotaOpener{}) })
	quotaMu.Lock()
	quotaCounter++
	name := fmt.Sprintf("disk%d", quotaCounter)
	q := &quotaDisk{url: "quotafile://" + name, dir: dir, free: -1}
	quotaDisks[name] = q
	quotaMu.Unlock()
	saved := config.DefaultSchemes
	config.DefaultSchemes = append(slices.Clone(saved), "quotafile")
	t.Cleanup(func() {
		config.DefaultSchemes = saved
		quotaMu.Lock()
		delete(quotaDisks, name)
		quotaMu.Unlock()
	})
	return q
}

func (q *quotaDisk) limit(free int64) {
	q.mu.Lock()
	q.free = free
	q.mu.Unlock()
}

// take charges n bytes; false when they do not fit.
func (q *quotaDisk) take(n int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.free < 0 {
		return true
	}
	if n > q.free {
		return false
	}
	q.free -= n
	return true
}

func (q *quotaDisk) give(n int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.free >= 0 {
		q.free += n
	}
}

type quotaOpener struct{}

func (quotaOpener) OpenBucketURL(ctx context.Context, u *url.URL) (*gblob.Bucket, error) {
	quotaMu.Lock()
	q := quotaDisks[u.Host]
	quotaMu.Unlock()
	if q == nil {
		return nil, fmt.Errorf("quotafile: no disk %q", u.Host)
	}
	inner, err := blob.Open(ctx, "file://"+q.dir)
	if err != nil {
		return nil, err
	}
	return gblob.NewBucket(&quotaBucket{b: inner, q: q}), nil
}

type quotaBucket struct {
	b *gblob.Bucket
	q *quotaDisk
}

func (d *quotaBucket) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (d *quotaBucket) As(i any) bool                          { return d.b.As(i) }
func (d *quotaBucket) ErrorAs(err error, i any) bool          { return d.b.ErrorAs(err, i) }
func (d *quotaBucket) Close() error                           { return d.b.Close() }
func (d *quotaBucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", errors.New("quotafile: no signed URLs")
}

func (d *quotaBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := d.b.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime, ModTime: a.ModTime,
		Size: a.Size, MD5: a.MD5, ETag: a.ETag, AsFunc: a.As}, nil
}

func (d *quotaBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	token := opts.PageToken
	if len(token) == 0 {
		token = gblob.FirstPageToken
	}
	size := opts.PageSize
	if size <= 0 {
		size = 1000
	}
	objs, next, err := d.b.ListPage(ctx, token, size, &gblob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter})
	if err != nil {
		return nil, err
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir, AsFunc: o.As})
	}
	return page, nil
}

func (d *quotaBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	r, err := d.b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, err
	}
	return quotaReader{r}, nil
}

type quotaReader struct{ r *gblob.Reader }

func (r quotaReader) Read(p []byte) (int, error) { return r.r.Read(p) }
func (r quotaReader) Close() error               { return r.r.Close() }
func (r quotaReader) As(i any) bool              { return r.r.As(i) }
func (r quotaReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

func (d *quotaBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	wctx, cancel := context.WithCancel(ctx)
	w, err := d.b.NewWriter(wctx, key, &gblob.WriterOptions{ContentType: contentType, DisableContentTypeDetection: contentType == "",
		Metadata: opts.Metadata, IfNotExist: opts.IfNotExist})
	if err != nil {
		cancel()
		return nil, err
	}
	return &quotaWriter{w: w, cancel: cancel, q: d.q, path: filepath.Join(d.q.dir, filepath.FromSlash(key))}, nil
}

// quotaWriter fails a write that does not fit with ENOSPC and then abandons
// the object (its temporary file is removed, its bytes given back).
type quotaWriter struct {
	w      *gblob.Writer
	cancel context.CancelFunc
	q      *quotaDisk
	path   string
	n      int64
	err    error
}

func (w *quotaWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if !w.q.take(int64(len(p))) {
		w.err = &fs.PathError{Op: "write", Path: w.path + ".tmp", Err: syscall.ENOSPC}
		return 0, w.err
	}
	w.n += int64(len(p))
	return w.w.Write(p)
}

func (w *quotaWriter) Close() error {
	if w.err != nil {
		w.cancel()
		w.w.Close()
		w.q.give(w.n)
		return w.err
	}
	defer w.cancel()
	if err := w.w.Close(); err != nil {
		w.q.give(w.n)
		return err
	}
	return nil
}

func (d *quotaBucket) Copy(ctx context.Context, dst, src string, _ *driver.CopyOptions) error {
	return d.b.Copy(ctx, dst, src, nil)
}

func (d *quotaBucket) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	a, err := d.b.Attributes(ctx, key)
	if err != nil {
		return err
	}
	if err := d.b.Delete(ctx, key); err != nil {
		return err
	}
	d.q.give(a.Size)
	return nil
}
