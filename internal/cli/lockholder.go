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
