package state

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startChild starts a process that sleeps until killed, and returns it
// with the LockInfo it would have written had it taken the lock.
func startChild(t *testing.T) (*exec.Cmd, LockInfo) {
	t.Helper()
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep(1) to stand in for a holder: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	st, err := readProcStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	me := selfIdentity()
	if me.BootID == "" {
		t.Skip("no /proc identity here")
	}
	now := time.Now().UTC()
	info := LockInfo{
		ID: "child-lock", Operation: "apply", Who: "tester@" + hostname() + "(" + strconv.Itoa(cmd.Process.Pid) + ")",
		Version: "test", Created: now, Expires: now.Add(time.Hour), // far from expiring
		Host: hostname(), PID: cmd.Process.Pid,
		Process: ProcessIdentity{BootID: me.BootID, PIDNamespace: me.PIDNamespace, StartTime: st.start},
	}
	return cmd, info
}

func TestParseProcStat(t *testing.T) {
	for name, tc := range map[string]struct {
		raw   string
		state byte
		start uint64
		bad   bool
	}{
		"plain":                   {raw: "4242 (drsctl) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 9 0 987654 123 456 18446744073709551615", state: 'S', start: 987654},
		"command with ') ' in it": {raw: "7 (a) b) (c) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0", state: 'Z', start: 55},
		"truncated":               {raw: "7 (x) S 1 2 3", bad: true},
		"no command":              {raw: "7 x S", bad: true},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tc.raw))
			if tc.bad {
				if err == nil {
					t.Fatalf("parsed %+v, want an error", got)
				}
				return
			}
			if err != nil || got.state != tc.state || got.start != tc.start {
				t.Errorf("got %+v, %v; want state %c start %d", got, err, tc.state, tc.start)
			}
		})
	}
}

func TestHolderGone(t *testing.T) {
	me := selfIdentity()
	if me.BootID == "" || me.StartTime == 0 {
		t.Skip("no /proc identity here")
	}
	self := LockInfo{Host: hostname(), PID: os.Getpid(), Process: me}
	other := func(change func(*LockInfo)) LockInfo {
		i := self
		change(&i)
		return i
	}
	_, child := startChild(t)

	reaped, reapedInfo := startChild(t)
	reaped.Process.Kill()
	reaped.Wait()

	zombie, zombieInfo := startChild(t)
	zombie.Process.Kill() // not waited for: a zombie until the cleanup
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if st, err := readProcStat(zombie.Process.Pid); err == nil && st.state == 'Z' {
			break
		} else if time.Now().After(deadline) {
			t.Fatal("the killed child never became a zombie")
		}
	}

	for name, tc := range map[string]struct {
		info LockInfo
		gone bool
		why  string
	}{
		"this very process":          {info: self},
		"a live process":             {info: child},
		"a process that ended":       {info: reapedInfo, gone: true, why: "no longer runs"},
		"a zombie":                   {info: zombieInfo, gone: true, why: "has exited"},
		"the PID of a newer process": {info: other(func(i *LockInfo) { i.Process.StartTime-- }), gone: true, why: "now belongs to a process started later"},
		// What cannot be judged from here counts as running.
		"another boot or machine":    {info: other(func(i *LockInfo) { i.Process.BootID = "another-boot"; i.PID = reapedInfo.PID })},
		"another PID namespace":      {info: other(func(i *LockInfo) { i.Process.PIDNamespace = "pid:[1]"; i.PID = reapedInfo.PID })},
		"a lock without its process": {info: LockInfo{Host: hostname(), PID: reapedInfo.PID}},
		"PID 0 (a process group)":    {info: other(func(i *LockInfo) { i.PID = 0 })},
		"PID -1 (every process)":     {info: other(func(i *LockInfo) { i.PID = -1 })},
	} {
		t.Run(name, func(t *testing.T) {
			gone, why := holderGone(tc.info)
			if gone != tc.gone || !strings.Contains(why, tc.why) {
				t.Errorf("holderGone = %v, %q; want %v, %q", gone, why, tc.gone, tc.why)
			}
		})
	}
}

// A holder on this machine that no longer runs is taken over at once, even
// with a lock far from expiring and no time to wait, with a warning that
// names it.
func TestLocal_Lock_deadHolderTakenOverAtOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "drs.state")
	cmd, dead := startChild(t)
	writeLock(t, path, dead)
	// What it was writing when it was killed, and another contender's file.
	deadTemp, otherTemp := path+".lock.tmp-child-lock-1234", path+".lock.tmp-someone-else-5678"
	for _, f := range []string{deadTemp, otherTemp} {
		if err := os.WriteFile(f, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var w warnings
	l := newTestLocal(path, LocalOptions{Warnf: w.Warnf})

	if _, err := l.Lock(ctx, "apply", 0); !errors.Is(err, ErrLocked) {
		t.Fatalf("lock of a live holder: err = %v, want ErrLocked", err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	start := time.Now()
	lease, err := l.Lock(ctx, "apply", 0)
	if err != nil {
		t.Fatalf("dead holder's lock not taken over: %v", err)
	}
	defer lease.Unlock()
	t.Logf("taken over in %v", time.Since(start))
	for _, want := range []string{"state lock child-lock", "apply by " + dead.Who, "process " + strconv.Itoa(dead.PID) + " no longer runs", "taking it over"} {
		if !strings.Contains(w.all(), want) {
			t.Errorf("warning %q does not mention %q", w.all(), want)
		}
	}
	if _, err := os.Stat(deadTemp); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dead holder's temporary file is still there (%v)", err)
	}
	if _, err := os.Stat(otherTemp); err != nil {
		t.Errorf("another lock's temporary file was removed: %v", err)
	}
	if disk := readLockFile(t, path); disk.ID != lease.Info().ID || disk.PID != os.Getpid() || disk.Process != selfIdentity() {
		t.Errorf("lock file holds %+v, want the new lease with this process's identity", disk)
	}
}
