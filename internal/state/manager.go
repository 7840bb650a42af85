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
	// whose holder let it expire is taken over with a warning. When it
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
	}
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
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s@%s(%d)", name, host, os.Getpid())
}

// buildVersion is drsctl's module version as the build recorded it.
func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
