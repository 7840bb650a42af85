package cli

import (
	"context"
	"fmt"

	"github.com/drsctl/drsctl/internal/state"
)

// backupRestorer is a state store that keeps a way back when its newest
// copy is lost (state.Local: PATH.backup and its journals).
type backupRestorer interface {
	RestoreBackup(ctx context.Context) (*state.State, error)
}

// StateRestoreBackup runs `drsctl state restore-backup`: the ledger whose
// state file was removed is brought back from its backup and journals.
func (e *Env) StateRestoreBackup(ctx context.Context, g Globals) int {
	cfg, ok := e.loadConfig(g)
	if !ok {
		return ExitError
	}
	m, err := e.stateManager(cfg, g)
	if err != nil {
		return e.errorf("%v", err)
	}
	r, ok := m.(backupRestorer)
	if !ok {
		return e.errorf("state %s keeps no backup to restore from", m.Describe())
	}
	lease, err := e.lock(ctx, m, "restore-backup", 0)
	if err != nil {
		return e.errorf("%v", err)
	}
	defer unlock(e, lease)
	st, err := r.RestoreBackup(ctx)
	if err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintf(e.Stdout, "Restored ledger %s at serial %d to %s. Run drsctl plan to see where things stand.\n", st.Lineage, st.Serial, m.Describe())
	return ExitOK
}

// StatePull runs `drsctl state pull`: the whole ledger as JSON (the state
// file format, version 4), for humans and tools; drsctl itself stores a
// compact snapshot and a journal.
func (e *Env) StatePull(ctx context.Context, g Globals) int {
	st, code := e.readOnlyState(ctx, g)
	if st == nil {
		return code
	}
	if st.Lineage == "" {
		return e.errorf("there is no ledger yet: nothing has been applied")
	}
	if err := state.Write(st, e.Stdout); err != nil {
		return e.errorf("%v", err)
	}
	return ExitOK
}
