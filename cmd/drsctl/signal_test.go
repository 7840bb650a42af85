package main

// Black-box tests of what a run leaves behind when it is cut off: the
// drsctl binary, built once, run as cron would, against SQL Server
// simulators on loopback.
//
// DRSCTL_TEST_BINARY runs them against a binary built elsewhere (an older
// drsctl, to see them fail).

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/microsoft/go-mssqldb"

	"github.com/drsctl/drsctl/internal/cli"
	"github.com/drsctl/drsctl/internal/engine/sqlserver/sqlsim"
	"github.com/drsctl/drsctl/internal/state"
)

var binary struct {
	once sync.Once
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binary.path != "" && os.Getenv("DRSCTL_TEST_BINARY") == "" {
		os.RemoveAll(filepath.Dir(binary.path))
	}
	os.Exit(code)
}

// drsctlBinary builds cmd/drsctl once per test run.
func drsctlBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("signals and pipes as on Unix")
	}
	binary.once.Do(func() {
		if p := os.Getenv("DRSCTL_TEST_BINARY"); p != "" {
			binary.path = p
			return
		}
		dir, err := os.MkdirTemp("", "drsctl-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "drsctl")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatal(binary.err)
	}
	return binary.path
}

// manyDatabases is the design example with n databases: a plan of
// -refresh=false that runs to n*500 bytes, well past a pipe's buffer.
func manyDatabases(t *testing.T, n int) string {
	t.Helper()
	src, err := os.ReadFile(designExample)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%q", fmt.Sprintf("DB%03d", i))
	}
	cfg := strings.Replace(string(src), `["Sales", "Inventory"]`, "["+strings.Join(names, ", ")+"]", 1)
	path := filepath.Join(t.TempDir(), "main.drs.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// readOneLineAndClose reads r's first line and closes it, as `head -1`.
func readOneLineAndClose(r *os.File) <-chan string { return readUntilAndClose(r, "") }

// readUntilAndClose reads r up to the first line containing marker and
// closes it, as `head -N` with the N that stops there.
func readUntilAndClose(r *os.File, marker string) <-chan string {
	got := make(chan string, 1)
	go func() {
		br := bufio.NewReader(r)
		var read strings.Builder
		for {
			line, err := br.ReadString('\n')
			read.WriteString(line)
			if err != nil || strings.Contains(line, marker) {
				break
			}
		}
		r.Close()
		got <- read.String()
	}()
	return got
}

// exitOf says how a finished command ended: its code, or the signal that
// killed it.
func exitOf(t *testing.T, err error) (int, string) {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, ws.Signal().String()
		}
		return ee.ExitCode(), ""
	}
	t.Fatal(err)
	return 0, ""
}

func lockFiles(t *testing.T, statePath string) []string {
	t.Helper()
	m, err := filepath.Glob(statePath + ".lock*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// `drsctl plan | head -1`: the plan is far larger than the pipe's buffer,
// so drsctl is still writing when head exits.
func TestPlan_IntoAPipeClosedAfterOneLine_releasesTheLock(t *testing.T) {
	bin := drsctlBinary(t)
	cfg := manyDatabases(t, 300)
	statePath := filepath.Join(t.TempDir(), "drs.state.json")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-config", cfg, "-state", statePath, "plan", "-refresh=false")
	cmd.Stdout, cmd.Stderr = w, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	first := readOneLineAndClose(r)
	code, sig := exitOf(t, cmd.Wait())
	t.Logf("head read %q; drsctl: exit %d %s\n%s", <-first, code, sig, stderr.String())
	if sig != "" {
		t.Fatalf("drsctl was killed by %s", sig)
	}
	if code != cli.ExitError {
		t.Errorf("exit %d, want %d", code, cli.ExitError)
	}
	if !strings.Contains(stderr.String(), "broken pipe") {
		t.Errorf("stderr does not say the output was closed:\n%s", stderr.String())
	}
	if left := lockFiles(t, statePath); len(left) > 0 {
		t.Fatalf("lock left behind: %v", left)
	}

	start := time.Now()
	again := exec.Command(bin, "-config", cfg, "-state", statePath, "plan", "-refresh=false") // -lock-timeout 0
	var errs bytes.Buffer
	again.Stdout, again.Stderr = io.Discard, &errs
	if err := again.Run(); err != nil {
		t.Fatalf("the next plan: %v\n%s", err, errs.String())
	}
	t.Logf("the next plan got the lock and finished in %v", time.Since(start))
}

// sims is a primary and a STANDBY target on SQL Server simulators, with
// a configuration for them in dir.
type sims struct {
	dir           string
	primary, east *sqlsim.Server
	databases     []string
}

func startSims(t *testing.T, stepDelay time.Duration, databases ...string) *sims {
	t.Helper()
	s := &sims{dir: t.TempDir(), databases: databases}
	start := func(name string) *sqlsim.Server {
		srv, err := sqlsim.Start(sqlsim.Options{Addr: "127.0.0.1:0", DataDir: filepath.Join(s.dir, name+"-sim"),
			Name: strings.ToUpper(name), StepDelay: stepDelay})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		return srv
	}
	s.primary, s.east = start("primary"), start("east")
	for _, d := range []string{"share", "east", "east-data"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	quoted := make([]string, len(databases))
	for i, db := range databases {
		quoted[i] = strconv.Quote(db)
	}
	cfg := fmt.Sprintf(`
backup_folder "share" {
  url = "file://%[1]s/share"
}
primary "sales" {
  engine        = "sqlserver"
  connection    = env("PRIMARY_DSN")
  databases     = [%[2]s]
  backup_folder = backup_folder.share
  full_backup { every = "24h" }
  log_backup { every = "15m" }
  rpo = "1h"
}
target "east" {
  primary          = primary.sales
  connection       = env("EAST_DSN")
  restore_mode     = "standby"
  disconnect_users = true
  data_dir         = "%[1]s/east-data"
  destination { url = "file://%[1]s/east" }
}
`, s.dir, strings.Join(quoted, ", "))
	if err := os.WriteFile(filepath.Join(s.dir, "main.drs.hcl"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlserver", s.primary.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, name := range databases {
		if _, err := db.Exec("CREATE DATABASE [" + strings.ReplaceAll(name, "]", "]]") + "]"); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func (s *sims) statePath() string { return filepath.Join(s.dir, "drs.state.json") }

// command is drsctl on the simulators, with extra environment.
func (s *sims) command(bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, append([]string{"-chdir", s.dir}, args...)...)
	cmd.Env = append(os.Environ(), "PRIMARY_DSN="+s.primary.DSN(""), "EAST_DSN="+s.east.DSN(""))
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// run runs drsctl to the end and returns its exit code and output.
func (s *sims) run(t *testing.T, bin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := s.command(bin, env, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code, sig := exitOf(t, cmd.Run())
	if sig != "" {
		t.Fatalf("drsctl %v killed by %s\n%s%s", args, sig, stdout.String(), stderr.String())
	}
	return code, stdout.String(), stderr.String()
}

// converged checks the standby took every database's full exactly once and
// that a plan finds nothing left to do.
func (s *sims) converged(t *testing.T, bin string) {
	t.Helper()
	seen := map[string]int{}
	for _, r := range s.east.RestoreHistory() {
		seen[r.Database+" "+r.Type+" "+r.Path]++
	}
	fulls := 0
	for k, n := range seen {
		if n > 1 {
			t.Errorf("restored %d times: %s", n, k)
		}
		if strings.Contains(k, " D ") {
			fulls++
		}
	}
	if fulls != len(s.databases) {
		t.Errorf("%d full restores on east, want one per database (%d): %v", fulls, len(s.databases), seen)
	}
	if code, out, errs := s.run(t, bin, nil, "plan", "-detailed-exitcode"); code != 0 {
		t.Errorf("plan after convergence: exit %d\n%s%s", code, out, errs)
	}
}

// `drsctl apply -auto-approve | head -N`: the reader goes while backups
// run. The apply stops as on Ctrl-C, records what completed, releases the
// lock and exits 1; the next apply converges without repeating a restore.
// (With `| head -1` the apply stops sooner: writing the plan fails, before
// any action starts.)
func TestApply_IntoAPipeClosedAfterOneLine_stopsAndReleasesTheLock(t *testing.T) {
	bin := drsctlBinary(t)
	s := startSims(t, 50*time.Millisecond, "Sales", "Inventory", "Billing") // each backup and restore: ~0.5 s
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := s.command(bin, nil, "apply", "-auto-approve", "-parallelism", "1")
	cmd.Stdout, cmd.Stderr = w, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	first := readUntilAndClose(r, ": started")
	code, sig := exitOf(t, cmd.Wait())
	t.Logf("head read:\n%s\ndrsctl: exit %d %s after %v\n%s", <-first, code, sig, time.Since(start), stderr.String())
	if sig != "" {
		t.Fatalf("drsctl was killed by %s", sig)
	}
	if code != cli.ExitError {
		t.Errorf("exit %d, want %d", code, cli.ExitError)
	}
	for _, want := range []string{"Interrupted", "broken pipe"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not mention %q:\n%s", want, stderr.String())
		}
	}
	if left := lockFiles(t, s.statePath()); len(left) > 0 {
		t.Fatalf("lock left behind: %v", left)
	}
	if restored := len(s.east.RestoreHistory()); restored == len(s.databases) {
		t.Errorf("every restore ran: the apply did not stop when its output closed")
	}
	if _, err := state.NewLocal(s.statePath(), state.LocalOptions{}).Read(context.Background()); err != nil {
		t.Errorf("the ledger does not read after the stop: %v", err)
	}

	code, out, errs := s.run(t, bin, nil, "apply", "-auto-approve")
	if code != 0 {
		t.Fatalf("the next apply: exit %d\n%s%s", code, out, errs)
	}
	s.converged(t, bin)
}

// readLock waits up to 30 s for PATH.lock and returns what it says.
func readLock(t *testing.T, statePath string) state.LockInfo {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		raw, err := os.ReadFile(statePath + ".lock")
		if err != nil {
			continue
		}
		var info state.LockInfo
		if json.Unmarshal(raw, &info) == nil && info.ID != "" {
			return info
		}
	}
	t.Fatal("the apply never took the lock")
	return state.LockInfo{}
}

// An apply killed while it holds the lock costs the next one nothing: on
// the same machine, the next apply sees the holder is gone and takes the
// lock over at once (with -lock-timeout 0, so it does not wait at all).
func TestApply_KilledHolderIsTakenOverAtOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("a dead holder is recognised from /proc (Linux); elsewhere it waits for the lock's expiry")
	}
	bin := drsctlBinary(t)
	s := startSims(t, 0, "Sales", "Inventory")
	var stderr bytes.Buffer
	holder := s.command(bin, []string{cli.TestHoldLockEnv + "=10m"}, "apply", "-auto-approve")
	holder.Stdout, holder.Stderr = io.Discard, &stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	info := readLock(t, s.statePath())
	if info.PID != holder.Process.Pid || info.Operation != "apply" {
		t.Fatalf("lock %+v, want one by the apply (PID %d)", info, holder.Process.Pid)
	}
	if err := holder.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, sig := exitOf(t, holder.Wait()); sig != "killed" {
		t.Fatalf("holder ended by %q, want SIGKILL\n%s", sig, stderr.String())
	}

	start := time.Now()
	code, out, errs := s.run(t, bin, nil, "apply", "-auto-approve")
	took := time.Since(start)
	t.Logf("the next apply: exit %d in %v\n%s", code, took, errs)
	if code != 0 {
		t.Fatalf("the next apply: exit %d\n%s%s", code, out, errs)
	}
	want := fmt.Sprintf("Warning: state lock %s (apply by %s since %s) was left by a run that died: process %d no longer runs; taking it over",
		info.ID, info.Who, info.Created.UTC().Format(time.RFC3339), info.PID)
	if !strings.Contains(errs, want) {
		t.Errorf("stderr lacks %q:\n%s", want, errs)
	}
	if left := lockFiles(t, s.statePath()); len(left) > 0 {
		t.Errorf("lock left behind: %v", left)
	}
	s.converged(t, bin)
}

// A holder on another machine that stopped renewing (it died there) is
// waited for until its lock expires, then taken over; with the default
// TTL that is at most 30 s after its last renewal, here 2 s.
func TestApply_DeadRemoteHolderIsTakenOverWhenItsLockExpires(t *testing.T) {
	bin := drsctlBinary(t)
	s := startSims(t, 0, "Sales")
	const left = 2 * time.Second
	now := time.Now().UTC()
	remote := state.LockInfo{ID: "remote-lock", Operation: "apply", Who: "svc@dr-box-2(4242)", Version: "v1",
		Created: now.Add(-time.Minute), Expires: now.Add(left), Host: "dr-box-2", PID: 4242,
		Process: state.ProcessIdentity{BootID: "another-boot", PIDNamespace: "pid:[4026531836]", StartTime: 1}}
	raw, err := json.Marshal(remote)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.statePath()+".lock", raw, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	code, out, errs := s.run(t, bin, nil, "apply", "-auto-approve", "-lock-timeout", "20s")
	took := time.Since(start)
	t.Logf("apply: exit %d in %v\n%s", code, took, errs)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if took < left-100*time.Millisecond {
		t.Errorf("took %v: the remote holder's lock was taken over before it expired (in %v)", took, left)
	}
	for _, want := range []string{
		"Waiting up to 20s for the state lock: svc@dr-box-2(4242) has held it for apply since " + remote.Created.Format(time.RFC3339) + " (ID remote-lock).",
		"state lock remote-lock (apply by svc@dr-box-2(4242) since " + remote.Created.Format(time.RFC3339) + ") expired at",
		"taking it over",
	} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	s.converged(t, bin)
}

// Four applies started at once, as four cron entries or four operators
// would: they take turns (-lock-timeout), nothing is restored twice and the
// ledger is what one apply gives.
func TestApply_FourAtOnce(t *testing.T) {
	bin := drsctlBinary(t)
	s := startSims(t, 0, "Sales", "Inventory")
	const n = 4
	type result struct {
		code        int
		out, errout string
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, out, errs := s.run(t, bin, nil, "apply", "-auto-approve", "-lock-timeout", "2m")
			results[i] = result{code, out, errs}
		}()
	}
	wg.Wait()
	waited := 0
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("apply %d: exit %d\n%s%s", i, r.code, r.out, r.errout)
		}
		if strings.Contains(r.errout, "Waiting up to 2m0s for the state lock") {
			waited++
		}
	}
	t.Logf("%d of %d applies waited for the lock", waited, n)
	s.converged(t, bin)
	st, err := state.NewLocal(s.statePath(), state.LocalOptions{}).Read(context.Background())
	if err != nil || st == nil {
		t.Fatalf("read the ledger: %v", err)
	}
	for _, db := range s.databases {
		if arts := st.LookupDatabase("sales", db).Artifacts; len(arts) != 1 {
			t.Errorf("%s: %d artifacts in the ledger, want the one full backup", db, len(arts))
		}
	}
}

// Ctrl-C, SIGTERM (systemd, a CI timeout) and SIGHUP (the terminal closed)
// stop a run that holds the lock cleanly: it releases the lock and exits 1.
func TestSignals_stopARunAndReleaseTheLock(t *testing.T) {
	bin := drsctlBinary(t)
	// drsctl keeps running on SIGHUP when it was started ignoring it (nohup),
	// and an ignored signal is inherited across exec: a test run under nohup
	// would start drsctl that way. Handling SIGHUP here makes the children
	// start with the default disposition (exec resets handled signals), as
	// they would from a terminal.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			statePath := filepath.Join(t.TempDir(), "drs.state.json")
			var stderr bytes.Buffer
			cmd := exec.Command(bin, "-config", designExample, "-state", statePath, "plan", "-refresh=false")
			cmd.Env = append(os.Environ(), cli.TestHoldLockEnv+"=10m")
			cmd.Stdout, cmd.Stderr = io.Discard, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			readLock(t, statePath)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			code, killed := exitOf(t, cmd.Wait())
			if killed != "" || code != cli.ExitError {
				t.Errorf("exit %d %s, want %d\n%s", code, killed, cli.ExitError, stderr.String())
			}
			if left := lockFiles(t, statePath); len(left) > 0 {
				t.Errorf("lock left behind: %v\n%s", left, stderr.String())
			}
		})
	}
}
