package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// selfIdentity is this process's identity, read once.
var selfIdentity = sync.OnceValue(func() ProcessIdentity {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ProcessIdentity{}
	}
	ns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ProcessIdentity{}
	}
	st, err := readProcStat(os.Getpid())
	if err != nil {
		return ProcessIdentity{}
	}
	return ProcessIdentity{BootID: strings.TrimSpace(string(boot)), PIDNamespace: ns, StartTime: st.start}
})

// holderGone reports whether the process holding a lock is known to have
// ended, and how that is known. It says so only when the lock was taken on
// this boot of this machine in this PID namespace (so that the PID means
// here what it meant there) and then the PID names no process, a zombie,
// or a process that started at another time (the PID was reused). Anything
// it cannot tell (another machine or container, a lock from a drsctl that
// did not record its process, /proc hiding other users' processes) counts
// as running: such a lock is taken over only when it expires.
func holderGone(info LockInfo) (bool, string) {
	me, them := selfIdentity(), info.Process
	if info.PID <= 0 || me.BootID == "" || them.BootID != me.BootID || them.PIDNamespace != me.PIDNamespace || them.StartTime == 0 {
		return false, ""
	}
	// Signal 0 checks that the process exists without touching it; EPERM
	// means it exists and belongs to someone else. Unlike /proc it is not
	// hidden by hidepid.
	if err := syscall.Kill(info.PID, 0); errors.Is(err, syscall.ESRCH) {
		return true, fmt.Sprintf("process %d no longer runs", info.PID)
	}
	st, err := readProcStat(info.PID)
	if err != nil {
		return false, "" // hidden from us, or it ended a moment ago: next time
	}
	switch {
	case st.state == 'Z' || st.state == 'X':
		return true, fmt.Sprintf("process %d has exited (its parent has not collected it yet)", info.PID)
	case st.start != them.StartTime:
		return true, fmt.Sprintf("process %d has exited (its PID now belongs to a process started later)", info.PID)
	}
	return false, ""
}

type procStat struct {
	state byte
	start uint64 // clock ticks after boot
}

// readProcStat reads the state (field 3) and start time (field 22) of
// /proc/PID/stat. The command name (field 2) is in parentheses and may hold
// spaces and parentheses itself, so fields are counted after the last ')'.
func readProcStat(pid int) (procStat, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(raw)
}

func parseProcStat(raw []byte) (procStat, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return procStat{}, errors.New("parse /proc/PID/stat: no command name")
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state), so field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, errors.New("parse /proc/PID/stat: too few fields")
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parse /proc/PID/stat: start time: %w", err)
	}
	return procStat{state: f[0][0], start: start}, nil
}
