package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Manager stores the ledger somewhere: a local file now, a blob in S3 or
// Azure later. Plan and apply talk only to this interface and never assume
// the state is a local file.
//
// The contract for writers: Read, change a Clone, Write it back. Write is a
// compare-and-swap on (lineage, serial), so a run that lost a race is told
// so instead of overwriting someone else's ledger; the lock is what keeps
// the race from happening in the first place.
type Manager interface {
	// Read returns the stored state, or (nil, nil) when none exists yet. A
	// stored state that cannot be read in full is an error, never nil.
	Read(ctx context.Context) (*State, error)
	// Write stores s atomically with serial s.Serial+1 and sets s.Serial to
	// it. It refuses, with an error wrapping ErrConflict, when the stored
	// state's lineage or serial is not s's (someone else wrote since s was
	// read, or s belongs to another ledger), and when s has a serial but
	// nothing is stored any more. A new state (nothing stored) must have
	// serial 0 and is written with serial 1. On error s.Serial is unchanged
	// and the stored state is untouched.
	Write(ctx context.Context, s *State) error
	// Lock takes the state's lock for operation op ("plan", "apply"),
	// waiting up to timeout (0: try once) while another run holds it. A lock
	// whose holder let it expire, or whose holder is a process on this
	// machine that no longer runs, is taken over with a warning. When it
	// cannot be had in time the error is a *LockedError (errors.Is
	// ErrLocked). The lease renews itself until Unlock.
	Lock(ctx context.Context, op string, timeout time.Duration) (Lease, error)
	// ForceUnlock removes the lock if its ID is id, and otherwise says which
	// lock holds the state. For a human who is sure the holder is gone.
	ForceUnlock(ctx context.Context, id string) error
	// Describe says where the state lives, for messages (e.g. the file path).
	Describe() string
}

// Lease is a held lock. It renews its expiry in the background until Unlock.
type Lease interface {
	// Info describes the lock, with the expiry of its latest renewal.
	Info() LockInfo
	// Valid returns nil while the lease holds the lock for sure, and
	// otherwise says why not: the lock was taken over or force-unlocked
	// (final), or it has not been renewed for so long that another run may
	// judge it expired (until a renewal succeeds again). A run must not
	// record anything, nor start new work, while Valid fails; see
	// GuardWrites.
	Valid() error
	// Unlock stops renewing and releases the lock if it is still this
	// lease's; it says so when the lock was lost (taken over or
	// force-unlocked) in the meantime. Calling it again returns the first
	// call's result.
	Unlock() error
}

// LockInfo is what a lock says about its holder.
type LockInfo struct {
	ID        string    `json:"id"`
	Operation string    `json:"operation"`
	Who       string    `json:"who"` // user@host(pid)
	Version   string    `json:"version"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	// Host and PID are the holder's machine (its host name) and process.
	// Locks written before drsctl recorded them have neither.
	Host string `json:"host,omitempty"`
	PID  int    `json:"pid,omitempty"`
	// Process tells a later run on the same machine whether PID is still
	// the holder; zero where the platform does not say (only Linux does).
	Process ProcessIdentity `json:"process,omitzero"`
}

// ProcessIdentity pins a process down beyond its PID, which the system
// reuses: the same boot, the same PID namespace and the same start time
// mean the same process. Linux only (from /proc); zero elsewhere, and then
// a holder is only ever judged by its lock's expiry.
type ProcessIdentity struct {
	// BootID is /proc/sys/kernel/random/boot_id: it changes at every boot
	// and is the same in every container on one kernel.
	BootID string `json:"boot_id,omitempty"`
	// PIDNamespace is the link /proc/self/ns/pid ("pid:[4026531836]"):
	// PIDs mean something only within one namespace.
	PIDNamespace string `json:"pid_ns,omitempty"`
	// StartTime is field 22 of /proc/PID/stat: when the process started,
	// in clock ticks after boot.
	StartTime uint64 `json:"start_time,omitempty"`
}

var (
	// ErrLocked is matched (errors.Is) by a *LockedError.
	ErrLocked = errors.New("state is locked")
	// ErrConflict is wrapped by Write's error when the stored state is not
	// the one the caller read.
	ErrConflict = errors.New("state changed since it was read")
)

// LockedError says who holds the lock a run could not get.
type LockedError struct {
	Info LockInfo
	// Path is where the lock lives (Manager.Describe of the lock).
	Path string
}

func (e *LockedError) Error() string {
	if e.Info.ID == "" {
		return e.unreadable()
	}
	var b strings.Builder
	b.WriteString("state is locked\n")
	fmt.Fprintf(&b, "  ID:        %s\n", e.Info.ID)
	if e.Path != "" {
		fmt.Fprintf(&b, "  Path:      %s\n", e.Path)
	}
	fmt.Fprintf(&b, "  Operation: %s\n", e.Info.Operation)
	fmt.Fprintf(&b, "  Who:       %s\n", e.Info.Who)
	fmt.Fprintf(&b, "  Version:   %s\n", e.Info.Version)
	fmt.Fprintf(&b, "  Created:   %s\n", fmtLockTime(e.Info.Created))
	fmt.Fprintf(&b, "  Expires:   %s\n", fmtLockTime(e.Info.Expires))
	fmt.Fprintf(&b, "Another drsctl is running, or one died. If you are sure no other run is in progress: drsctl force-unlock %s", e.Info.ID)
	return b.String()
}

// unreadable is the message for a lock file that holds no lock drsctl can
// read (a crash or a full disk while it was written, an edit by hand): it
// has no ID to give force-unlock.
func (e *LockedError) unreadable() string {
	where := "the lock file"
	if e.Path != "" {
		where += " " + e.Path
	}
	return fmt.Sprintf("state is locked by an unreadable lock: %s is empty or not a drsctl lock, last written at %s.\n"+
		"It counts as expired at %s, and the first run after that takes it over. "+
		"To remove it now, if you are sure no other drsctl is running: drsctl force-unlock %s",
		where, fmtLockTime(e.Info.Created), fmtLockTime(e.Info.Expires), UnreadableLockID)
}

// UnreadableLockID is the ID force-unlock takes for a local lock file that
// cannot be read (LockedError says so): it removes the lock file only while
// it still holds no readable lock. drsctl's lock IDs are UUIDs, so it never
// names a real lock.
const UnreadableLockID = "unreadable"

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

func fmtLockTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(time.RFC3339)
}

// conflictError is Write's refusal; it wraps ErrConflict.
type conflictError struct{ msg string }

func (e *conflictError) Error() string { return e.msg }
func (e *conflictError) Unwrap() error { return ErrConflict }

// checkStored is the compare half of Write's compare-and-swap, shared by
// every Manager: stored is what is there now (nil: nothing), s what the
// caller wants to write, where is Describe().
func checkStored(where string, stored, s *State) error {
	if stored == nil {
		if s.Serial != 0 {
			return &conflictError{fmt.Sprintf("state %s no longer exists, but this run read it at serial %d: someone removed or moved it", where, s.Serial)}
		}
		return nil
	}
	if stored.Lineage != s.Lineage {
		return &conflictError{fmt.Sprintf("state lineage %s does not match %s: this plan/state belongs to another ledger", s.Lineage, stored.Lineage)}
	}
	if stored.Serial != s.Serial {
		return &conflictError{fmt.Sprintf("state %s is at serial %d but this run read serial %d: another drsctl wrote it since; plan again", where, stored.Serial, s.Serial)}
	}
	return nil
}

// NewLineage returns a fresh lineage for a new ledger (a random UUID).
func NewLineage() string { return uuid.NewString() }

// GuardWrites returns m with writes that need lease: Write fails, touching
// nothing, while lease.Valid fails. A run that cannot renew its lock (or
// lost it) thereby records nothing more and, since apply starts no action
// once a state write failed, starts no new work; whatever it did not record
// the next run finds on the servers and storage. The CAS in Write alone is
// not enough: the run that took the lock over may already have planned
// from the serial this write would supersede.
func GuardWrites(m Manager, lease Lease) Manager {
	g := &guarded{Manager: m, lease: lease}
	if _, ok := m.(Stager); ok {
		return &guardedStager{g}
	}
	return g
}

// guardedStager is guarded for a Manager that can stage writes.
type guardedStager struct{ *guarded }

type guarded struct {
	Manager
	lease Lease
}

// Stage stages a write through the guard when the Manager can stage: the
// lease is checked again at Commit, right before anything is written.
func (g *guardedStager) Stage(s *State) (Staged, error) {
	st := g.Manager.(Stager)
	if err := g.lease.Valid(); err != nil {
		return nil, NameState("write", g.Describe(), err)
	}
	c, err := st.Stage(s)
	if err != nil {
		return nil, err
	}
	return &guardedStaged{Staged: c, g: g.guarded}, nil
}

type guardedStaged struct {
	Staged
	g *guarded
}

func (c *guardedStaged) Commit(ctx context.Context) error {
	if err := c.g.lease.Valid(); err != nil {
		return NameState("write", c.g.Describe(), err)
	}
	return c.Staged.Commit(ctx)
}

func (g *guarded) Write(ctx context.Context, s *State) error {
	if err := g.lease.Valid(); err != nil {
		return NameState("write", g.Describe(), err)
	}
	return g.Manager.Write(ctx, s)
}

// newLockInfo describes a lock this process is about to take.
func newLockInfo(op, version string, now time.Time, ttl time.Duration) LockInfo {
	now = now.UTC()
	return LockInfo{
		ID:        uuid.NewString(),
		Operation: op,
		Who:       who(),
		Version:   version,
		Created:   now,
		Expires:   now.Add(ttl),
		Host:      hostname(),
		PID:       os.Getpid(),
		Process:   selfIdentity(),
	}
}

// hostname is this machine's name, "unknown" when the system will not say.
func hostname() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "unknown"
	}
	return host
}

// who is user@host(pid).
func who() string {
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if name == "" {
		name = os.Getenv("USER")
	}
	if name == "" {
		name = os.Getenv("USERNAME")
	}
	if name == "" {
		name = "unknown"
	}
	return fmt.Sprintf("%s@%s(%d)", name, hostname(), os.Getpid())
}

// buildVersion is drsctl's module version as the build recorded it.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
