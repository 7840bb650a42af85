package apply

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/drsctl/drsctl/internal/state"
)

// A completed action's change waits for others to share its write while
// every slot is busy, writeShare times as long as the last write took (so
// writes take at most about 1/writeShare of a busy run), within
// [minCommitDelay, maxCommitDelay]. Its dependents wait as long (they
// start only once it is durable); nothing else does. Without it, an apply
// of short actions spent a fifth of its time in fdatasync, one per action:
// four slots finishing 20 ms actions rarely finish within the same
// millisecond, and on a busy ext4 one fdatasync waits for the journal
// commit of every other file written meanwhile.
const (
	writeShare     = 20
	minCommitDelay = 5 * time.Millisecond
	maxCommitDelay = time.Second
)

// writer is the one goroutine that writes the ledger: the state writes of
// an execution are serial, each covering every change made before it
// (group commit). It holds x.mu only to stage what changed, not while the
// write reaches the disk.
type writer struct {
	cond *sync.Cond // on x.mu: a change, a write done, a slot idle, closing
	done chan struct{}
	// settled receives a token after each write (or failure), so that the
	// scheduler settles the outcomes waiting for it.
	settled chan struct{}
	// queued counts the changes handed to a write; since is when the
	// oldest change not yet handed to one was made.
	queued  int
	since   time.Time
	wake    time.Time     // when the armed wake-up fires (zero: none)
	last    time.Duration // how long the last write took
	waiting int           // synchronous commits waiting for a write
	closing bool
}

// ticket collects, for one running batch of actions, the last change it
// made: the batch's outcomes settle once that change is durable.
type ticket struct{ needs int }

type ticketKey struct{}

// commit applies a change to the ledger and persists it before the action
// goes on: commit returns once the change is durable. For a change that
// must be on disk before the servers are touched (a chain restart, the
// start of a seed). The write is not cancelled with the apply: a completed
// action is always recorded.
func (x *execution) commit(ctx context.Context, change func(st *state.State) error) error {
	return x.persist(ctx, change, false)
}

// finish applies the last change of an action, which returns right after:
// under the scheduler, the change is written with others (group commit,
// a little later) and the action counts as done, its dependents
// and followers start, only once it is durable. Elsewhere it is commit.
func (x *execution) finish(ctx context.Context, change func(st *state.State) error) error {
	return x.persist(ctx, change, true)
}

func (x *execution) persist(ctx context.Context, change func(st *state.State) error, later bool) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.stateErr != nil {
		return x.stateErr
	}
	if err := change(x.st); err != nil {
		return err
	}
	x.changed++
	mine := x.changed
	stager, ok := x.r.State.(state.Stager)
	if !ok {
		// A Manager that cannot stage writes whole, under x.mu.
		x.commits++
		t0 := time.Now()
		defer func() { x.stateTime += time.Since(t0) }()
		if err := x.r.State.Write(context.WithoutCancel(ctx), x.st); err != nil {
			x.stateErr = fmt.Errorf("%w (the last completed action is not recorded; no further action was started)", state.NameState("write", x.r.State.Describe(), err))
			return x.stateErr
		}
		x.durable = mine
		return nil
	}
	w := x.writer(stager)
	if mine == w.queued+1 {
		w.since = time.Now()
	}
	if t, _ := ctx.Value(ticketKey{}).(*ticket); later && t != nil {
		t.needs = mine
		w.cond.Broadcast()
		return nil
	}
	w.waiting++
	w.cond.Broadcast()
	for x.durable < mine && x.stateErr == nil {
		w.cond.Wait()
	}
	w.waiting--
	return x.stateErr
}

// writer returns the execution's writer, started at the first change.
// Called with x.mu held.
func (x *execution) writer(stager state.Stager) *writer {
	if x.w == nil {
		x.w = &writer{cond: sync.NewCond(&x.mu), done: make(chan struct{}), settled: make(chan struct{}, 1), queued: x.durable}
		go x.write(stager)
	}
	return x.w
}

// write runs the writer until closed.
func (x *execution) write(stager state.Stager) {
	w := x.w
	x.mu.Lock()
	defer x.mu.Unlock()
	defer close(w.done)
	for {
		for !x.writeDue() {
			if w.closing {
				return
			}
			w.cond.Wait()
		}
		upto := x.changed
		w.queued = upto
		t0 := time.Now()
		staged, err := stager.Stage(x.st)
		x.mu.Unlock()
		if err == nil {
			if err = staged.Commit(context.Background()); err != nil {
				x.mu.Lock()
				staged.Abandon()
				x.mu.Unlock()
			}
		}
		x.mu.Lock()
		x.commits++
		w.last = time.Since(t0)
		x.stateTime += w.last
		if err != nil {
			x.stateErr = fmt.Errorf("%w (the last completed action is not recorded; no further action was started)", state.NameState("write", x.r.State.Describe(), err))
		} else {
			x.durable = upto
		}
		w.cond.Broadcast()
		select {
		case w.settled <- struct{}{}:
		default: // a token is already waiting
		}
	}
}

// writeDue says whether changes wait and the time to write them has come:
// at once when someone waits for the write (a synchronous commit, a slot
// with nothing else to do, the end of the run); otherwise once the oldest
// has waited its delay. Called with x.mu held.
func (x *execution) writeDue() bool {
	w := x.w
	if x.stateErr != nil || x.changed == w.queued {
		return false
	}
	if w.waiting > 0 || x.idle || w.closing {
		return true
	}
	wait := min(max(writeShare*w.last, minCommitDelay), maxCommitDelay) - time.Since(w.since)
	if wait <= 0 {
		return true
	}
	if at := time.Now().Add(wait); w.wake.IsZero() || at.Before(w.wake) {
		w.wake = at
		time.AfterFunc(wait, func() {
			x.mu.Lock()
			defer x.mu.Unlock()
			if !w.wake.After(time.Now()) {
				w.wake = time.Time{}
			}
			w.cond.Broadcast()
		})
	}
	return false
}

// setIdle tells the writer whether the scheduler has a free slot and
// nothing to start: the changes it waits for are written at once.
func (x *execution) setIdle(idle bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.idle != idle {
		x.idle = idle
		if x.w != nil {
			x.w.cond.Broadcast()
		}
	}
}

// settled is the channel that says a write ended; nil (never ready)
// before the first change.
func (x *execution) settled() <-chan struct{} {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.w == nil {
		return nil
	}
	return x.w.settled
}

// stopWriter writes what is left and stops the writer.
func (x *execution) stopWriter() {
	x.mu.Lock()
	w := x.w
	if w == nil {
		x.mu.Unlock()
		return
	}
	w.closing = true
	w.cond.Broadcast()
	x.mu.Unlock()
	<-w.done
}
