package state_test

import (
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/drsctl/drsctl/internal/state"
	"github.com/drsctl/drsctl/internal/state/statetest"
)

func TestConformance_Local(t *testing.T) {
	statetest.Run(t, statetest.Backend{
		TTL:            150 * time.Millisecond,
		WriteNeedsLock: true,
		New: func(t *testing.T) func(statetest.Options) statetest.Instance {
			path := filepath.Join(t.TempDir(), "drs.state")
			return func(o statetest.Options) statetest.Instance {
				l := state.NewLocal(path, state.LocalOptions{TTL: o.TTL, Warnf: o.Warnf})
				state.SetPoll(l, time.Millisecond, 10*time.Millisecond)
				var cut atomic.Bool
				state.SetRenewFault(l, func(string) error {
					if cut.Load() {
						return statetest.ErrCut
					}
					return nil
				})
				return statetest.Instance{Manager: l, Cut: cut.Store}
			}
		},
	})
}

// The remote ledger over an in-memory object store, compacting often so
// that every test crosses snapshots.
func TestConformance_RemoteMem(t *testing.T) {
	statetest.Run(t, statetest.Backend{
		TTL: 150 * time.Millisecond,
		New: func(t *testing.T) func(statetest.Options) statetest.Instance {
			store := statetest.NewMemStore()
			return func(o statetest.Options) statetest.Instance {
				c := &statetest.Cuttable{Store: store}
				r := state.NewRemote(c, state.RemoteOptions{TTL: o.TTL, Warnf: o.Warnf, CompactEvery: 3,
					PollMin: time.Millisecond, PollMax: 10 * time.Millisecond})
				return statetest.Instance{Manager: r, Cut: c.Cut}
			}
		},
	})
}
