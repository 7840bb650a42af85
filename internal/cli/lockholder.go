package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/drsctl/drsctl/internal/state"
)

// ShowLock runs `drsctl force-unlock` without an ID: it says who holds the
// state lock, and how to remove it, touching nothing.
func (e *Env) ShowLock(ctx context.Context, g Globals) int {
	cfg, ok := e.loadConfig(g)
	if !ok {
		return ExitError
	}
	m, err := e.stateManager(cfg, g)
	if err != nil {
		return e.errorf("%v", err)
	}
	h, ok := m.(state.LockHolder)
	if !ok {
		return e.errorf("state %s cannot say who holds its lock", m.Describe())
	}
	info, err := h.Holder(ctx)
	if err != nil {
		return e.errorf("read the state lock of %s: %v", m.Describe(), err)
	}
	if info == nil {
		fmt.Fprintf(e.Stdout, "The state %s is not locked.\n", m.Describe())
		return ExitOK
	}
	if info.ID == "" {
		// A lock file drsctl cannot read (LockedError says the same).
		fmt.Fprintf(e.Stdout, "%v\n", &state.LockedError{Info: *info, Path: lockFileOf(m)})
		return ExitOK
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "unknown"
		}
		return t.UTC().Format(time.RFC3339)
	}
	state := "held"
	if !info.Expires.IsZero() && info.Expires.Before(e.now()) {
		state = "expired (the next run takes it over)"
	}
	fmt.Fprintf(e.Stdout, "The state %s is locked, %s:\n  ID:        %s\n  Operation: %s\n  Who:       %s\n  Version:   %s\n  Created:   %s\n  Expires:   %s\n",
		m.Describe(), state, info.ID, info.Operation, info.Who, info.Version, when(info.Created), when(info.Expires))
	fmt.Fprintf(e.Stdout, "A live run renews its lock until it ends. If you are sure no drsctl is running: drsctl force-unlock %s\n", info.ID)
	return ExitOK
}

// lockFileOf names the lock file of a local state ("" for other states,
// which never report an unreadable lock: a remote one that is not
// drsctl's counts as expired).
func lockFileOf(m state.Manager) string {
	if l, ok := m.(*state.Local); ok {
		return l.Describe() + ".lock"
	}
	return ""
}
